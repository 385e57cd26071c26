"""The crowdsal protocol: saliency videos scored as the 2026 benchmarks (CrowdSAL's bench.py, NTIRE 2026) score them.

Predictions are PRED/<id>.mp4, one per ground-truth video of the split, of its size and frame count (nothing is
resized). Every pair is checked from its probe and fixation file before any frame is scored; then each frame is
decoded at 16 bits and scored by loss.benchmark_frame_scores, and the means are taken per video, over all frames
(frame_weighted) and over the video means (video_weighted).
"""
import json
import logging
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layouts import (
    NTIRE_SPLIT_FILE,
    BenchmarkVideo,
    benchmark_set,
    check_fixations_inside,
    list_benchmark_videos,
    ntire_split_ids,
    read_fixation_events,
)
from loss import BENCHMARK_METRICS, benchmark_frame_scores
from media import gray16_frames, probe_video
from utils import InputError, atomic_write_bytes
from vinet.evaluation.aggregation import format_scores, write_csv
from vinet.evaluation.options import EvaluationOptions
from vinet.evaluation.protocols import Protocol
from vinet.evaluation.scoring import VideoResult, map_videos, video_pool

log = logging.getLogger("evaluate")  # evaluate.py's logger: its lines read as they always have


@dataclass(frozen=True)
class VideoPair:
    """A ground-truth video of the benchmark and the prediction scored against it."""
    video: BenchmarkVideo
    prediction: Path


def prediction_videos(root: Path) -> dict[str, Path]:
    """The prediction videos of a folder by id (<id>.mp4); InputError when the folder is missing."""
    if not root.is_dir():
        raise InputError(f"prediction folder not found: {root}; --pred_path is a folder of <id>.mp4 saliency videos")
    return {path.stem: path for path in sorted(root.iterdir())
            if path.suffix.lower() == ".mp4" and not path.name.startswith(".")}


def pair_videos(videos: list[BenchmarkVideo], prediction_root: Path, gt_root: Path, subset: str,
                allow_missing: bool) -> tuple[list[VideoPair], list[str]]:
    """Each ground-truth video with its prediction, and the ids without one (refused unless `allow_missing`);
    InputError for a prediction of no video of the split, or when no video has a prediction."""
    predictions = prediction_videos(prediction_root)
    names = {video.name for video in videos}
    unpublished = (ntire_split_ids(gt_root / NTIRE_SPLIT_FILE, subset) or set()) - names   # NTIRE's private test
    skipped = [name for name in predictions if name in unpublished]
    if skipped:
        log.info("%d predictions of %s videos whose ground truth is not in %s (NTIRE's private test) are not scored",
                 len(skipped), subset, gt_root)
    stray = [name for name in predictions if name not in names and name not in unpublished]
    if stray:
        raise InputError(f"{predictions[stray[0]]}: {len(stray)} prediction(s) ({', '.join(stray[:5])}) match no "
                         f"{subset} video of {gt_root}; remove them, or choose their split with --subset")
    missing = [video.name for video in videos if video.name not in predictions]
    if missing and not allow_missing:
        raise InputError(f"{len(missing)} of {len(videos)} {subset} videos have no prediction <id>.mp4 in "
                         f"{prediction_root}: {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}; "
                         "predict every video (or pass --allow_missing)")
    pairs = [VideoPair(video, predictions[video.name]) for video in videos if video.name in predictions]
    if not pairs:
        raise InputError(f"none of the {len(videos)} {subset} videos of {gt_root} has a prediction <id>.mp4 in "
                         f"{prediction_root}")
    return pairs, missing


def check_pair(pair: VideoPair) -> int:
    """The frame count of a pair whose probes and fixations agree; InputError naming the video and what differs."""
    name, truth_path = pair.video.name, pair.video.saliency
    events = read_fixation_events(pair.video.fixations, name)
    truth, prediction = probe_video(truth_path), probe_video(pair.prediction)
    if prediction.size != truth.size:
        raise InputError(f"{name}: prediction {pair.prediction} is {'x'.join(map(str, prediction.size))}, the ground "
                         f"truth {truth_path} {'x'.join(map(str, truth.size))}; write the prediction at the ground "
                         "truth's size (this benchmark does not resize)")
    if not prediction.num_frames == truth.num_frames == len(events):
        fix = ("predict every frame of the ground truth" if truth.num_frames == len(events) else
               "the ground truth's video and fixations disagree: fetch the dataset again")
        raise InputError(f"{name}: frame counts differ: prediction {pair.prediction} {prediction.num_frames}, ground "
                         f"truth {truth_path} {truth.num_frames}, fixations {pair.video.fixations} {len(events)}; "
                         f"{fix}")
    height_width = (truth.size[1], truth.size[0])
    check_fixations_inside(events, height_width, name, pair.video.fixations)
    return len(events)


