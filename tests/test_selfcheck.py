"""vinet/engine/selfcheck.py and the int8 runs: the checked windows, their CC with the float path in the manifest
and the closing line (equal to an independent fp32 run), --min_cc's refusal, --precision int8's cache."""
import json
import logging

import numpy as np
import pytest
import torch
from conftest import deterministic_weights

import export
import generate_result
from loss import cc
from registry import MODELS
from synthetic import disc_paths, render_frames, soundtrack, write_video
from vinet.backends.calibration import CHECK_PHOTOS, natural_frames, street_sound, video_windows
from vinet.backends.int8 import float_graph, float_layers
from vinet.backends.openvino import OpenVinoBackend
from vinet.engine.selfcheck import BelowMinCC, SelfCheck
from vinet.engine.sources import video_file

SIZE = (64, 96)
REASON = "int8 runs need onnx, onnxscript, onnxruntime, openvino, nncf and scikit-image: pip install -r " \
         "requirements-onnx.txt -r requirements-openvino.txt"
ON_CPU = ["--device", "cpu", "--workers", "1"]


# ---- which windows, and what is kept -----------------------------------------------------------


@pytest.mark.parametrize("frames, every, expected", [
    (100, 32, [0, 50, 99]),            # 100/32 rounds to 3
    (640, 32, list(np.linspace(0, 639, 20).round().astype(int))),
    (10, 32, [0, 9]),                  # at least 2
    (1, 32, [0]),                      # not more than there are
    (0, 32, []),
])
def test_one_window_in_every_is_checked_at_least_two_spread_over_the_video(frames, every, expected):
    check = SelfCheck(lambda: None, every)
    assert check.sampled(list(range(frames))) == expected
    assert check.sampled(list(range(100, 100 + frames))) == [100 + j for j in expected]   # of the frames to do


class Reference:
    """A float path whose maps are the int8 ones plus a ripple of a given size, counting its windows."""

    def __init__(self, noise: float):
        self.noise, self.windows = noise, 0

    def __call__(self, inputs):
        self.windows += len(inputs[0])
        maps = inputs[0].numpy()[:, 0, 0]
        return maps + self.noise * np.cos(37 * maps)


def test_only_the_sampled_windows_run_in_the_float_path_and_below_min_cc_the_video_is_refused():
    maps = np.random.default_rng(1).random((4, 8, 8)).astype(np.float32)
    inputs = [torch.from_numpy(maps[:, None, None].repeat(3, 1).repeat(2, 2))]
    reference = Reference(0.2)
    video = SelfCheck(lambda: reference, every=2).start("clip.mp4", [0, 1, 2, 3, 4, 5, 6, 7])
    assert video.sampled == {0, 2, 5, 7}
    video.compare([0, 1, 2, 3], inputs, maps)
    expected = cc(torch.from_numpy(maps), torch.from_numpy(reference(inputs)))
    assert reference.windows == 2 + 4 and video.scores == {0: round(float(expected[0]), 5),
                                                           2: round(float(expected[2]), 5)}
    assert 0.8 < video.worst < 0.99 and video.warning().startswith(
        f"clip.mp4: int8 maps reach CC {video.worst:.4f} with the float path's on 2 of 2 checked windows")
    assert video.record()["frames"] == {"1": video.scores[0], "3": video.scores[2]}
    strict = SelfCheck(lambda: reference, every=2, min_cc=0.99).start("clip.mp4", [0, 1, 2, 3])
    with pytest.raises(BelowMinCC, match=r"clip\.mp4: int8 maps reach CC 0\.\d{4} with the float path's on the "
                                         r"window of frame \d, below --min_cc 0\.99: its maps are removed"):
        strict.compare([0, 1, 2, 3], inputs, maps)
    close = SelfCheck(lambda: Reference(1e-4), every=2).start("clip.mp4", [0, 1, 2, 3])
    close.compare([0, 1, 2, 3], inputs, maps)
    assert close.worst > 0.9999 and close.warning() is None


