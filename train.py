"""Train ViNet or AViNet on DHF1K, Hollywood-2, UCF-Sports or the six audio-visual sets; resumable and distributed.

    python train.py --train_path_data DHF1K/annotation --val_path_data DHF1K/val --s3d_weights S3D_kinetics400.pt \\
        --model_val_path runs/vinet_dhf1k.pt
    python train.py --dataset Hollywood --train_path_data Hollywood2/training --val_path_data Hollywood2/testing \\
        --load_weight runs/vinet_dhf1k.pt --model_val_path runs/vinet_hollywood.pt
    python train.py --dataset SoundDataset --use_sound True --split 1 --train_path_data AV --load_weight \\
        runs/vinet_dhf1k.pt --soundnet_weights soundnet8_final.pt --model_val_path runs/avinet_split1.pt
    torchrun --nproc_per_node=4 train.py ...                  # DDP: nccl on GPUs, gloo on CPUs
    python train.py ... --resume                               # continue from <model_val_path stem>_last.pt

The model is a registry entry (model.py): --model NAME, or the seed's flags (--use_sound, --fusion /
--use_transformer, --clip_size, --num_hier); without them the --load_weight checkpoint (or the run being resumed)
names it, and ViNet is the default. The loss is the original's (loss.saliency_loss): with the default coefficients
KLD is minimised and CC and SIM are maximised. Each epoch validates (loss, CC, SIM, KLD, NSS on the prediction
resized to the ground truth's size and blurred, as the original) and writes, beside --model_val_path: the best model
by --best_metric at --model_val_path (a plain state dict, as the original's), <stem>_last.pt (model entry and
arguments, model, optimizer, scheduler, scaler, epoch, step, best value, RNG states) for --resume,
<stem>_args.json, <stem>_log.csv (per step and per epoch) and TensorBoard events in <stem>_tb/ when tensorboard is
installed. Every file is written atomically, by rank 0 alone.
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
from model import SlowFastR50
from registry import FUSIONS, MODELS, ModelEntry, WindowRule, entry_from_flags, get_entry, identify_model
from utils import (
    PRECISIONS,
    ArgumentParser,
    InputError,
    atomic_write_bytes,
    autocast,
    blur_map,
    device_flag,
    number_flag,
    remove_stale_temporaries,
    resize_map,
    resolve_device,
    str2bool,
)
from weights import (
    load_s3d_weights,
    load_slowfast_weights,
    load_soundnet_weights,
    load_state_dict_checked,
    read_weights,
    unwrap_state_dict,
)

log = logging.getLogger("train")

DATASETS = ("DHF1KDataset", "SoundDataset", "Hollywood", "UCF")
METRICS = ("loss", "cc", "sim", "kld", "nss")
LOWER_IS_BETTER = ("loss", "kld")
LOG_COLUMNS = ("phase", "epoch", "step", "lr", "loss", "cc", "sim", "kld", "nss", "clips_per_s")
MODEL_FLAGS = ("model", "use_sound", "fusion", "use_transformer", "clip_size", "num_hier", "transformer_in_channel",
               "nhead", "num_encoder_layers")
LAST_FORMAT = 2  # version of <stem>_last.pt: 2 records the model entry
# The published recipes (Adam 1e-4 for all): the loss terms, and the batch size on DHF1K-like sets and on the
# audio-visual sets, where flags do not say otherwise. The original's (Jain et al.) and ViNet++'s (Girmaji et al.).
RECIPES = {"original": ({"kldiv"}, 8, 8), "vinet++": ({"kldiv", "cc"}, 8, 2)}
VINET_PLUS_PLUS = ("vinet-s", "vinet-s-nonroot", "vinet-s-depth", "vinet-a")

# ----------------------------------------------------------------------------------------------
# Flags


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
    parser = ArgumentParser(description="Train ViNet / AViNet.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)

    def flag(group: argparse._ArgumentGroup, name: str, default: bool | None, help: str) -> None:
        group.add_argument(name, type=str2bool, nargs="?", const=True, default=default, help=help)

    _data_flags(parser.add_argument_group("data"))
    _model_flags(parser.add_argument_group("model"), flag)
    _optimisation_flags(parser.add_argument_group("optimisation"), flag)
    _run_flags(parser.add_argument_group("run"), flag)
    return parser.parse_args(argv)


def _data_flags(data: argparse._ArgumentGroup) -> None:
    data.add_argument("--dataset", choices=DATASETS, default="DHF1KDataset")
    data.add_argument("--train_path_data", required=True,
                      help="dataset root: the DHF1K/Hollywood/UCF training folder, or the audio-visual root")
    data.add_argument("--val_path_data", help="validation folder (SoundDataset: the same root, test lists)")
    data.add_argument("--split", type=number_flag(int, 1, 3), default=1,
                      help="audio-visual fold 1-3 (DIEM has one split)")
    data.add_argument("--av_datasets", nargs="+", choices=AUDIO_VISUAL_DATASETS, default=list(AUDIO_VISUAL_DATASETS),
                      help="the audio-visual sets trained on together")
    data.add_argument("--frame_size", type=number_flag(int, 1), nargs=2, metavar=("H", "W"),
                      help="frame size the model sees (default: the model's own; ViNet: multiples of 32, ViNet-A 4)")
    data.add_argument("--clips_per_video", type=number_flag(int, 1), default=1,
                      help="random training clips per video per epoch")
    data.add_argument("--no_workers", type=number_flag(int, 0), default=4, help="data loader worker processes")
    data.add_argument("--audio_ablation", choices=AUDIO_ABLATIONS, default="none",
                      help="the sound an audio-visual model hears in training and validation: as recorded, "
                           "silenced, or another moment's (an ablation study)")


def _model_flags(net: argparse._ArgumentGroup, flag) -> None:
    net.add_argument("--model", choices=list(MODELS), help="the model (default: the seed's flags below, else the "
                                                            "--load_weight checkpoint's, else vinet)")
    flag(net, "--use_sound", None, "AViNet (with audio) instead of ViNet")
    net.add_argument("--fusion", choices=list(FUSIONS), help="AViNet's audio-visual fusion (default bilinear)")
    flag(net, "--use_transformer", None, "the original's name for --fusion transformer")
    net.add_argument("--clip_size", type=number_flag(int, 1), help="frames per clip (ViNet: 8, 16, 32, 48; default 32)")
    net.add_argument("--num_hier", type=number_flag(int, 0, 3),
                     help="encoder hierarchies fused by the decoder (0-3; default 3)")
    net.add_argument("--transformer_in_channel", type=number_flag(int, 1),
                     help="token width (default: the variant's own)")
    net.add_argument("--nhead", type=number_flag(int, 1), help="transformer heads (default 4)")
    net.add_argument("--num_encoder_layers", type=number_flag(int, 1), help="transformer layers (default 3)")
    net.add_argument("--s3d_weights", help="S3D Kinetics-400 weights (TASED-Net or torchvision layout)")
    net.add_argument("--soundnet_weights", help="SoundNet8 weights (soundnet8_final.pth)")
    net.add_argument("--slowfast_weights", help="ViNet-A's encoder: ACAR-Net's SlowFast-R50 weights")
    net.add_argument("--load_weight", default="None",
                     help="a checkpoint; with --use_sound a ViNet one initialises AViNet's visual model")


def _optimisation_flags(opt: argparse._ArgumentGroup, flag) -> None:
    opt.add_argument("--no_epochs", type=number_flag(int, 0), default=40)
    opt.add_argument("--batch_size", type=number_flag(int, 1),
                     help="clips per process and step (default: the model's recipe, 8; ViNet++ on the audio-visual "
                          "sets 2)")
    opt.add_argument("--accum_steps", type=number_flag(int, 1), default=1,
                     help="batches accumulated per optimizer step")
    opt.add_argument("--lr", type=number_flag(float, 0, above=True), default=1e-4)
    opt.add_argument("--optim", type=str.lower, choices=("adam", "sgd"), default="adam")
    opt.add_argument("--momentum", type=number_flag(float, 0, 1), default=0.9, help="SGD momentum")
    opt.add_argument("--weight_decay", type=number_flag(float, 0), default=0.0)
    opt.add_argument("--lr_sched", type=schedule_name, default="none", help="none, step or cosine (per epoch)")
    opt.add_argument("--step_size", type=number_flag(int, 1), default=5, help="epochs between step decays")
    opt.add_argument("--gamma", type=number_flag(float, 0, above=True), default=0.1, help="step decay factor")
    for name, help in (("kldiv", "KL divergence term"), ("cc", "CC term"), ("sim", "SIM term"),
                       ("nss", "NSS term (reads fixations)")):
        flag(opt, f"--{name}", None, f"{help} (default: the model's recipe: KLD; ViNet++: KLD - CC)")
    opt.add_argument("--kldiv_coeff", type=number_flag(float), default=1.0)
    opt.add_argument("--cc_coeff", type=number_flag(float), default=-1.0, help="negative: rewards correlation")
    opt.add_argument("--sim_coeff", type=number_flag(float), default=-1.0, help="negative: rewards similarity")
    opt.add_argument("--nss_coeff", type=number_flag(float), default=1.0,
                     help="the original's default; positive penalises NSS, pass -1 to reward it")
    flag(opt, "--freeze_bn", False, "batch norm uses its running statistics while training")
    opt.add_argument("--bn_momentum", type=number_flag(float, 0, 1, above=True),
                     help="batch-norm momentum of every layer (default: the model's, 1e-3 in S3D as the original: "
                          "suited to pretrained statistics; from random weights 0.1 lets them follow training)")
    flag(opt, "--sync_bn", True, "SyncBatchNorm under DDP on GPUs")


def _run_flags(run: argparse._ArgumentGroup, flag) -> None:
    run.add_argument("--model_val_path", default="runs/model.pt",
                     help="best checkpoint; the run's other files go beside it, named after its stem")
    run.add_argument("--best_metric", choices=METRICS, default="loss", help="validation metric choosing the best")
    flag(run, "--resume", False, "continue from <stem>_last.pt")
    flag(run, "--eval_only", False, "validate --load_weight (or a fresh model) once and stop")
    run.add_argument("--precision", choices=tuple(PRECISIONS), default="fp32", help="autocast (fp16: CUDA only)")
    run.add_argument("--device", default="auto", type=device_flag,
                     help="auto (cuda when available), cpu, cuda or cuda:N")
    run.add_argument("--seed", type=number_flag(int, 0), default=0)
    flag(run, "--deterministic", False, "deterministic algorithms (a resumed run ends as an uninterrupted one)")
    run.add_argument("--log_interval", type=number_flag(int, 1), default=5, help="steps between log lines")


# ----------------------------------------------------------------------------------------------
# The run's configuration, built once from the flags


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


@dataclass(frozen=True)
class DataConfig:
    """Which clips training and validation read."""

    dataset: str
    train_root: str
    val_root: str | None
    split: int
    av_datasets: tuple[str, ...]
    clip_length: int
    frame_size: tuple[int, int]
    window: WindowRule                 # the model's: which frames make a clip and which one is its target
    normalisation: tuple[tuple[float, ...], tuple[float, ...]]   # the model's (mean, std)
    use_sound: bool
    fixations: bool            # training samples carry fixation maps (the NSS term needs them)
    clips_per_video: int
    audio_ablation: str
    batch_size: int
    workers: int
    seed: int


@dataclass(frozen=True)
class OptimConfig:
    """How the weights move: optimizer, schedule, loss, accumulation, precision and batch norm."""

    name: str
    lr: float
    momentum: float
    weight_decay: float
    schedule: str
    step_size: int
    gamma: float
    epochs: int
    accum_steps: int
    loss_weights: dict[str, float]   # loss.LOSS_TERMS name -> coefficient, for the chosen terms
    precision: str
    freeze_bn: bool
    bn_momentum: float | None
    sync_bn: bool


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run does, from the flags (as nanoGPT's GPTConfig): the model entry, data, optimisation,
    the weights it starts from and the files it writes."""

    model: ModelEntry
    data: DataConfig
    optim: OptimConfig
    load_weight: str | None
    s3d_weights: str | None
    soundnet_weights: str | None
    slowfast_weights: str | None
    files: RunFiles
    best_metric: str
    resume: bool
    eval_only: bool
    device: str
    seed: int
    deterministic: bool
    log_interval: int
    flags: dict                     # the parsed flags, written to <stem>_args.json


