"""int8 for OpenVINO on CPUs: NNCF's post-training quantization of an fp32 graph, its activation ranges calibrated
on windows of videos cut as the engine cuts them (calibration.py), the result checked on windows held out.

The quantized graph keeps its fp32 weights beside their quantization (NNCF's weight compression off), and NNCF's
bias correction is off (it changed nothing measurable: docs/export.md), so removing the QuantizeLinear /
DequantizeLinear pairs gives back the fp32 graph exactly: the float path int8 runs check their maps against
(`float_path`; vinet/engine/selfcheck.py). `CheckpointInt8` is --precision int8: a checkpoint quantized on windows
of the videos it runs, the file cached by the weights and those windows.
"""
import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn

from loss import cc
from registry import ModelEntry
from utils import InputError, atomic_path, require
from vinet.backends.base import MIN_INT8_CC, ONNX_REQUIREMENTS, OPENVINO_REQUIREMENTS
from vinet.backends.calibration import DEFAULT_FOOTAGE, calibration_windows, default_footage
from vinet.backends.onnx import export_model, input_names
from vinet.backends.openvino import OPENVINO_PRECISIONS, OpenVinoBackend, openvino_bf16, openvino_core
from vinet.engine.sources import Video

if TYPE_CHECKING:
    import onnx

log = logging.getLogger("export")   # its lines are export.py's (and an int8 run's)
FLOAT_PATH = "int8_float_path"      # metadata: how an int8 file gives back its fp32 graph (absent: it cannot)
Windows = list[list[torch.Tensor]]


@dataclass
class Calibration:
    """Where int8 calibration takes its windows: `windows` spread evenly over the videos' frames (files, or the
    engine's videos; None: the default footage, DEFAULT_FOOTAGE); every fourth is held out to check the result."""

    videos: Sequence[Path | Video] | None = None
    windows: int = 32
    _cut: Windows | None = field(default=None, init=False, repr=False)

    def source(self) -> str:
        """The calibration footage in words."""
        if not self.videos:
            return DEFAULT_FOOTAGE
        return ", ".join(video.name if isinstance(video, Video) else Path(video).name for video in self.videos)

    def cut(self, entry: ModelEntry) -> Windows:
        """The windows (cut once)."""
        if self._cut is None:
            with tempfile.TemporaryDirectory() as folder:
                self._cut = calibration_windows(entry, self.videos or default_footage(Path(folder)), self.windows)
        return self._cut

    def quantize(self, model: nn.Module, entry: ModelEntry, proto: "onnx.ModelProto",
                 batch: int | None = None) -> tuple["onnx.ModelProto", dict[str, str]]:
        """quantized_proto calibrated here (what onnx.export_model asks of its `calibration`)."""
        return quantized_proto(model, entry, proto, self.cut(entry), self.source(), batch)


# ----------------------------------------------------------------------------------------------
# Quantizing and checking


def int8_cc(model: nn.Module, entry: ModelEntry, proto: "onnx.ModelProto", windows: Windows) -> dict[str, float]:
    """Mean CC of the int8 graph's maps (OpenVINO, its float layers in each precision this CPU has) with the
    PyTorch fp32 model's, over `windows`."""
    with torch.inference_mode():
        expected = torch.cat([model.eval()(*window) for window in windows])
    capabilities = openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    graph, result = proto.SerializeToString(), {}
    for precision in ("fp32", "bf16"):
        if OPENVINO_PRECISIONS[precision][1] in capabilities:
            backend = OpenVinoBackend(graph, precision, entry)
            maps = torch.from_numpy(np.concatenate([backend(window) for window in windows]))
            result[precision] = round(float(cc(maps, expected).mean()), 5)
    return result


