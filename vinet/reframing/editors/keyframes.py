"""The camera as an editor's keyframes: each scene's region at as few frames as keep every frame, under the editor's
linear interpolation, within KEYFRAME_TOLERANCE of the source width of reframe.py's own path; a still scene has
one. The times editors need: the source's frame rate as a fraction, each frame's time in the source's time base."""
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from media import VideoInfo
from utils import rational_rate
from vinet.reframing.options import KEYFRAME_TOLERANCE
from vinet.reframing.plan import VideoPlan


@dataclass(frozen=True)
class SceneKeys:
    """A scene's keyframes: its frames [first, last], its fit, the keyed frames (offsets in the scene, the first 0)
    and their regions (K, 4) = x, y, width, height in source pixels."""

    first: int
    last: int
    fit: str
    offsets: list[int]
    boxes: np.ndarray

    def boxes_at(self, offsets: np.ndarray) -> np.ndarray:
        """The regions (len(offsets), 4) the keyframes give at `offsets`, interpolated linearly (held after the
        last keyframe), as the editors show them."""
        return np.stack([np.interp(offsets, self.offsets, self.boxes[:, k]) for k in range(4)], axis=1)


def segment_fits(values: np.ndarray, start: int, end: int, tolerance: float) -> bool:
    """Whether the line from row `start` to row `end` stays within `tolerance` of every row between them."""
    share = (np.arange(start, end + 1) - start) / (end - start)
    line = values[start] + share[:, None] * (values[end] - values[start])
    return bool(np.abs(line - values[start:end + 1]).max() <= tolerance)


def key_rows(values: np.ndarray, tolerance: float) -> list[int]:
    """The rows of `values` (n, k) to key: greedily, each segment is extended while the line between its ends keeps
    every row within `tolerance` (all rows equal: the first alone)."""
    if np.all(values == values[0]):
        return [0]
    keys = [0]
    while keys[-1] < len(values) - 1:
        end = keys[-1] + 1
        while end + 1 < len(values) and segment_fits(values, keys[-1], end + 1, tolerance):
            end += 1
        keys.append(end)
    return keys


def scene_keys(plan: VideoPlan, source_width: int) -> list[SceneKeys]:
    """Every scene's keyframes: its per-frame regions reduced within KEYFRAME_TOLERANCE of the source width."""
    keyed = []
    for scene in plan.scenes:
        first, last = scene.scene.first, scene.scene.last
        boxes = np.array([scene.box(index) for index in range(first, last + 1)], dtype=np.float64)
        rows = key_rows(boxes, KEYFRAME_TOLERANCE * source_width)
        keyed.append(SceneKeys(first, last, scene.fit, rows, boxes[rows]))
    return keyed


def frame_rate(info: VideoInfo) -> Fraction:
    """The source's frame rate as a fraction (30000/1001 for 29.97), as media.VideoWriter writes it."""
    return rational_rate(info.fps)


def frame_time(info: VideoInfo, index: int) -> Fraction:
    """The time of frame `index` in seconds, exact in the source's time base; one frame past the last for
    index == num_frames."""
    if index < info.num_frames:
        return Fraction(int(info.pts[index])) * info.time_base
    return frame_time(info, info.num_frames - 1) + 1 / frame_rate(info)
