"""Score saliency predictions on video frames with the MIT saliency benchmark's metrics, as its MATLAB code does.

    python evaluate.py --pred_path results/dhf1k_val --gt_path data/DHF1K/annotation --output results/dhf1k_val.json
    python evaluate.py --pred_path results/Coutrot_db1_1 --gt_path data/AV --dataset Coutrot_db1 --split 1 \
        --output results/Coutrot_db1_1.json --csv results/Coutrot_db1_1.csv

Layouts. DHF1K: GT/<video>/maps/<frame>.png (8-bit density), GT/<video>/fixation/<frame>.png (binary) or
GT/<video>/fixation/maps/<frame>.mat (variable I); predictions PRED/<video>/<frame>.png (.jpg also read), any size.
Audio-visual (--dataset, --split): GT is the dataset root; the videos are the first words of the lines of
GT/fold_lists/<dataset>_list_test_<split>_fps.txt (DIEM: DIEM_list_test_fps.txt; the repository's fold_lists/ if GT
has none), the frames GT/annotations/<dataset>/<video>/maps/eyeMap_%05d.jpg with fixations in
.../<video>/fixMap_%05d.mat (variable eyeMap); predictions PRED/<video>/img_%05d.png or .jpg with eyeMap's index.

Metrics (cvzoya/saliency, code_forMetrics/*.m) are all defined in loss.py; this module walks folders, reads maps
and aggregates. s_auc's negatives are pixels fixated in the "other" map (the protocols below). Predictions are
resized to the ground truth's size bilinearly (MATLAB's imresize defaults to bicubic). Random draws (AUC-Judd's
jitter, the splits) come from a generator seeded per video, frame and metric, so results do not depend on the
worker count; they are the same distributions as MATLAB's, but not its random streams, so s_auc and auc_b differ
from a MATLAB run by sampling noise (sd ~3e-3 per frame of 30 fixations, shrinking in means over frames).

Protocols (s_auc's other map). dhf1k: the union of the fixations of 10 random other frames of the evaluated set;
av (the default with --dataset): the union of the fixations of the same video's other frames; --shuffle_map replaces
either with one fixed binary map. "mean" is the mean of per-video means (the audio-visual papers), "frame_mean" pools
all frames (DHF1K).

Per-frame rules. No fixations: nss, auc_j, s_auc and auc_b are NaN (counted in nan_frames, left out of the means).
A flat or all-zero prediction is logged and scored at chance (cc = sim = nss = 0, s_auc = auc_b = 0.5, auc_j ~ 0.5),
so blank frames cannot improve a score. A flat ground-truth map gives NaN cc, sim and kld. A prediction missing
for any annotated frame stops the run before scoring (exit code 2, naming the videos and their missing frame
counts) unless --allow_missing, which scores what exists. Missing or unreadable files are then logged one line
each, counted under "problems" in the output and skipped; unreadable ones (not an image,
a .mat without eyeMap or I) are also listed under "unreadable_files", repeated in a closing line, and the run exits
with 2 after writing its JSON. A missing ground-truth folder or fold list, or a ground truth without a single
fixation map when fixation metrics are asked for, stops the run at start-up (exit code 2); a run that scores no
frame writes its JSON and exits with 1.

Output JSON: mean, frame_mean, per_video (<video>: means over its frames), frames_per_video, num_videos, num_frames,
frames_scored of frames_annotated, missing_predictions (<video>: frames without one),
nan_frames (frames with any NaN metric), nan_counts (per metric), problems (counts by kind) and the run's settings;
NaN is written as null. --csv writes one row per frame.

pysaliency differs: its NSS divides by the population std (ddof=0), its SIM skips the min-max step, its AUCs (Judd
and shuffled) are exact over all thresholds and all negatives instead of MATLAB's coarse, sampled ROC, and its KLD
uses eps = 2.2204e-16 rounded (MATLAB's is 2^-52), which shows at ~1e-9 on maps with values near 1e-15 of their sum.
"""
import argparse
import csv
import io
import json
import logging
import math
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

