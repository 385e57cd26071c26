"""The model registry: every model name with what a script needs to build, feed and run it.

A ModelEntry holds the builder (a network of model.py) and its arguments, and the input contract: the
frame size and the sizes it accepts, the normalisation, the window rule (which frames make the clip of
frame i), sound or not, the seed's flags that select it and where its checkpoints come from. Adding a
model is adding an entry to MODELS; scripts build models only through it.
"""
import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn as nn

from model import VideoAudioSaliencyFusionModel, VideoAudioSaliencyModel, VideoSaliencyModel, ViNetA, ViNetE
from utils import (
    CLIP_LENGTH,
    FRAME_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VINET_A_FRAME_SIZE,
    VINET_A_MEAN,
    VINET_A_STD,
    InputError,
)


@dataclass(frozen=True)
class WindowRule:
    """Which frames make the clip that predicts frame i of a video of n frames.

    Causal (ViNet): frames i-length+1..i; before frame length-1 either the time-reversed clip
    i+length-1..i (reverse_start, the original's rule) or frame 0 repeated. Centred: frames
    i-stride*(length-1)/2 .. i+stride*(length-1)/2 at `stride`, looking ahead. Indices beyond the
    video are clamped to its first or last frame, so videos of any length (down to one frame) run.
    """

    length: int = CLIP_LENGTH
    stride: int = 1
    centred: bool = False
    reverse_start: bool = True

    def frames(self, index: int, num_frames: int) -> list[int]:
        """The frame indices of frame `index`'s clip, in the order the model sees them."""
        if self.centred:
            first = index - self.stride * (self.length - 1) // 2
        elif self.reversed(index):
            return [min(index + self.length - 1 - k, num_frames - 1) for k in range(self.length)]
        else:
            first = index - self.stride * (self.length - 1)
        return [min(max(first + self.stride * k, 0), num_frames - 1) for k in range(self.length)]

    def reversed(self, index: int) -> bool:
        """Whether frame `index`'s clip runs backwards in time (and its sound with it)."""
        return self.reverse_start and not self.centred and index < self.length - 1


FLAG_OF_ARGUMENT = {"num_clips": "--clip_size", "num_hier": "--num_hier", "transformer_in_channel":
                    "--transformer_in_channel", "nhead": "--nhead", "num_encoder_layers": "--num_encoder_layers"}


@dataclass(frozen=True)
class ModelEntry:
    """A model the scripts know by name: its builder and arguments, the input it sees (frame size,
    normalisation, window rule, sound or not) and the seed's flags that select it."""

    name: str
    builder: Callable[..., nn.Module]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    window: WindowRule = WindowRule()
    frame_size: tuple[int, int] = FRAME_SIZE
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    takes_audio: bool = False
    flags: str = ""                      # the seed's flags that select it (none for the models after the seed)
    checkpoints: str = "the original's release (github samyak0210/ViNet, README 'Testing'; MIT)"
    members: tuple[str, ...] = ()        # an ensemble's models: its forward takes one clip of each, in this order
    size_multiple: int = 32              # the frame sizes it accepts: heights and widths that are multiples of it

    @property
    def clip_length(self) -> int:
        return self.window.length

    @property
    def parts(self) -> list["ModelEntry"]:
        """The entries whose clips (size, normalisation, window) the model takes: its members (each at its own
        size, or all at this entry's when it was configured to another), or itself."""
        resized = self.frame_size != MODELS[self.name].frame_size
        return [replace(MODELS[name], frame_size=self.frame_size) if resized else MODELS[name]
                for name in self.members] or [self]

    def build(self) -> nn.Module:
        """A new model with untrained weights (reads no files); InputError for arguments it refuses."""
        kwargs = dict(self.kwargs)
        if "frame_size" in inspect.signature(self.builder).parameters:  # the AViNet fusion grid follows it
            kwargs["frame_size"] = self.frame_size
        try:
            return self.builder(**kwargs)
        except ValueError as error:
            raise InputError(f"cannot build {self.label}: {error}") from error

    def configured(self, frame_size: tuple[int, int] | None = None, **kwargs: Any) -> "ModelEntry":
        """This entry with other constructor arguments or input size; named after the registry entry it then
        equals, if any (ViNet with num_clips=16 is 'vinet-clip16')."""
        accepted = inspect.signature(self.builder).parameters
        unused = getattr(self.builder, "SIGNATURE_ONLY", ())
        unknown = [FLAG_OF_ARGUMENT.get(name, name) for name in kwargs if name not in accepted or name in unused]
        if unknown:
            raise InputError(f"{self.name} has no {', '.join(unknown)}: drop it or choose another --model")
        merged = _explicit_arguments(self.builder, {**self.kwargs, **kwargs})
        entry = next((e for e in MODELS.values() if e.builder is self.builder and e.kwargs == merged), self)
        window = replace(entry.window, length=merged["num_clips"]) if "num_clips" in merged else entry.window
        entry = replace(entry, kwargs=merged, window=window, frame_size=tuple(frame_size or entry.frame_size))
        entry.check_frame_size()
        return entry

    def check_frame_size(self) -> None:
        """InputError naming --frame_size unless every clip this model takes has a size it accepts."""
        for part in self.parts:
            if any(n < part.size_multiple or n % part.size_multiple for n in part.frame_size):
                raise InputError(f"--frame_size {' '.join(map(str, self.frame_size))}: {self.name} takes heights and "
                                 f"widths that are multiples of {part.size_multiple} ({part.name}'s own size: "
                                 f"{' '.join(map(str, MODELS[part.name].frame_size))})")

    @property
    def label(self) -> str:
        """The name, with the arguments that differ from the registry entry of that name."""
        extra = {k: v for k, v in self.kwargs.items() if MODELS[self.name].kwargs.get(k) != v}
        return self.name + (f" ({', '.join(f'{k}={v}' for k, v in extra.items())})" if extra else "")


