"""evaluate.py on tiny datasets in both layouts: JSON numbers against direct metric calls, means, problems, errors."""
import csv
import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
import torch

import evaluate
import loss

REPO = Path(__file__).resolve().parents[1]
GT_SHAPE = (24, 32)
PREDICTION_SHAPE = (12, 16)  # predictions are smaller: evaluate.py resizes them bilinearly


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


def run(tmp_path: Path, gt: Path, pred: Path, *extra: str, workers: int = 1,
        status: int = 0) -> tuple[dict, list[dict]]:
    """Run evaluate.main in this process (it must exit with `status`); returns the JSON summary and the CSV rows."""
    out = tmp_path / "out"
    arguments = ["--gt_path", str(gt), "--pred_path", str(pred), "--output", str(out / "result.json"),
                 "--csv", str(out / "frames.csv"), "--workers", str(workers), *extra]
    assert evaluate.main(arguments) == status
    assert sorted(path.name for path in out.iterdir()) == ["frames.csv", "result.json"]  # no temporary files left
    with open(out / "frames.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return json.loads((out / "result.json").read_text()), rows


def read_gray(path: Path) -> np.ndarray:
    """An 8-bit image as float64 in [0, 1]."""
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float64) / 255


def stream(video: str, frame: str, metric: str) -> np.random.Generator:
    """The random stream evaluate.py gives `metric` on this frame (see evaluate.score_frame)."""
    return np.random.default_rng([*evaluate.frame_seed(video, frame), evaluate.METRICS.index(metric)])


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


@pytest.fixture
def dhf1k(tmp_path: Path) -> tuple[Path, Path]:
    """One video of 1 frame and one of 3 frames: mean of video means and frame mean differ."""
    return make_dhf1k(tmp_path, {"video_a": 1, "video_b": 3})


def test_dhf1k_numbers_equal_direct_metric_calls(tmp_path, dhf1k):
    gt, pred = dhf1k
    summary, rows = run(tmp_path, gt, pred)
    frames = [("video_a", "0001"), ("video_b", "0001"), ("video_b", "0002"), ("video_b", "0003")]
    fixations = {key: read_gray(gt / key[0] / "fixation" / f"{key[1]}.png") > 0 for key in frames}
    scores = by_frame(rows)
    assert list(scores) == [(video, f"{name}.png") for video, name in frames]
    for key in frames:
        # 4 frames in all: the 10 random "other" frames of the dhf1k protocol are all 3 others
        other = np.logical_or.reduce([fixations[k] for k in frames if k != key])
        expected = direct_scores(pred / key[0] / f"{key[1]}.png", gt / key[0] / "maps" / f"{key[1]}.png",
                                 fixations[key], other, key[0], f"{key[1]}.png")
        for metric, value in expected.items():
            assert scores[(key[0], f"{key[1]}.png")][metric] == pytest.approx(value, abs=1e-12), (key, metric)
    assert 0.2 < scores[("video_a", "0001.png")]["s_auc"] < 1.0  # real numbers, not a constant

    video_b = [scores[("video_b", f"{i:04d}.png")] for i in (1, 2, 3)]
    video_a = scores[("video_a", "0001.png")]
    for metric in evaluate.METRICS:
        b_mean = sum(row[metric] for row in video_b) / 3
        assert summary["per_video"]["video_b"][metric] == pytest.approx(b_mean, abs=1e-12)
        assert summary["per_video"]["video_a"][metric] == pytest.approx(video_a[metric], abs=1e-12)
        # the audio-visual papers' mean of video means, and DHF1K's mean over all frames
        assert summary["mean"][metric] == pytest.approx((video_a[metric] + b_mean) / 2, abs=1e-12)
        assert summary["frame_mean"][metric] == pytest.approx((video_a[metric] + 3 * b_mean) / 4, abs=1e-12)
    assert abs(summary["mean"]["cc"] - summary["frame_mean"]["cc"]) > 1e-4
    assert (summary["num_videos"], summary["num_frames"], summary["nan_frames"]) == (2, 4, 0)
    assert summary["frames_per_video"] == {"video_a": 1, "video_b": 3}
    assert summary["problems"] == {} and summary["protocol"] == "dhf1k"


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


def test_frames_without_fixations_are_nan_and_counted(tmp_path, dhf1k):
    gt, pred = dhf1k
    write_image(gt / "video_b" / "fixation" / "0002.png", np.zeros(GT_SHAPE, dtype=np.uint8))
    (gt / "video_b" / "fixation" / "0003.png").unlink()
    summary, rows = run(tmp_path, gt, pred)
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


def test_all_nan_metric_is_null_in_json(tmp_path):
    gt, pred = make_dhf1k(tmp_path, {"video_a": 1})
    write_image(gt / "video_a" / "fixation" / "0001.png", np.zeros(GT_SHAPE, dtype=np.uint8))
    summary, _ = run(tmp_path, gt, pred)
    assert summary["mean"]["nss"] is None and summary["per_video"]["video_a"]["auc_j"] is None
    assert isinstance(summary["mean"]["cc"], float)


