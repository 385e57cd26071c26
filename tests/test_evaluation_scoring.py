"""vinet.evaluation.scoring: per-frame rules (no fixations), independence of the worker count and of the metric
subset (each metric its own random stream)."""
import math
from pathlib import Path

import numpy as np
import pytest
from evaluation_cases import GT_SHAPE, by_frame, make_dhf1k, score, write_image


@pytest.fixture
def dhf1k(tmp_path: Path) -> tuple[Path, Path]:
    """One video of 1 frame and one of 3 frames."""
    return make_dhf1k(tmp_path, {"video_a": 1, "video_b": 3})


def test_frames_without_fixations_are_nan_and_counted(tmp_path, dhf1k):
    gt, pred = dhf1k
    write_image(gt / "video_b" / "fixation" / "0002.png", np.zeros(GT_SHAPE, dtype=np.uint8))
    (gt / "video_b" / "fixation" / "0003.png").unlink()
    summary, rows = score(tmp_path, gt, pred)
    scores = by_frame(rows)
    for frame in ("0002.png", "0003.png"):
        assert all(math.isnan(scores[("video_b", frame)][m]) for m in ("nss", "auc_j", "s_auc", "auc_b"))
        assert not math.isnan(scores[("video_b", frame)]["cc"])
    assert summary["nan_frames"] == 2 and summary["num_frames"] == 4
    assert summary["nan_counts"]["nss"] == 2 and summary["nan_counts"]["cc"] == 0
    assert summary["problems"] == {"missing_fixation": 1, "no_fixations": 2}
    # nan-aware means: video_b's NSS is its one frame with fixations; its CC averages all three
    assert summary["per_video"]["video_b"]["nss"] == pytest.approx(scores[("video_b", "0001.png")]["nss"], abs=1e-12)
    cc_b = sum(scores[("video_b", f"{i:04d}.png")]["cc"] for i in (1, 2, 3)) / 3
    assert summary["per_video"]["video_b"]["cc"] == pytest.approx(cc_b, abs=1e-12)


def test_results_do_not_depend_on_worker_count(tmp_path, dhf1k):
    gt, pred = dhf1k
    one_summary, one_rows = score(tmp_path / "one", gt, pred, workers=1)
    two_summary, two_rows = score(tmp_path / "two", gt, pred, workers=2)
    assert two_rows == one_rows and two_summary == one_summary


def test_metric_subset_gives_the_same_values(tmp_path, dhf1k):
    gt, pred = dhf1k
    full, _ = score(tmp_path / "full", gt, pred)
    subset, rows = score(tmp_path / "subset", gt, pred, metrics=("auc_b", "cc"))
    assert set(subset["mean"]) == {"auc_b", "cc"} and set(rows[0]) == {"video", "frame", "auc_b", "cc"}
    assert subset["mean"] == {"auc_b": full["mean"]["auc_b"], "cc": full["mean"]["cc"]}
