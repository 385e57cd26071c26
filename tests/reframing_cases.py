"""Synthetic videos for the reframing tests: discs the saliency maps follow (a Gaussian at each centre), with
sound; the path JSON's regions are checked against where the discs are."""
import json
from pathlib import Path

import av
import cv2
import numpy as np

from media import probe_video
from synthetic import gaze_density, render_frames, soundtrack, write_video
from vinet.reframing.options import ReframeOptions
from vinet.reframing.pipeline import reframe_video

FPS = 25
HEIGHT, WIDTH = 72, 128
TALL, WIDE = 96, 160          # the camera tests' frames: a 9:16 window of 54 x 96
WINDOW = 54
CENTRED_X = 52                # (160 - 54) / 2 = 53, rounded to even pixels
WHITE = ((255, 255, 255), (255, 255, 255))


def write_maps(folder: Path, densities: np.ndarray, frames: list[int] | None = None) -> Path:
    """Maps as the generate scripts name them (00001.png, ...), of `frames` only when given."""
    folder.mkdir()
    for index in range(len(densities)) if frames is None else frames:
        cv2.imwrite(str(folder / f"{index + 1:05d}.png"), np.round(densities[index] * 255).astype(np.uint8))
    return folder


def disc_maps(centres: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, H, W) maps of discs at centres (N, K, 2) = (row, column): a Gaussian at each, peak 1."""
    densities = np.stack([gaze_density(centres[:, [k]], height, width) for k in range(centres.shape[1])])
    return densities.max(axis=0)


def make_video(folder: Path, centres: np.ndarray, height: int = HEIGHT, width: int = WIDTH,
               backgrounds: list[tuple[int, tuple[int, int, int]]] = (), name: str = "clip.mp4",
               sound: bool = True, bars: tuple[int, int, int, int] | None = None, colours: tuple | None = None) -> Path:
    """A video of discs at centres (N, K, 2); `backgrounds` paints frames from a given index on in one colour (a
    hard cut); `bars` (top, bottom, left, right) blacks out the borders (letterbox, pillarbox)."""
    frames = render_frames(centres, height, width, seed=5, **({"colours": colours} if colours else {}))
    for first, colour in backgrounds:
        disc = np.all(frames[first:] == (230, 60, 40), axis=-1)
        frames[first:] = np.where(disc[..., None], frames[first:], np.array(colour, np.uint8))
    if bars:
        top, bottom, left, right = bars
        frames[:, :top], frames[:, height - bottom:], frames[:, :, :left], frames[:, :, width - right:] = 0, 0, 0, 0
    video = folder / name
    write_video(str(video), frames, FPS, soundtrack(centres, FPS) if sound else None)
    return video


def make_clip(folder: Path, centres: np.ndarray, height: int = HEIGHT, width: int = WIDTH,
              backgrounds: list[tuple[int, tuple[int, int, int]]] = (), name: str = "clip.mp4",
              sound: bool = True, gaze: np.ndarray | None = None) -> tuple[Path, Path]:
    """A video of one disc at centres (N, 2) = (row, column) and its maps folder (a Gaussian at the disc, or
    at `gaze`)."""
    video = make_video(folder, centres[:, None, :], height, width, backgrounds, name, sound)
    maps = write_maps(folder / f"{video.stem}_maps", disc_maps((centres if gaze is None else gaze)[:, None, :],
                                                                height, width))
    return video, maps


def crossing_centres() -> np.ndarray:
    """A disc crossing the frame from left to right in 50 frames, (50, 2) = (row, column)."""
    return np.stack([np.full(50, HEIGHT / 2), np.linspace(8, WIDTH - 8, 50)], axis=1)


def reframed_path(video: Path, maps: Path, folder: Path, aspect: str | None = "9:16", **options) -> dict:
    """The path JSON of a reframing (reframe_video into folder/<maps>.mp4) that must succeed."""
    reframe_video(probe_video(video), maps, folder / f"{maps.name}.mp4", ReframeOptions(aspect, **options),
                  folder / "p.json")
    return json.loads((folder / "p.json").read_text())


def xs(document: dict) -> np.ndarray:
    return np.array([frame["x"] for frame in document["frames"]])


def inside_share(centres: np.ndarray, document: dict, axis: int) -> float:
    """Share of frames whose disc centre lies in the region shown (axis 0: columns, 1: rows)."""
    key, size = ("x", "width") if axis == 0 else ("y", "height")
    starts = np.array([frame[key] for frame in document["frames"]])
    ends = starts + np.array([frame[size] for frame in document["frames"]])
    coordinate = centres[:, 1 - axis]
    return float(np.mean((coordinate >= starts) & (coordinate < ends)))


def decoded(path: Path) -> tuple[int, float, tuple[int, int], np.ndarray | None]:
    """Frame count, duration (s), frame size and decoded audio samples of a file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        size = (stream.codec_context.width, stream.codec_context.height)
        duration = container.duration / av.time_base
    with av.open(str(path)) as container:
        sound = [f.to_ndarray() for f in container.decode(audio=0)] if container.streams.audio else None
    return count, duration, size, None if sound is None else np.concatenate(sound, axis=1)


def first_frame(path: Path) -> np.ndarray:
    """The first frame of a video, RGB."""
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")
