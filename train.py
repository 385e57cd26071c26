"""Train ViNet or AViNet on DHF1K, Hollywood-2, UCF-Sports, the six audio-visual sets, CrowdSAL or NTIRE 2026;
resumable and distributed.

    python train.py --train_path_data DHF1K/annotation --val_path_data DHF1K/val --s3d_weights S3D_kinetics400.pt \\
        --model_val_path runs/vinet_dhf1k.pt
    python train.py --dataset Hollywood --train_path_data Hollywood2/training --val_path_data Hollywood2/testing \\
        --load_weight runs/vinet_dhf1k.pt --model_val_path runs/vinet_hollywood.pt
    python train.py --dataset SoundDataset --use_sound True --split 1 --train_path_data AV --load_weight \\
        runs/vinet_dhf1k.pt --soundnet_weights soundnet8_final.pt --model_val_path runs/avinet_split1.pt
    python train.py --dataset CrowdSAL --train_path_data CrowdSAL --load_weight runs/vinet_dhf1k.pt \\
        --frame_cache /scratch/frames --model_val_path runs/vinet_crowdsal.pt     # validates on its test split
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
import logging
import os
import sys

import torch.distributed as dist

from layouts import AUDIO_VISUAL_DATASETS
from utils import ArgumentParser, InputError, number_flag, str2bool
from vinet.cli import (
    add_audio_ablation_flag,
    add_device_flag,
    add_frame_size_flag,
    add_fusion_flags,
    add_model_flag,
    add_precision_flag,
    add_variant_flags,
    boolean_flag,
)
from vinet.training.config import DATASETS, TrainSettings
from vinet.training.loop import VALIDATION_METRICS
from vinet.training.run import run_training

# ----------------------------------------------------------------------------------------------
# Flags: each one a TrainSettings field of the same name, whose default it shows


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
    _data_flags(parser.add_argument_group("data"))
    _model_flags(parser.add_argument_group("model"))
    _optimisation_flags(parser.add_argument_group("optimisation"))
    _run_flags(parser.add_argument_group("run"))
    return parser.parse_args(argv)


def parse_settings(argv: list[str] | None = None) -> TrainSettings:
    """The run's settings, as the flags give them."""
    return TrainSettings(**vars(parse_args(argv)))


def _data_flags(data: argparse._ArgumentGroup) -> None:
    data.add_argument("--dataset", choices=DATASETS, default=TrainSettings.dataset)
    data.add_argument("--train_path_data", required=True,
                      help="dataset root: the DHF1K/Hollywood/UCF training folder, the audio-visual root, or the "
                           "CrowdSAL / NTIRE 2026 root (its train split)")
    data.add_argument("--val_path_data", default=TrainSettings.val_path_data,
                      help="validation folder (SoundDataset: the same root, test lists; CrowdSAL / NTIRE2026: its "
                           "test split, default the training root's)")
    data.add_argument("--split", type=number_flag(int, 1, 3), default=TrainSettings.split,
                      help="audio-visual fold 1-3 (DIEM has one split)")
    data.add_argument("--av_datasets", nargs="+", choices=AUDIO_VISUAL_DATASETS,
                      default=list(TrainSettings.av_datasets), help="the audio-visual sets trained on together")
    add_frame_size_flag(data)
    data.add_argument("--clips_per_video", type=number_flag(int, 1), default=TrainSettings.clips_per_video,
                      help="random training clips per video per epoch")
    data.add_argument("--no_workers", type=number_flag(int, 0), default=TrainSettings.no_workers,
                      help="data loader worker processes")
    data.add_argument("--frame_cache", default=TrainSettings.frame_cache, metavar="DIR",
                      help="CrowdSAL / NTIRE2026: decode each video's frames once at the frame size into DIR and "
                           "read later epochs and runs from there (default: decode every clip from the video)")
    add_audio_ablation_flag(data)


def _model_flags(net: argparse._ArgumentGroup) -> None:
    """The flags that choose the model and its starting weights."""
    add_model_flag(net)
    add_fusion_flags(net)
    add_variant_flags(net)
    net.add_argument("--s3d_weights", default=TrainSettings.s3d_weights,
                     help="S3D Kinetics-400 weights (TASED-Net or torchvision layout)")
    net.add_argument("--soundnet_weights", default=TrainSettings.soundnet_weights,
                     help="SoundNet8 weights (soundnet8_final.pth)")
    net.add_argument("--slowfast_weights", default=TrainSettings.slowfast_weights,
                     help="ViNet-A's encoder: ACAR-Net's SlowFast-R50 weights")
    net.add_argument("--load_weight", default=str(TrainSettings.load_weight),   # the original's: the string "None"
                     help="a checkpoint; with --use_sound a ViNet one initialises AViNet's visual model")


