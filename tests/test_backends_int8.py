"""vinet/backends/int8.py: the calibration windows are the engine's windows, cut without it; each exported kind of
model quantized by NNCF keeps CC >= 0.99 with fp32 on held-out windows or is refused in one line."""
import json

import numpy as np
import pytest
import torch
from conftest import deterministic_weights
from onnx_cases import CASES, SMALL, mean_cc, openvino_has_bf16, scene_clips, write_scene

from media import probe_video
from registry import MODELS, ModelEntry
from synthetic import disc_paths, render_frames, write_video
from utils import InputError
from vinet.backends import Settings
from vinet.backends.calibration import (
    SCENE_FPS,
    SCENE_FRAMES,
    calibration_windows,
    default_footage,
    natural_frames,
    natural_scenes,
)
from vinet.backends.int8 import Calibration
from vinet.backends.onnx import traced_proto
from vinet.backends.openvino import OpenVinoBackend
from vinet.engine.predictor import Predictor
from vinet.engine.run import maps_of_video

REASON = "int8's tests need onnx, onnxscript, onnxruntime, openvino and nncf: pip install -r " \
         "requirements-onnx.txt -r requirements-openvino.txt"


def need_quantization() -> None:
    for module in ("onnx", "onnxscript", "onnxruntime", "openvino", "nncf"):
        pytest.importorskip(module, reason=REASON)


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory):
    return write_scene(tmp_path_factory.mktemp("scene"))


# ---- calibration windows ------------------------------------------------------------------------


class Recorder:
    """A backend keeping the inputs the engine gives it (a window per call at batch size 1); its maps are noise."""

    def __init__(self, entry: ModelEntry):
        self.entry, self.inputs = entry, []

    def __call__(self, inputs: list[torch.Tensor]) -> np.ndarray:
        self.inputs.append([x.clone() for x in inputs])
        return np.random.default_rng(len(self.inputs)).random((len(inputs[0]), *self.entry.frame_size), np.float32)


@pytest.mark.parametrize("name", ["vinet", "avinet", "vinet-a", "vinet-e"])
def test_calibration_windows_are_the_windows_the_engine_feeds(tmp_path, scene_video, name):
    """Causal with a time-reversed start and sound (AViNet), centred with a stride (ViNet-A), two clips (ViNet-E):
    the windows of 7 frames spread over the scene, equal to what the engine gives its backend for those frames."""
    entry = MODELS[name].configured(SMALL)
    windows = calibration_windows(entry, [scene_video], 7)
    recorder = Recorder(entry)
    frames = {int(i) for i in np.linspace(0, 29, 7).round()}
    maps_of_video(probe_video(scene_video), tmp_path, Predictor(entry, recorder, Settings()), frames=frames)
    assert len(windows) == len(recorder.inputs) == 7
    for ours, engines in zip(windows, recorder.inputs):
        assert len(ours) == len(entry.parts) + entry.takes_audio == len(engines)
        assert all(torch.equal(a, b) for a, b in zip(ours, engines))


def test_calibration_windows_spread_over_several_videos(scene_video):
    """4 windows spread over two 30-frame videos: frames 0 and 20 of the first, 9 and 29 of the second."""
    entry = MODELS["vinet"].configured(SMALL)
    both = calibration_windows(entry, [scene_video, scene_video], 4)
    alone = calibration_windows(entry, [scene_video], 30)
    assert all(torch.equal(a[0], alone[i][0]) for a, i in zip(both, [0, 20, 9, 29]))


def test_a_silent_video_cannot_calibrate_a_model_that_hears(tmp_path):
    write_video(str(tmp_path / "silent.mkv"), render_frames(disc_paths(6, 72, 128, seed=1), 72, 128, seed=1), 10.0)
    with pytest.raises(InputError, match=r"--calibrate .*silent\.mkv: no audio track, and avinet hears the sound"):
        calibration_windows(MODELS["avinet"].configured(SMALL), [tmp_path / "silent.mkv"], 4)


def test_fewer_than_four_windows_are_refused(scene_video):
    need_quantization()
    with pytest.raises(InputError, match=r"--int8 needs 4 windows or more \(one in four held out to check the "
                                         r"result\), the videos gave 3: give longer videos"):
        Calibration([scene_video], windows=3).quantize(None, MODELS["vinet"].configured(SMALL), None)


# ---- quantizing ---------------------------------------------------------------------------------


def quantize(model, entry, proto, batch: int | None, scene_video):
    """An fp32 graph quantized by NNCF on 3 windows of the scene, checked on a fourth."""
    return Calibration([scene_video], windows=4).quantize(model, entry, proto, batch)


def small_graph(exported, name: str):
    """The case's model, entry, fp32 graph and fixed batch at 64x96: its exported file, or (ViNet-S and AViNet,
    exported at their real size) a graph of batch 1 traced here, which quantizes in a third of the time."""
    import onnx  # installed: need_quantization checked

    if CASES[name][0] == SMALL:
        result = exported(name)
        return result.model, result.entry, onnx.load(str(result.path)), result.onnx_model.batch
    entry = MODELS[name].configured(SMALL)
    model = deterministic_weights(entry.build())
    return model, entry, traced_proto(model, entry, 1), 1