def check_args(args: argparse.Namespace) -> None:
    """Refuse inconsistent flags with one line naming the fix."""
    if args.dataset != "SoundDataset" and not args.val_path_data:
        raise InputError(f"--dataset {args.dataset} needs --val_path_data (the validation folder)")


def model_entry(args: argparse.Namespace, resumed: dict | None) -> ModelEntry:
    """The entry the model flags select; without them the one the run being resumed recorded, or the one the
    --load_weight checkpoint holds, or ViNet."""
    frame_size = tuple(args.frame_size) if args.frame_size else None
    if any(getattr(args, name) is not None for name in MODEL_FLAGS):
        return entry_from_flags(args.model, args.use_sound, args.fusion, args.use_transformer, args.clip_size,
                                args.num_hier, frame_size, transformer_in_channel=args.transformer_in_channel,
                                nhead=args.nhead, num_encoder_layers=args.num_encoder_layers)
    if resumed is not None:
        return recorded_entry(resumed)
    if args.load_weight != "None":
        return identify_model(unwrap_state_dict(read_weights(args.load_weight, "checkpoint")), frame_size)[0]
    return get_entry("vinet").configured(frame_size)


def config_from_args(args: argparse.Namespace, resumed: dict | None = None) -> TrainConfig:
    """The run's configuration (resumed: the last checkpoint of the run --resume continues); InputError for
    inconsistent flags."""
    check_args(args)
    files = RunFiles.beside(args.model_val_path)
    entry = model_entry(args, resumed)
    if entry.members:
        raise InputError(f"{entry.name} is an ensemble: train {' and '.join(entry.members)} one by one and give both "
                         "checkpoints to the generate scripts (--file_weight S.pt A.pt)")
    if entry.takes_audio and args.dataset != "SoundDataset":
        raise InputError(f"--use_sound True needs --dataset SoundDataset (the audio-visual sets): {entry.label} "
                         "hears sound")
    if args.audio_ablation != "none" and not entry.takes_audio:
        raise InputError(f"--audio_ablation {args.audio_ablation} acts on what an audio-visual model hears; "
                         f"{entry.label} hears nothing: drop it, or train AViNet (--use_sound True)")
    terms, batch_size, sound_batch_size = RECIPES["vinet++" if entry.name in VINET_PLUS_PLUS else "original"]
    chosen = {name: getattr(args, name) for name in loss.LOSS_TERMS if getattr(args, name) is not None}
    terms = {name for name in loss.LOSS_TERMS if chosen.get(name, name in terms)}   # flags add to or drop from it
    if not terms:
        raise InputError("no loss term chosen: pass one or more of --kldiv, --cc, --sim, --nss")
    weights = {name: getattr(args, f"{name}_coeff") for name in loss.LOSS_TERMS if name in terms}
    batch_size = args.batch_size or (sound_batch_size if args.dataset == "SoundDataset" else batch_size)
    data = DataConfig(args.dataset, args.train_path_data, args.val_path_data, args.split, tuple(args.av_datasets),
                      entry.clip_length, entry.frame_size, entry.window, (entry.mean, entry.std), entry.takes_audio,
                      "nss" in terms, args.clips_per_video, args.audio_ablation, batch_size, args.no_workers,
                      args.seed)
    optim = OptimConfig(args.optim, args.lr, args.momentum, args.weight_decay, args.lr_sched, args.step_size,
                        args.gamma, args.no_epochs, args.accum_steps, weights, args.precision, args.freeze_bn,
                        args.bn_momentum, args.sync_bn)
    optional = {name: None if value in (None, "None") else value for name, value in
                (("load_weight", args.load_weight), ("s3d_weights", args.s3d_weights),
                 ("soundnet_weights", args.soundnet_weights), ("slowfast_weights", args.slowfast_weights))}
    return TrainConfig(entry, data, optim, **optional, files=files, best_metric=args.best_metric, resume=args.resume,
                       eval_only=args.eval_only, device=args.device, seed=args.seed, deterministic=args.deterministic,
                       log_interval=args.log_interval, flags=vars(args))


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