def test_mat_fixations_give_the_same_numbers_as_png(tmp_path, dhf1k):
    gt, pred = dhf1k
    png_summary, png_rows = run(tmp_path, gt, pred)
    for path in sorted((gt / "video_b" / "fixation").glob("*.png")):
        fixations = (cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 0).astype(np.uint8)
        (path.parent / "maps").mkdir(exist_ok=True)
        scipy.io.savemat(path.parent / "maps" / f"{path.stem}.mat", {"I": fixations})
        path.unlink()
    mat_summary, mat_rows = run(tmp_path, gt, pred)
    assert mat_rows == png_rows and mat_summary["mean"] == png_summary["mean"]


def test_results_do_not_depend_on_worker_count(tmp_path, dhf1k):
    gt, pred = dhf1k
    one_summary, one_rows = run(tmp_path / "one", gt, pred, workers=1)
    two_summary, two_rows = run(tmp_path / "two", gt, pred, workers=2)
    assert two_rows == one_rows and two_summary == one_summary


def test_fixed_shuffle_map_is_resized_nearest(tmp_path, dhf1k):
    gt, pred = dhf1k
    shuffle = random_fixations(np.random.default_rng(7), (48, 64), 40)
    write_image(tmp_path / "shuffle.png", shuffle.astype(np.uint8) * 255)
    summary, rows = run(tmp_path, gt, pred, "--shuffle_map", str(tmp_path / "shuffle.png"))
    other = cv2.resize(shuffle.astype(np.uint8), GT_SHAPE[::-1], interpolation=cv2.INTER_NEAREST) > 0
    for (video, frame), values in by_frame(rows).items():
        density = read_gray(gt / video / "maps" / frame)
        prediction = cv2.resize(read_gray(pred / video / frame), GT_SHAPE[::-1], interpolation=cv2.INTER_LINEAR)
        fixations = read_gray(gt / video / "fixation" / frame) > 0
        expected = loss.auc_shuffled(prediction, fixations, other, stream(video, frame, "s_auc"))
        assert values["s_auc"] == pytest.approx(expected, abs=1e-12)
        assert density.shape == GT_SHAPE
    assert summary["shuffle_map"] == str(tmp_path / "shuffle.png")


def test_metric_subset_gives_the_same_values(tmp_path, dhf1k):
    gt, pred = dhf1k
    full, _ = run(tmp_path / "full", gt, pred)
    subset, rows = run(tmp_path / "subset", gt, pred, "--metrics", "auc_b,cc")
    assert set(subset["mean"]) == {"auc_b", "cc"} and set(rows[0]) == {"video", "frame", "auc_b", "cc"}
    assert subset["mean"] == {"auc_b": full["mean"]["auc_b"], "cc": full["mean"]["cc"]}
    assert evaluate.main(["--gt_path", str(gt), "--pred_path", str(pred), "--output", "x.json", "--metrics",
                          "cc,auc"]) == 2


def test_audio_visual_layout_and_protocol(tmp_path):
    gt, pred = make_av(tmp_path, "Coutrot_db1", {"clip_x": 3, "clip_y": 2})
    summary, rows = run(tmp_path, gt, pred, "--dataset", "Coutrot_db1", "--split", "1")
    assert summary["protocol"] == "av" and summary["frames_per_video"] == {"clip_x": 3, "clip_y": 2}
    scores = by_frame(rows)
    for video, count in (("clip_x", 3), ("clip_y", 2)):
        video_dir = gt / "annotations" / "Coutrot_db1" / video
        fixations = [scipy.io.loadmat(video_dir / f"fixMap_{i:05d}.mat")["eyeMap"] > 0 for i in range(1, count + 1)]
        for i in range(1, count + 1):
            # av protocol: the other map is the union of the same video's other frames
            other = np.logical_or.reduce([f for j, f in enumerate(fixations, start=1) if j != i])
            frame = f"eyeMap_{i:05d}.jpg"
            expected = direct_scores(pred / video / f"img_{i:05d}.png", video_dir / "maps" / frame,
                                     fixations[i - 1], other, video, frame)
            for metric, value in expected.items():
                assert scores[(video, frame)][metric] == pytest.approx(value, abs=1e-12), (video, frame, metric)
    video_means = [sum(scores[("clip_x", f"eyeMap_{i:05d}.jpg")]["nss"] for i in (1, 2, 3)) / 3,
                   sum(scores[("clip_y", f"eyeMap_{i:05d}.jpg")]["nss"] for i in (1, 2)) / 2]
    assert summary["mean"]["nss"] == pytest.approx(sum(video_means) / 2, abs=1e-12)


@pytest.mark.parametrize(("dataset", "split_arguments", "list_name"), [
    ("AVAD", ["--split", "1"], "AVAD_list_test_1_fps.txt"),
    ("DIEM", [], "DIEM_list_test_fps.txt"),  # DIEM has one split
])
def test_repository_fold_list_is_used_when_the_dataset_root_has_none(tmp_path, dataset, split_arguments, list_name):
    names = [line.split()[0] for line in (REPO / "fold_lists" / list_name).read_text().splitlines() if line.strip()]
    gt, pred = make_av(tmp_path, dataset, {names[0]: 2})
    for path in (gt / "fold_lists").iterdir():
        path.unlink()
    summary, _ = run(tmp_path, gt, pred, "--dataset", dataset, *split_arguments)
    assert summary["frames_per_video"] == {names[0]: 2}
    assert summary["problems"] == {"missing_gt_video": len(names) - 1}


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
