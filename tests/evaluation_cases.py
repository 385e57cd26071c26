"""Tiny evaluation datasets in both layouts and the direct metric calls the evaluation tests compare against
(tests/test_evaluate.py and tests/test_evaluation_*.py share them)."""
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import scipy.io
import torch

import loss
from vinet.evaluation.frame_scores import EVALUATION_METRICS, frame_seed
from vinet.evaluation.options import EvaluationOptions
from vinet.evaluation.run import evaluate

REPO = Path(__file__).resolve().parents[1]
GT_SHAPE = (24, 32)
PREDICTION_SHAPE = (12, 16)  # predictions are smaller: evaluation resizes them bilinearly


def random_fixations(rng: np.random.Generator, shape: tuple[int, int], count: int) -> np.ndarray:
    """A binary map with `count` random fixated pixels."""
    fixations = np.zeros(shape, dtype=bool)
    fixations.flat[rng.choice(fixations.size, size=count, replace=False)] = True
    return fixations


def blurred_uint8(points: np.ndarray, sigma: float) -> np.ndarray:
    """An 8-bit saliency map: the points blurred by a Gaussian, scaled to 0-255."""
    blurred = cv2.GaussianBlur(points.astype(np.float64), (0, 0), sigma) + 1e-3
    return np.round(255 * blurred / blurred.max()).astype(np.uint8)


def write_image(path: Path, image: np.ndarray) -> None:
    """Write an image, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def make_dhf1k(root: Path, frames_per_video: dict[str, int], seed: int = 0) -> tuple[Path, Path]:
    """GT/<video>/maps|fixation/NNNN.png and PRED/<video>/NNNN.png with random maps; returns (gt, pred)."""
    rng = np.random.default_rng(seed)
    gt, pred = root / "gt", root / "pred"
    for video, count in frames_per_video.items():
        for index in range(1, count + 1):
            fixations = random_fixations(rng, GT_SHAPE, 6)
            write_image(gt / video / "maps" / f"{index:04d}.png", blurred_uint8(fixations, 2.0))
            write_image(gt / video / "fixation" / f"{index:04d}.png", fixations.astype(np.uint8) * 255)
            guess = random_fixations(rng, PREDICTION_SHAPE, 3)
            write_image(pred / video / f"{index:04d}.png", blurred_uint8(guess, 1.5))
    return gt, pred


def make_av(root: Path, dataset: str, frames_per_video: dict[str, int], seed: int = 0) -> tuple[Path, Path]:
    """STAViS layout: fold list, annotations/<ds>/<video>/maps/eyeMap_%05d.jpg, fixMap_%05d.mat, PRED/img_%05d.png."""
    rng = np.random.default_rng(seed)
    gt, pred = root / "av", root / "pred_av"
    lines = []
    for video, count in frames_per_video.items():
        lines.append(f"{video} {count} 25.0")
        video_dir = gt / "annotations" / dataset / video
        for index in range(1, count + 1):
            fixations = random_fixations(rng, GT_SHAPE, 5)
            write_image(video_dir / "maps" / f"eyeMap_{index:05d}.jpg", blurred_uint8(fixations, 2.0))
            scipy.io.savemat(video_dir / f"fixMap_{index:05d}.mat", {"eyeMap": fixations.astype(np.uint8)})
            guess = random_fixations(rng, PREDICTION_SHAPE, 3)
            write_image(pred / video / f"img_{index:05d}.png", blurred_uint8(guess, 1.5))
    (gt / "fold_lists").mkdir(parents=True)
    (gt / "fold_lists" / f"{dataset}_list_test_1_fps.txt").write_text("\n".join(lines) + "\n")
    return gt, pred


def read_outputs(out: Path) -> tuple[dict, list[dict]]:
    """The JSON summary and the CSV rows a run wrote into `out`, checking it left no temporary files."""
    assert sorted(path.name for path in out.iterdir()) == ["frames.csv", "result.json"]  # no temporary files left
    with open(out / "frames.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return json.loads((out / "result.json").read_text()), rows


def score(tmp_path: Path, gt: Path, pred: Path, workers: int = 1, **options) -> tuple[dict, list[dict]]:
    """Run the library's evaluation, which must score frames and read every file (evaluate.py's exit 0); returns the
    JSON summary and the CSV rows."""
    out = tmp_path / "out"
    summary = evaluate(EvaluationOptions(gt_path=str(gt), pred_path=str(pred), output=str(out / "result.json"),
                                         csv=str(out / "frames.csv"), workers=workers, **options))
    assert summary["num_frames"] > 0 and summary["unreadable_files"] == []
    return read_outputs(out)


def read_gray(path: Path) -> np.ndarray:
    """An 8-bit image as float64 in [0, 1]."""
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float64) / 255


def stream(video: str, frame: str, metric: str) -> np.random.Generator:
    """The random stream evaluation gives `metric` on this frame (see vinet.evaluation.frame_scores.score_frame)."""
    return np.random.default_rng([*frame_seed(video, frame), EVALUATION_METRICS.index(metric)])


def direct_scores(prediction_path: Path, density_path: Path, fixations: np.ndarray, other: np.ndarray,
                  video: str, frame: str) -> dict[str, float]:
    """Every metric by direct calls of loss.py and the AUC functions on the maps as read by OpenCV."""
    density = read_gray(density_path)
    prediction = cv2.resize(read_gray(prediction_path), density.shape[::-1], interpolation=cv2.INTER_LINEAR)
    p, d, f = (torch.from_numpy(x.astype(np.float64))[None] for x in (prediction, density, fixations))
    return {
        "cc": loss.cc(p, d).item(), "sim": loss.similarity(p, d).item(), "kld": loss.kldiv(p, d).item(),
        "nss": loss.nss(p, f).item(),
        "auc_j": loss.auc_judd(prediction, fixations, stream(video, frame, "auc_j")),
        "s_auc": loss.auc_shuffled(prediction, fixations, other, stream(video, frame, "s_auc")),
        "auc_b": loss.auc_borji(prediction, fixations, stream(video, frame, "auc_b")),
    }


def by_frame(rows: list[dict]) -> dict[tuple[str, str], dict[str, float]]:
    """CSV rows keyed by (video, frame), values as floats."""
    return {(row["video"], row["frame"]): {m: float(v) for m, v in row.items() if m not in ("video", "frame")}
            for row in rows}
