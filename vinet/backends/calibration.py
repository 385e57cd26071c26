"""What int8 calibrates on: footage (natural scenes, camera moves over the photographs scikit-image ships, and
synthetic scenes of moving discs, kept for their motion and sound) and the windows cut from videos as the engine
cuts them (its sources, frame stream and sound windows, by the registry entry's window rules)."""
import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from media import probe_video
from registry import ModelEntry
from synthetic import disc_paths, render_frames, soundtrack, write_video
from utils import AUDIO_RATE, InputError, require
from vinet.backends.base import OPENVINO_REQUIREMENTS, Settings
from vinet.engine.sources import Video, video_file
from vinet.engine.stream import FrameStream, SoundWindows, clip_windows, model_inputs

log = logging.getLogger("export")   # its lines are export.py's (and the int8 runs')
# scikit-image's bundled photographs the natural scenes move over; CHECK_PHOTOS are left for checking on footage
# that was not calibrated on (extras/int8_study.py, the tests)
CALIBRATION_PHOTOS = ("astronaut", "coffee", "rocket", "hubble_deep_field", "camera")
CHECK_PHOTOS = ("chelsea", "coins", "moon", "immunohistochemistry")
SCENE_FRAMES, SCENE_FPS = 64, 25.0
NATURAL_SCENES = 3          # the default calibration footage: this many natural scenes, and as many synthetic ones
SYNTHETIC_SCENES = 3


# ----------------------------------------------------------------------------------------------
# Footage


def photograph(name: str) -> np.ndarray:
    """One of scikit-image's bundled photographs as RGB uint8 (a gray one repeated over the channels)."""
    image = getattr(require("skimage.data", OPENVINO_REQUIREMENTS), name)()
    return np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3])


def camera_move(image: np.ndarray, frames: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A shot over a photograph: the view pans between two random points while it zooms between two scales."""
    cover = max(height / image.shape[0], width / image.shape[1])   # the smallest scale that fills the frame
    zooms = cover * rng.uniform(1.0, 1.8, 2)
    centres = rng.uniform(0.3, 0.7, (2, 2)) * (image.shape[1], image.shape[0])
    shot = []
    for t in np.linspace(0, 1, frames):
        scale = zooms[0] + (zooms[1] - zooms[0]) * t
        x, y = centres[0] + (centres[1] - centres[0]) * t
        warp = np.array([[scale, 0, width / 2 - scale * x], [0, scale, height / 2 - scale * y]], np.float32)
        shot.append(cv2.warpAffine(image, warp, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT))
    return np.stack(shot)


def natural_frames(seed: int, photos: Sequence[str] = CALIBRATION_PHOTOS, frames: int = SCENE_FRAMES,
                   height: int = 360, width: int = 640, shots: int = 2) -> np.ndarray:
    """(frames, height, width, 3) uint8: `shots` camera moves over distinct photographs, joined by cuts."""
    rng = np.random.default_rng(seed)
    cuts = np.linspace(0, frames, shots + 1).round().astype(int)
    names = rng.choice(photos, shots, replace=False)
    return np.concatenate([camera_move(photograph(name), end - start, height, width, rng)
                           for name, start, end in zip(names, cuts, cuts[1:])])


def street_sound(seed: int, seconds: float, rate: int = AUDIO_RATE) -> np.ndarray:
    """Mono float32 in [-1, 1]: noise and a few tones that come and go, a stand-in for a scene's sound."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tones = sum(np.sin(2 * np.pi * rng.uniform(150, 1500) * t) * np.clip(np.sin(2 * np.pi * rng.uniform(0.2, 1)
                                                                                 * t + rng.uniform(0, 6)), 0, 1)
                for _ in range(3))
    return (0.2 * tones + 0.1 * rng.standard_normal(len(t))).clip(-1, 1).astype(np.float32)


def natural_scenes(folder: Path, count: int = NATURAL_SCENES) -> list[Path]:
    """`count` natural scenes (SCENE_FRAMES frames at SCENE_FPS, 16:9 and 4:3, with sound) written to folder."""
    paths = []
    for seed in range(count):
        height, width = (360, 640) if seed % 2 == 0 else (360, 480)
        paths.append(folder / f"natural{seed}.mp4")
        write_video(str(paths[-1]), natural_frames(seed, height=height, width=width), SCENE_FPS,
                    street_sound(seed, SCENE_FRAMES / SCENE_FPS))
    return paths


def synthetic_scenes(folder: Path, count: int = SYNTHETIC_SCENES) -> list[Path]:
    """`count` scenes of moving discs with sound (SCENE_FRAMES frames at SCENE_FPS) written to folder."""
    paths = []
    for seed in range(count):
        height, width = (360, 640) if seed % 2 else (480, 480)
        discs = disc_paths(SCENE_FRAMES, height, width, seed=20 + seed, num_discs=2 + seed % 2)
        paths.append(folder / f"scene{seed}.mp4")
        write_video(str(paths[-1]), render_frames(discs, height, width, seed=20 + seed,
                                                  colours=((230, 60, 40), (40, 90, 230), (240, 220, 60))),
                    SCENE_FPS, soundtrack(discs, SCENE_FPS))
    return paths


DEFAULT_FOOTAGE = f"{NATURAL_SCENES} natural scenes (scikit-image's photographs) and {SYNTHETIC_SCENES} synthetic ones"


def default_footage(folder: Path) -> list[Path]:
    """The default calibration footage (DEFAULT_FOOTAGE), written to folder."""
    return natural_scenes(folder) + synthetic_scenes(folder)


# ----------------------------------------------------------------------------------------------
# Windows


def as_video(source: Path | Video, entry: ModelEntry) -> Video:
    """A video to calibrate on: a Video of the engine's, or a file (InputError when silent and the model hears)."""
    if isinstance(source, Video):
        return source
    info = probe_video(source)
    if entry.takes_audio and not info.has_audio:
        raise InputError(f"--calibrate {source}: no audio track, and {entry.label} hears the sound; calibrate on "
                         "videos with sound")
    return video_file(source, entry.takes_audio, info=info)


def video_windows(video: Video, entry: ModelEntry, indices: list[int]) -> list[list[torch.Tensor]]:
    """The inputs of the windows of frames `indices` of a video, each a batch of one, as the engine feeds them (its
    sources and streams): a clip per part of the entry by its window rule, then the sound if the model hears it."""
    windows = {j: clip_windows(entry, j, video.num_frames) for j in indices}
    needed = {i for clips in windows.values() for clip in clips for i in clip}
    frames = FrameStream(video, functools.partial(model_inputs, entry), needed, Settings())
    sound = SoundWindows(video, entry, "none") if entry.takes_audio else None
    try:
        return [frames.clips([windows[j]]) + ([sound.batch([j])] if sound else []) for j in indices]
    finally:
        frames.close()


def calibration_windows(entry: ModelEntry, sources: Sequence[Path | Video], count: int) -> list[list[torch.Tensor]]:
    """`count` windows (fewer when the videos have fewer frames) spread evenly over the videos' frames (files, whose
    damage is logged, or the engine's videos, whose run reports it)."""
    videos = [as_video(source, entry) for source in sources]
    starts = np.cumsum([0] + [video.num_frames for video in videos])
    picks = np.linspace(0, starts[-1] - 1, count).round().astype(int)
    windows = []
    for source, video, first, end in zip(sources, videos, starts, starts[1:]):
        indices = sorted({int(i - first) for i in picks if first <= i < end})
        windows += video_windows(video, entry, indices) if indices else []
        if video.damage and not isinstance(source, Video):
            log.warning("%s", video.damage.line())
    return windows