def _explicit_arguments(builder: Callable, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments that differ from the builder's defaults."""
    defaults = {name: p.default for name, p in inspect.signature(builder).parameters.items()}
    return {k: v for k, v in kwargs.items() if defaults.get(k, inspect.Parameter.empty) != v}


VINET_PP_RELEASE = "the ViNet++ release (github ViNet-Saliency/vinet_v2; the authors' terms, CC BY-NC-SA 4.0)"


def _vinet_entry(name: str, flags: str, **kwargs: Any) -> ModelEntry:
    return ModelEntry(name, VideoSaliencyModel, kwargs, WindowRule(kwargs.get("num_clips", CLIP_LENGTH)), flags=flags)


def _avinet_entry(name: str, builder: type, fusion: str, **kwargs: Any) -> ModelEntry:
    return ModelEntry(name, builder, kwargs, takes_audio=True, flags=f"--use_sound True --fusion {fusion}")


MODELS: dict[str, ModelEntry] = {entry.name: entry for entry in [
    _vinet_entry("vinet", "--clip_size 32 --num_hier 3"),
    *(_vinet_entry(f"vinet-clip{n}", f"--clip_size {n}", num_clips=n) for n in (8, 16, 48)),
    *(_vinet_entry(f"vinet-hier{n}", f"--num_hier {n}", num_hier=n) for n in (0, 1, 2)),
    _avinet_entry("avinet", VideoAudioSaliencyModel, "bilinear"),
    _avinet_entry("avinet-transformer", VideoAudioSaliencyModel, "transformer", use_transformer=True),
    _avinet_entry("avinet-tokens", VideoAudioSaliencyFusionModel, "tokens"),
    # ViNet++ (Girmaji et al., ICASSP 2025): frame i from frames i-31..i, clamped at the first frame
    *(ModelEntry(name, VideoSaliencyModel, kwargs, WindowRule(reverse_start=False), checkpoints=VINET_PP_RELEASE)
      for name, kwargs in (
        ("vinet-s", {"grouped_conv": True}), ("vinet-s-nonroot", {"grouped_conv": True, "root_grouping": False}),
        ("vinet-s-depth", {"depth": True}))),
    # ViNet-A: frame i from frames i-31, i-29, ..., i+31 (it looks ahead), clamped to the video
    ModelEntry("vinet-a", ViNetA, window=WindowRule(stride=2, centred=True), frame_size=VINET_A_FRAME_SIZE,
               mean=VINET_A_MEAN, std=VINET_A_STD, checkpoints=VINET_PP_RELEASE, size_multiple=4),
    ModelEntry("vinet-e", ViNetE, frame_size=VINET_A_FRAME_SIZE, checkpoints=VINET_PP_RELEASE,
               members=("vinet-s", "vinet-a")),
]}
FUSIONS = {"bilinear": "avinet", "transformer": "avinet-transformer", "tokens": "avinet-tokens"}  # --fusion


def get_entry(name: str) -> ModelEntry:
    """The registry entry of a model name; InputError listing the names otherwise."""
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name]


def entry_from_flags(model: str | None = None, use_sound: bool | None = None, fusion: str | None = None,
                     use_transformer: bool | None = None, clip_size: int | None = None, num_hier: int | None = None,
                     frame_size: tuple[int, int] | None = None, **widths: int | None) -> ModelEntry:
    """The entry that --model NAME or the seed's flags select. --use_transformer True is the original's name
    for --fusion transformer (it leaves --fusion tokens as it is); --clip_size and --num_hier pick the
    ViNet variants; widths (transformer_in_channel, nhead, num_encoder_layers) are passed on when given."""
    if model is None:
        if use_transformer and fusion in (None, "bilinear"):
            fusion = "transformer"
        model = FUSIONS[fusion or "bilinear"] if use_sound else "vinet"
    entry = get_entry(model)
    if use_sound is not None and use_sound != entry.takes_audio:
        raise InputError(f"--model {model} {'takes' if entry.takes_audio else 'does not take'} sound; "
                         f"drop --use_sound {use_sound} or choose another model")
    overrides = {k: v for k, v in (("num_clips", clip_size), ("num_hier", num_hier), *widths.items()) if v is not None}
    return entry.configured(frame_size, **overrides)


@functools.cache
def _layout(name: str, kwargs: tuple, frame_size: tuple[int, int]) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = replace(MODELS[name], kwargs=dict(kwargs), frame_size=frame_size).build()
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def state_dict_layout(entry: ModelEntry) -> dict[str, tuple[int, ...]]:
    """The state-dict layout {key: shape} of an entry (built on the meta device: no memory, no time)."""
    return _layout(entry.name, tuple(sorted(entry.kwargs.items())), entry.frame_size)


def identify_model(state_dict: Mapping[str, torch.Tensor],
                   frame_size: tuple[int, int] | None = None) -> tuple[ModelEntry, bool]:
    """The registry entry whose layout is closest to state_dict's, and whether it matches exactly."""
    layout = {key: tuple(value.shape) for key, value in state_dict.items()}

    def distance(entry: ModelEntry) -> int:
        reference = state_dict_layout(entry)
        return sum(reference.get(k) != layout.get(k) for k in reference.keys() | layout.keys())

    candidates = [entry.configured(frame_size) for entry in MODELS.values()]
    best = min(candidates, key=distance)
    return best, distance(best) == 0