def _optimisation_flags(opt: argparse._ArgumentGroup) -> None:
    opt.add_argument("--no_epochs", type=number_flag(int, 0), default=TrainSettings.no_epochs)
    opt.add_argument("--batch_size", type=number_flag(int, 1), default=TrainSettings.batch_size,
                     help="clips per process and step (default: the model's recipe, 8; ViNet++ on the audio-visual "
                          "sets 2)")
    opt.add_argument("--accum_steps", type=number_flag(int, 1), default=TrainSettings.accum_steps,
                     help="batches accumulated per optimizer step")
    opt.add_argument("--lr", type=number_flag(float, 0, above=True), default=TrainSettings.lr)
    opt.add_argument("--optim", type=str.lower, choices=("adam", "sgd"), default=TrainSettings.optim)
    opt.add_argument("--momentum", type=number_flag(float, 0, 1), default=TrainSettings.momentum, help="SGD momentum")
    opt.add_argument("--weight_decay", type=number_flag(float, 0), default=TrainSettings.weight_decay)
    opt.add_argument("--lr_sched", type=schedule_name, default=TrainSettings.lr_sched,
                     help="none, step or cosine (per epoch)")
    opt.add_argument("--step_size", type=number_flag(int, 1), default=TrainSettings.step_size,
                     help="epochs between step decays")
    opt.add_argument("--gamma", type=number_flag(float, 0, above=True), default=TrainSettings.gamma,
                     help="step decay factor")
    for name, help in (("kldiv", "KL divergence term"), ("cc", "CC term"), ("sim", "SIM term"),
                       ("nss", "NSS term (reads fixations)")):
        boolean_flag(opt, f"--{name}", getattr(TrainSettings, name),
             f"{help} (default: the model's recipe: KLD; ViNet++: KLD - CC)")
    opt.add_argument("--kldiv_coeff", type=number_flag(float), default=TrainSettings.kldiv_coeff)
    opt.add_argument("--cc_coeff", type=number_flag(float), default=TrainSettings.cc_coeff,
                     help="negative: rewards correlation")
    opt.add_argument("--sim_coeff", type=number_flag(float), default=TrainSettings.sim_coeff,
                     help="negative: rewards similarity")
    opt.add_argument("--nss_coeff", type=number_flag(float), default=TrainSettings.nss_coeff,
                     help="the original's default; positive penalises NSS, pass -1 to reward it")
    boolean_flag(opt, "--freeze_bn", TrainSettings.freeze_bn, "batch norm uses its running statistics while training")
    opt.add_argument("--bn_momentum", type=number_flag(float, 0, 1, above=True), default=TrainSettings.bn_momentum,
                     help="batch-norm momentum of every layer (default: the model's, 1e-3 in S3D as the original: "
                          "suited to pretrained statistics; from random weights 0.1 lets them follow training)")
    boolean_flag(opt, "--sync_bn", TrainSettings.sync_bn, "SyncBatchNorm under DDP on GPUs")


def _run_flags(run: argparse._ArgumentGroup) -> None:
    run.add_argument("--model_val_path", default=TrainSettings.model_val_path,
                     help="best checkpoint; the run's other files go beside it, named after its stem")
    run.add_argument("--best_metric", choices=VALIDATION_METRICS, default=TrainSettings.best_metric,
                     help="validation metric choosing the best")
    boolean_flag(run, "--resume", TrainSettings.resume, "continue from <stem>_last.pt")
    boolean_flag(run, "--eval_only", TrainSettings.eval_only, "validate --load_weight (or a fresh model) once and stop")
    add_precision_flag(run)
    add_device_flag(run)
    run.add_argument("--seed", type=number_flag(int, 0), default=TrainSettings.seed)
    boolean_flag(run, "--deterministic", TrainSettings.deterministic,
         "deterministic algorithms (a resumed run ends as an uninterrupted one)")
    run.add_argument("--log_interval", type=number_flag(int, 1), default=TrainSettings.log_interval,
                     help="steps between log lines")


# ----------------------------------------------------------------------------------------------
# The run


def main(argv: list[str] | None = None) -> int:
    """Train as the flags say; the exit status (2 after one line for bad input)."""
    logging.basicConfig(level=logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        run_training(parse_settings(argv))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