def nncf_quantize(proto: "onnx.ModelProto", entry: ModelEntry, windows: Windows,
                  batch: int | None) -> "onnx.ModelProto":
    """NNCF's post-training quantization on `windows` (each repeated to a fixed batch), the fp32 weights kept."""
    nncf = require("nncf", OPENVINO_REQUIREMENTS)
    require("onnxruntime", ONNX_REQUIREMENTS)   # NNCF collects an ONNX graph's statistics with it
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    names = input_names(entry)
    dataset = nncf.Dataset([{name: np.repeat(x.numpy(), batch or 1, axis=0) for name, x in zip(names, window)}
                            for window in windows])
    keep_float = AdvancedQuantizationParameters(disable_bias_correction=True,
                                                backend_params={"compress_weights": False})
    return nncf.quantize(proto, dataset, subset_size=len(windows), advanced_parameters=keep_float)


def quantized_proto(model: nn.Module, entry: ModelEntry, proto: "onnx.ModelProto", windows: Windows, source: str,
                    batch: int | None = None) -> tuple["onnx.ModelProto", dict[str, str]]:
    """The fp32 graph (of a fixed `batch`, or dynamic) quantized to int8 on 3 in 4 of the windows (of `source`),
    and its metadata: its CC with the fp32 model's maps on the others; InputError below MIN_INT8_CC."""
    held_out, fitted = windows[3::4], [w for i, w in enumerate(windows) if i % 4 != 3]
    if not held_out:
        raise InputError(f"--int8 needs 4 windows or more (one in four held out to check the result), the videos "
                         f"gave {len(windows)}: give longer videos, or more of them, to --calibrate")
    log.info("int8: calibrating on %d windows of %s, checking on %d held out", len(fitted), source, len(held_out))
    quantized = nncf_quantize(proto, entry, fitted, batch)
    scores = int8_cc(model, entry, quantized, held_out)
    worst = min(scores.values())
    if worst < MIN_INT8_CC:
        raise InputError(f"int8 maps reach CC {worst:.4f} with fp32's on {len(held_out)} held-out windows, below "
                         f"{MIN_INT8_CC}: not written; calibrate on footage like yours (--calibrate VIDEO ...) or "
                         "run fp32 or bf16")
    return quantized, {
        "precision": "int8", "int8_cc_vs_fp32": json.dumps(scores), "int8_held_out_windows": str(len(held_out)),
        "int8_check": "mean CC of the maps with the PyTorch fp32 model's on the held-out windows of the calibration "
                      "footage (int8_calibration; other footage can score lower: runs check their own), run by "
                      f"OpenVINO {importlib.metadata.version('openvino')} with the float layers in each precision",
        "int8_calibration": f"NNCF {importlib.metadata.version('nncf')} on {len(fitted)} windows of {source}",
        FLOAT_PATH: "remove the QuantizeLinear/DequantizeLinear pairs: the fp32 weights are kept"}


# ----------------------------------------------------------------------------------------------
# The float path