def build_datasets(data: DataConfig, eval_only: bool = False):
    """The training and validation datasets (training None with eval_only)."""
    options = {"clip_length": data.clip_length, "frame_size": data.frame_size, "seed": data.seed,
               "window": data.window, "normalisation": data.normalisation}
    if data.dataset == "SoundDataset":
        sound = {"use_sound": data.use_sound, "datasets": data.av_datasets}
        val_set = SoundDataset(data.val_root or data.train_root, data.split, VALIDATION, fixations=True,
                               audio_ablation=data.audio_ablation, **sound, **options)
        train_set = None if eval_only else SoundDataset(data.train_root, data.split, TRAIN, fixations=data.fixations,
                                                        clips_per_video=data.clips_per_video,
                                                        audio_ablation=data.audio_ablation, **sound, **options)
        return train_set, val_set
    dataset_class = DHF1KDataset if data.dataset == "DHF1KDataset" else HollywoodUCFDataset
    val_set = dataset_class(data.val_root, VALIDATION, fixations=True, **options)
    train_set = None if eval_only else dataset_class(data.train_root, TRAIN, fixations=data.fixations,
                                                     clips_per_video=data.clips_per_video, **options)
    return train_set, val_set


def train_loader(dataset, data: DataConfig, process: Process, epoch: int) -> DataLoader:
    """The epoch's loader: a seeded shuffle split across processes, random clips seeded by (seed, epoch, index)."""
    dataset.set_epoch(epoch)
    sampler = DistributedSampler(dataset, process.world_size, process.rank, shuffle=True, seed=data.seed)
    sampler.set_epoch(epoch)
    return DataLoader(dataset, data.batch_size, sampler=sampler, num_workers=data.workers,
                      collate_fn=collate_clips, pin_memory=process.device.type == "cuda",
                      generator=torch.Generator().manual_seed(data.seed * 100_003 + epoch))


