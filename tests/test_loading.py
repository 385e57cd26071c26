"""vinet/loading.py: the one path from options to settings and a predictor; each refusal written once."""
import pytest
import torch

from utils import InputError
from vinet.backends import OPENVINO_STREAMS
from vinet.loading import ModelOptions, RunOptions, load_network, make_settings, options_from


def test_default_batches_follow_the_device_and_precision():
    assert make_settings(RunOptions(device="cpu")).batch_size == 2
    assert make_settings(RunOptions(device="cpu", precision="bf16")).batch_size == 1
    openvino = make_settings(RunOptions(), backend="openvino")
    assert (openvino.device, openvino.batch_size) == (torch.device("cpu"), OPENVINO_STREAMS)


@pytest.mark.parametrize("run, backend, message", [
    (RunOptions(device="cpu", precision="fp16"), "torch", "--precision fp16 runs on CUDA devices only"),
    (RunOptions(device="cpu", exact=True, precision="bf16"), "torch", "--exact computes as the original"),
    (RunOptions(device="cpu", exact=True, compile="default"), "torch", "--exact computes as the original"),
    (RunOptions(device="cuda"), "openvino", "--backend openvino runs on the CPU here"),
])
def test_settings_that_cannot_work_are_refused(run, backend, message):
    with pytest.raises(InputError, match=message):
        make_settings(run, backend)


def test_model_flags_select_an_entry_and_contradictions_are_refused():
    assert ModelOptions().entry("vinet") is None   # the checkpoint decides
    assert ModelOptions(fusion="transformer").entry("vinet").name == "avinet-transformer"
    assert ModelOptions(clip_size=16).entry("avinet").name == "avinet"   # the script's default hears
    assert ModelOptions(model="vinet-s", frame_size=(64, 96)).entry("vinet").frame_size == (64, 96)
    with pytest.raises(InputError, match="--onnx names its model"):
        ModelOptions(onnx="m.onnx", model="vinet").check("vinet")
    with pytest.raises(InputError, match="give weights or --untrained, not both"):
        ModelOptions(untrained=True, file_weight=["w.pt"]).check("vinet")


def test_untrained_networks_are_seeded_and_keywords_split_by_option_set():
    first = load_network(ModelOptions(model="vinet-s", untrained=True))[1].state_dict()
    second = load_network(ModelOptions(model="vinet-s", untrained=True))[1].state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    choice, run = options_from({"model": "vinet", "precision": "bf16", "workers": 3})
    assert (choice.model, run.precision, run.workers) == ("vinet", "bf16", 3)
    with pytest.raises(TypeError, match="unknown setting"):
        options_from({"batchsize": 2})
