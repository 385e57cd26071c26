"""What every backend shares: the engine's settings, the Backend protocol, the --backend names and the
requirement files that install the optional runtimes."""
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

BACKENDS = ("torch", "onnxruntime", "openvino")       # --backend choices
GRAPH_RUNTIMES = ("onnxruntime", "openvino")          # those that run ONNX graphs
ONNX_REQUIREMENTS = "requirements-onnx.txt"
OPENVINO_REQUIREMENTS = "requirements-openvino.txt"
MIN_INT8_CC = 0.99          # an int8 model's maps keep at least this CC with fp32's (else a refusal or a warning)


@dataclass
class Settings:
    """How the engine runs a model over videos."""

    batch_size: int = 1
    device: torch.device = torch.device("cpu")
    precision: str = "fp32"
    exact: bool = False                 # the original's kernels: NCDHW layout, one window per forward
    compile: str = "none"               # torch.compile mode: none, default, max-autotune, reduce-overhead (CUDA graphs)
    audio_ablation: str = "none"        # none | silence | shuffle: what an audio-visual model hears
    workers: int = 2                    # threads that decode and resize frames, and threads that write maps
    strict_media: bool = False          # refuse a damaged video instead of mapping what decodes


class Backend(Protocol):
    """Runs a model: the inputs of a batch of windows -> their maps, (B, H, W) float32."""

    def __call__(self, inputs: list[torch.Tensor]) -> np.ndarray: ...
