"""Synthetic scenes: discs moving over a textured background, with a soundtrack that follows one of
them. The bundled sample, the benchmark's workload, the synthetic datasets (extras/make_datasets.py)
and the tests' videos are made of them.

`python synthetic.py [PATH]` writes the bundled sample video (extras/sample.mp4).
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media import VideoWriter
from utils import AUDIO_RATE


def disc_paths(num_frames: int, height: int, width: int, seed: int, num_discs: int = 2) -> np.ndarray:
    """Smooth (num_frames, num_discs, 2) trajectories (row, column) inside the frame."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames)[:, None]
    phase = rng.uniform(0, 2 * np.pi, (2, num_discs))
    speed = rng.uniform(0.03, 0.08, (2, num_discs))
    rows = height * (0.5 + 0.3 * np.sin(speed[0] * t + phase[0]))
    cols = width * (0.5 + 0.35 * np.sin(speed[1] * t + phase[1]))
    return np.stack([rows, cols], axis=-1)


def render_frames(paths: np.ndarray, height: int, width: int, seed: int,
                  colours: tuple = ((230, 60, 40), (40, 90, 230))) -> np.ndarray:
    """(N, H, W, 3) uint8 frames: a fixed noise texture with one disc per trajectory."""
    rng = np.random.default_rng(seed + 1)
    background = rng.integers(70, 150, (height, width, 3)).astype(np.uint8)
    rows, cols = np.mgrid[:height, :width]
    radius = max(2.0, min(height, width) / 10)
    frames = np.repeat(background[None], len(paths), axis=0)
    for frame, centres in zip(frames, paths):
        for (r, c), colour in zip(centres, colours):
            frame[(rows - r) ** 2 + (cols - c) ** 2 <= radius ** 2] = colour
    return frames


def soundtrack(paths: np.ndarray, fps: float, sounding: int = 0, pitch: float = 440.0,
               rate: int = AUDIO_RATE) -> np.ndarray:
    """Mono float32 audio in [-1, 1]: a tone whose loudness follows the sounding disc's speed."""
    num_samples = int(round(len(paths) / fps * rate))
    speed = np.linalg.norm(np.diff(paths[:, sounding], axis=0, prepend=paths[:1, sounding]), axis=1)
    loudness = np.interp(np.arange(num_samples) / rate * fps, np.arange(len(paths)), speed / (speed.max() + 1e-9))
    tone = np.sin(2 * np.pi * pitch * np.arange(num_samples) / rate)
    return (0.8 * loudness * tone).astype(np.float32)


def gaze_density(paths: np.ndarray, height: int, width: int, watched: int = 0,
                 sigma: float | None = None) -> np.ndarray:
    """(N, H, W) float32 saliency in [0, 1]: a Gaussian around the watched disc."""
    sigma = sigma or min(height, width) / 8
    rows, cols = np.mgrid[:height, :width]
    r, c = paths[:, watched, 0, None, None], paths[:, watched, 1, None, None]
    return np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def write_video(path: str, frames: np.ndarray, fps: float, audio: np.ndarray | None = None,
                audio_rate: int = AUDIO_RATE, channels: int = 1) -> None:
    """Encode (N, H, W, 3) uint8 frames, and optionally float audio in [-1, 1], with media.VideoWriter.

    .mp4 gets H.264 + AAC; .mkv / .avi get lossless FFV1 + PCM (any size), so the decoded frames equal the
    input frames. Mono audio is copied to `channels` channels.
    """
    waveform = None if audio is None else np.repeat(audio[None, :].astype(np.float32), channels, axis=0)
    size = (frames.shape[2], frames.shape[1])
    with VideoWriter(path, size, fps=fps, waveform=waveform, audio_rate=audio_rate,
                     lossless=not str(path).endswith(".mp4")) as writer:
        for index, pixels in enumerate(frames):
            writer.write(pixels, index)


@dataclass(frozen=True)
class Sample:
    """The bundled sample's scene: 2 s of two discs at 10 fps, 320x180, the red one heard."""

    frames: int = 20
    fps: float = 10.0
    height: int = 180
    width: int = 320
    seed: int = 7


SAMPLE = Sample()
SAMPLE_VIDEO = Path(__file__).resolve().parent / "extras" / "sample.mp4"


def sample_paths() -> np.ndarray:
    """The discs' trajectories in the bundled sample (the red disc, index 0, is heard and watched)."""
    return disc_paths(SAMPLE.frames, SAMPLE.height, SAMPLE.width, seed=SAMPLE.seed)


def write_sample(path: str) -> None:
    """The bundled sample, extras/sample.mp4: two discs, the red one heard as a 440 Hz tone (H.264 + AAC)."""
    paths = sample_paths()
    write_video(path, render_frames(paths, SAMPLE.height, SAMPLE.width, seed=SAMPLE.seed), SAMPLE.fps,
                soundtrack(paths, SAMPLE.fps, sounding=0))


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_VIDEO
    write_sample(str(target))
    print(f"wrote {target} ({target.stat().st_size // 1024} KiB)")
