"""vinet.evaluation.protocols: each protocol's numbers against direct metric calls with its s_auc other map, and the
MIT benchmark's two means."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from evaluation_cases import (
    GT_SHAPE,
    by_frame,
    direct_scores,
    make_av,
    make_dhf1k,
    random_fixations,
    read_gray,
    score,
    stream,
    write_image,
)

import loss
from vinet.evaluation.frame_scores import EVALUATION_METRICS


@pytest.fixture
def dhf1k(tmp_path: Path) -> tuple[Path, Path]:
    """One video of 1 frame and one of 3 frames: mean of video means and frame mean differ."""
    return make_dhf1k(tmp_path, {"video_a": 1, "video_b": 3})


def test_dhf1k_numbers_equal_direct_metric_calls(tmp_path, dhf1k):
    gt, pred = dhf1k
    summary, rows = score(tmp_path, gt, pred)
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
    for metric in EVALUATION_METRICS:
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


def test_fixed_shuffle_map_is_resized_nearest(tmp_path, dhf1k):
    gt, pred = dhf1k
    shuffle = random_fixations(np.random.default_rng(7), (48, 64), 40)
    write_image(tmp_path / "shuffle.png", shuffle.astype(np.uint8) * 255)
    summary, rows = score(tmp_path, gt, pred, shuffle_map=str(tmp_path / "shuffle.png"))
    other = cv2.resize(shuffle.astype(np.uint8), GT_SHAPE[::-1], interpolation=cv2.INTER_NEAREST) > 0
    for (video, frame), values in by_frame(rows).items():
        density = read_gray(gt / video / "maps" / frame)
        prediction = cv2.resize(read_gray(pred / video / frame), GT_SHAPE[::-1], interpolation=cv2.INTER_LINEAR)
        fixations = read_gray(gt / video / "fixation" / frame) > 0
        expected = loss.auc_shuffled(prediction, fixations, other, stream(video, frame, "s_auc"))
        assert values["s_auc"] == pytest.approx(expected, abs=1e-12)
        assert density.shape == GT_SHAPE
    assert summary["shuffle_map"] == str(tmp_path / "shuffle.png")


def test_audio_visual_layout_and_protocol(tmp_path):
    gt, pred = make_av(tmp_path, "Coutrot_db1", {"clip_x": 3, "clip_y": 2})
    summary, rows = score(tmp_path, gt, pred, dataset="Coutrot_db1", split=1)
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
