"""Train ViNet or AViNet on DHF1K, Hollywood-2, UCF-Sports or the six audio-visual sets; resumable and distributed.

    python train.py --train_path_data DHF1K/annotation --val_path_data DHF1K/val --s3d_weights S3D_kinetics400.pt \\
        --model_val_path runs/vinet_dhf1k.pt
    python train.py --dataset Hollywood --train_path_data Hollywood2/training --val_path_data Hollywood2/testing \\
        --load_weight runs/vinet_dhf1k.pt --model_val_path runs/vinet_hollywood.pt
    python train.py --dataset SoundDataset --use_sound True --split 1 --train_path_data AV --load_weight \\
        runs/vinet_dhf1k.pt --soundnet_weights soundnet8_final.pt --model_val_path runs/avinet_split1.pt
    torchrun --nproc_per_node=4 train.py ...                  # DDP: nccl on GPUs, gloo on CPUs
    python train.py ... --resume                               # continue from <model_val_path stem>_last.pt

The loss is the original's: the sum of coefficient x batch mean of each chosen metric (loss.py); with the
default coefficients KLD is minimised and CC and SIM are maximised. Each epoch validates (loss, CC, SIM, KLD,
NSS on the prediction resized to the ground truth's size and blurred, as the original) and writes, beside
--model_val_path: the best model by --best_metric at --model_val_path (a plain state dict, as the original's),
<stem>_last.pt (model, optimizer, scheduler, scaler, epoch, step, best value, RNG states) for --resume,
<stem>_args.json, <stem>_log.csv (per step and per epoch) and TensorBoard events in <stem>_tb/ when tensorboard
is installed. Every file is written atomically, by rank 0 alone.
"""
import argparse
import contextlib
import csv
import io
import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

import loss
from dataloader import (
    AUDIO_ABLATIONS,
    AUDIO_VISUAL_DATASETS,
    TRAIN,
    VALIDATION,
    DHF1KDataset,
    HollywoodUCFDataset,
    SoundDataset,
    collate_clips,
)
from model import (
    VideoAudioSaliencyFusionModel,
    VideoAudioSaliencyModel,
    VideoSaliencyModel,
    load_s3d_weights,
    load_soundnet_weights,
    load_state_dict_checked,
    read_weights,
    unwrap_state_dict,
)
from utils import (
    CLIP_LENGTH,
    FRAME_SIZE,
    PRECISIONS,
    InputError,
    atomic_write_bytes,
    autocast,
    blur_map,
    resize_map,
    str2bool,
)

log = logging.getLogger("train")

DATASETS = ("DHF1KDataset", "SoundDataset", "Hollywood", "UCF")
FUSIONS = ("bilinear", "transformer", "tokens")
LOSS_TERMS = {"kldiv": loss.kldiv, "cc": loss.cc, "sim": loss.similarity, "nss": loss.nss}
METRICS = ("loss", "cc", "sim", "kld", "nss")
LOWER_IS_BETTER = ("loss", "kld")
LOG_COLUMNS = ("phase", "epoch", "step", "lr", "loss", "cc", "sim", "kld", "nss", "clips_per_s")