import loss
from dataloader import VALIDATION, list_audio_visual_videos, list_frame_folder_videos, read_fixations
from utils import ArgumentParser, InputError, atomic_write_bytes, number_flag

log = logging.getLogger("evaluate")

METRICS = ("cc", "sim", "nss", "kld", "auc_j", "s_auc", "auc_b")
DISTRIBUTION_METRICS = {"cc": loss.cc, "sim": loss.similarity, "kld": loss.kldiv}
SHUFFLE_FRAMES = 10  # dhf1k protocol: other frames whose fixations make s_auc's negatives
SHUFFLE_STREAM = len(METRICS)  # random stream index of the dhf1k protocol's frame draw, after the metrics' own
PREDICTION_SUFFIXES = (".png", ".jpg", ".jpeg")


# -----------------------------------------------------------------------------
# One frame

def frame_seed(video: str, frame: str, seed: int = 0) -> list[int]:
    """Seed words of one frame's random streams: stable across runs, processes and worker counts."""
    return [seed, zlib.crc32(f"{video}/{frame}".encode())]


def score_frame(prediction: np.ndarray, density_map: np.ndarray, fixation_map: np.ndarray, other_map: np.ndarray | None,
                seed: Sequence[int], metrics: Sequence[str] = METRICS) -> dict[str, float]:
    """All requested metrics of one frame; the prediction is resized to the density map's size bilinearly first.

    Fixation metrics are NaN without fixations (s_auc also without an other map), distribution metrics NaN for a flat
    density map. Each metric draws from its own stream of `seed`, so a subset of metrics gives the same values.
    """
    height, width = density_map.shape
    if prediction.shape != density_map.shape:
        prediction = cv2.resize(prediction, (width, height), interpolation=cv2.INTER_LINEAR)
    prediction_batch = torch.from_numpy(prediction)[None]
    density_usable = density_map.max() > density_map.min()
    has_fixations = bool(fixation_map.any())
    scores = {}
    for name in metrics:
        rng = np.random.default_rng([*seed, METRICS.index(name)])
        if name in DISTRIBUTION_METRICS:
            density_batch = torch.from_numpy(density_map)[None]
            value = DISTRIBUTION_METRICS[name](prediction_batch, density_batch).item() if density_usable else math.nan
        elif not has_fixations:
            value = math.nan
        elif name == "nss":
            value = loss.nss(prediction_batch, torch.from_numpy(fixation_map)[None]).item()
        elif name == "auc_j":
            value = loss.auc_judd(prediction, fixation_map, rng)
        elif name == "s_auc":
            value = loss.auc_shuffled(prediction, fixation_map, other_map, rng) if other_map is not None else math.nan
        else:
            value = loss.auc_borji(prediction, fixation_map, rng)
        scores[name] = float(value)
    return scores


# -----------------------------------------------------------------------------
# Reading maps

