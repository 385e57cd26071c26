"""Time every evaluation metric on synthetic 360x640 frames (1,000 by default) in one process and print frames/s.

Usage (from the repository root): python -m extras.benchmark_metrics [--frames 1000] [--height 360] [--width 640]

One thread, as in the evaluation's workers (one worker per core). The frames imitate DHF1K: ~30 fixations per frame,
density maps blurred from them, predictions of 224x384 resized bilinearly to the frame as the evaluation does,
s_auc's other map the union of 10 other frames' fixations.
"""
import argparse
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch

import loss
from vinet.evaluation.frame_scores import EVALUATION_METRICS
from vinet.evaluation.scoring import init_worker

DISTINCT_FRAMES = 30  # synthetic frames, cycled over
PREDICTION_SHAPE = (224, 384)  # the models' output size


def synthetic_frames(count: int, shape: tuple[int, int], rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Fixations, density map, low-resolution prediction and other map for `count` distinct frames."""
    fixation_maps = []
    for _ in range(count):
        fixations = np.zeros(shape, dtype=bool)
        fixations.flat[rng.choice(fixations.size, size=30, replace=False)] = True
        fixation_maps.append(fixations)
    frames = []
    for index, fixations in enumerate(fixation_maps):
        density = cv2.GaussianBlur(fixations.astype(np.float64), (0, 0), 20)
        guess = cv2.resize(density, PREDICTION_SHAPE[::-1]) + rng.random(PREDICTION_SHAPE) * 1e-4
        others = [fixation_maps[(index + offset) % count] for offset in range(1, 11)]
        frames.append({"density": np.round(255 * density / density.max()) / 255,
                       "prediction": np.round(255 * guess / guess.max()) / 255,
                       "fixations": fixations, "other": np.logical_or.reduce(others)})
    return frames


def metric_calls(prediction: np.ndarray, frame: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, Callable]:
    """One call per metric on a frame whose prediction is already at the frame's size, as
    vinet.evaluation.frame_scores.score_frame does."""
    p, d = torch.from_numpy(prediction)[None], torch.from_numpy(frame["density"])[None]
    f = torch.from_numpy(frame["fixations"])[None]
    return {
        "cc": lambda: loss.cc(p, d).item(),
        "sim": lambda: loss.similarity(p, d).item(),
        "nss": lambda: loss.nss(p, f).item(),
        "kld": lambda: loss.kldiv(p, d).item(),
        "auc_j": lambda: loss.auc_judd(prediction, frame["fixations"], rng),
        "s_auc": lambda: loss.auc_shuffled(prediction, frame["fixations"], frame["other"], rng),
        "auc_b": lambda: loss.auc_borji(prediction, frame["fixations"], rng),
    }


def main() -> None:
    """Score the frames metric by metric, accumulate each one's time and print frames/s."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args()
    init_worker()
    shape = (args.height, args.width)
    frames = synthetic_frames(DISTINCT_FRAMES, shape, np.random.default_rng(0))

    seconds = dict.fromkeys(("resize", *EVALUATION_METRICS), 0.0)
    start = time.perf_counter()
    for index in range(args.frames):
        frame = frames[index % DISTINCT_FRAMES]
        rng = np.random.default_rng(index)
        tick = time.perf_counter()
        prediction = cv2.resize(frame["prediction"], shape[::-1], interpolation=cv2.INTER_LINEAR)
        seconds["resize"] += time.perf_counter() - tick
        for name, call in metric_calls(prediction, frame, rng).items():
            tick = time.perf_counter()
            call()
            seconds[name] += time.perf_counter() - tick
    total = time.perf_counter() - start

    print(f"{args.frames} frames of {shape[0]}x{shape[1]}, one process, torch threads {torch.get_num_threads()}")
    for name, spent in seconds.items():
        print(f"  {name:7s} {args.frames / spent:9.1f} frames/s  ({1000 * spent / args.frames:6.2f} ms/frame)")
    print(f"  {'all':7s} {args.frames / total:9.1f} frames/s  ({total:.1f} s in all)")


if __name__ == "__main__":
    main()
