"""Reliability: bad input in every script (exit 2, one line naming the file and the fix, no traceback, no partial
files, the other videos still done), runs killed at any moment resumed to the same result, a full disk, files
with the umask's permissions, safe loading, and memory that does not grow with a video's length."""
import errno
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import scipy.io
import torch
from conftest import ON_CPU, SMALL_FLAGS, deterministic_weights, save_frames, scene

import evaluate
import generate_result
import generate_result_audio_visual
import reframe
import train
from extras.make_datasets import write_audio_visual, write_dhf1k
from model import VideoAudioSaliencyModel, VideoSaliencyModel
from synthetic import write_video

pytestmark = pytest.mark.slow   # trains, exports, kills processes or drives a browser: the full suite's

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """Deterministic ViNet (8-frame clips) and small AViNet checkpoints, and broken ones."""
    folder = tmp_path_factory.mktemp("weights")
    paths = {"vinet": folder / "vinet8.pt", "avinet": folder / "avinet_small.pt", "empty": folder / "empty.pt",
             "truncated": folder / "truncated.pt", "nan": folder / "nan.pt"}
    state = deterministic_weights(VideoSaliencyModel(num_clips=8)).state_dict()
    torch.save(state, paths["vinet"])
    torch.save(deterministic_weights(VideoAudioSaliencyModel(frame_size=(32, 64))).state_dict(), paths["avinet"])
    paths["empty"].write_bytes(b"")
    paths["truncated"].write_bytes(paths["vinet"].read_bytes()[:100_000])
    torch.save({k: v.fill_(float("nan")) if k.endswith("convtsp3.0.weight") else v for k, v in state.items()},
               paths["nan"])
    return paths


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def leftovers(folder: Path) -> list[Path]:
    """Files a failed or killed run must not leave: hidden temporary files and empty files."""
    return [p for p in folder.rglob("*") if p.is_file() and (p.name.startswith(".") or p.stat().st_size == 0)]


# ----------------------------------------------------------------------------------------------
# generate_result.py and generate_result_audio_visual.py


@pytest.mark.parametrize("script", [generate_result, generate_result_audio_visual])
@pytest.mark.parametrize("broken,message", [("empty", "is empty (0 bytes); download or copy it again"),
                                            ("truncated", "truncated or not a PyTorch checkpoint"),
                                            ("nan", "holds NaN or infinite weights")])
def test_a_broken_checkpoint_is_one_line_and_exit_2(tmp_path, weights, caplog, script, broken, message):
    frames, wave = scene(6)
    write_video(str(tmp_path / "v.mkv"), frames, 10.0, wave)
    status = script.main(["--video", str(tmp_path / "v.mkv"), "--file_weight", str(weights[broken]),
                          "--save_path", str(tmp_path / "out"), *SMALL_FLAGS])
    lines = errors(caplog)
    assert status == 2 and len(lines) == 1 and lines[0].startswith(f"error: {'' if broken == 'nan' else 'cannot'}")
    assert message in lines[0] and str(weights[broken]) in lines[0]
    assert not list((tmp_path / "out").rglob("*.png"))


def test_frames_of_another_size_fail_that_video_only_with_the_cause_repeated(tmp_path, weights, caplog):
    frames, _ = scene(6)
    save_frames(frames, tmp_path / "data" / "good" / "images")
    save_frames(frames, tmp_path / "data" / "mixed" / "images")
    cv2.imwrite(str(tmp_path / "data" / "mixed" / "images" / "0003.png"), np.zeros((20, 30, 3), np.uint8))
    status = generate_result.main(["--path_indata", str(tmp_path / "data"), "--file_weight", str(weights["vinet"]),
                                   "--save_path", str(tmp_path / "out"), *SMALL_FLAGS])
    assert status == 2
    assert len(list((tmp_path / "out" / "good").iterdir())) == 6, "the other video is done"
    assert errors(caplog)[-1].startswith("1 of 2 videos failed: mixed (")
    assert "0003.png is 30x20 but the first is 53x37" in errors(caplog)[-1]
    assert not leftovers(tmp_path / "out")