def score_pair(pair: VideoPair) -> VideoResult:
    """Every frame's scores of a checked pair, both videos decoded as streams; InputError when they decode to other
    frame counts or sizes than their probes said."""
    name = pair.video.name
    events = read_fixation_events(pair.video.fixations, name)
    rows = []
    with closing(gray16_frames(pair.prediction)) as predictions, closing(gray16_frames(pair.video.saliency)) as truths:
        for index, points in enumerate(events):
            prediction, truth = next(predictions, None), next(truths, None)
            for path, frame in ((pair.prediction, prediction), (pair.video.saliency, truth)):
                if frame is None:
                    raise InputError(f"{name}: {path} decodes to {index} frames, its fixations have {len(events)}; "
                                     "the file is damaged: write it again")
            if prediction.shape != truth.shape:
                raise InputError(f"{name}: frame {index} of {pair.prediction} decodes at {prediction.shape}, the "
                                 f"ground truth's at {truth.shape} ((height, width)); write it at the ground truth's")
            rows.append({"video": name, "frame": index, **benchmark_frame_scores(prediction, truth, points)})
    return VideoResult(name, rows, [])


def summarise(results: list[VideoResult]) -> dict:
    """Per-video means and frame counts, the mean over all frames and the mean of the video means."""
    videos = {result.name: {**{m: float(np.mean([row[m] for row in result.rows])) for m in BENCHMARK_METRICS},
                            "num_frames": len(result.rows)} for result in results}
    rows = [row for result in results for row in result.rows]
    return {"frame_weighted": {m: float(np.mean([row[m] for row in rows])) for m in BENCHMARK_METRICS},
            "video_weighted": {m: float(np.mean([video[m] for video in videos.values()])) for m in BENCHMARK_METRICS},
            "num_videos": len(videos), "num_frames": len(rows), "videos": videos}


class CrowdSALProtocol(Protocol):
    """CrowdSAL's and NTIRE 2026's benchmark: <id>.mp4 saliency videos against a CrowdSAL or NTIRE 2026 folder."""
    name = "crowdsal"
    foreign_options = ("shuffle_map", "dataset", "split", "metrics", "seed")

    def evaluate(self, options: EvaluationOptions) -> dict:
        """Check every pair, score every frame, write the summary JSON (and the per-frame CSV), return the summary."""
        gt_root, prediction_root = Path(options.gt_path), Path(options.pred_path)
        videos = list_benchmark_videos(gt_root, options.subset, need_videos=False)
        pairs, missing = pair_videos(videos, prediction_root, gt_root, options.subset, options.allow_missing)
        for name in missing:
            log.warning("%s: no prediction %s; left out of the scores (--allow_missing)", name,
                        prediction_root / f"{name}.mp4")
        with video_pool(options.workers, len(pairs)) as pool:
            num_frames = sum(map_videos(pool, check_pair, pairs, "checking"))
            log.info("%d %s videos, %d frames, protocol %s", len(pairs), options.subset, num_frames, self.name)
            results = list(map_videos(pool, score_pair, pairs, "scoring"))
        summary = summarise(results)
        summary.update(missing_predictions=missing, protocol=self.name, benchmark=benchmark_set(gt_root),
                       subset=options.subset, pred_path=str(prediction_root), gt_path=str(gt_root))
        atomic_write_bytes(options.output, json.dumps(summary, indent=2, allow_nan=False).encode())
        if options.csv:
            write_csv(Path(options.csv), results, BENCHMARK_METRICS)
        log.info("frame-weighted: %s", format_scores(summary["frame_weighted"]))
        log.info("video-weighted: %s", format_scores(summary["video_weighted"]))
        log.info("wrote %s%s", options.output, f" and {options.csv}" if options.csv else "")
        return summary
