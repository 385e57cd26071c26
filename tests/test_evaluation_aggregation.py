"""vinet.evaluation.aggregation: a metric NaN on every frame is null in the JSON, not NaN."""
import numpy as np
from evaluation_cases import GT_SHAPE, make_dhf1k, score, write_image


def test_all_nan_metric_is_null_in_json(tmp_path):
    gt, pred = make_dhf1k(tmp_path, {"video_a": 1})
    write_image(gt / "video_a" / "fixation" / "0001.png", np.zeros(GT_SHAPE, dtype=np.uint8))
    summary, _ = score(tmp_path, gt, pred)
    assert summary["mean"]["nss"] is None and summary["per_video"]["video_a"]["auc_j"] is None
    assert isinstance(summary["mean"]["cc"], float)
