"""torch.hub entry points: one per family, each returning the registry's nn.Module in eval mode.

    model = torch.hub.load("path/to/this/checkout", "vinet_s", source="local")                   # untrained
    model = torch.hub.load("path/to/this/checkout", "vinet", source="local", weights="ViNet_DHF1K.pt")
    model = torch.hub.load("path/to/this/checkout", "vinet", source="local", model="vinet-clip16")

`weights=PATH` loads a checkpoint strictly (ViNet-E: a list of a ViNet-S and a ViNet-A file); `model=` picks
another registry name of the family; `frame_size=(H, W)` another input size. The released checkpoints have no
stable URL, so `pretrained=True` says where to get them. Without weights the model is untrained (seeded).
"""
from pathlib import Path

import torch.nn as nn

from registry import get_entry
from vinet.loading import untrained_model
from weights import load_model

dependencies = ["torch", "torchvision", "numpy", "scipy", "cv2", "av"]


def _build(family: str, pretrained: bool, weights: str | Path | list[str | Path] | None, model: str | None,
           frame_size: tuple[int, int] | None) -> nn.Module:
    """The registry model `model` (default: the family's own), untrained or with `weights`, in eval mode."""
    entry = get_entry(model or family).configured(tuple(frame_size) if frame_size else None)
    if pretrained:
        raise ValueError(f"pretrained=True: {entry.label}'s released checkpoints have no stable URL; get them from "
                         f"{entry.checkpoints} and pass weights=PATH")
    if weights is None:
        return untrained_model(entry)
    return load_model(weights if isinstance(weights, list | tuple) else [weights], entry, entry.frame_size)[1]


def vinet(pretrained: bool = False, weights: str | Path | None = None, model: str | None = None,
          frame_size: tuple[int, int] | None = None) -> nn.Module:
    """ViNet (S3D encoder, U-Net decoder); model= vinet-clip8/16/48 or vinet-hier0/1/2 for its variants."""
    return _build("vinet", pretrained, weights, model, frame_size)


def avinet(pretrained: bool = False, weights: str | Path | None = None, model: str | None = None,
           frame_size: tuple[int, int] | None = None) -> nn.Module:
    """AViNet (ViNet and SoundNet, bilinear fusion); model= avinet-transformer or avinet-tokens for the others."""
    return _build("avinet", pretrained, weights, model, frame_size)


def vinet_s(pretrained: bool = False, weights: str | Path | None = None, model: str | None = None,
            frame_size: tuple[int, int] | None = None) -> nn.Module:
    """ViNet-S (ViNet++'s grouped decoder); model= vinet-s-nonroot or vinet-s-depth for its variants."""
    return _build("vinet-s", pretrained, weights, model, frame_size)


def vinet_a(pretrained: bool = False, weights: str | Path | None = None,
            frame_size: tuple[int, int] | None = None) -> nn.Module:
    """ViNet-A (ViNet++'s SlowFast encoder, non-causal window)."""
    return _build("vinet-a", pretrained, weights, None, frame_size)


def vinet_e(pretrained: bool = False, weights: list[str | Path] | None = None,
            frame_size: tuple[int, int] | None = None) -> nn.Module:
    """ViNet-E (the mean of ViNet-S's and ViNet-A's maps); weights= one checkpoint of each member."""
    return _build("vinet-e", pretrained, weights, None, frame_size)