def test_grey_rgba_and_16_bit_frames_simply_work(tmp_path, weights):
    frames, _ = scene(9)
    save_frames(frames, tmp_path / "rgb" / "v" / "images")
    folder = tmp_path / "odd" / "v" / "images"
    save_frames(frames, folder)
    grey = cv2.cvtColor(frames[1], cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(folder / "0002.png"), grey)                                             # 8-bit grey
    cv2.imwrite(str(folder / "0003.png"), np.dstack([frames[2][..., ::-1], np.full(grey.shape, 90, np.uint8)]))  # RGBA
    cv2.imwrite(str(folder / "0004.png"), frames[3][..., ::-1].astype(np.uint16) * 257)     # 16-bit colour
    cv2.imwrite(str(folder / "0005.png"), grey.astype(np.uint16) * 257)                     # 16-bit grey
    for name in ("rgb", "odd"):
        assert generate_result.main(["--path_indata", str(tmp_path / name), "--file_weight", str(weights["vinet"]),
                                     "--save_path", str(tmp_path / f"out_{name}"), "--exact", *SMALL_FLAGS]) == 0
    same = [cv2.imread(str(tmp_path / "out_rgb" / "v" / f"{i:04d}.png")).tobytes() ==
            cv2.imread(str(tmp_path / "out_odd" / "v" / f"{i:04d}.png")).tobytes() for i in range(1, 10)]
    assert len(list((tmp_path / "out_odd" / "v").iterdir())) == 9
    assert sum(same) < 9, "the grey frames change the maps: they were read, not skipped"
    grey_rgb = np.repeat(cv2.cvtColor(frames[1], cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    save_frames(np.stack([grey_rgb if i in (1, 4) else f for i, f in enumerate(frames)]),
                tmp_path / "as8bit" / "v" / "images")
    assert generate_result.main(["--path_indata", str(tmp_path / "as8bit"), "--file_weight", str(weights["vinet"]),
                                 "--save_path", str(tmp_path / "out_8bit"), "--exact", *SMALL_FLAGS]) == 0
    for i in range(1, 10):   # 16-bit frames read as their 8-bit selves, RGBA as RGB
        assert (cv2.imread(str(tmp_path / "out_8bit" / "v" / f"{i:04d}.png")).tobytes()
                == cv2.imread(str(tmp_path / "out_odd" / "v" / f"{i:04d}.png")).tobytes()), i


def test_a_stream_without_a_frame_count_gets_every_map(tmp_path, weights):
    frames, _ = scene(11)
    write_video(str(tmp_path / "nocount.mkv"), frames, 10.0)
    with av.open(str(tmp_path / "nocount.mkv")) as container:
        assert container.streams.video[0].frames == 0   # Matroska stores no frame count
    assert generate_result.main(["--video", str(tmp_path / "nocount.mkv"), "--file_weight", str(weights["vinet"]),
                                 "--save_path", str(tmp_path / "out"), *SMALL_FLAGS]) == 0
    assert len(list((tmp_path / "out" / "nocount").iterdir())) == 11


def corrupt_packet(path: Path, index: int) -> None:
    """Scramble the payload of the index-th video packet of a file, in place."""
    with av.open(str(path)) as container:
        packet = [p for p in container.demux(video=0) if p.size][index]
        position, size = packet.pos, packet.size
    data = bytearray(path.read_bytes())
    for k in range(position + 10, position + size - 4):
        data[k] = (data[k] * 7 + 13) % 256
    path.write_bytes(bytes(data))


def test_a_corrupt_packet_mid_way_gives_the_other_maps_and_reports_the_gap(tmp_path, weights, caplog):
    frames, _ = scene(30)
    write_video(str(tmp_path / "broken.mkv"), frames, 10.0)
    corrupt_packet(tmp_path / "broken.mkv", 17)
    caplog.set_level(logging.INFO)
    status = generate_result.main(["--video", str(tmp_path / "broken.mkv"), "--file_weight", str(weights["vinet"]),
                                   "--save_path", str(tmp_path / "out"), *SMALL_FLAGS])
    assert status == 0, "a player shows 29 of 30 frames: their maps are the run's result"
    written = sorted(p.name for p in (tmp_path / "out" / "broken").iterdir())
    assert len(written) == 29 and "00018.png" not in written
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["broken.mkv: 1 of 30 frames undecodable (frame 18: no maps)"]
    assert not leftovers(tmp_path / "out")
    assert generate_result.main(["--video", str(tmp_path / "broken.mkv"), "--file_weight", str(weights["vinet"]),
                                 "--save_path", str(tmp_path / "strict"), "--strict_media", *SMALL_FLAGS]) == 2
    assert errors(caplog)[-1].startswith("1 of 1 videos failed: broken (broken.mkv: 1 of 30 frames undecodable")


def test_an_unwritable_save_path_and_one_inside_the_input_are_refused(tmp_path, weights, caplog):
    frames, _ = scene(4)
    save_frames(frames, tmp_path / "data" / "v" / "images")
    (tmp_path / "a_file").write_text("not a folder")
    common = ["--path_indata", str(tmp_path / "data"), "--file_weight", str(weights["vinet"]), *SMALL_FLAGS]
    assert generate_result.main([*common, "--save_path", str(tmp_path / "a_file" / "maps")]) == 2
    assert errors(caplog)[-1].startswith(f"error: cannot write to --save_path {tmp_path / 'a_file' / 'maps'}: ")
    caplog.clear()
    assert generate_result.main([*common, "--save_path", str(tmp_path / "data" / "maps")]) == 2
    assert "is inside --path_indata" in errors(caplog)[-1] and not (tmp_path / "data" / "maps").exists()


# ----------------------------------------------------------------------------------------------
# train.py


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("datasets")
    write_dhf1k(root / "train", num_videos=2, num_frames=12, size=(36, 64), seed=0)
    write_dhf1k(root / "val", num_videos=1, num_frames=12, size=(36, 64), seed=5)
    write_audio_visual(root / "av", datasets=("AVAD",), videos_per_dataset=3, num_frames=36, size=(36, 64))
    return root


def vinet_flags(root: Path, out: Path, *extra: str) -> list[str]:
    return ["--train_path_data", str(root / "train"), "--val_path_data", str(root / "val"), "--clip_size", "8",
            *SMALL_FLAGS, "--no_workers", "0", "--batch_size", "2", "--model_val_path", str(out / "vinet.pt"), *ON_CPU,
            *extra]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def copy_tree(source: Path, target: Path) -> Path:
    import shutil
    shutil.copytree(source, target)
    return target


def test_train_refuses_maps_and_frames_that_disagree(tmp_path, datasets, capsys):
    root = copy_tree(datasets, tmp_path / "data")
    (root / "train" / "0002" / "maps" / "0007.png").unlink()
    assert train.main(vinet_flags(root, tmp_path)) == 2
    assert one_error_line(capsys).startswith(f"error: {root / 'train' / '0002'} has 12 frames in images/ but 11 maps")
    assert not list(tmp_path.glob("vinet*"))


def test_train_refuses_an_empty_fixation_map_at_start_up(tmp_path, datasets, capsys):
    root = copy_tree(datasets, tmp_path / "data")
    (root / "train" / "0001" / "fixation" / "0004.png").write_bytes(b"")
    assert train.main(vinet_flags(root, tmp_path, "--nss", "True")) == 2
    line = one_error_line(capsys)
    assert line == f"error: {root / 'train' / '0001' / 'fixation' / '0004.png'} is empty (0 bytes): copy it again " \
                   "from the dataset, or remove the video"


def test_train_refuses_a_fold_list_naming_a_missing_video(tmp_path, datasets, capsys):
    root = copy_tree(datasets, tmp_path / "data")
    with open(root / "av" / "fold_lists" / "AVAD_list_train_1_fps.txt", "a") as fold_list:
        fold_list.write("ghost 36 25\n")
    flags = ["--dataset", "SoundDataset", "--av_datasets", "AVAD", "--train_path_data", str(root / "av"),
             "--use_sound", "True", *SMALL_FLAGS, "--no_workers", "0", "--model_val_path", str(tmp_path / "a.pt")]
    assert train.main(flags) == 2
    missing = root / "av" / "video_frames" / "AVAD" / "ghost"
    assert one_error_line(capsys).startswith(f"error: folder not found: {missing}")


def test_train_refuses_a_zero_batch(tmp_path, datasets, capsys):
    assert train.main(vinet_flags(datasets, tmp_path, "--batch_size", "0")) == 2
    assert one_error_line(capsys) == ("error: argument --batch_size: expected a whole number of at least 1, got '0' "
                                      "(--help lists the flags)")


def test_train_refuses_resume_files_of_another_model_or_a_newer_format(tmp_path, datasets, capsys):
    assert train.main(vinet_flags(datasets, tmp_path, "--no_epochs", "1")) == 0
    capsys.readouterr()
    assert train.main(vinet_flags(datasets, tmp_path, "--no_epochs", "2", "--resume", "--model", "vinet-s")) == 2
    last = tmp_path / "vinet_last.pt"
    assert one_error_line(capsys).startswith(f"error: {last} is a run of vinet-clip8, not vinet-s")
    state = torch.load(tmp_path / "vinet_last.pt", weights_only=True)
    torch.save({**state, "format": 99}, tmp_path / "vinet_last.pt")
    assert train.main(vinet_flags(datasets, tmp_path, "--no_epochs", "2", "--resume")) == 2
    assert "was written by a newer train.py (format 99" in one_error_line(capsys)


# ----------------------------------------------------------------------------------------------
# evaluate.py


def dhf1k_truth(root: Path, fixations: bool = True) -> Path:
    rng = np.random.default_rng(0)
    for index in range(1, 4):
        points = np.zeros((24, 32), np.uint8)
        points[rng.integers(24, size=5), rng.integers(32, size=5)] = 255
        (root / "gt" / "v" / "maps").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "gt" / "v" / "maps" / f"{index:04d}.png"), cv2.GaussianBlur(points, (0, 0), 2) + 1)
        if fixations:
            (root / "gt" / "v" / "fixation").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "gt" / "v" / "fixation" / f"{index:04d}.png"), points)
        (root / "pred" / "v").mkdir(parents=True, exist_ok=True)   # predictions: twice the size, JPEG
        cv2.imwrite(str(root / "pred" / "v" / f"{index:04d}.jpg"), cv2.resize(cv2.GaussianBlur(points, (0, 0), 3) + 1,
                                                                              (64, 48)))
    return root


