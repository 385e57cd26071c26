"""vinet/backends/onnx.py: the metadata written and read back into the registry entry, the graph's inputs checked,
a batch split and padded to a fixed-batch file, onnxruntime's providers, and the refusals in one line."""
import json
import logging
import sys

import numpy as np
import pytest
import torch
from onnx_cases import SMALL, inputs_of, onnxruntime_difference, pytorch_maps

from registry import MODELS, WindowRule
from utils import InputError
from vinet.backends.onnx import OnnxBackend, check_source, entry_from_metadata, execution_providers, metadata

ONNX_REASON = "ONNX export needs onnx, onnxscript and onnxruntime: pip install -r requirements-onnx.txt"


# ---- metadata: no export needed -----------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("frame_size", [None, SMALL])
def test_the_metadata_gives_back_the_registry_entry(name, frame_size):
    entry = MODELS[name].configured(frame_size)
    meta = metadata(entry, "weights.pt", None, "fp32")
    assert all(isinstance(value, str) for value in meta.values())   # ONNX's metadata_props hold strings
    assert entry_from_metadata(meta, "model.onnx") == entry
    assert ("members" in meta, "audio_samples" in meta) == (bool(entry.members), entry.takes_audio)


def test_a_file_without_the_metadata_is_refused_in_one_line():
    with pytest.raises(InputError, match=r"other\.onnx has no saliency-model metadata \(KeyError: 'model_kwargs'\): "
                                         r"export the model with export.py"):
        entry_from_metadata({"producer": "someone else"}, "other.onnx")


def test_a_missing_file_is_refused(tmp_path):
    check_source(b"graph bytes")
    with pytest.raises(InputError, match="ONNX file not found"):
        check_source(tmp_path / "missing.onnx")


def test_onnxruntime_takes_cuda_when_asked_and_there(caplog):
    cuda = [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    assert execution_providers(["CUDAExecutionProvider", "CPUExecutionProvider"], torch.device("cuda", 1)) == cuda
    assert execution_providers(["CUDAExecutionProvider", "CPUExecutionProvider"], torch.device("cpu")) == \
        ["CPUExecutionProvider"]
    with caplog.at_level(logging.WARNING):
        assert execution_providers(["CPUExecutionProvider"], torch.device("cuda")) == ["CPUExecutionProvider"]
    assert "this onnxruntime has no CUDA (pip install onnxruntime-gpu)" in caplog.text


def test_onnx_model_without_onnxruntime_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(InputError, match=r"pip install -r requirements-onnx.txt"):
        OnnxBackend(tmp_path / "model.onnx")


# ---- exported files (conftest's `exported`) -----------------------------------------------------


@pytest.fixture
def exported(exported):
    """conftest's exported files, skipped without the ONNX packages."""
    for module in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(module, reason=ONNX_REASON)
    return exported


@pytest.mark.slow
def test_an_ensembles_file_describes_each_members_clip(exported):
    meta = exported("vinet-e").onnx_model.metadata
    members = json.loads(meta["members"])
    assert [(m["model"], m["input"], m["frame_size"], m["clip_length"]) for m in members] == [
        ("vinet-s", "clip_vinet_s", list(SMALL), 32), ("vinet-a", "clip_vinet_a", list(SMALL), 32)]
    assert [WindowRule(**m["window"]) for m in members] == [MODELS["vinet-s"].window, MODELS["vinet-a"].window]
    assert members[1]["window"] == {"length": 32, "stride": 2, "centred": True, "reverse_start": True}
    assert (members[1]["mean"], members[1]["std"]) == ([0.45] * 3, [0.225] * 3)
    assert "one clip input per member" in meta["clip"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vinet", "avinet-transformer"])
def test_a_dynamic_batch_file_runs_any_batch_and_serves_the_engine(exported, name):
    result = exported(name)
    inputs = inputs_of(result.entry, batch=2)
    expected = pytorch_maps(result, inputs)
    assert result.onnx_model.batch is None and onnxruntime_difference(result, inputs, expected) < 1e-4
    maps = result.onnx_model([x.contiguous(memory_format=torch.channels_last_3d) if x.dim() == 5 else x
                              for x in inputs])   # as the engine's inputs may be laid out
    assert maps.dtype == np.float32 and np.abs(maps - expected).max() < 1e-4


@pytest.mark.slow
def test_a_fixed_batch_file_has_that_batch_and_onnx_model_splits_and_pads_to_it(exported):
    result = exported("avinet-tokens")
    onnx_model, (clip, audio) = result.onnx_model, inputs_of(result.entry, batch=3)
    assert onnx_model.batch == 2 and [node.shape[0] for node in onnx_model.session.get_inputs()] == [2, 2]
    first_two = onnx_model.session.run(["saliency"], {"clip": clip[:2].numpy(), "audio": audio[:2].numpy()})[0]
    last_twice = onnx_model.session.run(["saliency"], {"clip": clip[[2, 2]].numpy(), "audio": audio[[2, 2]].numpy()})[0]
    maps = onnx_model([clip, audio])
    np.testing.assert_allclose(maps, np.concatenate([first_two, last_twice[:1]]), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"avinet-tokens\.onnx takes clip \(B, 3, 32, 64, 96\), audio \(B, 1, "):
        onnx_model([clip[:, :, :8], audio])
