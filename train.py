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
import logging
import os
import sys

import torch.distributed as dist

from dataloader import AUDIO_ABLATIONS
from layouts import AUDIO_VISUAL_DATASETS
from registry import FUSIONS, MODELS
from utils import PRECISIONS, ArgumentParser, InputError, device_flag, number_flag, str2bool
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

    def flag(group: argparse._ArgumentGroup, name: str, default: bool | None, help: str) -> None:
        group.add_argument(name, type=str2bool, nargs="?", const=True, default=default, help=help)

    _data_flags(parser.add_argument_group("data"))
    _model_flags(parser.add_argument_group("model"), flag)
    _optimisation_flags(parser.add_argument_group("optimisation"), flag)
    _run_flags(parser.add_argument_group("run"), flag)
    return parser.parse_args(argv)


def parse_settings(argv: list[str] | None = None) -> TrainSettings:
    """The run's settings, as the flags give them."""
    return TrainSettings(**vars(parse_args(argv)))


def _data_flags(data: argparse._ArgumentGroup) -> None:
    data.add_argument("--dataset", choices=DATASETS, default=TrainSettings.dataset)
    data.add_argument("--train_path_data", required=True,
                      help="dataset root: the DHF1K/Hollywood/UCF training folder, or the audio-visual root")
    data.add_argument("--val_path_data", default=TrainSettings.val_path_data,
                      help="validation folder (SoundDataset: the same root, test lists)")
    data.add_argument("--split", type=number_flag(int, 1, 3), default=TrainSettings.split,
                      help="audio-visual fold 1-3 (DIEM has one split)")
    data.add_argument("--av_datasets", nargs="+", choices=AUDIO_VISUAL_DATASETS,
                      default=list(TrainSettings.av_datasets), help="the audio-visual sets trained on together")
    data.add_argument("--frame_size", type=number_flag(int, 1), nargs=2, metavar=("H", "W"),
                      default=TrainSettings.frame_size,
                      help="frame size the model sees (default: the model's own; ViNet: multiples of 32, ViNet-A 4)")
    data.add_argument("--clips_per_video", type=number_flag(int, 1), default=TrainSettings.clips_per_video,
                      help="random training clips per video per epoch")
    data.add_argument("--no_workers", type=number_flag(int, 0), default=TrainSettings.no_workers,
                      help="data loader worker processes")
    data.add_argument("--audio_ablation", choices=AUDIO_ABLATIONS, default=TrainSettings.audio_ablation,
                      help="the sound an audio-visual model hears in training and validation: as recorded, "
                           "silenced, or another moment's (an ablation study)")


def _model_flags(net: argparse._ArgumentGroup, flag) -> None:
    """The flags that choose the model and its starting weights."""
    net.add_argument("--model", choices=list(MODELS), default=TrainSettings.model,
                     help="the model (default: the seed's flags below, else the --load_weight checkpoint's, else "
                          "vinet)")
    flag(net, "--use_sound", TrainSettings.use_sound, "AViNet (with audio) instead of ViNet")
    net.add_argument("--fusion", choices=list(FUSIONS), default=TrainSettings.fusion,
                     help="AViNet's audio-visual fusion (default bilinear)")
    flag(net, "--use_transformer", TrainSettings.use_transformer, "the original's name for --fusion transformer")
    net.add_argument("--clip_size", type=number_flag(int, 1), default=TrainSettings.clip_size,
                     help="frames per clip (ViNet: 8, 16, 32, 48; default 32)")
    net.add_argument("--num_hier", type=number_flag(int, 0, 3), default=TrainSettings.num_hier,
                     help="encoder hierarchies fused by the decoder (0-3; default 3)")
    net.add_argument("--transformer_in_channel", type=number_flag(int, 1),
                     default=TrainSettings.transformer_in_channel, help="token width (default: the variant's own)")
    net.add_argument("--nhead", type=number_flag(int, 1), default=TrainSettings.nhead,
                     help="transformer heads (default 4)")
    net.add_argument("--num_encoder_layers", type=number_flag(int, 1), default=TrainSettings.num_encoder_layers,
                     help="transformer layers (default 3)")
    net.add_argument("--s3d_weights", default=TrainSettings.s3d_weights,
                     help="S3D Kinetics-400 weights (TASED-Net or torchvision layout)")
    net.add_argument("--soundnet_weights", default=TrainSettings.soundnet_weights,
                     help="SoundNet8 weights (soundnet8_final.pth)")
    net.add_argument("--slowfast_weights", default=TrainSettings.slowfast_weights,
                     help="ViNet-A's encoder: ACAR-Net's SlowFast-R50 weights")
    net.add_argument("--load_weight", default=str(TrainSettings.load_weight),   # the original's: the string "None"
                     help="a checkpoint; with --use_sound a ViNet one initialises AViNet's visual model")


def _optimisation_flags(opt: argparse._ArgumentGroup, flag) -> None:
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
        flag(opt, f"--{name}", getattr(TrainSettings, name),
             f"{help} (default: the model's recipe: KLD; ViNet++: KLD - CC)")
    opt.add_argument("--kldiv_coeff", type=number_flag(float), default=TrainSettings.kldiv_coeff)
    opt.add_argument("--cc_coeff", type=number_flag(float), default=TrainSettings.cc_coeff,
                     help="negative: rewards correlation")
    opt.add_argument("--sim_coeff", type=number_flag(float), default=TrainSettings.sim_coeff,
                     help="negative: rewards similarity")
    opt.add_argument("--nss_coeff", type=number_flag(float), default=TrainSettings.nss_coeff,
                     help="the original's default; positive penalises NSS, pass -1 to reward it")
    flag(opt, "--freeze_bn", TrainSettings.freeze_bn, "batch norm uses its running statistics while training")
    opt.add_argument("--bn_momentum", type=number_flag(float, 0, 1, above=True), default=TrainSettings.bn_momentum,
                     help="batch-norm momentum of every layer (default: the model's, 1e-3 in S3D as the original: "
                          "suited to pretrained statistics; from random weights 0.1 lets them follow training)")
    flag(opt, "--sync_bn", TrainSettings.sync_bn, "SyncBatchNorm under DDP on GPUs")


def _run_flags(run: argparse._ArgumentGroup, flag) -> None:
    run.add_argument("--model_val_path", default=TrainSettings.model_val_path,
                     help="best checkpoint; the run's other files go beside it, named after its stem")
    run.add_argument("--best_metric", choices=VALIDATION_METRICS, default=TrainSettings.best_metric,
                     help="validation metric choosing the best")
    flag(run, "--resume", TrainSettings.resume, "continue from <stem>_last.pt")
    flag(run, "--eval_only", TrainSettings.eval_only, "validate --load_weight (or a fresh model) once and stop")
    run.add_argument("--precision", choices=tuple(PRECISIONS), default=TrainSettings.precision,
                     help="autocast (fp16: CUDA only)")
    run.add_argument("--device", default=TrainSettings.device, type=device_flag,
                     help="auto (cuda when available), cpu, cuda or cuda:N")
    run.add_argument("--seed", type=number_flag(int, 0), default=TrainSettings.seed)
    flag(run, "--deterministic", TrainSettings.deterministic,
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