def evaluate_args(root: Path, *extra: str) -> list[str]:
    return ["--gt_path", str(root / "gt"), "--pred_path", str(root / "pred"), "--output", str(root / "out.json"),
            "--workers", "1", *extra]


def test_evaluate_takes_predictions_of_another_size_and_format(tmp_path):
    root = dhf1k_truth(tmp_path)
    assert evaluate.main(evaluate_args(root)) == 0
    summary = json.loads((root / "out.json").read_text())
    assert summary["num_frames"] == 3 and summary["mean"]["cc"] > 0.5 and summary["unreadable_files"] == []


def test_evaluate_refuses_a_ground_truth_without_fixations(tmp_path, caplog):
    root = dhf1k_truth(tmp_path, fixations=False)
    assert evaluate.main(evaluate_args(root)) == 2
    assert errors(caplog) == [f"no fixation maps in the ground truth (e.g. none in {root / 'gt' / 'v' / 'fixation'}): "
                              "nss, auc_j, s_auc, auc_b need them; add them, or pass --metrics cc,sim,kld"]
    assert not (root / "out.json").exists()
    assert evaluate.main(evaluate_args(root, "--metrics", "cc,sim,kld")) == 0


def test_evaluate_names_a_mat_without_the_fixation_variable_and_scores_the_rest(tmp_path, caplog):
    root = dhf1k_truth(tmp_path)
    bad = root / "gt" / "v" / "fixation" / "maps" / "0002.mat"
    bad.parent.mkdir()
    scipy.io.savemat(bad, {"fixations": np.ones((24, 32))})
    (root / "gt" / "v" / "fixation" / "0002.png").unlink()
    assert evaluate.main(evaluate_args(root)) == 2
    assert errors(caplog) == [f"1 file could not be read and is left out of the scores: {bad} holds no fixation map "
                              "(variable eyeMap or I); replace it and rerun"]
    summary = json.loads((root / "out.json").read_text())
    assert summary["num_frames"] == 3 and summary["nan_counts"]["nss"] == 1


