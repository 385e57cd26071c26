"""vinet/backends/openvino.py: every exported kind of model run by OpenVINO within 1e-4 of PyTorch in fp32 and at
CC >= 0.99 in bf16 (a fixed batch split and padded), the compile options of each precision, and the refusals."""
import sys

import numpy as np
import pytest
from onnx_cases import CASES, mean_cc, openvino_has_bf16, pytorch_maps, scene_clips, write_scene

from utils import InputError
from vinet.backends.openvino import OpenVinoBackend, openvino_config

REASON = "OpenVINO's tests need onnx, onnxscript, onnxruntime, openvino and nncf: pip install -r " \
         "requirements-onnx.txt -r requirements-openvino.txt"


class FakeCore:
    """An OpenVINO core on a CPU with fp32 and int8 only."""

    def get_property(self, device: str, name: str) -> list[str]:
        assert (device, name) == ("CPU", "OPTIMIZATION_CAPABILITIES")
        return ["FP32", "INT8"]


def test_the_compile_options_follow_the_precision_or_refuse_it():
    assert openvino_config(FakeCore(), "fp32") == {"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": "2"}
    with pytest.raises(InputError, match=r"--precision bf16: this CPU has no BF16 for OpenVINO \(it has FP32, INT8\); "
                                         r"use --precision fp32"):
        openvino_config(FakeCore(), "bf16")


def test_without_openvino_the_backend_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(InputError, match=r"openvino is not installed: pip install -r requirements-openvino.txt"):
        OpenVinoBackend(tmp_path / "model.onnx")


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory):
    return write_scene(tmp_path_factory.mktemp("scene"))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_openvino_runs_every_exported_model_as_pytorch_does(exported, scene_video, name):
    """fp32 within 1e-4 of PyTorch, bf16 at CC >= 0.99 (or refused in one line on a CPU without bf16), on windows
    of the scene: two run in parallel, or three for a fixed batch of two (split and padded)."""
    for module in ("onnx", "onnxscript", "onnxruntime", "openvino"):
        pytest.importorskip(module, reason=REASON)
    result = exported(name)
    inputs = scene_clips(result.entry, scene_video, 3 if CASES[name][1] == "2" else 2)
    expected = pytorch_maps(result, inputs)
    fp32 = OpenVinoBackend(result.path, "fp32")
    assert fp32.entry == result.entry and fp32.batch == result.onnx_model.batch
    maps = fp32(inputs)
    assert maps.dtype == np.float32 and maps.shape == expected.shape
    assert np.abs(maps - expected).max() < 1e-4
    if openvino_has_bf16():
        bf16 = OpenVinoBackend(result.path, "bf16")(inputs)
        assert 0.99 <= mean_cc(bf16, expected) < 1 and np.abs(bf16 - expected).max() > 1e-4   # bf16 really
    else:
        with pytest.raises(InputError, match="no BF16"):
            OpenVinoBackend(result.path, "bf16")
