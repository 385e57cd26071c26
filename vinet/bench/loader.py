"""--loader: whether training's data pipeline keeps up with training on the 2026 benchmarks. Clips per second the
training loader delivers from FullHD videos (decoded from the videos, and from a frame cache), against the clips
per second ViNet's and AViNet's training steps take, measured interleaved, the best of the rounds counting."""
import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from dataloader import BenchmarkDataset, collate_clips
from layouts import CROWDSAL, TRAIN
from model import VideoAudioSaliencyModel, VideoSaliencyModel
from synthetic import write_benchmark_set
from utils import CLIP_LENGTH, FRAME_SIZE
from vinet.bench.engine import training_steps
from vinet.bench.machine import machine_description

LOADER_SIZE = (1080, 1920)           # FullHD, as the benchmarks' videos
LOADER_FPS = 30.0
LOADER_FRAMES = 60                   # 2 s a video: a 32-frame clip has 29 starts
LOADER_VIDEOS = ("0001", "0002", "0003")
LOADER_WORKERS = 2
CLIPS_PER_VIDEO = 4                  # 12 clips a round for each loader
STEP_BATCH = 1                       # the CPU's training steps at batch 1: clips/s = steps/s

log = logging.getLogger(__name__)


def write_loader_set(root: Path) -> Path:
    """The workload: FullHD CrowdSAL videos with sound, their 10-bit saliency videos and fixations."""
    log.info("writing %d FullHD videos of %d frames", len(LOADER_VIDEOS), LOADER_FRAMES)
    return write_benchmark_set(root, CROWDSAL, LOADER_VIDEOS, ("3001",), num_frames=LOADER_FRAMES, size=LOADER_SIZE,
                               fps=LOADER_FPS)


def loader_dataset(root: Path, use_sound: bool, cache: Path | None, epoch: int) -> BenchmarkDataset:
    """Training's dataset of the workload at the models' frame size and clip length, an epoch's random clips."""
    dataset = BenchmarkDataset(root, CROWDSAL, TRAIN, CLIP_LENGTH, FRAME_SIZE, use_sound=use_sound, fixations=True,
                               frame_cache=cache, clips_per_video=CLIPS_PER_VIDEO)
    dataset.set_epoch(epoch)
    return dataset


def loader_rate(dataset: BenchmarkDataset, workers: int) -> float:
    """Clips per second of a whole pass of the loader, its workers' start included (as each epoch starts them)."""
    loader = DataLoader(dataset, batch_size=1, num_workers=workers, collate_fn=collate_clips)
    start = time.perf_counter()
    clips = sum(len(batch["clip"]) for batch in loader)
    return clips / (time.perf_counter() - start)


def step_rate(model: torch.nn.Module, sample: dict[str, torch.Tensor], use_sound: bool) -> float:
    """Clips per second of training steps (forward, KL loss, backward, Adam; fp32) on one of the loader's clips."""
    inputs = [sample["clip"][None].expand(STEP_BATCH, *sample["clip"].shape).contiguous()]
    if use_sound:
        inputs.append(sample["audio"][None].expand(STEP_BATCH, *sample["audio"].shape).contiguous())
    return STEP_BATCH * training_steps(model, inputs, "fp32", torch.device("cpu"), repeats=1)


def loader_report(tmp: Path, rounds: int, command: str) -> dict:
    """The loaders' and the training steps' clips per second, `rounds` interleaved rounds (the best counts)."""
    root = write_loader_set(tmp / "CrowdSAL")
    cache = tmp / "frame_cache"
    reader = loader_dataset(root, True, cache, 0).reader
    fill = time.perf_counter()
    for name in LOADER_VIDEOS:   # the cache filled before its loader is timed; the filling timed alone
        reader.rgb(root / "Videos" / f"{name}.mp4", [0])
    fill_seconds = (time.perf_counter() - fill) / len(LOADER_VIDEOS)
    torch.manual_seed(0)
    sample = loader_dataset(root, True, None, 0)[0]
    runs: dict[str, Callable[[int], float]] = {
        "loader: videos, ViNet's clips": lambda r: loader_rate(loader_dataset(root, False, None, r), LOADER_WORKERS),
        "loader: videos, AViNet's clips (with sound)":
            lambda r: loader_rate(loader_dataset(root, True, None, r), LOADER_WORKERS),
        "loader: frame cache, AViNet's clips (with sound)":
            lambda r: loader_rate(loader_dataset(root, True, cache, r), LOADER_WORKERS),
        "training: ViNet (fp32, batch 1)": lambda r: step_rate(VideoSaliencyModel(), sample, False),
        "training: AViNet (fp32, batch 1)": lambda r: step_rate(VideoAudioSaliencyModel(), sample, True),
    }
    rates: dict[str, list[float]] = {label: [] for label in runs}
    for number in tqdm(range(rounds), desc="rounds"):
        for label, run in runs.items():
            rates[label].append(run(number + 1))
            log.info("%s: %.3f clips/s", label, rates[label][-1])
    rows = [{"run": label, "clips_per_s": max(values), "all_clips_per_s": values,
             "workers": LOADER_WORKERS if label.startswith("loader") else 0,
             "batch": 1 if label.startswith("loader") else STEP_BATCH} for label, values in rates.items()]
    return {"machine": machine_description(torch.device("cpu")), "frames": LOADER_FRAMES * len(LOADER_VIDEOS),
            "frame_size": list(LOADER_SIZE), "command": command, "training_frame_size": list(FRAME_SIZE),
            "clip_length": CLIP_LENGTH, "cache_fill_s_per_video": fill_seconds, "loader": rows}
