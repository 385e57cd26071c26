"""evaluate.py --protocol crowdsal: the numbers of CrowdSAL's own bench.py on the stored set (tests/data/crowdsal,
bench_reference.json), both layouts and splits, and every input refused before a score is written."""
import csv
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from crowdsal_cases import REFERENCE, TEST_IDS

import evaluate
import loss
from layouts import read_fixation_events
from media import gray16_frames
from synthetic import write_benchmark_set, write_saliency_video
from vinet.evaluation import crowdsal

BENCH = json.loads((REFERENCE / "bench_reference.json").read_text())
TOLERANCE = 1e-6


def run(gt: Path, pred: Path, out: Path, *extra: str, workers: int = 1, status: int = 0) -> dict:
    """evaluate.main with the crowdsal protocol (it must exit with `status`); the summary JSON when it wrote one."""
    arguments = ["--protocol", "crowdsal", "--gt_path", str(gt), "--pred_path", str(pred),
                 "--output", str(out / "scores.json"), "--csv", str(out / "frames.csv"), "--workers", str(workers),
                 *extra]
    assert evaluate.main(arguments) == status
    return json.loads((out / "scores.json").read_text()) if status == 0 else {}


def assert_matches_bench(summary: dict, names: tuple[str, ...] = TEST_IDS) -> float:
    """Every per-video mean (and both dataset means when all videos are scored) within TOLERANCE of bench.py's;
    returns the largest difference."""
    differences = []
    for name in names:
        expected = BENCH["videos"][name]
        assert summary["videos"][name]["num_frames"] == expected["num_frames"]
        differences += [abs(summary["videos"][name][m] - expected[m]) for m in loss.BENCHMARK_METRICS]
    if names == TEST_IDS:
        for mean in ("frame_weighted", "video_weighted"):
            differences += [abs(summary[mean][m] - BENCH["overall"][mean][m]) for m in loss.BENCHMARK_METRICS]
        assert (summary["num_videos"], summary["num_frames"]) == (3, BENCH["overall"]["num_frames"])
    assert max(differences) <= TOLERANCE
    return max(differences)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A writable copy of the stored set: ground truth at the root, predictions in predictions/."""
    return Path(shutil.copytree(REFERENCE, tmp_path / "crowdsal"))


def test_scores_equal_bench_py_per_frame_video_and_dataset(tmp_path):
    summary = run(REFERENCE, REFERENCE / "predictions", tmp_path)
    assert assert_matches_bench(summary) <= TOLERANCE
    assert summary["frame_weighted"]["cc"] != pytest.approx(summary["video_weighted"]["cc"], abs=1e-4)
    assert (summary["protocol"], summary["benchmark"], summary["subset"]) == ("crowdsal", "CrowdSAL", "test")
    assert summary["missing_predictions"] == []
    with open(tmp_path / "frames.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == BENCH["overall"]["num_frames"]
    for row in rows:
        for metric in loss.BENCHMARK_METRICS:
            expected = BENCH["videos"][row["video"]]["frames"][metric][int(row["frame"])]
            assert float(row[metric]) == pytest.approx(expected, abs=TOLERANCE)
    flat = [row for row in rows if (row["video"], row["frame"]) == ("3003", "0")][0]
    assert float(flat["cc"]) == float(flat["sim"]) == float(flat["nss"]) == 0.0  # a flat prediction, finite


def test_worker_count_does_not_change_the_numbers(tmp_path):
    one = run(REFERENCE, REFERENCE / "predictions", tmp_path / "one")
    two = run(REFERENCE, REFERENCE / "predictions", tmp_path / "two", workers=2)
    assert one == two


def test_the_stored_set_in_the_ntire_layout_scores_the_same(tmp_path):
    root = tmp_path / "ntire"
    for name in TEST_IDS:
        (root / "FixationsTest" / "Test" / name).mkdir(parents=True)
        shutil.copy(REFERENCE / "Fixations" / f"{name}.json", root / "FixationsTest" / "Test" / name / "fixations.json")
    shutil.copytree(REFERENCE / "Saliency", root / "SaliencyTest" / "Test")
    (root / "TrainTestSplit.json").write_text(json.dumps({"train": [], "public_test": list(TEST_IDS[:2]),
                                                          "private_test": [TEST_IDS[2]]}))
    summary = run(root, REFERENCE / "predictions", tmp_path / "out")
    assert_matches_bench(summary)
    assert summary["benchmark"] == "NTIRE2026"


def direct_means(saliency: Path, prediction: Path, fixations: Path) -> dict[str, float]:
    """A video's metric means computed here, frame by frame, from the decoded maps."""
    events = read_fixation_events(fixations, saliency.stem)
    rows = [loss.benchmark_frame_scores(p, t, e) for p, t, e in zip(gray16_frames(prediction), gray16_frames(saliency),
                                                                     events, strict=True)]
    return {metric: float(np.mean([row[metric] for row in rows])) for metric in loss.BENCHMARK_METRICS}