# ViNet-A's SlowFast with the tests' deterministic weights (no trained batch norm: activations grow into the
# thousands) loses its maps in int8: CC 0.94 without NNCF's bias correction (0.2-0.9 with it), refused; ViNet-E,
# the mean of a ViNet-S's and a ViNet-A's maps, keeps 0.994
INT8_REFUSED = ("vinet-a",)
# AViNet's maps of a video's first window (its time-reversed first frames, the sound's start) reach only CC 0.90-0.92
# in int8, the later windows 0.99 and more; ViNet-E's 0.985 (its ViNet-A): known gaps (docs/export.md), pinned here,
# and what an int8 run's check reports
INT8_START_GAP = ("avinet", "vinet-e")


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in CASES if name != "vinet"])   # ViNet: test_openvino's --int8
def test_int8_keeps_cc_0_99_with_fp32_or_is_refused(exported, scene_video, name):
    """Each exported model in int8, calibrated on 3 windows of the scene: the held-out CC in the metadata, and CC
    >= 0.99 with PyTorch's fp32 maps on the test clips (the scene's first and last windows), float layers in fp32 and
    bf16; or refused in one line."""
    need_quantization()
    model, entry, proto, batch = small_graph(exported, name)
    if name in INT8_REFUSED:
        with pytest.raises(InputError, match=r"int8 maps reach CC 0\.\d+ with fp32's on 1 held-out windows, below "
                                             r"0\.99: not written; calibrate on footage like yours"):
            quantize(model, entry, proto, batch, scene_video)
        return
    quantized, meta = quantize(model, entry, proto, batch, scene_video)
    assert meta["precision"] == "int8" and meta["int8_held_out_windows"] == "1"
    assert "3 windows of scene.mkv" in meta["int8_calibration"]
    scores = json.loads(meta["int8_cc_vs_fp32"])
    assert set(scores) == ({"fp32", "bf16"} if openvino_has_bf16() else {"fp32"}) and min(scores.values()) >= 0.99
    assert sum(node.op_type == "QuantizeLinear" for node in quantized.graph.node) >= 10
    inputs = scene_clips(entry, scene_video, 2)
    with torch.inference_mode():
        expected = torch.cat([model(*(x[i:i + 1] for x in inputs)) for i in range(2)]).numpy()
    for precision in scores:
        maps = OpenVinoBackend(quantized.SerializeToString(), precision, entry)(inputs)
        first, last = (mean_cc(maps[i:i + 1], expected[i:i + 1]) for i in (0, 1))
        assert 0.99 <= last < 1 and (0.85 < first < 0.99 if name in INT8_START_GAP else 0.99 <= first < 1), \
            (precision, first, last)


# ---- natural calibration footage ------------------------------------------------------------------


def test_natural_scenes_are_camera_moves_over_photographs_joined_by_a_cut(tmp_path):
    """The same seed gives the same frames; within a shot frames change a little (pan and zoom), across the cut a
    lot; the written scene has 64 frames at 25 fps with sound."""
    pytest.importorskip("skimage", reason=REASON)
    frames = natural_frames(3, frames=20, height=72, width=128)
    assert frames.shape == (20, 72, 128, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, natural_frames(3, frames=20, height=72, width=128))
    steps = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    assert steps.argmax() == 9 and steps[9] > 3 * np.delete(steps, 9).max()   # the cut, between the two shots
    assert 0 < np.delete(steps, 9).min()                                       # the camera moves
    assert frames[:10].std() > 20 and frames[10:].std() > 20                   # photographs, not flat colour
    [path] = natural_scenes(tmp_path, count=1)
    info = probe_video(path)
    assert (info.num_frames, info.fps, info.has_audio) == (SCENE_FRAMES, SCENE_FPS, True)


@pytest.mark.slow
def test_the_default_footage_is_natural_and_synthetic_scenes_with_sound(tmp_path):
    """Calibration() without videos: 8 windows spread over 3 natural and 3 synthetic scenes of 64 frames, with the
    sound an audio-visual model hears; its source in words."""
    pytest.importorskip("skimage", reason=REASON)
    videos = default_footage(tmp_path)
    assert [path.name for path in videos] == [f"natural{i}.mp4" for i in range(3)] + [f"scene{i}.mp4" for i in range(3)]
    assert all(probe_video(path).has_audio and probe_video(path).num_frames == SCENE_FRAMES for path in videos)
    calibration = Calibration(windows=8)
    assert calibration.source() == "3 natural scenes (scikit-image's photographs) and 3 synthetic ones"
    windows = calibration.cut(MODELS["avinet"].configured(SMALL))
    assert len(windows) == 8 and all(len(window) == 2 and window[1].abs().max() > 0 for window in windows)
