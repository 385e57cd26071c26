"""Facts shared by every script (input size, clip length, normalisation, audio scale) and small helpers."""
import argparse
import contextlib
import importlib
import io
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import cv2
import numpy as np
import torch
from PIL import Image

# The project's version, recorded in every output folder's manifest (a new version redoes old maps).
VERSION = "1.1.0"

# The published models see clips of CLIP_LENGTH frames resized to FRAME_SIZE (height, width).
CLIP_LENGTH = 32
FRAME_SIZE = (224, 384)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# ViNet-A (ViNet++) sees frames of VINET_A_FRAME_SIZE with one mean and std on every channel.
VINET_A_FRAME_SIZE = (256, 456)
VINET_A_MEAN = (0.45, 0.45, 0.45)
VINET_A_STD = (0.225, 0.225, 0.225)

# SoundNet hears 22,050 Hz audio scaled to [-256, 256]. A clip's excerpt sits centred in a zero
# buffer long enough for CLIP_LENGTH frames at the slowest frame rate of the datasets (10 fps).
AUDIO_RATE = 22050
AUDIO_SCALE = 256.0
MIN_VIDEO_FPS = 10


def audio_buffer_length(clip_length: int = CLIP_LENGTH) -> int:
    """Samples in SoundNet's input for a clip of `clip_length` frames (70,560 for 32 frames)."""
    return AUDIO_RATE * max(clip_length, CLIP_LENGTH) // MIN_VIDEO_FPS


# Saved maps are blurred with an 11x11 Gaussian (sigma 2, from the kernel size, as OpenCV derives it).
BLUR_KERNEL = 11
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}  # --precision choices


class InputError(Exception):
    """Bad input from the user (a file, a folder, a flag): the message is one line naming it and the fix."""

    def __str__(self) -> str:
        # A DataLoader worker's InputError reaches the main process as its message plus the worker's traceback
        # ("Caught InputError in DataLoader worker process 0. Original Traceback ..."): keep the message line.
        text = super().__str__()
        return text.strip().splitlines()[-1].split("InputError: ", 1)[-1] if "Original Traceback" in text else text


def require(module: str, requirements: str) -> ModuleType:
    """Import an optional package; InputError saying which requirements file installs it when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise InputError(f"{module} is not installed: pip install -r {requirements}") from error


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's one-line errors: a bad flag raises InputError('argument --x: ...'), which the
    scripts print as one `error:` line before exiting with status 2 (no usage block, no traceback)."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (--help lists the flags)")


def number_flag(kind: type = int, low: float | None = None, high: float | None = None,
                above: bool = False) -> Callable[[str], float]:
    """An argparse type: a number of `kind` (int or float) in [low, high] (above=True: strictly above low), else
    an error naming what the flag accepts."""
    name = "a whole number" if kind is int else "a number"
    if low is not None and high is not None:
        accepted = f"{'above' if above else 'from'} {low:g} {'and at most' if above else 'to'} {high:g}"
    elif low is not None:
        accepted = f"above {low:g}" if above else f"of at least {low:g}"
    else:
        accepted = "" if high is None else f"of at most {high:g}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or (low is not None and (value <= low if above else value < low)) \
                or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {name}{' ' + accepted if accepted else ''}, got {text!r}")
        return value

    parse.__name__ = name
    return parse


def device_flag(text: str) -> str:
    """--device: auto, cpu, cuda or cuda:N."""
    if re.fullmatch(r"auto|cpu|cuda(:\d+)?", text.strip()):
        return text.strip()
    raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")


def resolve_device(name: str) -> torch.device:
    """A --device value as a torch device (auto: CUDA when there is one); InputError for a CUDA device this
    machine does not have."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise InputError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA devices; use --device "
                         "cpu (or auto)")
    return device