@pytest.mark.parametrize("nested", [False, True])
def test_ntire_sets_score_each_split_as_its_videos_metrics_say(tmp_path, nested):
    root = write_benchmark_set(tmp_path / "ntire", "NTIRE2026", ("a1",), ("b1", "b2"), num_frames=5, size=(24, 32),
                               nested=nested)
    for subset, names, part in (("train", ("a1",), "Train"), ("test", ("b1", "b2"), "Test")):
        saliency = root / f"Saliency{part}" / (part if nested else "")
        predictions = tmp_path / f"predictions_{subset}"
        predictions.mkdir()
        for name in names:
            maps = np.stack(list(gray16_frames(saliency / f"{name}.mp4"))).astype(np.float32)
            write_saliency_video(predictions / f"{name}.mp4", np.roll(maps, 2, axis=2), 30.0)
        summary = run(root, predictions, tmp_path / f"out_{subset}", "--subset", subset)
        assert sorted(summary["videos"]) == list(names) and summary["subset"] == subset
        fixations = root / f"Fixations{part}" / (part if nested else "")
        for name in names:
            expected = direct_means(saliency / f"{name}.mp4", predictions / f"{name}.mp4",
                                    fixations / name / "fixations.json")
            assert summary["videos"][name] == pytest.approx({**expected, "num_frames": 5}, abs=1e-12)
            assert 0.3 < expected["cc"] < 0.999


def test_allow_missing_scores_the_others_and_records_the_missing(tmp_path, dataset, caplog):
    (dataset / "predictions" / "3002.mp4").unlink()
    summary = run(dataset, dataset / "predictions", tmp_path / "out", "--allow_missing")
    assert summary["missing_predictions"] == ["3002"] and sorted(summary["videos"]) == ["3001", "3003"]
    assert_matches_bench(summary, ("3001", "3003"))
    assert summary["num_frames"] == 24
    assert any("3002" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def _replace_fixations(dataset: Path, change) -> None:
    path = dataset / "Fixations" / "3001.json"
    frames = json.loads(path.read_text())
    change(frames)
    path.write_text(json.dumps(frames))


def _write_prediction(dataset: Path, maps: np.ndarray) -> None:
    write_saliency_video(dataset / "predictions" / "3001.mp4", maps, 30.0)


def _ground_truth(dataset: Path) -> np.ndarray:
    return np.stack(list(gray16_frames(dataset / "Saliency" / "3001.mp4"))).astype(np.float32)


DAMAGE = {
    "missing prediction": lambda d: (d / "predictions" / "3001.mp4").unlink(),
    "prediction of no test video": lambda d: shutil.copy(d / "predictions" / "3002.mp4",
                                                         d / "predictions" / "0001.mp4"),
    "prediction of another size": lambda d: _write_prediction(d, np.random.default_rng(0).random((10, 32, 48))),
    "prediction one frame short": lambda d: _write_prediction(d, _ground_truth(d)[:9]),
    "fixations one frame short": lambda d: _replace_fixations(d, lambda frames: frames.pop()),
    "a frame without fixations": lambda d: _replace_fixations(d, lambda frames: frames.__setitem__(2, [])),
    "a malformed fixation": lambda d: _replace_fixations(d, lambda frames: frames.__setitem__(2, [[1, 2, 3]])),
    "a fixation outside the map": lambda d: _replace_fixations(d, lambda frames: frames[4].append([48, 0])),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_bad_input_is_refused_in_one_line_before_any_score(tmp_path, dataset, caplog, damage):
    DAMAGE[damage](dataset)
    run(dataset, dataset / "predictions", tmp_path / "out", status=2)
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0]
    assert ("0001" if damage == "prediction of no test video" else "3001") in errors[0]
    assert not (tmp_path / "out").exists()


def test_fewer_frames_decoded_than_probed_is_refused(tmp_path, caplog, monkeypatch):
    def short(path: Path):
        frames = list(gray16_frames(path))
        yield from frames[:-1] if Path(path).stem == "3003" else frames

    monkeypatch.setattr(crowdsal, "gray16_frames", short)
    run(REFERENCE, REFERENCE / "predictions", tmp_path / "out", status=2)
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and "3003" in errors[0] and "decodes to 13 frames" in errors[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("protocol, flags", [("crowdsal", ["--dataset", "DIEM", "--split", "2"]),
                                             ("crowdsal", ["--metrics", "cc"]),
                                             ("crowdsal", ["--shuffle_map", "map.png"]),
                                             ("dhf1k", ["--subset", "train"])])
def test_flags_of_another_protocol_are_refused(tmp_path, caplog, protocol, flags):
    arguments = ["--protocol", protocol, "--gt_path", str(REFERENCE), "--pred_path", str(REFERENCE / "predictions"),
                 "--output", str(tmp_path / "out" / "scores.json"), *flags]
    assert evaluate.main(arguments) == 2
    assert caplog.records[-1].getMessage().startswith(", ".join(f for f in flags if f.startswith("--")))
    assert not (tmp_path / "out").exists()