@dataclass(frozen=True)
class Fixations:
    """Fixated pixels of one frame: row and column indices in a map of `shape`."""
    rows: np.ndarray
    cols: np.ndarray
    shape: tuple[int, int]

    def scaled(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices in a map of `shape` (pixel centres mapped to the nearest pixel)."""
        if shape == self.shape:
            return self.rows, self.cols
        return ((2 * self.rows + 1) * shape[0] // (2 * self.shape[0]),
                (2 * self.cols + 1) * shape[1] // (2 * self.shape[1]))


def fixation_union(fixations: Iterable[Fixations], shape: tuple[int, int]) -> np.ndarray:
    """Binary map of `shape` fixated in any of `fixations`."""
    union = np.zeros(shape, dtype=bool)
    for frame_fixations in fixations:
        union[frame_fixations.scaled(shape)] = True
    return union


def read_map(path: Path) -> np.ndarray | None:
    """An image (8/16-bit, grey or colour) as a float64 grey map in [0, 1]; None if missing, empty or unreadable."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        return None
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    scale = np.iinfo(image.dtype).max if np.issubdtype(image.dtype, np.integer) else 1.0
    return image.astype(np.float64) / scale


def fixations_of(path: Path) -> Fixations:
    """Fixated pixels of a fixation map file (dataloader.read_fixations: InputError if it is unreadable)."""
    binary = read_fixations(path)
    rows, cols = np.nonzero(binary)
    return Fixations(rows.astype(np.int32), cols.astype(np.int32), binary.shape)


# -----------------------------------------------------------------------------
# Datasets

@dataclass(frozen=True)
class Frame:
    """One ground-truth frame: its density map, its fixation file and the prediction's file stem."""
    name: str
    density_path: Path
    fixation_path: Path
    prediction_stem: str


@dataclass(frozen=True)
class Video:
    """The frames of one video and the folder of its density maps."""
    name: str
    frames: tuple[Frame, ...]
    maps_dir: Path


def list_videos(gt_root: Path, dataset: str | None, split: int | None) -> list[Video]:
    """The ground truth's videos (dataloader's listing of the DHF1K layout, or of one fold of an audio-visual set in
    fold-list order); predictions are named as the maps (DHF1K) or img_%05d with the map's number."""
    if not gt_root.is_dir():
        held = f"annotations/{dataset}/" if dataset else "<video>/maps/*.png and <video>/fixation/"
        raise InputError(f"ground-truth folder not found: {gt_root}; pass --gt_path the folder holding {held}")
    if not dataset:
        listed = list_frame_folder_videos(gt_root, ("maps", "fixation"), "ground-truth folder (--gt_path)", False)
    elif dataset != "DIEM" and split is None:
        raise InputError(f"--split is required for {dataset}: pass the fold number (e.g. --split 1)")
    else:
        listed = list_audio_visual_videos(gt_root, dataset, split or 1, VALIDATION, ("maps", "fixations"), False)
    videos = []
    for video in listed:
        stems = [m.stem if not dataset else f"img_{m.stem.split('_')[-1]}" for m in video.maps]
        frames = tuple(Frame(m.name, m, f, stem) for m, f, stem in zip(video.maps, video.fixations, stems))
        maps_dir = (gt_root / video.name if not dataset else gt_root / "annotations" / dataset / video.name) / "maps"
        videos.append(Video(video.name, frames, maps_dir))
    if not any(video.frames for video in videos):
        raise InputError(f"no ground-truth maps under {gt_root} for --dataset {dataset}; check --gt_path (the "
                         "dataset root) and --dataset")
    return videos


# -----------------------------------------------------------------------------
# Workers: one video per task

@dataclass(frozen=True)
class VideoJob:
    """Everything a worker needs to score one video."""
    video: Video
    prediction_dir: Path
    fixations: tuple[Fixations | None, ...]
    shuffle_sources: tuple[tuple[Fixations, ...], ...] | None  # dhf1k protocol: other frames' fixations per frame
    shuffle_map: np.ndarray | None  # --shuffle_map
    metrics: tuple[str, ...]
    seed: int


@dataclass
class VideoResult:
    """Per-frame scores of one video and its problems as (kind, log line or None to count silently)."""
    name: str
    rows: list[dict]
    problems: list[tuple[str, str | None]]


def init_worker() -> None:
    """Use one thread for torch and OpenCV: the pool itself spreads videos over the cores."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def load_video_fixations(video: Video) -> tuple[tuple[Fixations | None, ...], list[tuple[str, str | None]]]:
    """Fixations of every frame of a video (None where the file is missing or unreadable) and the problems met."""
    fixations, problems = [], []
    for frame in video.frames:
        path, frame_fixations = frame.fixation_path, None
        if not path.is_file():
            problems.append(("missing_fixation", f"{path}: fixation map missing; "
                                                 "nss/auc_j/s_auc/auc_b are NaN for this frame"))
        else:
            try:
                frame_fixations = fixations_of(path)
            except InputError as error:
                problems.append(("unreadable_fixation", f"{error}; nss/auc_j/s_auc/auc_b are NaN for this frame"))
        fixations.append(frame_fixations)
    return tuple(fixations), problems


def prediction_file(frame: Frame, prediction_dir: Path) -> Path | None:
    """The prediction of a frame (<stem>.png, .jpg, ...), None when there is none."""
    return next((path for path in (prediction_dir / (frame.prediction_stem + suffix) for suffix in PREDICTION_SUFFIXES)
                 if path.is_file()), None)


def missing_predictions(videos: Sequence[Video], prediction_root: Path) -> dict[str, tuple[int, int]]:
    """{video: (frames without a prediction, annotated frames)} for the videos missing some."""
    missing = {}
    for video in videos:
        absent = sum(prediction_file(frame, prediction_root / video.name) is None for frame in video.frames)
        if absent:
            missing[video.name] = (absent, len(video.frames))
    return missing


def check_complete(missing: dict[str, tuple[int, int]], videos: Sequence[Video], prediction_root: Path) -> None:
    """InputError naming the videos (and frame counts) that lack predictions: a partial score is refused."""
    if missing:
        named = ", ".join(f"{name} ({absent} of {total} frames)" for name, (absent, total) in list(missing.items())[:5])
        raise InputError(f"predictions missing in {prediction_root} for {len(missing)} of {len(videos)} videos: "
                         f"{named}{', ...' if len(missing) > 5 else ''}; generate them, or pass --allow_missing to "
                         "score only the frames that have one")


def read_frame_maps(frame: Frame, prediction_dir: Path,
                    problems: list[tuple[str, str | None]]) -> tuple[np.ndarray, np.ndarray] | None:
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


class OtherMaps:
    """s_auc's "other" map of each frame of one video, by the protocol: a fixed map (--shuffle_map), the
    fixations of frames drawn from the set (dhf1k), or of the video's other frames (av); None without s_auc."""

    def __init__(self, job: VideoJob):
        self.job = job
        self.resized: dict[tuple[int, int], np.ndarray] = {}   # per map size: the fixed map, or fixations per pixel

    def __call__(self, index: int, fixation_map: np.ndarray) -> np.ndarray | None:
        job, shape = self.job, fixation_map.shape
        if "s_auc" not in job.metrics:
            return None
        if job.shuffle_sources is not None and job.shuffle_map is None:
            return fixation_union(job.shuffle_sources[index], shape)
        if shape not in self.resized:
            self.resized[shape] = self._prepare(shape)
        if job.shuffle_map is not None:
            return self.resized[shape]
        return (self.resized[shape] - fixation_map) > 0  # the same video's other frames only

    def _prepare(self, shape: tuple[int, int]) -> np.ndarray:
        if self.job.shuffle_map is not None:
            resized = cv2.resize(self.job.shuffle_map.astype(np.uint8), (shape[1], shape[0]),
                                 interpolation=cv2.INTER_NEAREST)
            return resized > 0
        counts = np.zeros(shape, dtype=np.int32)
        for frame_fixations in self.job.fixations:
            if frame_fixations is not None:
                counts[frame_fixations.scaled(shape)] += 1
        return counts


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
    other_maps = OtherMaps(job)
    for index, frame in enumerate(video.frames):
        maps = read_frame_maps(frame, job.prediction_dir, result.problems)
        if maps is None:
            continue
        density, prediction = maps
        own = job.fixations[index]
        fixation_map = fixation_union([] if own is None else [own], density.shape)
        if not fixation_map.any():
            result.problems.append(("no_fixations", None))
        other_map = other_maps(index, fixation_map)
        if other_map is not None and not other_map.any() and fixation_map.any():
            result.problems.append(("empty_shuffle_map", None))
        scores = score_frame(prediction, density, fixation_map, other_map,
                             frame_seed(video.name, frame.name, job.seed), job.metrics)
        result.rows.append({"video": video.name, "frame": frame.name, **scores})
    return result


# -----------------------------------------------------------------------------
# Whole evaluation

def choose_shuffle_sources(videos: Sequence[Video], fixations: Sequence[Sequence[Fixations | None]],
                           seed: int) -> list[tuple[tuple[Fixations, ...], ...]]:
    """dhf1k protocol: for every frame, the fixations of SHUFFLE_FRAMES other frames of the set (seeded per frame)."""
    pool = [(v, f) for v, video_fixations in enumerate(fixations) for f, frame_fixations in enumerate(video_fixations)
            if frame_fixations is not None and frame_fixations.rows.size]
    position = {key: i for i, key in enumerate(pool)}
    sources = []
    for v, video in enumerate(videos):
        per_frame = []
        for f, frame in enumerate(video.frames):
            own = position.get((v, f))
            num_candidates = len(pool) - (own is not None)
            rng = np.random.default_rng([*frame_seed(video.name, frame.name, seed), SHUFFLE_STREAM])
            picks = rng.choice(num_candidates, size=min(SHUFFLE_FRAMES, num_candidates), replace=False)
            if own is not None:
                picks = picks + (picks >= own)  # skip the frame itself
            per_frame.append(tuple(fixations[pool[p][0]][pool[p][1]] for p in picks))
        sources.append(tuple(per_frame))
    return sources


def _nanmean(values: Iterable[float]) -> float:
    """Mean of the non-NaN values, NaN if there are none."""
    finite = [value for value in values if not math.isnan(value)]
    return sum(finite) / len(finite) if finite else math.nan


def summarise(results: Sequence[VideoResult], metrics: Sequence[str]) -> dict:
    """Per-video means, their mean, frame-pooled means and counts, NaN written as None (JSON null)."""
    rows = [row for result in results for row in result.rows]
    scored = [result for result in results if result.rows]
    per_video = {result.name: {m: _nanmean(row[m] for row in result.rows) for m in metrics} for result in scored}
    problems: dict[str, int] = {}
    for result in results:
        for kind, _ in result.problems:
            problems[kind] = problems.get(kind, 0) + 1
    summary = {
        "mean": {m: _nanmean(values[m] for values in per_video.values()) for m in metrics},
        "frame_mean": {m: _nanmean(row[m] for row in rows) for m in metrics},
        "per_video": per_video,
        "frames_per_video": {result.name: len(result.rows) for result in scored},
        "num_videos": len(scored),
        "num_frames": len(rows),
        "nan_frames": sum(any(math.isnan(row[m]) for m in metrics) for row in rows),
        "nan_counts": {m: sum(math.isnan(row[m]) for row in rows) for m in metrics},
        "problems": dict(sorted(problems.items())),
    }
    return _nan_to_none(summary)


def _nan_to_none(value):
    """Replace NaN floats by None throughout nested dicts, so the JSON is standard."""
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def write_csv(path: Path, results: Sequence[VideoResult], metrics: Sequence[str]) -> None:
    """Per-frame scores, one row per frame, written atomically."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["video", "frame", *metrics])
    for result in results:
        for row in result.rows:
            writer.writerow([row["video"], row["frame"], *(repr(row[m]) for m in metrics)])
    atomic_write_bytes(path, text.getvalue().encode())


def _map_videos(pool: ProcessPoolExecutor | None, function: Callable, jobs: Sequence, description: str) -> Iterator:
    """Apply `function` to every job on the pool (or here without one); yields outputs in order, with a progress bar."""
    outputs = pool.map(function, jobs) if pool is not None else map(function, jobs)
    return iter(tqdm(outputs, total=len(jobs), desc=description, unit="video"))


def _log_problems(problems: Iterable[tuple[str, str | None]]) -> None:
    """One warning line per problem that has a message."""
    for _, message in problems:
        if message is not None:
            log.warning("%s", message)


def _format_scores(scores: dict[str, float | None]) -> str:
    """Scores as 'cc 0.1234  sim ...' for the log."""
    return "  ".join(f"{name} {'nan' if value is None else f'{value:.4f}'}" for name, value in scores.items())


def read_shuffle_map(path: str | None) -> np.ndarray | None:
    """--shuffle_map as a binary map (None without one)."""
    if not path:
        return None
    shuffle_image = read_map(Path(path))
    if shuffle_image is None:
        raise InputError(f"shuffle map missing or unreadable: {path}; pass --shuffle_map a binary image file")
    return shuffle_image > 0


def check_fixations_exist(videos: list[Video], fixations: list[tuple[Fixations | None, ...]],
                          metrics: tuple[str, ...]) -> None:
    """InputError when fixation metrics are asked for and not one frame of the ground truth has a readable
    fixation map (a wrong --gt_path, or a set without fixations); maps without fixations are fine (NaN)."""
    wanted = [m for m in metrics if m not in DISTRIBUTION_METRICS]
    if wanted and all(f is None for video_fixations in fixations for f in video_fixations):
        where = videos[0].frames[0].fixation_path.parent if videos and videos[0].frames else "the ground truth"
        raise InputError(f"no fixation maps in the ground truth (e.g. none in {where}): {', '.join(wanted)} need "
                         f"them; add them, or pass --metrics {','.join(DISTRIBUTION_METRICS)}")


def score_videos(videos: list[Video], prediction_root: Path, protocol: str, shuffle_map: np.ndarray | None,
                 metrics: tuple[str, ...], seed: int, workers: int) -> list[VideoResult]:
    """Every video's per-frame scores and problems, videos spread over `workers` processes."""
    workers = max(1, min(workers, len(videos)))
    pool = (ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=init_worker)
            if workers > 1 else None)
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    if pool is None:
        init_worker()  # per-frame operations are small: extra threads only contend
    try:
        fixations, fixation_problems = [], []
        for video_fixations, problems in _map_videos(pool, load_video_fixations, videos, "fixations"):
            fixations.append(video_fixations)
            fixation_problems.append(problems)
        check_fixations_exist(videos, fixations, metrics)
        for problems in fixation_problems:
            _log_problems(problems)
        use_sources = protocol == "dhf1k" and shuffle_map is None and "s_auc" in metrics
        sources = choose_shuffle_sources(videos, fixations, seed) if use_sources else [None] * len(videos)
        jobs = [VideoJob(video, prediction_root / video.name, video_fixations, video_sources, shuffle_map, metrics,
                         seed) for video, video_fixations, video_sources in zip(videos, fixations, sources)]
        results = []
        for result, problems in zip(_map_videos(pool, evaluate_video, jobs, "scoring"), fixation_problems):
            _log_problems(result.problems)
            result.problems[:0] = problems
            results.append(result)
        return results
    finally:
        if pool is not None:
            pool.shutdown()
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv2_threads)