def validation_loader(dataset, data: DataConfig, process: Process) -> DataLoader:
    """Every validation clip once, shared round-robin between processes."""
    shard = Subset(dataset, range(process.rank, len(dataset), process.world_size))
    return DataLoader(shard, data.batch_size, shuffle=False, num_workers=data.workers, collate_fn=collate_clips,
                      generator=torch.Generator().manual_seed(data.seed))


# ----------------------------------------------------------------------------------------------
# Model


def initialise_weights(model: nn.Module, config: TrainConfig) -> None:
    """--load_weight (a ViNet checkpoint into ViNet or into AViNet's visual model, an AViNet one into the whole
    AViNet), and the encoder's (S3D or SlowFast) and SoundNet's weights for the parts it does not cover; strict,
    errors naming the variant a file holds."""
    entry, covered = config.model, "nothing"
    if config.load_weight:
        state = unwrap_state_dict(read_weights(config.load_weight, "checkpoint"))
        whole = not entry.takes_audio or any(key.startswith("visual_model.") for key in state)
        covered = "the model" if whole else "AViNet's visual model"
        load_state_dict_checked(model if whole else model.visual_model, state,
                                config.load_weight if whole else f"{config.load_weight} (for {covered})")
        log.info("loaded %s into %s", config.load_weight, covered)
    backbone = (model.visual_model if entry.takes_audio else model).backbone
    encoder_flag, encoder_weights = (("--slowfast_weights", config.slowfast_weights)
                                     if isinstance(backbone, SlowFastR50) else ("--s3d_weights", config.s3d_weights))
    for flag in {"--s3d_weights", "--slowfast_weights"} - {encoder_flag}:
        if getattr(config, flag.removeprefix("--")):
            raise InputError(f"{flag} does not fit {entry.label}'s encoder: give it {encoder_flag}")
    if encoder_weights and covered == "nothing":
        (load_slowfast_weights if encoder_flag == "--slowfast_weights" else load_s3d_weights)(backbone, encoder_weights)
    if entry.takes_audio and config.soundnet_weights and covered != "the model":
        load_soundnet_weights(model.audionet, config.soundnet_weights)
    for flag, given, skipped in ((encoder_flag, encoder_weights, covered != "nothing"),
                                 ("--soundnet_weights", config.soundnet_weights, covered == "the model")):
        if given and skipped:
            log.warning("%s not loaded: --load_weight already fills %s", flag, covered)
    if covered == "nothing" and not encoder_weights:
        log.warning("no %s or --load_weight: the visual model starts from random weights", encoder_flag)


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


