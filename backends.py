"""The engine's backends: what turns the inputs of a batch of windows into their maps.

A backend is any callable `backend(inputs) -> maps`: inputs are the window's clips (B, 3, T, H, W), one
per clip the model takes, then its sound (B, 1, L, 1) for an audio-visual model, float32 tensors on the
engine's device; maps are (B, H, W) float32 numpy arrays in [0, 1]. inference.py runs every backend the
same way:

    TorchBackend   a PyTorch model, prepared for inference (batch norm folded, channels-last, precision,
                   torch.compile) or as the original computes (Settings.exact)
    OnnxBackend    an ONNX file written by export.py, run by onnxruntime; its metadata names its model
"""
import copy
import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from model import SOUNDNET_LAYERS, BasicConv3d, Bottleneck, SepConv3d, SlowFastR50, SoundNet
from registry import ModelEntry, WindowRule, get_entry
from utils import PRECISIONS, InputError, require

log = logging.getLogger("generate")
ONNX_OUTPUT = "saliency"   # the output name of every file export.py writes
ONNX_REQUIREMENTS = "requirements-onnx.txt"


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


class Backend(Protocol):
    """Runs a model: the inputs of a batch of windows -> their maps, (B, H, W) float32."""

    def __call__(self, inputs: list[torch.Tensor]) -> np.ndarray: ...


# ----------------------------------------------------------------------------------------------
# PyTorch


def _batchnorm_pairs(module: nn.Module) -> list[tuple[str, str]]:
    """The (convolution, batch norm) attribute pairs of one of model.py's blocks, the norm after the conv."""
    if isinstance(module, BasicConv3d):
        return [("conv", "bn")]
    if isinstance(module, SepConv3d):
        return [("conv_s", "bn_s"), ("conv_t", "bn_t")]
    if isinstance(module, SoundNet):
        return [(f"conv{i}", f"batchnorm{i}") for i in range(1, len(SOUNDNET_LAYERS) + 1)]
    if isinstance(module, Bottleneck):
        return [("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")]
    if isinstance(module, SlowFastR50):
        return [("fast_conv1", "fast_bn1"), ("slow_conv1", "slow_bn1")]
    return []


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of a model for inference with each batch norm folded into the convolution before it
    (eval-mode statistics): the same function with fewer passes over memory. Its state dict is no
    longer the original's layout; keep the unfused model for checkpoints and training."""
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        if isinstance(module, Bottleneck) and module.downsample is not None:
            module.downsample[0] = fuse_conv_bn_eval(module.downsample[0], module.downsample_bn)
            module.downsample_bn = nn.Identity()
        for conv, norm in _batchnorm_pairs(module):
            setattr(module, conv, fuse_conv_bn_eval(getattr(module, conv), getattr(module, norm)))
            setattr(module, norm, nn.Identity())
    return model


def prepare_model(model: nn.Module, settings: Settings) -> nn.Module:
    """The model as the engine runs it, in eval mode on the device.

    settings.exact keeps the original's computation (layout, batch norm, one window per forward):
    its maps bit for bit on the same machine. Otherwise the engine runs a copy with batch norm folded
    into the convolutions, 3D convolutions channels-last (faster oneDNN / cuDNN kernels), in the
    settings' precision, compiled if asked; in fp32 the sums then run in another order, which moves a
    map by one gray level in a few pixels in 10,000 (measured by benchmark.py).
    """
    model.eval()
    if settings.exact:
        if settings.precision != "fp32" or settings.compile != "none":
            raise InputError("--exact computes as the original: fp32, not compiled")
        return model.to(settings.device)
    model = fuse_batchnorm(model)
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
    model.to(settings.device, PRECISIONS[settings.precision])
    if settings.compile != "none":
        model = torch.compile(model, mode=settings.compile, dynamic=False)
    return model


def run_model(model: nn.Module, inputs: list[torch.Tensor], settings: Settings) -> np.ndarray:
    """The maps of a batch of windows, as float32 numpy, from a model made by prepare_model; inputs are its
    clips (B, 3, T, H, W) and sound (B, 1, L, 1) in the order of its forward."""
    count = len(inputs[0])
    if settings.compile != "none" and count < settings.batch_size:  # a compiled model keeps one batch shape
        inputs = [torch.cat([x, x[-1:].expand(settings.batch_size - count, *x.shape[1:])]) for x in inputs]
    with torch.inference_mode():
        if settings.exact:
            maps = torch.cat([model(*(x[i:i + 1] for x in inputs)) for i in range(count)])
        else:
            dtype = PRECISIONS[settings.precision]
            maps = model(*(x.to(dtype).contiguous(memory_format=torch.channels_last_3d) if x.dim() == 5
                           else x.to(dtype) for x in inputs))
    return maps[:count].float().cpu().numpy()