def evaluate(args: argparse.Namespace) -> dict:
    """Run the whole evaluation described by the command-line arguments; returns the summary written to --output."""
    gt_root, prediction_root = Path(args.gt_path), Path(args.pred_path)
    protocol = args.protocol or ("av" if args.dataset else "dhf1k")
    videos = list_videos(gt_root, args.dataset, args.split)
    if not prediction_root.is_dir():
        raise InputError(f"prediction folder not found: {prediction_root}; pass --pred_path the folder holding "
                         "<video>/<frame>.png")
    missing = missing_predictions(videos, prediction_root)
    if not args.allow_missing:
        check_complete(missing, videos, prediction_root)
    shuffle_map = read_shuffle_map(args.shuffle_map)
    log.info("%d videos, %d frames, protocol %s, metrics %s", len(videos), sum(len(v.frames) for v in videos),
             protocol, ",".join(args.metrics))
    results = score_videos(videos, prediction_root, protocol, shuffle_map, tuple(args.metrics), args.seed,
                           args.workers)
    summary = summarise(results, args.metrics)
    summary["unreadable_files"] = [message.split("; ")[0] for result in results for kind, message in result.problems
                                   if kind.startswith("unreadable") and message]
    summary.update(frames_scored=summary["num_frames"], frames_annotated=sum(len(v.frames) for v in videos),
                   missing_predictions={name: absent for name, (absent, _) in missing.items()})
    summary.update(protocol=protocol, metrics=list(args.metrics), pred_path=str(prediction_root), gt_path=str(gt_root),
                   dataset=args.dataset, split=args.split, shuffle_map=args.shuffle_map, seed=args.seed)
    atomic_write_bytes(args.output, json.dumps(summary, indent=2, allow_nan=False).encode())
    if args.csv:
        write_csv(Path(args.csv), results, args.metrics)
    log.info("%d of %d annotated frames of %d videos scored, %d with NaN metrics; problems: %s",
             summary["frames_scored"], summary["frames_annotated"], summary["num_videos"], summary["nan_frames"],
             ", ".join(f"{kind} {count}" for kind, count in summary["problems"].items()) or "none")
    log.info("mean of video means: %s", _format_scores(summary["mean"]))
    log.info("mean over frames:    %s", _format_scores(summary["frame_mean"]))
    log.info("wrote %s%s", args.output, f" and {args.csv}" if args.csv else "")
    return summary