def distribute(model: nn.Module, optim: OptimConfig, process: Process, unused_parameters: bool) -> nn.Module:
    """The model wrapped for DDP under torchrun (SyncBatchNorm on GPUs unless frozen); itself otherwise."""
    if not process.distributed:
        return model
    if process.device.type == "cuda" and optim.sync_bn and not optim.freeze_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    elif not optim.freeze_bn:
        log.warning("batch-norm statistics are per process here (SyncBatchNorm needs GPUs); "
                    "--freeze_bn True makes N processes train as one")
    return DistributedDataParallel(model, device_ids=[process.device] if process.device.type == "cuda" else None,
                                   find_unused_parameters=unused_parameters)


# ----------------------------------------------------------------------------------------------
# Checkpoints and logs


def save_atomic(obj, path: Path) -> None:
    """torch.save, atomically: a full disk or a kill leaves the previous file as it was."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror or error}; free some space and rerun with --resume "
                         "(the previous checkpoint is intact)") from error


@dataclass
class Progress:
    """Where a run stands: the next epoch, optimizer steps taken and the best validation value so far."""

    epoch: int = 0
    step: int = 0
    best: float | None = None


def save_last(path: Path, entry: ModelEntry, model: nn.Module, optimizer, scheduler, scaler, progress: Progress,
              best_metric: str) -> None:
    """<stem>_last.pt: all --resume needs, and the model entry and arguments that rebuild the model alone."""
    save_atomic({"format": LAST_FORMAT, "model_entry": entry.name, "model_args": dict(entry.kwargs),
                 "frame_size": list(entry.frame_size), "model": model.state_dict(),
                 "optimizer": optimizer.state_dict(),
                 "scheduler": None if scheduler is None else scheduler.state_dict(), "scaler": scaler.state_dict(),
                 "epoch": progress.epoch, "step": progress.step, "best_value": progress.best,
                 "best_metric": best_metric, "rng": rng_states()}, path)


def read_last(path: Path) -> dict:
    """A <stem>_last.pt file (weights_only); InputError when missing, unreadable, of a newer format or of a
    model this project does not know."""
    if not path.is_file():
        raise InputError(f"nothing to resume: {path} not found (run without --resume to start)")
    state = read_weights(path, "checkpoint")
    if state.get("format", 1) > LAST_FORMAT:
        raise InputError(f"{path} was written by a newer train.py (format {state['format']}, this one reads "
                         f"{LAST_FORMAT}); update this project to resume it")
    if state.get("model_entry") not in (None, *MODELS):
        raise InputError(f"{path} records an unknown model {state['model_entry']!r}; update this project to resume it")
    return state


def recorded_entry(state: dict) -> ModelEntry:
    """The model entry a last checkpoint recorded (format 1 files record none: ViNet's)."""
    entry = get_entry(state.get("model_entry", "vinet"))
    return entry.configured(tuple(state.get("frame_size", entry.frame_size)), **state.get("model_args", {}))


def resume(state: dict, path: Path, entry: ModelEntry, model: nn.Module, optimizer, scheduler, scaler) -> Progress:
    """Restore a run from its last checkpoint (read_last): model, optimizer, scheduler, scaler, RNG states and
    counters."""
    if "model_entry" in state and recorded_entry(state).label != entry.label:
        raise InputError(f"{path} is a run of {recorded_entry(state).label}, not {entry.label}: drop the "
                         "model flags to resume it, or give another --model_val_path")
    load_state_dict_checked(model, state["model"], str(path))
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    restore_rng_states(state["rng"])
    log.info("resumed from %s after epoch %d (step %d)", path, state["epoch"] - 1, state["step"])
    return Progress(state["epoch"], state["step"], state["best_value"])


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
        try:
            self.writer.writerow({"phase": phase, "epoch": epoch, "step": step,
                                  **{key: f"{value:.6g}" for key, value in values.items()}})
            self.file.flush()
        except OSError as error:
            raise InputError(f"cannot write {self.path}: {error.strerror or error}; free some space and rerun "
                             "with --resume") from error
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


def check_finite(model: nn.Module, batch_loss: torch.Tensor, epoch: int, step: int) -> None:
    """InputError, before the optimizer step, when the loss or a gradient is NaN or inf: the weights on disk stay
    those of the last finished epoch, instead of a run that goes on training NaN."""
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    if torch.isfinite(batch_loss) and all(torch.isfinite(g).all() for g in gradients):
        return
    raise InputError(f"epoch {epoch}, step {step + 1}: the loss or the gradients are not finite (NaN or inf); the "
                     "checkpoints on disk are from before it. Lower --lr, or check the data")


def train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                optim: OptimConfig, process: Process, epoch: int, step: int, run_log: RunLog | None,
                log_interval: int) -> tuple[float, int]:
    """One epoch of optimizer steps over accum_steps batches each; the mean step loss and the step count."""
    set_train_mode(model, optim.freeze_bn)
    accum, num_batches = optim.accum_steps, len(loader)
    full_groups = num_batches - num_batches % accum
    group_loss, step_losses, clips, tic = 0.0, [], 0, time.perf_counter()
    with tqdm(total=math.ceil(num_batches / accum), desc=f"epoch {epoch}", disable=not process.is_main,
              dynamic_ncols=True) as bar:   # closed before an error line, not after it
        for index, batch in enumerate(loader):
            group_size = accum if index < full_groups else num_batches - full_groups
            steps_now = (index + 1) % accum == 0 or index + 1 == num_batches
            with contextlib.nullcontext() if steps_now or not process.distributed else model.no_sync():
                with autocast(process.device.type, optim.precision):
                    prediction = predict(model, batch, process.device)
                fixations = batch["fixations"].to(process.device) if "nss" in optim.loss_weights else None
                batch_loss = loss.saliency_loss(prediction.float(), batch["map"].to(process.device), fixations,
                                                optim.loss_weights)
                scaler.scale(batch_loss / group_size).backward()
            group_loss += batch_loss.detach() / group_size
            clips += len(batch["clip"]) * process.world_size
            if not steps_now:
                continue
            if not scaler.is_enabled():   # fp16's scaler skips a step whose gradients overflowed, and rescales
                check_finite(model, batch_loss, epoch, step)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            value = reduce_mean(torch.as_tensor(group_loss, dtype=torch.float64), process).item()
            step_losses.append(value)
            group_loss, speed = 0.0, clips / (time.perf_counter() - tic)
            bar.update()
            bar.set_postfix(loss=f"{value:.4f}", clips_s=f"{speed:.1f}")
            if run_log is not None:
                run_log.write("train_step", epoch, step, lr=optimizer.param_groups[0]["lr"], loss=value,
                              clips_per_s=speed)
            if step % log_interval == 0:
                log.info("epoch %d step %d loss %.5f (%.1f clips/s)", epoch, step, value, speed)
    return float(np.mean(step_losses)) if step_losses else float("nan"), step