def schedule_name(value: str) -> str:
    """--lr_sched: none, step or cosine; the original's True / False mean step / none."""
    if value.lower() in ("none", "step", "cosine"):
        return value.lower()
    try:
        return "step" if str2bool(value) else "none"
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected none, step or cosine (or True/False), got {value!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The original's flags (booleans parsed as written) and the new ones."""
    p = argparse.ArgumentParser(description="Train ViNet / AViNet.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)

    def flag(name: str, default: bool, help: str) -> None:
        p.add_argument(name, type=str2bool, nargs="?", const=True, default=default, help=help)

    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default="DHF1KDataset")
    data.add_argument("--train_path_data", required=True,
                      help="dataset root: the DHF1K/Hollywood/UCF training folder, or the audio-visual root")
    data.add_argument("--val_path_data", help="validation folder (SoundDataset: the same root, test lists)")
    data.add_argument("--split", type=int, default=1, help="audio-visual fold 1-3 (DIEM has one split)")
    data.add_argument("--av_datasets", nargs="+", choices=AUDIO_VISUAL_DATASETS, default=list(AUDIO_VISUAL_DATASETS),
                      help="the audio-visual sets trained on together")
    data.add_argument("--clip_size", type=int, default=CLIP_LENGTH, help="frames per clip")
    data.add_argument("--frame_size", type=int, nargs=2, default=list(FRAME_SIZE), metavar=("H", "W"),
                      help="frame size the model sees (multiples of 32)")
    data.add_argument("--clips_per_video", type=int, default=1, help="random training clips per video per epoch")
    data.add_argument("--no_workers", type=int, default=4, help="data loader worker processes")
    data.add_argument("--audio_ablation", choices=AUDIO_ABLATIONS, default="none",
                      help="validation audio: as recorded, silenced, or another video's")

    net = p.add_argument_group("model")
    flag("--use_sound", False, "AViNet (with audio) instead of ViNet")
    net.add_argument("--fusion", choices=FUSIONS, default="bilinear", help="AViNet's audio-visual fusion")
    flag("--use_transformer", False, "the original's name for --fusion transformer")
    net.add_argument("--num_hier", type=int, default=3)
    net.add_argument("--transformer_in_channel", type=int, help="token width (default: the variant's own)")
    net.add_argument("--nhead", type=int, default=4)
    net.add_argument("--num_encoder_layers", type=int, default=3)
    net.add_argument("--s3d_weights", help="S3D Kinetics-400 weights (TASED-Net or torchvision layout)")
    net.add_argument("--soundnet_weights", help="SoundNet8 weights (soundnet8_final.pth)")
    net.add_argument("--load_weight", default="None",
                     help="a ViNet/AViNet checkpoint; with --use_sound a ViNet one initialises AViNet's visual model")

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--no_epochs", type=int, default=40)
    opt.add_argument("--batch_size", type=int, default=8, help="clips per process and step")
    opt.add_argument("--accum_steps", type=int, default=1, help="batches accumulated per optimizer step")
    opt.add_argument("--lr", type=float, default=1e-4)
    opt.add_argument("--optim", type=str.lower, choices=("adam", "sgd"), default="adam")
    opt.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    opt.add_argument("--weight_decay", type=float, default=0.0)
    opt.add_argument("--lr_sched", type=schedule_name, default="none", help="none, step or cosine (per epoch)")
    opt.add_argument("--step_size", type=int, default=5, help="epochs between step decays")
    opt.add_argument("--gamma", type=float, default=0.1, help="step decay factor")
    flag("--kldiv", True, "KL divergence term")
    flag("--cc", False, "CC term")
    flag("--sim", False, "SIM term")
    flag("--nss", False, "NSS term (reads fixations)")
    opt.add_argument("--kldiv_coeff", type=float, default=1.0)
    opt.add_argument("--cc_coeff", type=float, default=-1.0, help="negative: rewards correlation")
    opt.add_argument("--sim_coeff", type=float, default=-1.0, help="negative: rewards similarity")
    opt.add_argument("--nss_coeff", type=float, default=1.0,
                     help="the original's default; positive penalises NSS, pass -1 to reward it")
    flag("--freeze_bn", False, "batch norm uses its running statistics while training")
    net.add_argument("--bn_momentum", type=float,
                     help="batch-norm momentum of every layer (default: the model's, 1e-3 in S3D as the original: "
                          "suited to pretrained statistics; from random weights 0.1 lets them follow training)")
    flag("--sync_bn", True, "SyncBatchNorm under DDP on GPUs")

    run = p.add_argument_group("run")
    run.add_argument("--model_val_path", default="runs/model.pt",
                     help="best checkpoint; the run's other files go beside it, named after its stem")
    run.add_argument("--best_metric", choices=METRICS, default="loss", help="validation metric choosing the best")
    flag("--resume", False, "continue from <stem>_last.pt")
    flag("--eval_only", False, "validate --load_weight (or a fresh model) once and stop")
    run.add_argument("--precision", choices=tuple(PRECISIONS), default="fp32", help="autocast (fp16: CUDA only)")
    run.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N")
    run.add_argument("--seed", type=int, default=0)
    flag("--deterministic", False, "deterministic algorithms (a resumed run ends as an uninterrupted one)")
    run.add_argument("--log_interval", type=int, default=5, help="steps between log lines")
    args = p.parse_args(argv)
    if args.use_transformer and args.fusion == "bilinear":
        args.fusion = "transformer"
    return args


def check_args(args: argparse.Namespace) -> None:
    """Refuse inconsistent flags with one line naming the fix."""
    if not any(getattr(args, name) for name in LOSS_TERMS):
        raise InputError("no loss term chosen: pass one or more of --kldiv, --cc, --sim, --nss")
    if args.use_sound and args.dataset != "SoundDataset":
        raise InputError("--use_sound True needs --dataset SoundDataset (the audio-visual sets)")
    if args.dataset != "SoundDataset" and not args.val_path_data:
        raise InputError(f"--dataset {args.dataset} needs --val_path_data (the validation folder)")
    if args.dataset == "SoundDataset" and args.split not in (1, 2, 3):
        raise InputError(f"--split must be 1, 2 or 3, got {args.split}")
    if any(n <= 0 or n % 32 for n in args.frame_size):
        raise InputError(f"--frame_size must be two positive multiples of 32, got {args.frame_size}")
    for name in ("batch_size", "accum_steps", "clips_per_video", "log_interval", "step_size"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.no_workers < 0 or args.no_epochs < 0:
        raise InputError("--no_workers and --no_epochs must not be negative")


# ----------------------------------------------------------------------------------------------
# Processes, devices and randomness


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
    try:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu") if device_name == "auto" \
            else torch.device(device_name)
    except RuntimeError as error:
        raise InputError(f"unknown --device {device_name!r}: use auto, cpu, cuda or cuda:N") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {device_name}: CUDA is not available here; use --device cpu")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Process(0, 1, device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Process(dist.get_rank(), world_size, device)


def seed_everything(seed: int, deterministic: bool) -> None:
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
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


# ----------------------------------------------------------------------------------------------
# Data


def build_datasets(args: argparse.Namespace, eval_only: bool = False):
    """The training and validation datasets the flags name (training None with eval_only)."""
    size, length = tuple(args.frame_size), args.clip_size
    options = {"clip_length": length, "frame_size": size, "seed": args.seed}
    if args.dataset == "SoundDataset":
        sound = {"use_sound": args.use_sound, "datasets": tuple(args.av_datasets)}
        val_root = args.val_path_data or args.train_path_data
        val_set = SoundDataset(val_root, args.split, VALIDATION, fixations=True, audio_ablation=args.audio_ablation,
                               **sound, **options)
        train_set = None if eval_only else SoundDataset(args.train_path_data, args.split, TRAIN, fixations=args.nss,
                                                        clips_per_video=args.clips_per_video, **sound, **options)
        return train_set, val_set
    dataset_class = DHF1KDataset if args.dataset == "DHF1KDataset" else HollywoodUCFDataset
    val_set = dataset_class(args.val_path_data, VALIDATION, fixations=True, **options)
    train_set = None if eval_only else dataset_class(args.train_path_data, TRAIN, fixations=args.nss,
                                                     clips_per_video=args.clips_per_video, **options)
    return train_set, val_set


def train_loader(dataset, args: argparse.Namespace, process: Process, epoch: int) -> DataLoader:
    """The epoch's loader: a seeded shuffle split across processes, random clips seeded by (seed, epoch, index)."""
    dataset.set_epoch(epoch)
    sampler = DistributedSampler(dataset, process.world_size, process.rank, shuffle=True, seed=args.seed)
    sampler.set_epoch(epoch)
    return DataLoader(dataset, args.batch_size, sampler=sampler, num_workers=args.no_workers,
                      collate_fn=collate_clips, pin_memory=process.device.type == "cuda",
                      generator=torch.Generator().manual_seed(args.seed * 100_003 + epoch))


def validation_loader(dataset, args: argparse.Namespace, process: Process) -> DataLoader:
    """Every validation clip once, shared round-robin between processes."""
    shard = Subset(dataset, range(process.rank, len(dataset), process.world_size))
    return DataLoader(shard, args.batch_size, shuffle=False, num_workers=args.no_workers, collate_fn=collate_clips,
                      generator=torch.Generator().manual_seed(args.seed))


# ----------------------------------------------------------------------------------------------
# Model


def build_model(args: argparse.Namespace) -> nn.Module:
    """ViNet, or the AViNet variant --fusion names, for --clip_size clips of --frame_size frames."""
    try:
        if not args.use_sound:
            return VideoSaliencyModel(nhead=args.nhead, num_hier=args.num_hier, num_clips=args.clip_size)
        model_class = VideoAudioSaliencyFusionModel if args.fusion == "tokens" else VideoAudioSaliencyModel
        widths = {} if args.transformer_in_channel is None else {"transformer_in_channel": args.transformer_in_channel}
        return model_class(use_transformer=args.fusion != "bilinear", nhead=args.nhead,
                           num_encoder_layers=args.num_encoder_layers, num_hier=args.num_hier,
                           num_clips=args.clip_size, frame_size=tuple(args.frame_size), **widths)
    except ValueError as error:
        raise InputError(f"cannot build the model: {error}") from error


def initialise_weights(model: nn.Module, args: argparse.Namespace) -> None:
    """--load_weight (a ViNet checkpoint into ViNet or into AViNet's visual model, an AViNet one into the
    whole AViNet), and S3D / SoundNet weights for the parts it does not cover; strict, errors naming the
    variant a file holds."""
    covered = "nothing"
    if args.load_weight != "None":
        state = unwrap_state_dict(read_weights(args.load_weight, "checkpoint"))
        whole = not args.use_sound or any(key.startswith("visual_model.") for key in state)
        covered = "the model" if whole else "AViNet's visual model"
        load_state_dict_checked(model if whole else model.visual_model, state,
                                args.load_weight if whole else f"{args.load_weight} (for {covered})")
        log.info("loaded %s into %s", args.load_weight, covered)
    if args.s3d_weights and covered == "nothing":
        load_s3d_weights((model.visual_model if args.use_sound else model).backbone, args.s3d_weights)
    if args.use_sound and args.soundnet_weights and covered != "the model":
        load_soundnet_weights(model.audionet, args.soundnet_weights)
    for flag, given, skipped in (("--s3d_weights", args.s3d_weights, covered != "nothing"),
                                 ("--soundnet_weights", args.soundnet_weights, covered == "the model")):
        if given and skipped:
            log.warning("%s not loaded: --load_weight already fills %s", flag, covered)
    if covered == "nothing" and not args.s3d_weights and not args.eval_only:
        log.warning("no --s3d_weights or --load_weight: the visual model starts from random weights")


def batch_norms(model: nn.Module) -> list[nn.Module]:
    return [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]


def set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    model.train()
    if freeze_bn:
        for module in batch_norms(model):
            module.eval()


def predict(model: nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
    """The model's (B, H, W) maps for a batch, with its audio when the batch has one."""
    clip = batch["clip"].to(device, non_blocking=True)
    if "audio" in batch:
        return model(clip, batch["audio"].to(device, non_blocking=True))
    return model(clip)


def saliency_loss(prediction: torch.Tensor, density: torch.Tensor, fixations: torch.Tensor | None,
                  args: argparse.Namespace) -> torch.Tensor:
    """Sum over the chosen terms of coefficient x batch mean of the metric (NSS against the fixations)."""
    total = prediction.new_zeros((), dtype=torch.float32)
    for name, metric in LOSS_TERMS.items():
        if getattr(args, name):
            total = total + getattr(args, f"{name}_coeff") * metric(prediction, fixations if name == "nss"
                                                                   else density).mean()
    return total


# ----------------------------------------------------------------------------------------------
# Checkpoints and logs


@dataclass(frozen=True)
class RunFiles:
    """The files of a run, beside the best checkpoint and named after its stem."""

    best: Path
    last: Path
    args: Path
    log: Path
    tensorboard: Path

    @classmethod
    def beside(cls, best: str | Path) -> "RunFiles":
        best = Path(best)
        stem = best.parent / best.stem
        return cls(best, Path(f"{stem}_last.pt"), Path(f"{stem}_args.json"), Path(f"{stem}_log.csv"),
                   Path(f"{stem}_tb"))


def save_atomic(obj, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


class RunLog:
    """Per-step and per-epoch rows in a CSV file (and TensorBoard when installed); rank 0 only."""

    def __init__(self, files: RunFiles, keep_before_epoch: int):
        self.path = files.log
        rows = []
        if keep_before_epoch and self.path.is_file():  # a resumed run drops what the interrupted one logged later
            with self.path.open(newline="") as f:
                rows = [row for row in csv.DictReader(f) if int(row["epoch"]) < keep_before_epoch]
        text = io.StringIO()
        writer = csv.DictWriter(text, LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.path, text.getvalue().encode())
        self.file = self.path.open("a", newline="")
        self.writer = csv.DictWriter(self.file, LOG_COLUMNS)
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.tensorboard = SummaryWriter(str(files.tensorboard))
        except ImportError:
            self.tensorboard = None

    def write(self, phase: str, epoch: int, step: int, **values: float) -> None:
        self.writer.writerow({"phase": phase, "epoch": epoch, "step": step,
                              **{key: f"{value:.6g}" for key, value in values.items()}})
        self.file.flush()
        if self.tensorboard is not None:
            for key, value in values.items():
                self.tensorboard.add_scalar(f"{phase}/{key}", value, step)

    def close(self) -> None:
        self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_log(path: str | Path) -> list[dict[str, str]]:
    """The rows of a run's CSV log."""
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------------------------
# Training and validation


def reduce_mean(values: torch.Tensor, process: Process) -> torch.Tensor:
    """The mean of a tensor over processes."""
    if process.distributed:
        values = values.clone()
        dist.all_reduce(values)
        values /= process.world_size
    return values


def train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler, args: argparse.Namespace, process: Process, epoch: int, step: int,
                run_log: RunLog | None) -> tuple[float, int]:
    """One epoch of optimizer steps over accum_steps batches each; the mean step loss and the step count."""
    set_train_mode(model, args.freeze_bn)
    num_batches = len(loader)
    full_groups = num_batches - num_batches % args.accum_steps
    group_loss, step_losses, clips, tic = 0.0, [], 0, time.perf_counter()
    bar = tqdm(total=math.ceil(num_batches / args.accum_steps), desc=f"epoch {epoch}", disable=not process.is_main,
               dynamic_ncols=True)
    for index, batch in enumerate(loader):
        group_size = args.accum_steps if index < full_groups else num_batches - full_groups
        steps_now = (index + 1) % args.accum_steps == 0 or index + 1 == num_batches
        sync = contextlib.nullcontext() if steps_now or not process.distributed else model.no_sync()
        with sync:
            with autocast(process.device.type, args.precision):
                prediction = predict(model, batch, process.device)
            fixations = batch["fixations"].to(process.device) if args.nss else None
            batch_loss = saliency_loss(prediction.float(), batch["map"].to(process.device), fixations, args)
            scaler.scale(batch_loss / group_size).backward()
        group_loss += batch_loss.detach() / group_size
        clips += len(batch["clip"]) * process.world_size
        if not steps_now:
            continue
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        value = reduce_mean(torch.as_tensor(group_loss, dtype=torch.float64), process).item()
        step_losses.append(value)
        group_loss = 0.0
        speed = clips / (time.perf_counter() - tic)
        bar.update()
        bar.set_postfix(loss=f"{value:.4f}", clips_s=f"{speed:.1f}")
        if run_log is not None:
            run_log.write("train_step", epoch, step, lr=optimizer.param_groups[0]["lr"], loss=value,
                          clips_per_s=speed)
        if step % args.log_interval == 0:
            log.info("epoch %d step %d loss %.5f (%.1f clips/s)", epoch, step, value, speed)
    bar.close()
    return float(np.mean(step_losses)) if step_losses else float("nan"), step


@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader, args: argparse.Namespace, process: Process) -> dict[str, float]:
    """Mean loss, CC, SIM, KLD and NSS over the validation clips, each prediction resized to its ground
    truth's size and blurred first (the original's validation)."""
    model.eval()
    sums = torch.zeros(len(METRICS) + 1, dtype=torch.float64)
    for batch in tqdm(loader, desc="validation", disable=not process.is_main, dynamic_ncols=True, leave=False):
        with autocast(process.device.type, args.precision):
            predictions = predict(model, batch, process.device).float().cpu().numpy()
        for prediction, density, fixations in zip(predictions, batch["map"], batch["fixations"]):
            height, width = density.shape
            smoothed = torch.from_numpy(blur_map(resize_map(prediction, (width, height))))[None]
            density, fixations = density[None], fixations[None]
            values = [saliency_loss(smoothed, density, fixations, args), loss.cc(smoothed, density),
                      loss.similarity(smoothed, density), loss.kldiv(smoothed, density), loss.nss(smoothed, fixations)]
            sums += torch.tensor([float(v) for v in values] + [1.0], dtype=torch.float64)
    if process.distributed:
        sums = sums.to(process.device)
        dist.all_reduce(sums)
        sums = sums.cpu()
    return {name: (sums[i] / sums[-1]).item() for i, name in enumerate(METRICS)}


def improved(value: float, best: float | None, metric: str) -> bool:
    """Whether a validation value is at least as good as the best so far (lower loss / KLD, higher others)."""
    if best is None:
        return True
    return value <= best if metric in LOWER_IS_BETTER else value >= best


def build_optimizer(model: nn.Module, args: argparse.Namespace):
    """The optimizer, the per-epoch LR scheduler (or None) and the gradient scaler (fp16 on CUDA only)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if args.optim == "adam":
        optimizer = torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = None
    if args.lr_sched == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, args.step_size, args.gamma)
    elif args.lr_sched == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, args.no_epochs))
    scaler = torch.amp.GradScaler("cuda", enabled=args.precision == "fp16")
    return optimizer, scheduler, scaler


def run(args: argparse.Namespace) -> dict[str, float]:
    """Train (or with eval_only validate) as the flags say; the last validation metrics."""
    check_args(args)
    process = setup_process(args.device, args.deterministic)
    if args.precision == "fp16" and process.device.type != "cuda":
        raise InputError("--precision fp16 needs a CUDA device (its gradient scaler); use bf16 on CPUs")
    if args.nss and args.nss_coeff > 0:
        log.warning("--nss_coeff %g > 0 penalises NSS (the original's default); pass --nss_coeff -1 to reward it",
                    args.nss_coeff)
    seed_everything(args.seed, args.deterministic)
    files = RunFiles.beside(args.model_val_path)
    train_set, val_set = build_datasets(args, eval_only=args.eval_only)
    model = build_model(args)
    resume_state = None
    if args.resume and not args.eval_only:
        if not files.last.is_file():
            raise InputError(f"nothing to resume: {files.last} not found (run without --resume to start)")
        resume_state = torch.load(files.last, map_location="cpu", weights_only=True)
        load_state_dict_checked(model, resume_state["model"], str(files.last))
    else:
        initialise_weights(model, args)
    if args.bn_momentum is not None:
        for module in batch_norms(model):
            module.momentum = args.bn_momentum
    model.to(process.device)
    val_loader = validation_loader(val_set, args, process)
    if args.eval_only:
        metrics = validate(model, val_loader, args, process)
        log.info("validation: %s", " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        return metrics

    if process.distributed:
        if process.device.type == "cuda" and args.sync_bn and not args.freeze_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif not args.freeze_bn:
            log.warning("batch-norm statistics are per process here (SyncBatchNorm needs GPUs); "
                        "--freeze_bn True makes N processes train as one")
        model = DistributedDataParallel(model, device_ids=[process.device] if process.device.type == "cuda" else None,
                                        find_unused_parameters=args.use_sound)
    bare_model = model.module if process.distributed else model
    optimizer, scheduler, scaler = build_optimizer(model, args)
    start_epoch, step, best, metrics = 0, 0, None, {}
    if resume_state is not None:
        optimizer.load_state_dict(resume_state["optimizer"])
        if scheduler is not None and resume_state["scheduler"] is not None:
            scheduler.load_state_dict(resume_state["scheduler"])
        scaler.load_state_dict(resume_state["scaler"])
        start_epoch, step, best = resume_state["epoch"], resume_state["step"], resume_state["best_value"]
        restore_rng_states(resume_state["rng"])
        log.info("resumed from %s after epoch %d (step %d)", files.last, start_epoch - 1, step)
    run_log = None
    if process.is_main:
        atomic_write_bytes(files.args, json.dumps(vars(args), indent=2).encode())
        run_log = RunLog(files, keep_before_epoch=start_epoch)
    log.info("%s: %d training clips per epoch, %d validation clips, %d process(es) on %s",
             type(bare_model).__name__, len(train_set), len(val_set), process.world_size, process.device)

    with logging_redirect_tqdm():
        for epoch in range(start_epoch, args.no_epochs):
            loader = train_loader(train_set, args, process, epoch)
            train_loss, step = train_epoch(model, loader, optimizer, scaler, args, process, epoch, step, run_log)
            metrics = validate(model, val_loader, args, process)
            lr = optimizer.param_groups[0]["lr"]
            if scheduler is not None:
                scheduler.step()
            is_best = improved(metrics[args.best_metric], best, args.best_metric)
            best = metrics[args.best_metric] if is_best else best
            log.info("epoch %d: train loss %.5f | validation %s%s", epoch, train_loss,
                     " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), " (best)" if is_best else "")
            if process.is_main:
                run_log.write("train_epoch", epoch, step, lr=lr, loss=train_loss)
                run_log.write("val", epoch, step, **metrics)
                if is_best:
                    save_atomic(bare_model.state_dict(), files.best)
                save_atomic({"model": bare_model.state_dict(), "optimizer": optimizer.state_dict(),
                             "scheduler": None if scheduler is None else scheduler.state_dict(),
                             "scaler": scaler.state_dict(), "epoch": epoch + 1, "step": step, "best_value": best,
                             "best_metric": args.best_metric, "rng": rng_states()}, files.last)
            if process.distributed:
                dist.barrier()
    if run_log is not None:
        run_log.close()
    return metrics


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        run(args)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