def parse_metrics(text: str) -> tuple[str, ...]:
    """Comma-separated metric names, checked against METRICS."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown metric(s) {unknown or text!r}; choose from {','.join(METRICS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pred_path", required=True, help="folder of predictions, <video>/<frame>.png")
    parser.add_argument("--gt_path", required=True, help="DHF1K annotation folder, or the audio-visual dataset root")
    parser.add_argument("--output", required=True, help="summary JSON to write")
    parser.add_argument("--protocol", choices=("dhf1k", "av"), default=None,
                        help="s_auc's other map: 10 random frames of the set (dhf1k) or the video's other frames (av); "
                             "default av with --dataset, else dhf1k")
    parser.add_argument("--shuffle_map", default=None, help="one fixed binary map as s_auc's other map")
    parser.add_argument("--dataset", default=None, help="audio-visual dataset name (DIEM, Coutrot_db1, AVAD, ...)")
    parser.add_argument("--split", type=number_flag(int, 1, 3), default=None,
                        help="fold number of the audio-visual dataset (not DIEM)")
    parser.add_argument("--metrics", type=parse_metrics, default=METRICS,
                        help=f"comma-separated subset of {','.join(METRICS)}")
    parser.add_argument("--csv", default=None, help="also write per-frame scores to this CSV")
    parser.add_argument("--workers", type=number_flag(int, 1), default=os.cpu_count() or 1,
                        help="processes (videos in parallel)")
    parser.add_argument("--seed", type=number_flag(int, 0), default=0, help="seed of the AUC jitter and splits")
    parser.add_argument("--allow_missing", action="store_true",
                        help="score the frames that have a prediction when some have none (the JSON records how "
                             "many were scored of how many annotated); without it a missing prediction is refused")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns 0; 2 after one error line when an input is missing, or after the closing line naming the
    files that could not be read (the JSON is written with the rest); 1 when no frame could be scored."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        args = build_parser().parse_args(argv)
        with logging_redirect_tqdm():
            summary = evaluate(args)
    except InputError as error:
        log.error("%s", error)
        return 2
    if summary["num_frames"] == 0:
        log.error("no frame was scored: check --pred_path (%s) against the problems above", args.pred_path)
        return 1
    unreadable = summary["unreadable_files"]
    if unreadable:
        log.error("%s could not be read and %s left out of the scores: %s%s; replace %s and rerun",
                  "1 file" if len(unreadable) == 1 else f"{len(unreadable)} files",
                  "is" if len(unreadable) == 1 else "are", ", ".join(unreadable[:5]),
                  ", ..." if len(unreadable) > 5 else "", "it" if len(unreadable) == 1 else "them")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