@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader, loss_weights: dict[str, float], precision: str,
             process: Process) -> dict[str, float]:
    """Mean loss, CC, SIM, KLD and NSS over the validation clips, each prediction resized to its ground
    truth's size and blurred first (the original's validation)."""
    model.eval()
    sums = torch.zeros(len(METRICS) + 1, dtype=torch.float64)
    for batch in tqdm(loader, desc="validation", disable=not process.is_main, dynamic_ncols=True, leave=False):
        with autocast(process.device.type, precision):
            predictions = predict(model, batch, process.device).float().cpu().numpy()
        for prediction, density, fixations in zip(predictions, batch["map"], batch["fixations"]):
            height, width = density.shape
            smoothed = torch.from_numpy(blur_map(resize_map(prediction, (width, height))))[None]
            density, fixations = density[None], fixations[None]
            values = [loss.saliency_loss(smoothed, density, fixations, loss_weights), loss.cc(smoothed, density),
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


def build_optimizer(model: nn.Module, optim: OptimConfig):
    """The optimizer, the per-epoch LR scheduler (or None) and the gradient scaler (fp16 on CUDA only)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if optim.name == "adam":
        optimizer = torch.optim.Adam(params, lr=optim.lr, weight_decay=optim.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    scheduler = None
    if optim.schedule == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, optim.step_size, optim.gamma)
    elif optim.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, optim.epochs))
    scaler = torch.amp.GradScaler("cuda", enabled=optim.precision == "fp16")
    return optimizer, scheduler, scaler


# ----------------------------------------------------------------------------------------------
# The run


def cpu_bf16_backward_is_sound(tries: int = 8) -> bool:
    """Whether this PyTorch computes a bf16 3D convolution's weight gradient on the CPU as fp32 does (within bf16's
    rounding). torch 2.14.1's oneDNN kernel was off by 1e25 to 1e37, NaN among them, on S3D's 208-channel (3, 1, 1)
    convolution of a 2-frame input (on a 2-core AMD EPYC), which turned every weight to NaN at the first step."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(4, 208, 2, 2, 4, generator=generator).bfloat16()
    weight = torch.randn(208, 208, 3, 1, 1, generator=generator).mul(0.05).bfloat16()

    def weight_gradient(dtype: torch.dtype) -> torch.Tensor:   # of the sum of the (3, 1, 1) convolution's outputs
        return torch.ops.aten.convolution_backward(
            torch.ones(4, 208, 2, 2, 4, dtype=dtype), inputs.to(dtype), weight.to(dtype), None, (1, 1, 1), (1, 0, 0),
            (1, 1, 1), False, (0, 0, 0), 1, (False, True, False))[1].float()

    expected = weight_gradient(torch.float32)
    for _ in range(tries):
        got = weight_gradient(torch.bfloat16)
        if not (torch.isfinite(got).all() and (got - expected).abs().max() <= 0.02 * expected.abs().max()):
            return False
    return True