def cache_folder() -> Path:
    """Where quantized checkpoints (int8/) and int8 files' fp32 graphs (float/) are kept: $VINET_CACHE, else
    $XDG_CACHE_HOME/vinet, else ~/.cache/vinet."""
    if os.environ.get("VINET_CACHE"):
        return Path(os.environ["VINET_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vinet"


def float_graph(proto: "onnx.ModelProto") -> "onnx.ModelProto":
    """An int8 graph without its quantization: each QuantizeLinear -> DequantizeLinear pair bypassed, their scales
    and zero points dropped (the fp32 graph it was quantized from, when its weights were kept: FLOAT_PATH)."""
    onnx = require("onnx", ONNX_REQUIREMENTS)
    producers = {name: node for node in proto.graph.node for name in node.output}
    bypass, pairs = {}, set()
    for node in proto.graph.node:
        quantize = producers.get(node.input[0]) if node.op_type == "DequantizeLinear" else None
        if quantize is not None and quantize.op_type == "QuantizeLinear":
            bypass[node.output[0]] = quantize.input[0]
            pairs.update((node.output[0], quantize.output[0]))
    graph = onnx.ModelProto()
    graph.CopyFrom(proto)
    nodes = [node for node in graph.graph.node if node.output[0] not in pairs]
    for node in nodes:
        node.input[:] = [bypass.get(name, name) for name in node.input]
    used = {name for node in nodes for name in node.input}
    initializers = [tensor for tensor in graph.graph.initializer if tensor.name in used]
    del graph.graph.node[:], graph.graph.initializer[:]
    graph.graph.node.extend(nodes)
    graph.graph.initializer.extend(initializers)
    return graph


def float_file(int8_file: Path) -> Path:
    """The fp32 graph of an int8 file, written once to the cache (named by the file's path, size and time): a run
    of the file reads it instead of rebuilding it (most of what the check costs a short video)."""
    stat = int8_file.stat()
    key = hashlib.sha256(f"{int8_file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:20]
    path = cache_folder() / "float" / f"{int8_file.stem}-{key}.onnx"
    if not path.is_file():
        onnx = require("onnx", ONNX_REQUIREMENTS)
        with atomic_path(path) as temporary:
            onnx.save_model(float_graph(onnx.load(str(int8_file))), str(temporary))
    return path


def float_path(int8_file: str | Path, entry: ModelEntry, precision: str = "fp32") -> OpenVinoBackend:
    """An int8 file's float path: its fp32 graph run by OpenVINO, its layers in `precision`, a window at a time on
    all the cores (the windows an int8 run checks come one by one)."""
    return OpenVinoBackend(float_file(Path(int8_file)), precision, entry, streams=1)


def float_layers() -> str:
    """The precision an int8 run gives its float layers: bf16 where this CPU has it (faster, as fine), else fp32."""
    return "bf16" if openvino_bf16() else "fp32"


# ----------------------------------------------------------------------------------------------
# --precision int8: a checkpoint quantized on the videos it runs


def cache_key(entry: ModelEntry, weights: object, windows: Windows) -> str:
    """SHA-256 of what makes a quantized graph: the model, its weights' hashes, the windows' values, NNCF's and
    OpenVINO's versions."""
    digest = hashlib.sha256(json.dumps([entry.label, dict(entry.kwargs), list(entry.frame_size), weights,
                                        importlib.metadata.version("nncf"),
                                        importlib.metadata.version("openvino")], sort_keys=True, default=str).encode())
    for window in windows:
        for x in window:
            digest.update(x.numpy().tobytes())
    return digest.hexdigest()


class CheckpointInt8:
    """A checkpoint's model run in int8 by OpenVINO (float layers as float_layers() says), quantized on windows of
    the videos it is first given, or the cached file quantized from the same weights on the same windows."""

    def __init__(self, model: nn.Module, entry: ModelEntry, origin: dict, windows: int = Calibration.windows):
        self.model, self.entry, self.origin, self.windows = model, entry, origin, windows
        self.file: Path | None = None
        self.runner: OpenVinoBackend | None = None

    def calibrate(self, videos: list[Video]) -> None:
        """Quantize on windows of `videos` (or reuse the cache); the origin records the file. Once."""
        if self.runner is not None:
            return
        calibration = Calibration(videos, self.windows)
        windows = calibration.cut(self.entry)
        key = cache_key(self.entry, self.origin["weights"], windows)
        self.file = cache_folder() / "int8" / f"{self.entry.name}-{key[:20]}.onnx"
        if self.file.is_file():
            log.info("int8: reusing %s (quantized from the same weights on the same %d windows)", self.file,
                     len(windows))
        else:
            weights = self.origin["weights"]
            export_model(self.model, self.entry, self.file, calibration=calibration,
                         checkpoint=weights if isinstance(weights, str) else " ".join(w["file"] for w in weights))
            log.info("int8: cached as %s (a run on the same weights and windows reuses it)", self.file)
        self.runner = OpenVinoBackend(self.file, float_layers())
        self.origin["int8"] = {"file": self.file.name, "calibrated_on": calibration.source()}

    def __call__(self, inputs: list[torch.Tensor]) -> np.ndarray:
        if self.runner is None:
            raise RuntimeError("CheckpointInt8 runs once calibrated on the videos (Predictor.prepare)")
        return self.runner(inputs)