def str2bool(value: str) -> bool:
    """Parse a command-line boolean: True/False, 1/0, yes/no, on/off (any case)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "on", "t"):
        return True
    if text in ("false", "0", "no", "n", "off", "f"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (True/False, 1/0, yes/no), got {value!r}")


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file beside `path`, with its suffix (for writers that go by it), to write to; when the
    block ends without error it replaces `path` with the permissions the umask gives a new file (not the
    temporary file's 0600). On error, or if the process dies, `path` is untouched: at worst a hidden
    `.<name>.*` file is left beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    try:
        yield Path(name)
        os.chmod(name, 0o666 & ~current_umask())
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


def remove_stale_temporaries(path: str | os.PathLike) -> None:
    """Delete what atomic_path(path) left beside `path` when its process was killed mid-write."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.stem}.*.tmp{path.suffix}"):
        stale.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (atomic_path)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def rational_rate(fps: float) -> Fraction:
    """A frame rate as the fraction the writers and editors use (29.97 -> 30000/1001)."""
    return Fraction(fps).limit_denominator(100000)


def resize_map(saliency: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float32 (h, w) map to size = (width, height), as the original (OpenCV)."""
    return cv2.resize(saliency, size, interpolation=cv2.INTER_LINEAR)


def blur_map(saliency: np.ndarray) -> np.ndarray:
    """The original's smoothing of predicted maps: an 11x11 Gaussian, sigma from the kernel size."""
    return cv2.GaussianBlur(saliency, (BLUR_KERNEL, BLUR_KERNEL), 0)


def map_to_uint8(saliency: np.ndarray) -> np.ndarray:
    """Min-max normalise a float map to 8-bit exactly as the original saved it (torchvision's
    make_grid(normalize=True), then round(x * 255 + 0.5))."""
    saliency = saliency.astype(np.float32, copy=False)
    low, high = saliency.min(), saliency.max()
    scaled = (saliency - low) / max(high - low, np.float32(1e-5))
    return np.round(np.clip(scaled * np.float32(255) + np.float32(0.5), 0, 255)).astype(np.uint8)


def postprocess_map(saliency: np.ndarray, size: tuple[int, int], bits: int = 8) -> np.ndarray:
    """A model output (h, w) as the 8-bit map the original saves for a frame of size (width, height); bits=16: the
    same map min-max normalised to 16 bits (a saliency video's frame)."""
    smoothed = blur_map(resize_map(saliency, size))
    return map_to_uint16(smoothed) if bits == 16 else map_to_uint8(smoothed)


def encode_map(gray: np.ndarray, suffix: str) -> bytes:
    """PNG or JPEG (quality 100, as the original) bytes of an 8-bit map, by file suffix. PNG uses zlib
    level 1: the same pixels as the original's default level, a quarter of the time, files ~40% larger."""
    buffer = io.BytesIO()
    if suffix.lower() in (".jpg", ".jpeg"):
        Image.fromarray(gray).save(buffer, format="JPEG", quality=100)
    else:
        Image.fromarray(gray).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def save_map(gray: np.ndarray, path: str | os.PathLike) -> None:
    """Write an 8-bit map atomically, in the format its file name says."""
    atomic_write_bytes(path, encode_map(gray, Path(path).suffix))


def map_to_uint16(saliency: np.ndarray) -> np.ndarray:
    """Min-max normalise a float map to 16 bits (a saliency video's frame: 10 of its bits survive the encoder)."""
    saliency = saliency.astype(np.float32, copy=False)
    low, high = saliency.min(), saliency.max()
    scaled = (saliency - low) / max(high - low, np.float32(1e-5))
    return np.round(np.clip(scaled, 0, 1) * np.float32(65535)).astype(np.uint16)


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """An 8-bit grayscale map file; InputError naming it when it cannot be read."""
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise InputError(f"cannot read map {path}: not an image; remake the maps")
    return gray


def heatmap_blend(rgb: np.ndarray, gray: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """An RGB frame under a map coloured with OpenCV's JET colormap (resized to the frame), blended at alpha."""
    height, width = rgb.shape[:2]
    if gray.shape != (height, width):
        gray = cv2.resize(gray, (width, height), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.cvtColor(cv2.applyColorMap(gray, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(rgb, 1 - alpha, coloured, alpha, 0)


def autocast(device_type: str, precision: str) -> torch.autocast:
    """Autocast to a --precision on a device type; disabled for fp32."""
    return torch.autocast(device_type, dtype=PRECISIONS[precision], enabled=precision != "fp32")