# ----------------------------------------------------------------------------------------------
# benchmark.py and reframe.py


@pytest.mark.parametrize("flags,message", [
    (["--processes", "--video", "nowhere.mp4"], "error: video not found: nowhere.mp4"),
    (["--processes", "--steps"],
     "error: --steps times the model alone: run it without --processes, --reframe or --memory"),
    (["--device", "cuda"], "error: --device cuda: this machine has 0 CUDA devices; use --device cpu (or auto)"),
    (["--frames", "3"], "error: argument --frames: expected a whole number of at least 63, got '3' (--help lists the "
                        "flags)"),
])
def test_benchmark_bad_input_is_one_line(flags, message):
    if "cuda" in flags and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    result = subprocess.run([sys.executable, "benchmark.py", *flags, "--json", "never.json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [message]
    assert not (ROOT / "never.json").exists()


def test_reframe_refuses_a_missing_video_and_flags_that_do_not_go_together(tmp_path, caplog):
    assert reframe.main(["--video", str(tmp_path / "none.mp4"), "--aspect", "9:16", "--output",
                         str(tmp_path / "o.mp4"), "--maps", str(tmp_path)]) == 2
    assert errors(caplog) == [f"error: video not found: {tmp_path / 'none.mp4'}"]
    caplog.clear()
    assert reframe.main(["--video", "x.mp4", "--aspect", "9:16", "--output", str(tmp_path / "o.mp4"), "--maps",
                         str(tmp_path), "--file_weight", "w.pt"]) == 2
    assert errors(caplog) == ["error: give --maps (maps already made) or --file_weight/--model/--onnx (run a model), "
                              "not both"]
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------------------------
# Killed at any moment: a rerun resumes to the uninterrupted run's result


def readable_pngs(folder: Path) -> list[str]:
    """The maps in a folder, each checked to decode completely (a half-written map would not); a kill can leave a
    hidden temporary file (.<name>.*.tmp.png) beside them, which is not a map (the rerun removes it: leftovers)."""
    names = sorted(p.name for p in folder.glob("*.png") if not p.name.startswith("."))
    assert all(cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE) is not None for name in names)
    return names


def test_generate_killed_three_times_resumes_to_the_same_maps_byte_for_byte(tmp_path, weights):
    frames, _ = scene(60, seed=4)
    write_video(str(tmp_path / "long.mkv"), frames, 10.0)
    command = [sys.executable, "generate_result.py", "--video", str(tmp_path / "long.mkv"), "--file_weight",
               str(weights["vinet"]), *SMALL_FLAGS, "--batch_size", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*command, "--save_path", str(tmp_path / "whole")], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    out = tmp_path / "killed" / "long"
    for at_least in (5, 25, 45):   # kill once this many maps exist: early, in the middle, near the end
        process = subprocess.Popen([*command, "--save_path", str(tmp_path / "killed")], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline and \
                len(list(out.glob("*.png")) if out.is_dir() else []) < at_least:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert len(readable_pngs(out)) < 60, "killed before the end"
    subprocess.run([*command, "--save_path", str(tmp_path / "killed")], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    names = readable_pngs(out)
    assert names == readable_pngs(tmp_path / "whole" / "long") and len(names) == 60
    assert all((out / n).read_bytes() == (tmp_path / "whole" / "long" / n).read_bytes() for n in names)
    assert not leftovers(tmp_path / "killed")


KILL_DURING_SAVE = """
import os, signal, sys
sys.path.insert(0, os.getcwd())
import train, utils
from vinet.training import checkpoints
save = checkpoints.save_atomic
def dying_save(obj, path):
    if path.name.endswith("_last.pt") and obj["epoch"] == 2:   # the power fails while this checkpoint is written
        with utils.atomic_path(path) as tmp:
            tmp.write_bytes(b"half a checkpoint")
            os.kill(os.getpid(), signal.SIGKILL)
    save(obj, path)
checkpoints.save_atomic = dying_save   # save_last's, which writes <stem>_last.pt
sys.exit(train.main(sys.argv[1:]))
"""


def test_train_killed_in_an_epoch_or_in_a_checkpoint_write_resumes_to_the_same_weights(tmp_path, datasets):
    flags = ["--deterministic", "True", "--no_epochs", "3", "--lr_sched", "step", "--step_size", "1"]
    assert train.main(vinet_flags(datasets, tmp_path / "whole", *flags)) == 0
    command = [sys.executable, "train.py", *vinet_flags(datasets, tmp_path / "killed", *flags)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log_path = tmp_path / "killed" / "vinet_log.csv"
    while process.poll() is None and not (log_path.is_file() and "train_step,1," in log_path.read_text()):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)   # during epoch 1, after epoch 0's checkpoint
    process.wait()
    assert torch.load(tmp_path / "killed" / "vinet_last.pt", weights_only=True)["epoch"] == 1
    script = tmp_path / "dying.py"
    script.write_text(KILL_DURING_SAVE)
    died = subprocess.run([sys.executable, str(script), *command[2:], "--resume"], cwd=ROOT, capture_output=True)
    assert died.returncode == -signal.SIGKILL
    intact = torch.load(tmp_path / "killed" / "vinet_last.pt", weights_only=True)
    assert intact["epoch"] == 1, "the previous checkpoint is intact after a kill during the write"
    assert train.main([*command[2:], "--resume"]) == 0
    a = torch.load(tmp_path / "whole" / "vinet_last.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "vinet_last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 3 and a["step"] == b["step"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert not leftovers(tmp_path / "killed")


# ----------------------------------------------------------------------------------------------
# A full disk


def test_a_full_disk_is_one_line_and_leaves_no_truncated_file(tmp_path, weights, datasets, caplog, capsys,
                                                             monkeypatch):
    real_write_bytes = Path.write_bytes
    written = []

    def fill_up(path: Path, data: bytes) -> int:
        if len([p for p in written if ".manifest." not in p.name]) >= 3:   # maps and checkpoints, not manifests
            real_write_bytes(path, data[:len(data) // 2])   # the disk takes half, then refuses
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(path)
        return real_write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", fill_up)
    frames, _ = scene(8)
    write_video(str(tmp_path / "v.mkv"), frames, 10.0)
    assert generate_result.main(["--video", str(tmp_path / "v.mkv"), "--file_weight", str(weights["vinet"]),
                                 "--save_path", str(tmp_path / "out"), *SMALL_FLAGS, "--workers", "1"]) == 2
    assert errors(caplog)[0].startswith(f"cannot write map {tmp_path / 'out' / 'v'}")
    assert "No space left on device; free some space" in errors(caplog)[0]
    assert len(readable_pngs(tmp_path / "out" / "v")) == 3 and not leftovers(tmp_path / "out")
    written.clear()
    assert train.main(vinet_flags(datasets, tmp_path / "train", "--no_epochs", "1")) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: cannot write ") and "No space left on device; free some space" in line
    assert not leftovers(tmp_path / "train")


# ----------------------------------------------------------------------------------------------
# Files people can use: the umask's permissions, not the temporary file's 0600


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_every_file_written_gets_the_umasks_permissions(tmp_path, weights, datasets, mask):
    old = os.umask(mask)
    try:
        frames, wave = scene(6)
        write_video(str(tmp_path / "v.mkv"), frames, 10.0, wave)
        assert generate_result.main(["--video", str(tmp_path / "v.mkv"), "--file_weight", str(weights["vinet"]),
                                     "--save_path", str(tmp_path / "maps"), "--overlay", str(tmp_path / "o.mp4"),
                                     *SMALL_FLAGS]) == 0
        assert train.main(vinet_flags(datasets, tmp_path / "run", "--no_epochs", "1")) == 0
        run_files = [p for p in (tmp_path / "run").iterdir() if not p.name.endswith("_tb")]   # TensorBoard's own
        written = [*(tmp_path / "maps").rglob("*.png"), tmp_path / "o.mp4", *run_files]
    finally:
        os.umask(old)
    assert len(written) == 6 + 1 + 4
    assert {oct(path.stat().st_mode & 0o777) for path in written} == {oct(0o666 & ~mask)}


# ----------------------------------------------------------------------------------------------
# Safe loading: a checkpoint that would run code when unpickled is refused everywhere


class RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_checkpoint_that_runs_code_is_never_unpickled(tmp_path, weights, datasets, capsys, caplog):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"state_dict": RunsCode(marker)}, f)
    frames, _ = scene(4)
    write_video(str(tmp_path / "v.mkv"), frames, 10.0)
    assert generate_result.main(["--video", str(tmp_path / "v.mkv"), "--file_weight", str(evil)]) == 2
    assert reframe.main(["--video", str(tmp_path / "v.mkv"), "--aspect", "9:16", "--output",
                         str(tmp_path / "r.mp4"), "--file_weight", str(evil)]) == 2
    for flag in ("--load_weight", "--s3d_weights"):
        assert train.main(vinet_flags(datasets, tmp_path / "t", flag, str(evil))) == 2
    sound = ["--dataset", "SoundDataset", "--av_datasets", "AVAD", "--train_path_data", str(datasets / "av"),
             "--use_sound", "True", *SMALL_FLAGS, "--no_workers", "0", "--model_val_path", str(tmp_path / "a.pt")]
    assert train.main([*sound, "--soundnet_weights", str(evil)]) == 2
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "vinet_last.pt").write_bytes(evil.read_bytes())
    assert train.main(vinet_flags(datasets, tmp_path / "r", "--resume")) == 2
    root = dhf1k_truth(tmp_path / "eval")
    (root / "gt" / "v" / "fixation" / "maps").mkdir()
    (root / "gt" / "v" / "fixation" / "maps" / "0001.mat").write_bytes(evil.read_bytes())
    (root / "gt" / "v" / "fixation" / "0001.png").unlink()
    assert evaluate.main(evaluate_args(root)) == 2
    lines = capsys.readouterr().err + "\n".join(errors(caplog))
    assert lines.count("it holds Python objects besides tensors, which are refused") == 6
    assert not marker.exists()


# ----------------------------------------------------------------------------------------------
# Long videos in flat memory


def peak_memory_mib(video: Path, weights: Path, out: Path) -> float:
    """Peak resident memory (MiB) of generate_result.py mapping a video, measured by the OS for the child."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    result = subprocess.run([sys.executable, "-c", probe, sys.executable, "generate_result.py", "--video", str(video),
                             "--file_weight", str(weights), *SMALL_FLAGS, "--save_path", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600, check=True)
    return float(result.stdout)


def test_memory_does_not_grow_with_the_length_of_the_video(tmp_path, weights):
    """360x640 frames: keeping each frame's image or map (0.7-0.9 MB) would add over 200 MiB over 300 frames."""
    for frames in (40, 300):
        write_video(str(tmp_path / f"v{frames}.mkv"), scene(frames, 360, 640, seed=frames)[0], 25.0)
    short, long = (peak_memory_mib(tmp_path / f"v{n}.mkv", weights["vinet"], tmp_path / "out") for n in (40, 300))
    assert len(list((tmp_path / "out" / "v300").iterdir())) == 300
    assert long < short + 60, (short, long)
