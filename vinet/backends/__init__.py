"""The engine's backends: what turns the inputs of a batch of windows into their maps.

A backend is any callable `backend(inputs) -> maps`: inputs are the window's clips (B, 3, T, H, W), one
per clip the model takes, then its sound (B, 1, L, 1) for an audio-visual model, float32 tensors on the
engine's device; maps are (B, H, W) float32 numpy arrays in [0, 1]. The engine runs every backend the
same way (--backend chooses; model_backend and graph_backend here make them):

    TorchBackend     a PyTorch model, prepared for inference (batch norm folded, channels-last, precision,
                     torch.compile) or as the original computes (Settings.exact)                 pytorch.py
    OnnxBackend      an ONNX graph run by onnxruntime (requirements-onnx.txt)                    onnx.py
    OpenVinoBackend  an ONNX graph run by OpenVINO on the CPU, fp32, bf16 or an int8 file
                     (requirements-openvino.txt)                                                 openvino.py

The ONNX graph is a file export.py wrote (its metadata names its model), or a checkpoint's model traced here
in memory (onnx.traced_proto, the exporter export.py writes files with); int8.py quantizes a graph.
"""
import logging
from pathlib import Path

import torch.nn as nn

from registry import ModelEntry
from utils import InputError
from vinet.backends.base import BACKENDS, GRAPH_RUNTIMES, Backend, Settings
from vinet.backends.onnx import GraphBackend, OnnxBackend, traced_proto
from vinet.backends.openvino import OPENVINO_STREAMS, OpenVinoBackend
from vinet.backends.pytorch import TorchBackend

__all__ = ["BACKENDS", "GRAPH_RUNTIMES", "OPENVINO_STREAMS", "Backend", "Settings", "check_graph_settings",
           "graph_backend", "model_backend"]

log = logging.getLogger("generate")


def check_graph_settings(name: str, settings: Settings) -> None:
    """InputError for settings an ONNX runtime cannot follow (OpenVINO's device: vinet.loading.make_settings)."""
    if settings.exact or settings.compile != "none":
        raise InputError(f"--backend {name} runs an ONNX graph: --exact and --compile are PyTorch's; drop them")
    if name == "onnxruntime" and settings.precision != "fp32":
        raise InputError("--backend onnxruntime runs a file in the precision it was exported in: drop --precision "
                         "(export.py --precision fp16 writes a half-precision file; --backend openvino runs bf16)")


def graph_backend(name: str, source: str | Path | bytes, settings: Settings,
                  entry: ModelEntry | None = None) -> GraphBackend:
    """An ONNX graph (a file export.py wrote, or bytes with their entry) run by the runtime --backend names."""
    if name not in GRAPH_RUNTIMES:
        raise InputError(f"--backend {name} runs checkpoints (--file_weight): drop --onnx, or run the file with "
                         f"--backend {' or '.join(GRAPH_RUNTIMES)}")
    check_graph_settings(name, settings)
    if name == "onnxruntime":
        return OnnxBackend(source, settings.device, entry)
    return OpenVinoBackend(source, settings.precision, entry)


def model_backend(name: str, model: nn.Module, entry: ModelEntry, settings: Settings) -> Backend:
    """A PyTorch model run by the backend --backend names: PyTorch itself as settings say, or an ONNX runtime on
    its graph, converted in memory (export.py writes it once: --onnx then skips the conversion)."""
    if name == "torch":
        return TorchBackend(model, settings)
    check_graph_settings(name, settings)
    log.info("converting %s to ONNX for %s (export.py writes the file once; run it with --onnx)", entry.label, name)
    return graph_backend(name, traced_proto(model, entry).SerializeToString(), settings, entry)
