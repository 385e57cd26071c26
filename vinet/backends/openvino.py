"""OpenVINO as a backend: an ONNX graph run on the CPU, its float layers in fp32, bf16 or fp16 and an int8 file's
quantized layers in int8 (requirements-openvino.txt)."""
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from registry import ModelEntry
from utils import InputError, require
from vinet.backends.base import OPENVINO_REQUIREMENTS
from vinet.backends.onnx import GraphBackend, check_source

if TYPE_CHECKING:
    import openvino

# --precision -> OpenVINO's inference precision of float layers, and the CPU capability it needs
OPENVINO_PRECISIONS = {"fp32": ("f32", "FP32"), "bf16": ("bf16", "BF16"), "fp16": ("f16", "FP16")}
# windows OpenVINO runs at once, each on its share of the cores (its default --batch_size): on 2 cores, 10-60%
# more windows/s than one window at a time on both (benchmark.py)
OPENVINO_STREAMS = 2


def openvino_core() -> "openvino.Core":
    """OpenVINO's runtime; InputError naming the requirements file when it is not installed."""
    return require("openvino", OPENVINO_REQUIREMENTS).Core()


def openvino_bf16() -> bool:
    """Whether OpenVINO runs bf16 on this CPU (AVX512-BF16 or AMX, as its CPU plugin reports them)."""
    return OPENVINO_PRECISIONS["bf16"][1] in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def input_shape(shape: "openvino.PartialShape") -> tuple:
    """A graph input's shape: an int per fixed dimension, '?' for a dynamic one (the batch)."""
    return tuple(dim.get_length() if dim.is_static else "?" for dim in shape)


def openvino_config(core: "openvino.Core", precision: str, streams: int = OPENVINO_STREAMS) -> dict[str, str]:
    """OpenVINO's compile options for --precision on the CPU: its float layers in that precision (OpenVINO would
    pick bf16 by itself on a bf16 CPU), `streams` windows at once; InputError when the CPU lacks it."""
    hint, capability = OPENVINO_PRECISIONS[precision]
    capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if capability not in capabilities:
        raise InputError(f"--precision {precision}: this CPU has no {capability} for OpenVINO (it has "
                         f"{', '.join(capabilities)}); use --precision fp32")
    return {"INFERENCE_PRECISION_HINT": hint, "NUM_STREAMS": str(streams)}


class OpenVinoBackend(GraphBackend):
    """An exported file (or ONNX bytes, with their `entry`) run by OpenVINO on the CPU: float layers in
    `precision`, an int8 file's quantized layers in int8 (export.py --int8); a batch's windows run one per
    request, `streams` at once (1: each window on all the cores)."""

    chunk = 1

    def __init__(self, source: str | Path | bytes, precision: str = "fp32", entry: ModelEntry | None = None,
                 streams: int = OPENVINO_STREAMS):
        openvino = require("openvino", OPENVINO_REQUIREMENTS)
        check_source(source)
        core = openvino.Core()
        model = core.read_model(io.BytesIO(source) if isinstance(source, bytes) else str(source))
        compiled = core.compile_model(model, "CPU", openvino_config(core, precision, streams))
        info = model.get_rt_info()   # an ONNX file's metadata_props are its "framework" section
        metadata = {key: value.value for key, value in info["framework"].items()} if "framework" in info else {}
        self.describe(source, metadata, [(port.any_name, input_shape(port.get_partial_shape()))
                                         for port in model.inputs], entry)
        self.requests = openvino.AsyncInferQueue(compiled, streams)

    def run_all(self, feeds: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
        maps: list[np.ndarray] = [np.empty(0)] * len(feeds)

        def keep(request: "openvino.InferRequest", index: int) -> None:
            maps[index] = request.get_output_tensor(0).data.copy()

        self.requests.set_callback(keep)
        for index, feed in enumerate(feeds):
            self.requests.start_async(feed, userdata=index)
        self.requests.wait_all()
        return maps