def start_process(config: TrainConfig) -> Process:
    """Join the run's processes and seed them."""
    process = setup_process(config.device, config.deterministic)
    if config.optim.precision == "fp16" and process.device.type != "cuda":
        raise InputError("--precision fp16 needs a CUDA device (its gradient scaler); use bf16 on CPUs")
    if (config.optim.precision == "bf16" and process.device.type == "cpu" and not config.eval_only
            and not cpu_bf16_backward_is_sound()):
        raise InputError(f"--precision bf16: this PyTorch ({torch.__version__}) computes bf16 convolution gradients "
                         "wrongly on this CPU (checked at start-up: NaN or garbage weight gradients); train in fp32, "
                         "or in bf16 on a CUDA device")
    if config.optim.loss_weights.get("nss", 0) > 0:
        log.warning("--nss_coeff %g > 0 penalises NSS (the original's default); pass --nss_coeff -1 to reward it",
                    config.optim.loss_weights["nss"])
    seed_everything(config.seed, config.deterministic)
    return process


def build_model(config: TrainConfig) -> nn.Module:
    """The run's model with its starting weights (none when resuming: resume() restores them)."""
    model = config.model.build()
    if not config.resume or config.eval_only:
        initialise_weights(model, config)
    if config.optim.bn_momentum is not None:
        for module in batch_norms(model):
            module.momentum = config.optim.bn_momentum
    return model


