"""The benchmark's runs (vinet.bench.runtimes): which (backend, precision) pairs --processes times."""
import pytest

from vinet.bench.runtimes import BACKEND_MODULES, process_runs

REASON = "OpenVINO's tests need onnx, onnxscript, onnxruntime, openvino and nncf: pip install -r " \
         "requirements-onnx.txt -r requirements-openvino.txt"


def test_benchmark_precision_keeps_only_its_runs_beside_the_fp32_reference():
    for module in BACKEND_MODULES["openvino"]:   # a backend not installed has no runs
        pytest.importorskip(module, reason=REASON)
    assert process_runs(["torch", "openvino"], ["bf16", "int8"]) == [
        ("torch", "fp32"), ("torch", "bf16"), ("openvino", "bf16"), ("openvino", "int8")]
    assert process_runs(["onnxruntime"], ["int8"]) == [("torch", "fp32")]
    assert len(process_runs(["torch", "onnxruntime", "openvino"])) == 6
