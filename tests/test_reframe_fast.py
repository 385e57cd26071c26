"""reframe.py's fast default (vinet.loading.fast_run_options): how it is chosen, that its crop stays within 2% of the
width of fp32's on the test videos, that --precision fp32 gives the reference path, the log line and the manifest."""
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from reframing_cases import HEIGHT, WIDTH, crossing_centres, make_clip

import reframe
import vinet.loading as loading
from media import frames_by_index, probe_video
from registry import MODELS
from vinet.bench.workload import give_contrast
from vinet.engine.stream import clip_windows, model_inputs
from vinet.loading import FAST_DEFAULT, RunOptions, fast_run_options

FRAME_SIZE = (64, 96)     # ViNet-S at a small input: the same layers, seconds per run
TOLERANCE = 0.02          # the fast path's crop within this share of the width of fp32's


@pytest.mark.parametrize(("installed", "openvino_bf16", "torch_bf16", "expected"), [
    (True, True, True, ("openvino", "bf16")),
    (False, False, True, ("torch", "bf16")),
    (True, False, True, ("torch", "bf16")),      # OpenVINO without bf16 on this CPU: PyTorch's is no better
    (True, False, False, ("torch", "fp32")),
    (False, False, False, ("torch", "fp32")),
])
def test_the_fast_choice(monkeypatch: pytest.MonkeyPatch, installed: bool, openvino_bf16: bool, torch_bf16: bool,
                         expected: tuple[str, str]) -> None:
    monkeypatch.setattr(loading, "openvino_installed", lambda: installed)
    monkeypatch.setattr(loading, "openvino_bf16", lambda: openvino_bf16)
    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: torch_bf16)
    run, chosen = fast_run_options(RunOptions(device="cpu", precision=None))
    assert ((run.backend, run.precision), chosen) == (expected, True)


def test_the_flags_still_choose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading, "openvino_installed", lambda: True)
    monkeypatch.setattr(loading, "openvino_bf16", lambda: True)
    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: True)
    fp32, chosen = fast_run_options(RunOptions(device="cpu", precision="fp32"))
    assert (loading.backend_name(fp32.backend, None, fp32.precision), fp32.precision, chosen) == ("torch", "fp32",
                                                                                                    False)
    torch_run, chosen = fast_run_options(RunOptions(device="cpu", precision=None, backend="torch"))
    assert (torch_run.backend, torch_run.precision, chosen) == ("torch", "bf16", True)
    onnx_run, _ = fast_run_options(RunOptions(device="cpu", precision=None, backend="onnxruntime"), "m.onnx")
    assert onnx_run.precision == "fp32"    # onnxruntime runs a file in its own precision
    monkeypatch.setattr(loading, "openvino_installed", lambda: False)
    no_openvino, _ = fast_run_options(RunOptions(device="cpu", precision=None), "m.onnx")
    assert (no_openvino.backend, no_openvino.precision) == ("onnxruntime", "fp32")
    assert fast_run_options(RunOptions(device="cpu", precision=None, exact=True))[0].precision == "fp32"


def test_reframe_flags_leave_the_choice_to_reframe() -> None:
    args = reframe.parse_args(["--video", "v.mp4", "--output", "o.mp4", "--untrained"])
    assert (args.precision, args.backend) == (None, None)


# ----------------------------------------------------------------------------------------------
# The test videos both ways


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test videos: a disc crossing the frame, a still disc off centre, four discs in turn (a cut each)."""
    folder = tmp_path_factory.mktemp("fast_videos")
    crossing, _ = make_clip(folder, crossing_centres(), name="crossing.mp4")
    still, _ = make_clip(folder, np.tile([HEIGHT / 2, 100.0], (40, 1)), name="still.mp4")
    jumps = np.repeat([[HEIGHT / 2, x] for x in (20.0, 108.0, 64.0, 30.0)], 15, axis=0)
    jumping, _ = make_clip(folder, jumps, name="jumping.mp4")
    return {"crossing": crossing, "still": still, "jumping": jumping}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, videos: dict[str, Path]) -> Path:
    """ViNet-S, untrained, given a trained model's contrast on a window of the crossing disc (its maps vary)."""
    entry = MODELS["vinet-s"].configured(FRAME_SIZE)
    info = probe_video(videos["crossing"])
    frames = [model_inputs(entry, frame.to_image()) for frame in frames_by_index(info)]
    window = clip_windows(entry, info.num_frames // 2, info.num_frames)[0]
    torch.manual_seed(loading.UNTRAINED_SEED)   # the same checkpoint every run
    model = entry.build().eval()
    give_contrast(model, [torch.stack([frames[i][0] for i in window], 1)[None]])
    path = tmp_path_factory.mktemp("fast_weights") / "vinet_s.pt"
    torch.save(model.state_dict(), path)
    return path


def path_of(video: Path, weights: Path, folder: Path, *flags: str) -> list[dict]:
    """The frames of the path JSON of a 9:16 run of the checkpoint with `flags`."""
    folder.mkdir(parents=True, exist_ok=True)
    assert reframe.main(["--video", str(video), "--output", str(folder / "o.mp4"), "--aspect", "9:16",
                         "--file_weight", str(weights), "--frame_size", *map(str, FRAME_SIZE), "--device", "cpu",
                         "--path_json", str(folder / "p.json"), *flags]) == 0
    return json.loads((folder / "p.json").read_text())["frames"]


@pytest.mark.slow
def test_fast_crop_within_two_percent_of_fp32(videos: dict[str, Path], checkpoint: Path, tmp_path: Path) -> None:
    for name, video in videos.items():
        fast = path_of(video, checkpoint, tmp_path / name / "fast")
        reference = path_of(video, checkpoint, tmp_path / name / "fp32", "--precision", "fp32")
        offsets = [max(abs(a["x"] - b["x"]), abs(a["y"] - b["y"])) for a, b in zip(fast, reference)]
        assert len(fast) == len(reference) and max(offsets) <= TOLERANCE * WIDTH, name


@pytest.mark.slow
def test_precision_fp32_is_the_reference(videos: dict[str, Path], checkpoint: Path, tmp_path: Path) -> None:
    """--precision fp32 alone runs as before: PyTorch fp32, the path of a run that names both."""
    given = path_of(videos["crossing"], checkpoint, tmp_path / "given", "--precision", "fp32")
    explicit = path_of(videos["crossing"], checkpoint, tmp_path / "explicit", "--precision", "fp32", "--backend",
                       "torch")
    assert given == explicit


@pytest.mark.slow
def test_the_choice_is_logged_and_recorded(videos: dict[str, Path], checkpoint: Path, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    path_of(videos["still"], checkpoint, tmp_path, "--save_path", str(tmp_path / "maps"))
    run, _ = fast_run_options(RunOptions(device="cpu", precision=None))
    backend = loading.BACKEND_NAMES[run.backend]
    assert (f"model: vinet-s by {backend} {run.precision} ({FAST_DEFAULT}; --precision fp32 for the reference "
            "maps)") in caplog.messages
    manifest = json.loads((tmp_path / "maps" / "still.manifest.json").read_text())
    assert (manifest["backend"], manifest["precision"]) == (run.backend, run.precision)
    assert manifest["run_choice"] == {"backend": run.backend, "precision": run.precision, "chosen_by": FAST_DEFAULT}