def fit(config: TrainConfig, process: Process, model: nn.Module, train_set, val_loader: DataLoader,
        resumed: dict | None) -> dict:
    """The epochs of a run from where it stands (resumed: its last checkpoint); the last validation metrics."""
    bare_model, model = model, distribute(model, config.optim, process, config.model.takes_audio)
    optimizer, scheduler, scaler = build_optimizer(model, config.optim)
    progress = Progress()
    if resumed is not None:
        progress = resume(resumed, config.files.last, config.model, bare_model, optimizer, scheduler, scaler)
    run_log = None
    if process.is_main:
        for path in (config.files.best, config.files.last, config.files.args, config.files.log):
            remove_stale_temporaries(path)   # left by a run killed while writing
        atomic_write_bytes(config.files.args, json.dumps({**config.flags, "model_entry": config.model.label},
                                                         indent=2).encode())
        run_log = RunLog(config.files, keep_before_epoch=progress.epoch)
    log.info("%s: %d training clips per epoch, %d validation clips, %d process(es) on %s", config.model.label,
             len(train_set), len(val_loader.dataset), process.world_size, process.device)
    metrics = {}
    with logging_redirect_tqdm():
        for epoch in range(progress.epoch, config.optim.epochs):
            loader = train_loader(train_set, config.data, process, epoch)
            train_loss, progress.step = train_epoch(model, loader, optimizer, scaler, config.optim, process, epoch,
                                                    progress.step, run_log, config.log_interval)
            metrics = validate(model, val_loader, config.optim.loss_weights, config.optim.precision, process)
            if not math.isfinite(metrics["loss"]):
                raise InputError(f"epoch {epoch}: the validation loss is {metrics['loss']}: the weights diverged and "
                                 "are not saved; the checkpoints on disk are from before it. Lower --lr")
            lr = optimizer.param_groups[0]["lr"]
            if scheduler is not None:
                scheduler.step()
            is_best = improved(metrics[config.best_metric], progress.best, config.best_metric)
            progress.best = metrics[config.best_metric] if is_best else progress.best
            progress.epoch = epoch + 1
            log.info("epoch %d: train loss %.5f | validation %s%s", epoch, train_loss,
                     " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), " (best)" if is_best else "")
            if process.is_main:
                run_log.write("train_epoch", epoch, progress.step, lr=lr, loss=train_loss)
                run_log.write("val", epoch, progress.step, **metrics)
                if is_best:
                    save_atomic(bare_model.state_dict(), config.files.best)
                save_last(config.files.last, config.model, bare_model, optimizer, scheduler, scaler, progress,
                          config.best_metric)
            if process.distributed:
                dist.barrier()
    if run_log is not None:
        run_log.close()
    return metrics


def run(args: argparse.Namespace) -> dict[str, float]:
    """Train (or with --eval_only validate) as the flags say; the last validation metrics."""
    resumed = read_last(RunFiles.beside(args.model_val_path).last) if args.resume and not args.eval_only else None
    config = config_from_args(args, resumed)
    process = start_process(config)
    train_set, val_set = build_datasets(config.data, eval_only=config.eval_only)
    model = build_model(config).to(process.device)
    val_loader = validation_loader(val_set, config.data, process)
    if config.eval_only:
        metrics = validate(model, val_loader, config.optim.loss_weights, config.optim.precision, process)
        log.info("validation: %s", " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        return metrics
    return fit(config, process, model, train_set, val_loader, resumed)


def main(argv: list[str] | None = None) -> int:
    """Train as the flags say; the exit status (2 after one line for bad input)."""
    logging.basicConfig(level=logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        run(parse_args(argv))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
