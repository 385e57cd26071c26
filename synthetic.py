"""Synthetic scenes: discs moving over a textured background, with a soundtrack that follows one of
them. The bundled sample, the benchmark's workload, the synthetic datasets (extras/make_datasets.py, and
write_benchmark_set's CrowdSAL and NTIRE 2026 folders) and the tests' videos are made of them.

`python synthetic.py [PATH]` writes the bundled sample video (extras/sample.mp4).
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layouts import CROWDSAL, NTIRE2026, NTIRE_SPLIT_FILE
from media import VideoWriter
from utils import AUDIO_RATE, atomic_write_bytes, map_to_uint16


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
    # frame by frame: the float64 intermediates of a whole FullHD video would take gigabytes
    return np.stack([np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * sigma ** 2)).astype(np.float32)
                     for r, c in paths[:, watched]])


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


def gaze_events(paths: np.ndarray, height: int, width: int, seed: int, watched: int = 0,
                observers: int = 8) -> list[list[list[int]]]:
    """Per frame, `observers` zero-based [y, x] fixations scattered around the watched disc, inside the frame; the
    first point is repeated (two observers on one pixel), as the 2026 benchmarks' fixation files hold them."""
    rng = np.random.default_rng(seed)
    spread = min(height, width) / 10
    events = []
    for centre in paths[:, watched]:
        points = np.rint(centre + rng.normal(0, spread, (observers - 1, 2))).astype(int)
        points = np.clip(points, 0, [height - 1, width - 1])
        events.append([*points.tolist(), points[0].tolist()])
    return events


def write_saliency_video(path: str | Path, maps: np.ndarray, fps: float) -> None:
    """(N, H, W) float maps as a 10-bit saliency video (media.VideoWriter's `saliency`), each min-max normalised."""
    with VideoWriter(path, (maps.shape[2], maps.shape[1]), fps=fps, saliency=True) as writer:
        for index, saliency in enumerate(maps):
            writer.write(map_to_uint16(saliency), index)


def write_benchmark_video(root: Path, dataset: str, split: str, name: str, seed: int, num_frames: int,
                          size: tuple[int, int], fps: float, nested: bool) -> None:
    """One video of write_benchmark_set: the video with sound, its 10-bit saliency video, its fixations."""
    height, width = size
    part = split.capitalize()
    if dataset == CROWDSAL:
        base = root / part if nested else root
        videos, saliency, fixations = base / "Videos", base / "Saliency", base / "Fixations" / f"{name}.json"
    else:
        videos = root / "Videos"
        saliency = root / f"Saliency{part}" / (part if nested else "")
        fixations = root / f"Fixations{part}" / (part if nested else "") / name / "fixations.json"
    for folder in (videos, saliency, fixations.parent):
        folder.mkdir(parents=True, exist_ok=True)
    paths = disc_paths(num_frames, height, width, seed)
    write_video(str(videos / f"{name}.mp4"), render_frames(paths, height, width, seed), fps, soundtrack(paths, fps))
    write_saliency_video(saliency / f"{name}.mp4", gaze_density(paths, height, width), fps)
    atomic_write_bytes(fixations, json.dumps(gaze_events(paths, height, width, seed)).encode())


def write_benchmark_set(root: str | Path, dataset: str, train: tuple[str, ...], test: tuple[str, ...],
                        num_frames: int = 24, size: tuple[int, int] = (72, 128), fps: float = 30.0,
                        nested: bool = False) -> Path:
    """A small CrowdSAL or NTIRE 2026 folder in its published layout (layouts.py), disc scenes with sound: `train`
    and `test` ids; `nested`: CrowdSAL's Train/ and Test/ folders, or NTIRE's archives unpacked one folder deeper."""
    root = Path(root)
    for split, names in (("train", train), ("test", test)):
        for index, name in enumerate(names):
            seed = 1000 * (split == "test") + index
            write_benchmark_video(root, dataset, split, name, seed, num_frames, size, fps, nested)
    if dataset == NTIRE2026:
        half = (len(test) + 1) // 2
        lists = {"train": list(train), "public_test": list(test[:half]), "private_test": list(test[half:])}
        atomic_write_bytes(root / NTIRE_SPLIT_FILE, json.dumps(lists, indent=1).encode())
    else:
        lines = [json.dumps({"id": name, "license": "CC-BY", "source": "synthetic"}) for name in (*train, *test)]
        atomic_write_bytes(root / "metadata.jsonl", ("\n".join(lines) + "\n").encode())
    return root


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
