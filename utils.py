"""Facts shared by every script (input size, clip length, normalisation, audio scale) and small helpers."""
import argparse
import os
import tempfile
from pathlib import Path

# The published models see clips of CLIP_LENGTH frames resized to FRAME_SIZE (height, width).
CLIP_LENGTH = 32
FRAME_SIZE = (224, 384)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# SoundNet hears 22,050 Hz audio scaled to [-256, 256]. A clip's excerpt sits centred in a zero
# buffer long enough for CLIP_LENGTH frames at the slowest frame rate of the datasets (10 fps).
AUDIO_RATE = 22050
AUDIO_SCALE = 256.0
MIN_VIDEO_FPS = 10


def audio_buffer_length(num_clips: int = CLIP_LENGTH) -> int:
    """Samples in SoundNet's input for a clip of `num_clips` frames (70,560 for 32 frames)."""
    return AUDIO_RATE * max(num_clips, CLIP_LENGTH) // MIN_VIDEO_FPS


class InputError(Exception):
    """Bad input from the user (a file, a folder, a flag): the message is one line naming it and the fix."""


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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
