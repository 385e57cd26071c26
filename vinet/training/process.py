"""This process's place in a run (rank, world size, device), and the seeds and generator states of its randomness."""
import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from utils import InputError, resolve_device


@dataclass(frozen=True)
class Process:
    """This process's place in the run: rank, world size and device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_process(device_name: str, deterministic: bool) -> Process:
    """Pick the device and, under torchrun (WORLD_SIZE > 1), join the process group (nccl on GPUs, gloo on CPUs)."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    device = resolve_device(device_name)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Process(0, 1, device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        gpus = torch.cuda.device_count()
        if local_rank >= gpus:
            raise InputError(f"torchrun started more processes on this machine than its {gpus} CUDA devices, and "
                             f"NCCL trains with one GPU per process: use --nproc_per_node {gpus} (or --device cpu)")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Process(dist.get_rank(), world_size, device)


def reduce_mean(values: torch.Tensor, process: Process) -> torch.Tensor:
    """The mean of a tensor over processes."""
    if process.distributed:
        values = values.clone()
        dist.all_reduce(values)
        values /= process.world_size
    return values


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and torch, and make torch's algorithms deterministic or fast."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)  # CUDA's trilinear backward has no exact one
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic  # clips have one size: let cuDNN pick its fastest kernels


def rng_states() -> dict:
    """Python, NumPy, torch and CUDA generator states, in types torch.load(weights_only=True) reads back."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def restore_rng_states(states: dict) -> None:
    """Put back the generator states rng_states() recorded."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
