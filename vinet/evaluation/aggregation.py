"""From per-frame scores to the summary: per-video means, their mean, frame-pooled means, counts; and the CSV."""
import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from utils import atomic_write_bytes
from vinet.evaluation.scoring import VideoResult


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


def unreadable_files(results: Sequence[VideoResult]) -> list[str]:
    """The files that could not be read, as their problems' log lines name them."""
    return [message.split("; ")[0] for result in results for kind, message in result.problems
            if kind.startswith("unreadable") and message]


def write_csv(path: Path, results: Sequence[VideoResult], metrics: Sequence[str]) -> None:
    """Per-frame scores, one row per frame, written atomically."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["video", "frame", *metrics])
    for result in results:
        for row in result.rows:
            writer.writerow([row["video"], row["frame"], *(repr(row[m]) for m in metrics)])
    atomic_write_bytes(path, text.getvalue().encode())


def format_scores(scores: dict[str, float | None]) -> str:
    """Scores as 'cc 0.1234  sim ...' for the log."""
    return "  ".join(f"{name} {'nan' if value is None else f'{value:.4f}'}" for name, value in scores.items())