# ---- int8 runs --------------------------------------------------------------------------------


def need_quantization() -> None:
    for module in ("onnx", "onnxscript", "onnxruntime", "openvino", "nncf", "skimage"):
        pytest.importorskip(module, reason=REASON)


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """A natural clip (camera moves over photographs not calibrated on) and a clip of moving discs, 24 frames of
    72x128 at 10 fps each, with sound; ViNet-S at 64x96 with the golden generator's weights, its checkpoint, and
    its int8 file calibrated on the discs."""
    need_quantization()
    folder = tmp_path_factory.mktemp("selfcheck")
    write_video(str(folder / "natural.mp4"), natural_frames(5, CHECK_PHOTOS, 24, 72, 128), 10.0,
                street_sound(5, 2.4))
    discs = disc_paths(24, 72, 128, seed=4)
    write_video(str(folder / "discs.mkv"), render_frames(discs, 72, 128, seed=4), 10.0, soundtrack(discs, 10.0))
    entry = MODELS["vinet-s"].configured(SIZE)
    model = deterministic_weights(entry.build())
    torch.save(model.state_dict(), folder / "vinet_s.pt")
    assert export.main(["--file_weight", str(folder / "vinet_s.pt"), "--frame_size", *map(str, SIZE), "--output",
                        str(folder / "int8.onnx"), "--int8", "--calibrate", str(folder / "discs.mkv"),
                        "--calibration_windows", "8"]) == 0
    return folder, entry, model


def independent_cc(path, entry, model, int8_file, frames: list[int]) -> list[float]:
    """The CC of the int8 file's maps (OpenVINO, fp32 float layers) with PyTorch fp32's on the windows of frames."""
    windows = video_windows(video_file(path), entry, frames)
    int8 = OpenVinoBackend(int8_file, "fp32")
    with torch.inference_mode():
        return [float(cc(torch.from_numpy(int8(w)), model(*w))[0]) for w in windows]


@pytest.mark.slow
def test_an_int8_file_checks_itself_on_the_footage_it_runs(footage, tmp_path, caplog):
    """The file quantized on discs, run on the natural clip and the discs: each video's checked windows (3 of 24
    at --check_every 8) with CC equal to an independent fp32 run, in the manifest and the closing line; the
    float path is PyTorch's fp32 model within 1e-5."""
    folder, entry, model = footage
    with caplog.at_level(logging.INFO):
        assert generate_result.main(["--onnx", str(folder / "int8.onnx"), "--backend", "openvino", "--video",
                                     str(folder / "natural.mp4"), str(folder / "discs.mkv"), "--check_every", "8",
                                     "--save_path", str(tmp_path), *ON_CPU]) == 0
    scores = {}
    for name, path in (("natural", folder / "natural.mp4"), ("discs", folder / "discs.mkv")):
        record = json.loads((tmp_path / f"{name}.manifest.json").read_text())["int8_check"]
        assert list(record["frames"]) == ["1", "13", "24"]
        expected = independent_cc(path, entry, model, folder / "int8.onnx", [0, 12, 23])
        assert list(record["frames"].values()) == pytest.approx(expected, abs=2e-5)
        assert record["mean_cc"] == pytest.approx(np.mean(expected), abs=2e-5)
        scores[name] = record
        assert f"{name} (24 frames; int8 CC {record['mean_cc']:.4f} with the float path (fp32; worst " \
               f"{record['worst_cc']:.4f}) on 3 checked windows)" in caplog.text
    import onnx

    window = video_windows(video_file(folder / "natural.mp4"), entry, [12])[0]
    graph = float_graph(onnx.load(str(folder / "int8.onnx")))
    assert not {node.op_type for node in graph.graph.node} & {"QuantizeLinear", "DequantizeLinear"}
    with torch.inference_mode():
        assert np.abs(OpenVinoBackend(graph.SerializeToString(), "fp32", entry)(window)
                      - model(*window).numpy()).max() < 1e-5
    natural, discs = (scores[name]["worst_cc"] for name in ("natural", "discs"))
    assert natural < 0.99 < discs     # quantized on discs: the natural clip shows the file's real CC
    assert natural < min(json.loads(OpenVinoBackend(folder / "int8.onnx").metadata["int8_cc_vs_fp32"]).values())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"natural.mp4: int8 maps reach CC {natural:.4f} with the float path's on "
                        f"{sum(v < 0.99 for v in scores['natural']['frames'].values())} of 3 checked windows (mean "
                        f"{scores['natural']['mean_cc']:.4f}, below 0.99): calibrate on footage like it (export.py "
                        "--int8 --calibrate VIDEO ..., or --precision int8 with the checkpoint)"]


