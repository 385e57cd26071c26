"""PyTorch as a backend: a model prepared for inference (batch norm folded, channels-last, precision,
torch.compile) or run as the original computes (Settings.exact)."""
import copy

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from model import SOUNDNET_LAYERS, BasicConv3d, Bottleneck, SepConv3d, SlowFastR50, SoundNet
from utils import PRECISIONS, InputError
from vinet.backends.base import Settings


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
