"""Scoring the frames of every video, one video per task, the videos spread over a pool of processes."""
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from vinet.evaluation.folders import (
    Frame,
    GroundTruthVideo,
    check_fixations_exist,
    load_video_fixations,
    prediction_file,
)
from vinet.evaluation.frame_scores import frame_seed, score_frame
from vinet.evaluation.maps import Fixations, fixation_union, read_map
from vinet.evaluation.other_maps import OtherMaps

log = logging.getLogger("evaluate")  # evaluate.py's logger: its lines read as they always have

Problems = list[tuple[str, str | None]]  # (kind, log line or None to count silently)
ChooseOtherMaps = Callable[[list[GroundTruthVideo], list[tuple[Fixations | None, ...]]], list[OtherMaps | None]]


@dataclass(frozen=True)
class VideoJob:
    """Everything a worker needs to score one video."""
    video: GroundTruthVideo
    prediction_dir: Path
    fixations: tuple[Fixations | None, ...]
    other_maps: OtherMaps | None  # s_auc's other map of each frame; None without s_auc
    metrics: tuple[str, ...]
    seed: int


@dataclass
class VideoResult:
    """Per-frame scores of one video and its problems as (kind, log line or None to count silently)."""
    name: str
    rows: list[dict]
    problems: Problems


def init_worker() -> None:
    """Use one thread for torch and OpenCV: the pool itself spreads videos over the cores."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def read_frame_maps(frame: Frame, prediction_dir: Path, problems: Problems) -> tuple[np.ndarray, np.ndarray] | None:
    """A frame's ground-truth density and prediction, noting what is odd about them; None if either is unusable."""
    density = read_map(frame.density_path)
    if density is None:
        problems.append(("unreadable_gt", f"{frame.density_path}: ground-truth map empty or unreadable; frame skipped"))
        return None
    prediction_path = prediction_file(frame, prediction_dir)
    if prediction_path is None:
        problems.append(("missing_prediction", f"{prediction_dir / frame.prediction_stem}.png: prediction missing; "
                                               "frame skipped"))
        return None
    prediction = read_map(prediction_path)
    if prediction is None:
        problems.append(("unreadable_prediction", f"{prediction_path}: prediction empty or unreadable; frame skipped"))
        return None
    if prediction.max() == prediction.min():
        kind = "zero_prediction" if prediction.max() == 0 else "flat_prediction"
        problems.append((kind, f"{prediction_path}: prediction is flat (every pixel {prediction.max():.4g}); "
                               "scored at chance level"))
    if density.max() == density.min():
        problems.append(("flat_gt_map", f"{frame.density_path}: ground-truth map is flat; "
                                        "cc/sim/kld are NaN for this frame"))
    return density, prediction


def evaluate_video(job: VideoJob) -> VideoResult:
    """Score every frame of one video that has a readable ground truth and prediction."""
    video = job.video
    result = VideoResult(video.name, [], [])
    if not video.frames:
        result.problems.append(("missing_gt_video", f"{video.maps_dir}: no ground-truth maps; video skipped"))
        return result
    if not job.prediction_dir.is_dir():
        result.problems.append(("missing_video", f"{job.prediction_dir}: prediction folder missing; "
                                                 f"its {len(video.frames)} frames skipped"))
        result.problems.extend([("missing_prediction", None)] * len(video.frames))
        return result
    for index, frame in enumerate(video.frames):
        maps = read_frame_maps(frame, job.prediction_dir, result.problems)
        if maps is None:
            continue
        density, prediction = maps
        own = job.fixations[index]
        fixation_map = fixation_union([] if own is None else [own], density.shape)
        if not fixation_map.any():
            result.problems.append(("no_fixations", None))
        other_map = job.other_maps(index, fixation_map) if job.other_maps is not None else None
        if other_map is not None and not other_map.any() and fixation_map.any():
            result.problems.append(("empty_shuffle_map", None))
        scores = score_frame(prediction, density, fixation_map, other_map,
                             frame_seed(video.name, frame.name, job.seed), job.metrics)
        result.rows.append({"video": video.name, "frame": frame.name, **scores})
    return result


def map_videos(pool: ProcessPoolExecutor | None, function: Callable, jobs: Sequence, description: str) -> Iterator:
    """Apply `function` to every job on the pool (or here without one); yields outputs in order, with a progress bar."""
    outputs = pool.map(function, jobs) if pool is not None else map(function, jobs)
    return iter(tqdm(outputs, total=len(jobs), desc=description, unit="video"))


@contextmanager
def video_pool(workers: int, num_videos: int) -> Iterator[ProcessPoolExecutor | None]:
    """A pool of at most `workers` processes for `num_videos` videos (None for one: the work runs here, torch and
    OpenCV at one thread until the block ends). An error cancels the videos not started yet."""
    workers = max(1, min(workers, num_videos))
    pool = (ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=init_worker)
            if workers > 1 else None)
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    if pool is None:
        init_worker()  # per-frame operations are small: extra threads only contend
    try:
        yield pool
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv2_threads)


def _log_problems(problems: Iterable[tuple[str, str | None]]) -> None:
    """One warning line per problem that has a message."""
    for _, message in problems:
        if message is not None:
            log.warning("%s", message)


def score_videos(videos: list[GroundTruthVideo], prediction_root: Path, choose_other_maps: ChooseOtherMaps,
                 metrics: tuple[str, ...], seed: int, workers: int) -> list[VideoResult]:
    """Every video's per-frame scores and problems, videos spread over `workers` processes; `choose_other_maps`
    gives each video's s_auc other maps (the protocol's) once every frame's fixations are read."""
    with video_pool(workers, len(videos)) as pool:
        fixations, fixation_problems = [], []
        for video_fixations, problems in map_videos(pool, load_video_fixations, videos, "fixations"):
            fixations.append(video_fixations)
            fixation_problems.append(problems)
        check_fixations_exist(videos, fixations, metrics)
        for problems in fixation_problems:
            _log_problems(problems)
        other_maps = choose_other_maps(videos, fixations)
        jobs = [VideoJob(video, prediction_root / video.name, video_fixations, video_other_maps, metrics, seed)
                for video, video_fixations, video_other_maps in zip(videos, fixations, other_maps)]
        results = []
        for result, problems in zip(map_videos(pool, evaluate_video, jobs, "scoring"), fixation_problems):
            _log_problems(result.problems)
            result.problems[:0] = problems
            results.append(result)
        return results
