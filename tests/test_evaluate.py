"""evaluate.py's command line on tiny datasets: flags reach the library, problems counted and logged, exit codes,
one-line start-up errors. (What the library computes: tests/test_evaluation_*.py.)"""
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from evaluation_cases import (
    PREDICTION_SHAPE,
    REPO,
    by_frame,
    make_av,
    make_dhf1k,
    random_fixations,
    read_outputs,
    score,
    write_image,
)

import evaluate


def run(tmp_path: Path, gt: Path, pred: Path, *extra: str, workers: int = 1,
        status: int = 0) -> tuple[dict, list[dict]]:
    """Run evaluate.main in this process (it must exit with `status`); returns the JSON summary and the CSV rows."""
    out = tmp_path / "out"
    arguments = ["--gt_path", str(gt), "--pred_path", str(pred), "--output", str(out / "result.json"),
                 "--csv", str(out / "frames.csv"), "--workers", str(workers), *extra]
    assert evaluate.main(arguments) == status
    return read_outputs(out)


@pytest.fixture
def dhf1k(tmp_path: Path) -> tuple[Path, Path]:
    """One video of 1 frame and one of 3 frames."""
    return make_dhf1k(tmp_path, {"video_a": 1, "video_b": 3})


def test_flags_give_what_the_library_gives_with_the_same_options(tmp_path):
    gt, pred = make_av(tmp_path, "Coutrot_db1", {"clip_x": 3, "clip_y": 2})
    shuffle_map = random_fixations(np.random.default_rng(7), (48, 64), 40)
    write_image(tmp_path / "shuffle.png", shuffle_map.astype(np.uint8) * 255)
    options = {"dataset": "Coutrot_db1", "split": 1, "protocol": "dhf1k", "metrics": ("s_auc", "nss"), "seed": 3}
    flags = ["--dataset", "Coutrot_db1", "--split", "1", "--protocol", "dhf1k", "--metrics", "s_auc,nss",
             "--seed", "3"]
    for shuffle in ([], ["--shuffle_map", str(tmp_path / "shuffle.png")]):
        extra = {"shuffle_map": shuffle[1]} if shuffle else {}
        library_summary, library_rows = score(tmp_path / "library", gt, pred, **options, **extra)
        summary, rows = run(tmp_path / "flags", gt, pred, *flags, *shuffle)
        assert summary == library_summary and rows == library_rows
        assert summary["protocol"] == "dhf1k" and summary["seed"] == 3 and summary["metrics"] == ["s_auc", "nss"]


def test_missing_unreadable_and_blank_predictions_are_counted_and_logged(tmp_path, dhf1k, caplog):
    gt, pred = dhf1k
    (pred / "video_b" / "0002.png").unlink()
    (pred / "video_b" / "0003.png").write_bytes(b"")
    write_image(pred / "video_a" / "0001.png", np.zeros(PREDICTION_SHAPE, dtype=np.uint8))
    out = tmp_path / "refused.json"
    assert evaluate.main(["--gt_path", str(gt), "--pred_path", str(pred), "--output", str(out)]) == 2
    assert caplog.records[-1].getMessage() == (f"predictions missing in {pred} for 1 of 2 videos: video_b (1 of 3 "
                                               "frames); generate them, or pass --allow_missing to score only the "
                                               "frames that have one")
    assert not out.exists()   # refused before scoring: no partial score
    with caplog.at_level(logging.WARNING, logger="evaluate"):
        summary, rows = run(tmp_path, gt, pred, "--allow_missing", status=2)   # an unreadable file: then exit 2
    assert (summary["frames_scored"], summary["frames_annotated"]) == (2, 4)
    assert summary["missing_predictions"] == {"video_b": 1}
    assert summary["problems"] == {"missing_prediction": 1, "unreadable_prediction": 1, "zero_prediction": 1}
    assert summary["unreadable_files"] == [f"{pred / 'video_b' / '0003.png'}: prediction empty or unreadable"]
    assert summary["num_frames"] == 2 and summary["frames_per_video"] == {"video_a": 1, "video_b": 1}
    messages = [record.getMessage() for record in caplog.records]
    assert any(str(pred / "video_b" / "0002.png") in m and "missing" in m for m in messages)
    assert any(str(pred / "video_b" / "0003.png") in m and "unreadable" in m for m in messages)
    assert any(str(pred / "video_a" / "0001.png") in m and "flat (every pixel 0)" in m for m in messages)
    assert messages[-1].startswith("1 file could not be read and is left out of the scores: ")
    blank = by_frame(rows)[("video_a", "0001.png")]  # scored at chance, not skipped
    assert (blank["cc"], blank["sim"], blank["nss"], blank["s_auc"], blank["auc_b"]) == (0.0, 0.0, 0.0, 0.5, 0.5)
    assert 0.3 < blank["auc_j"] < 0.7 and blank["kld"] > 1


def test_nothing_scored_exits_1_after_writing_the_json(tmp_path, dhf1k):
    gt, pred = dhf1k
    for path in pred.glob("*/*.png"):
        path.unlink()
    out = tmp_path / "out.json"
    assert evaluate.main(["--gt_path", str(gt), "--pred_path", str(pred), "--output", str(out), "--workers", "1",
                          "--allow_missing"]) == 1
    summary = json.loads(out.read_text())
    assert summary["num_frames"] == 0 and summary["problems"] == {"missing_prediction": 4}
    assert (summary["frames_scored"], summary["frames_annotated"]) == (0, 4)


def test_an_unknown_metric_exits_2(dhf1k):
    gt, pred = dhf1k
    assert evaluate.main(["--gt_path", str(gt), "--pred_path", str(pred), "--output", "x.json", "--metrics",
                          "cc,auc"]) == 2


@pytest.mark.parametrize("case", ["missing_gt", "missing_fold_list"])
def test_start_up_errors_are_one_line_and_exit_2(tmp_path, case):
    gt = tmp_path / "no_such_folder"
    arguments = ["--gt_path", str(gt), "--pred_path", str(tmp_path), "--output", str(tmp_path / "r.json")]
    if case == "missing_fold_list":
        gt.mkdir()
        arguments += ["--dataset", "NoSuchSet", "--split", "1"]
    completed = subprocess.run([sys.executable, "evaluate.py", *arguments], cwd=REPO, capture_output=True, text=True)
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2 and len(lines) == 1 and "Traceback" not in completed.stderr
    if case == "missing_gt":
        assert str(gt) in lines[0] and "--gt_path" in lines[0]
    else:
        assert "fold list not found" in lines[0] and "NoSuchSet_list_test_1_fps.txt" in lines[0]
    assert not (tmp_path / "r.json").exists()