class TorchBackend:
    """A PyTorch model run as `settings` say (prepare_model, run_model)."""

    def __init__(self, model: nn.Module, settings: Settings):
        self.model, self.settings = prepare_model(model, settings), settings

    def __call__(self, inputs: list[torch.Tensor]) -> np.ndarray:
        return run_model(self.model, inputs, self.settings)


# ----------------------------------------------------------------------------------------------
# onnxruntime


def entry_from_metadata(metadata: dict[str, str], source: str | Path) -> ModelEntry:
    """The registry entry an exported file holds, with the input size, arguments, window and mean/std its
    metadata gives (export.metadata writes them)."""
    try:
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(metadata["model_kwargs"]).items()}
        entry = get_entry(metadata["model"]).configured(tuple(json.loads(metadata["frame_size"])), **kwargs)
        window = WindowRule(**json.loads(metadata["window"]))
        mean, std = (tuple(json.loads(metadata[key])) for key in ("mean", "std"))
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"{source} has no saliency-model metadata ({type(error).__name__}: {error}): "
                         "export the model with export.py") from error
    return dataclasses.replace(entry, window=window, mean=mean, std=std)


def execution_providers(available: list[str], device: torch.device) -> list:
    """onnxruntime's CUDA provider first when a CUDA device is asked for and it has one, then the CPU."""
    if device.type == "cuda":
        if "CUDAExecutionProvider" in available:
            return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
        log.warning("this onnxruntime has no CUDA (pip install onnxruntime-gpu): running the ONNX file on the CPU")
    return ["CPUExecutionProvider"]


class OnnxBackend:
    """An exported file run by onnxruntime; `entry` is its registry entry, rebuilt from the file's metadata,
    `batch` its fixed batch size (None: any). Batches are split or padded to a fixed size."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu"):
        onnxruntime = require("onnxruntime", ONNX_REQUIREMENTS)
        if not Path(path).is_file():
            raise InputError(f"ONNX file not found: {path}")
        self.path = Path(path)
        self.session = onnxruntime.InferenceSession(str(path), providers=execution_providers(
            onnxruntime.get_available_providers(), torch.device(device)))
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.entry = entry_from_metadata(self.metadata, path)
        self.inputs = [(node.name, tuple(node.shape)) for node in self.session.get_inputs()]
        fixed = self.inputs[0][1][0]
        self.batch = fixed if isinstance(fixed, int) else None

    def __call__(self, inputs: list[torch.Tensor]) -> np.ndarray:
        arrays = [x.detach().to("cpu", torch.float32).contiguous().numpy() for x in inputs]
        self.check_shapes(arrays)
        step = self.batch or len(arrays[0])
        return np.concatenate([self.run([array[start:start + step] for array in arrays])
                               for start in range(0, len(arrays[0]), step)])

    def check_shapes(self, arrays: list[np.ndarray]) -> None:
        """Raise a ValueError naming the expected shapes unless the arrays fit the file's inputs."""
        expected = [shape[1:] for _, shape in self.inputs]
        if [array.shape[1:] for array in arrays] != expected:
            wanted = ", ".join(f"{name} (B, {', '.join(map(str, shape[1:]))})" for name, shape in self.inputs)
            raise ValueError(f"{self.path.name} takes {wanted}, got {[tuple(a.shape) for a in arrays]}")

    def run(self, arrays: list[np.ndarray]) -> np.ndarray:
        """One onnxruntime pass; a fixed-batch file's partial batch is padded with its last window."""
        count = len(arrays[0])
        if self.batch and count < self.batch:
            arrays = [np.concatenate([array, np.repeat(array[-1:], self.batch - count, axis=0)]) for array in arrays]
        feed = {name: array for (name, _), array in zip(self.inputs, arrays)}
        return self.session.run([ONNX_OUTPUT], feed)[0][:count]
