"""Evidence that training learns, on synthetic data small enough for a CPU (minutes, not hours).

    python -m extras.learning_evidence visual     # ViNet vs the untrained model and a centre-bias map
    python -m extras.learning_evidence visual --model vinet-s    # the same for ViNet-S
    python -m extras.learning_evidence sounding   # AViNet vs ViNet when the sound decides, with ablated audio

visual: DHF1K-layout videos where people watch the red of two moving discs; ViNet from random weights.
sounding: audio-visual videos (make_datasets.write_audio_visual with sound_decides) where a red disc moves in
the left half and a blue one in the right half of every frame; one of them, red and blue in turn, is heard
(its own pitch, loudness following its motion) and watched, the other is silent. Vision alone cannot tell
which, so ViNet learns a map over both discs; AViNet's bilinear fusion can turn the pitch into the left or
right cell of its deepest grid (1x2 at 32x64 frames). ViNet and AViNet train for the same epochs from
random weights, and AViNet is validated with the audio as recorded, silenced and shuffled between videos.
Prints one table row per model (validation CC, SIM, NSS of its best checkpoint, chosen by validation loss
as the original does).

AViNet starts from random weights, not from the trained ViNet (the original's recipe, --from_vinet here):
this ViNet's decoder learns to read the shallow hierarchies alone (zeroing its deepest features y0 moves
its maps by about 1e-6), so an AViNet built on it gets almost no gradient through the fusion, which replaces
y0, and keeps ViNet's map whatever it hears.

All models start from random weights (no S3D or SoundNet weights here), so batch norm runs with momentum
0.1 (--bn_momentum): S3D's 1e-3 suits pretrained running statistics, but from random weights they would
stay near their initial values for thousands of steps and eval mode would not compute what training learnt.
(Frozen batch norm is no substitute: without normalisation the deep features of a random S3D fade away.)
"""
import argparse
import logging
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import loss
from extras.make_datasets import write_audio_visual, write_dhf1k
from utils import PRECISIONS
from vinet.training.config import TrainSettings, configure
from vinet.training.data import build_datasets
from vinet.training.run import run_training

SIZE = (32, 64)  # the frame size the models see
DATA_SIZE = (36, 64)  # the synthetic frames' own size


def centre_bias(height: int, width: int, spread: float = 0.25) -> np.ndarray:
    """A centred Gaussian map whose standard deviation is `spread` of each side."""
    rows = (np.arange(height) - (height - 1) / 2) / (spread * height)
    cols = (np.arange(width) - (width - 1) / 2) / (spread * width)
    return np.exp(-(rows[:, None] ** 2 + cols[None] ** 2) / 2).astype(np.float32)


def centre_bias_scores(dataset) -> dict[str, float]:
    """Mean CC, SIM and NSS of the centre-bias map against every validation target of a dataset."""
    scores = {"cc": [], "sim": [], "nss": []}
    for index in range(len(dataset)):
        sample = dataset[index]
        density, fixations = sample["map"][None], sample["fixations"][None]
        prior = torch.from_numpy(centre_bias(*density.shape[1:]))[None]
        scores["cc"].append(loss.cc(prior, density).item())
        scores["sim"].append(loss.similarity(prior, density).item())
        scores["nss"].append(loss.nss(prior, fixations).item())
    return {name: float(np.mean(values)) for name, values in scores.items()}


def train_run(settings: TrainSettings) -> dict[str, float]:
    """A training run in this process; the validation metrics of its best checkpoint."""
    run_training(settings)
    return run_training(replace(settings, eval_only=True, load_weight=settings.model_val_path))