@pytest.mark.slow
def test_min_cc_refuses_a_video_below_it_and_keeps_the_others(footage, tmp_path, caplog):
    """--min_cc 0.99: the natural clip (CC ~0.97 with the file quantized on discs) is refused, exit 2, its maps and
    manifest removed; the discs' maps are all written."""
    folder, _, _ = footage
    with caplog.at_level(logging.INFO):
        assert generate_result.main(["--onnx", str(folder / "int8.onnx"), "--backend", "openvino", "--video",
                                     str(folder / "natural.mp4"), str(folder / "discs.mkv"), "--check_every", "8",
                                     "--min_cc", "0.99", "--save_path", str(tmp_path), *ON_CPU]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["discs", "discs.manifest.json"]
    assert len(list((tmp_path / "discs").iterdir())) == 24
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors[0].startswith("natural.mp4: int8 maps reach CC 0.9") and "below --min_cc 0.99: its maps are " \
        "removed; calibrate on footage like it" in errors[0]
    assert errors[-1].startswith("1 of 2 videos failed: natural (natural.mp4: int8 maps reach CC")


@pytest.mark.slow
def test_precision_int8_quantizes_on_the_videos_and_caches_by_weights_and_windows(footage, tmp_path, monkeypatch,
                                                                                    caplog):
    """--precision int8 from a checkpoint: quantized on the video's windows and cached; the same weights on the
    same video reuse the file, other weights make another."""
    folder, entry, model = footage
    monkeypatch.setenv("VINET_CACHE", str(tmp_path / "cache"))
    state = model.state_dict()
    torch.save({key: value * 1.01 if key.endswith("conv_s.weight") else value for key, value in state.items()},
               tmp_path / "other.pt")

    def run(weights, out: str) -> str:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert generate_result.main(["--file_weight", str(weights), "--frame_size", *map(str, SIZE),
                                         "--precision", "int8", "--video", str(folder / "natural.mp4"),
                                         "--save_path", str(tmp_path / out), *ON_CPU]) == 0
        return caplog.text

    first = run(folder / "vinet_s.pt", "first")
    cached = sorted((tmp_path / "cache" / "int8").iterdir())
    assert len(cached) == 1 and f"int8: cached as {cached[0]}" in first
    assert "int8: calibrating on 18 windows of natural, checking on 6 held out" in first
    assert f"int8: reusing {cached[0]} (quantized from the same weights on the same 24 windows)" in \
        run(folder / "vinet_s.pt", "second")
    manifest = json.loads((tmp_path / "second" / "natural.manifest.json").read_text())
    assert manifest["precision"] == "int8" and manifest["int8"] == {"file": cached[0].name, "calibrated_on": "natural"}
    assert manifest["int8_check"]["worst_cc"] >= 0.99     # calibrated on the footage it runs
    layers = float_layers()    # the float path runs as the run's float layers: bf16 where the CPU has it
    assert manifest["int8_check"]["reference"] == f"the same graph without its quantization, its layers in {layers}, " \
        "by OpenVINO"
    assert "int8: cached as" in run(tmp_path / "other.pt", "other")
    assert len(list((tmp_path / "cache" / "int8").iterdir())) == 2
