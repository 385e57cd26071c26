"""Weight files: reading (always torch.load(weights_only=True)), unwrapping, converting other layouts
(TASED-Net's and torchvision's S3D, ACAR-Net's SlowFast) and loading strictly, with one line naming the
file and the fix when a file does not fit; load_model builds the model a checkpoint holds."""
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn as nn

from model import S3DEncoder, SlowFastR50, SoundNet
from registry import MODELS, ModelEntry, identify_model
from utils import InputError

WEIGHT_SOURCES = {
    "checkpoint": "the ViNet/AViNet checkpoints released with the original (github samyak0210/ViNet, "
                  "README 'Testing') or one written by train.py",
    "s3d": "S3D_kinetics400.pt from TASED-Net (github MichiganCOG/TASED-Net), or torchvision's "
           "S3D_Weights.KINETICS400_V1 (https://download.pytorch.org/models/s3d-d76dad2f.pth)",
    "soundnet": "soundnet8_final.pth, the PyTorch port of SoundNet8 (linked from github samyak0210/ViNet)",
    "slowfast": "ACAR-Net's SlowFast-R50 weights (github Siyu-C/ACAR-Net, model zoo), as ViNet++ uses them",
}


def read_weights(path: str | Path, source: str) -> dict:
    """A weights file's contents via torch.load(weights_only=True); InputError naming the file (and, when it
    is missing, where to get it: source is a key of WEIGHT_SOURCES)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"weights file not found: {path} (get {WEIGHT_SOURCES[source]})")
    if path.stat().st_size == 0:
        raise InputError(f"cannot read weights file {path}: it is empty (0 bytes); download or copy it again")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated, foreign or unsafe files
        if isinstance(error, pickle.UnpicklingError) and "weights only" in str(error).lower():
            raise InputError(f"cannot read weights file {path}: it holds Python objects besides tensors, which "
                             "are refused (unpickling them could run code); re-save its state_dict() alone") from error
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"cannot read weights file {path}: {first_line}; it is truncated or not a PyTorch "
                         "checkpoint: download or copy it again") from error


def unwrap_state_dict(obj: Mapping) -> dict[str, torch.Tensor]:
    """A plain state dict from a checkpoint: unwraps {'state_dict': ...} / {'model': ...} and drops
    the 'module.' prefix that DataParallel / DistributedDataParallel add."""
    for wrapper in ("state_dict", "model"):
        if isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
    return {key.removeprefix("module."): value for key, value in obj.items()}


def _describe_mismatch(expected: Mapping, state_dict: Mapping, few: int = 4) -> str:
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    reshaped = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(expected[k].shape)}"
                for k in expected if k in state_dict and state_dict[k].shape != expected[k].shape]
    parts = [f"{label} ({len(items)}): {', '.join(items[:few])}{', ...' if len(items) > few else ''}"
             for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", reshaped))
             if items]
    return "; ".join(parts)


def load_state_dict_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load strictly, or raise one InputError naming the variant the weights belong to; weights that are
    not finite (their maps would be NaN) are refused."""
    expected = model.state_dict()
    if expected.keys() == state_dict.keys() and all(expected[k].shape == state_dict[k].shape for k in expected):
        broken = [k for k, v in state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if broken:
            raise InputError(f"{source} holds NaN or infinite weights ({len(broken)} tensors, e.g. {broken[0]}): "
                             "the maps would be NaN; use an earlier checkpoint of the run or train again")
        model.load_state_dict(state_dict, strict=True)
        return
    if any(k.startswith(("base.", "features.")) for k in state_dict):
        raise InputError(f"{source} holds S3D Kinetics weights (an encoder only), not a ViNet/AViNet checkpoint; "
                         "give it to train.py --s3d_weights")
    if any(k.startswith("conv8_objs") for k in state_dict):
        raise InputError(f"{source} holds SoundNet8 weights, not an AViNet checkpoint; "
                         "give it to train.py --soundnet_weights")
    entry, exact = identify_model(state_dict, getattr(model, "frame_size", None))
    what = f"a '{entry.label}' checkpoint" if exact else f"closest to the '{entry.label}' layout"
    flags = f"--model {entry.name}" + (f" or {entry.flags}" if entry.flags else "")
    raise InputError(f"{source} is {what} ({flags}), which does not fit {type(model).__name__}: "
                     f"{_describe_mismatch(expected, state_dict)}")


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load a ViNet/AViNet checkpoint (plain, DataParallel 'module.' prefix, {'state_dict'} or
    {'model'} wrapped) into model with strict=True."""
    load_state_dict_checked(model, unwrap_state_dict(read_weights(path, "checkpoint")), str(path))


def load_model(paths: str | Path | Sequence[str | Path], entry: ModelEntry | None = None,
               frame_size: tuple[int, int] | None = None) -> tuple[ModelEntry, nn.Module]:
    """A checkpoint's model in eval mode: built as `entry` says, or without one as the file's layout says
    (for frames of frame_size); an ensemble (ViNet-E) from one file per member, in any order. InputError
    naming the file when the files and the model disagree."""
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    states = [unwrap_state_dict(read_weights(path, "checkpoint")) for path in paths]
    found = [identify_model(state, frame_size)[0] for state in states]
    if entry is None:
        names = sorted(e.name for e in found)
        ensemble = next((e for e in MODELS.values() if e.members and sorted(e.members) == names), None)
        entry = ensemble.configured(frame_size) if ensemble else found[0]
    members = list(entry.members) or [None]
    if entry.members and sorted(e.name for e in found) == sorted(members):  # files in any order
        members = [e.name for e in found]
    if len(paths) != len(members):
        wanted = f"one checkpoint of each of {', '.join(entry.members)}" if entry.members else "one checkpoint"
        given = ", ".join(f"{path} ({e.label})" for path, e in zip(paths, found))
        raise InputError(f"{entry.label} takes {wanted}, got {given}")
    model = entry.build()
    for path, state, member in zip(paths, states, members):
        load_state_dict_checked(getattr(model, member.replace("-", "_")) if member else model, state, str(path))
    return entry, model.eval()


# S3D's Kinetics weights come as one Sequential: TASED-Net's `base.<i>` and torchvision's
# `features.<i>` number the layers identically. Index -> (our stage, index within it).
S3D_LAYER_INDEX = {
    **{i: ("base1", i) for i in (0, 2, 3)},
    **{i: ("base2", i - 5) for i in (5, 6)},
    **{i: ("base3", i - 8) for i in range(8, 13)},
    **{i: ("base4", i - 14) for i in (14, 15)},
}


def _conv_norm_name(path: list[str]) -> str:
    """Our name for torchvision's positional conv / norm path: ['1'] -> 'bn', ['1', '0'] -> 'conv_t'."""
    if len(path) == 1:
        return ("conv", "bn")[int(path[0])]
    return ("conv_s", "bn_s", "conv_t", "bn_t")[2 * int(path[0]) + int(path[1])]


def _torchvision_block_key(rest: str) -> str:
    """Rename a key inside one torchvision S3D block, e.g. 'branch1.1.0.0.weight' -> 'branch1.1.conv_s.weight'.

    torchvision's branch0 is a bare conv-norm-activation where ours is a one-block Sequential.
    """
    *path, leaf = rest.split(".")
    if path[0].startswith("branch"):
        branch, inner = path[0], path[1:]
        if branch == "branch0":
            inner = ["0", *inner]
        return f"{branch}.{inner[0]}.{_conv_norm_name(inner[1:])}.{leaf}"
    return f"{_conv_norm_name(path)}.{leaf}"


def s3d_encoder_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map S3D Kinetics weights (TASED-Net `base.<i>...` or torchvision `features.<i>...`, with or
    without 'module.') to S3DEncoder names, dropping the classifier (fc / classifier)."""
    state_dict = unwrap_state_dict(state_dict)
    mapped = {}
    for key, value in state_dict.items():
        prefix, _, rest = key.partition(".")
        if prefix in ("fc", "classifier"):
            continue
        if prefix not in ("base", "features"):
            raise InputError(f"unexpected key {key!r}: not S3D Kinetics weights in TASED-Net or torchvision layout")
        index, _, rest = rest.partition(".")
        stage, position = S3D_LAYER_INDEX[int(index)]
        if prefix == "features":
            rest = _torchvision_block_key(rest)
        mapped[f"{stage}.{position}.{rest}"] = value
    return mapped


def _load_part(module: nn.Module, state_dict: dict[str, torch.Tensor], path: str | Path, what: str) -> None:
    """Load weights for a sub-network strictly; files from before PyTorch 0.4.1 lack batch-norm counters."""
    for key, value in module.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state_dict.setdefault(key, torch.zeros_like(value))
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise InputError(f"{path} does not fit {what}: {_describe_mismatch(module.state_dict(), state_dict)}") \
            from error


def load_s3d_weights(encoder: S3DEncoder, path: str | Path) -> None:
    """Load S3D Kinetics-400 weights (TASED-Net's S3D_kinetics400.pt or torchvision's s3d) strictly."""
    _load_part(encoder, s3d_encoder_state_dict(read_weights(path, "s3d")), path, "the S3D encoder")


def load_soundnet_weights(soundnet: SoundNet, path: str | Path) -> None:
    """Load SoundNet8 weights (soundnet8_final.pth: conv1..conv8_objs/conv8_scns, batchnorm1..7) strictly."""
    _load_part(soundnet, unwrap_state_dict(read_weights(path, "soundnet")), path, "SoundNet8")


def slowfast_backbone_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SlowFastR50 names from an ACAR-Net checkpoint (`module.backbone.module.<name>`, wrapped) or a ViNet-A
    one (`backbone.<name>`): the backbone's keys without those prefixes; the rest (heads, neck, decoder) dropped.
    A bare SlowFastR50 state dict passes unchanged."""
    state = unwrap_state_dict(state_dict)   # the wrappers and the leading 'module.' gone
    if not any(key.startswith("backbone.") for key in state):
        return state
    return {key.removeprefix("backbone.").removeprefix("module."): value for key, value in state.items()
            if key.startswith("backbone.")}


def load_slowfast_weights(backbone: SlowFastR50, path: str | Path) -> None:
    """Load ACAR-Net's SlowFast-R50 weights (the action-localisation encoder ViNet-A starts from) strictly."""
    _load_part(backbone, slowfast_backbone_state_dict(read_weights(path, "slowfast")), path,
               "ViNet-A's SlowFast-R50 encoder")