def visual(work: Path, epochs: int, videos: int, seed: int, model: str = "vinet", precision: str = "fp32",
           **_) -> list[tuple[str, dict]]:
    write_dhf1k(work / "train", num_videos=videos, num_frames=48, size=DATA_SIZE, seed=seed)
    write_dhf1k(work / "val", num_videos=max(1, videos // 2), num_frames=48, size=DATA_SIZE, seed=seed + 100)
    common = TrainSettings(train_path_data=str(work / "train"), val_path_data=str(work / "val"), clip_size=8,
                           frame_size=SIZE, no_workers=0, seed=seed, cc=True, lr=1e-3, bn_momentum=0.1, model=model,
                           model_val_path=str(work / f"{model}.pt"), precision=precision)
    _, val_set = build_datasets(configure(common).data)
    untrained = run_training(replace(common, eval_only=True))
    trained = train_run(replace(common, batch_size=4, clips_per_video=2, no_epochs=epochs))
    return [("centre bias", centre_bias_scores(val_set)), (f"{model} untrained", untrained),
            (f"{model}, {epochs} epochs", trained)]


def sounding(work: Path, epochs: int, videos: int, seed: int, vinet_epochs: int, frames: int,
             clips_per_video: int, from_vinet: bool = False, precision: str = "fp32", **_) -> list[tuple[str, dict]]:
    write_audio_visual(work, datasets=("DIEM",), videos_per_dataset=videos, num_frames=frames, size=DATA_SIZE,
                       seed=seed, sound_decides=True)
    common = TrainSettings(dataset="SoundDataset", av_datasets=("DIEM",), train_path_data=str(work), clip_size=32,
                           frame_size=SIZE, no_workers=0, seed=seed, cc=True, lr=1e-3, bn_momentum=0.1, batch_size=4,
                           clips_per_video=clips_per_video, precision=precision)
    vinet_path = work / "vinet.pt"
    _, val_set = build_datasets(configure(common).data)
    rows = [("centre bias", centre_bias_scores(val_set))]
    rows.append((f"ViNet, {vinet_epochs} epochs",
                 train_run(replace(common, no_epochs=vinet_epochs, model_val_path=str(vinet_path)))))
    avinet = replace(common, no_epochs=epochs, use_sound=True, model_val_path=str(work / "avinet.pt"))
    start = {"load_weight": str(vinet_path)} if from_vinet else {}
    rows.append((f"AViNet, {epochs} epochs" + (" from the ViNet" if from_vinet else ""),
                 train_run(replace(avinet, **start))))
    for ablation in ("silence", "shuffle"):
        rows.append((f"AViNet, audio {ablation}d", run_training(
            replace(avinet, load_weight=str(work / "avinet.pt"), eval_only=True, audio_ablation=ablation))))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=("visual", "sounding"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--videos", type=int, help="videos (visual: training videos, default 8; sounding: "
                                                    "all videos, a third of them validate, default 96)")
    parser.add_argument("--vinet_epochs", type=int, help="sounding: epochs of the ViNet (default: --epochs)")
    parser.add_argument("--frames", type=int, default=64, help="sounding: frames per video")
    parser.add_argument("--clips_per_video", type=int, default=2, help="sounding: training clips per video")
    parser.add_argument("--from_vinet", action="store_true",
                        help="sounding: initialise AViNet from the trained ViNet (the original's recipe)")
    parser.add_argument("--model", default="vinet", help="visual: the model trained (vinet, vinet-s, ...)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=tuple(PRECISIONS), default="fp32", help="train.py's autocast")
    parser.add_argument("--work", help="folder for the data and checkpoints (default: a temporary one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work or scratch)
        experiment = visual if args.experiment == "visual" else sounding
        videos = args.videos or (8 if args.experiment == "visual" else 96)
        rows = experiment(work, args.epochs, videos, args.seed, vinet_epochs=args.vinet_epochs or args.epochs,
                          frames=args.frames, clips_per_video=args.clips_per_video, from_vinet=args.from_vinet,
                          model=args.model, precision=args.precision)
    print(f"\n| {args.experiment} (seed {args.seed}, {args.precision}) | CC | SIM | NSS |\n| --- | --- | --- | --- |")
    for name, metrics in rows:
        print(f"| {name} | {metrics['cc']:.3f} | {metrics['sim']:.3f} | {metrics['nss']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
