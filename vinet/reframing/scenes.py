"""Scenes: cuts from PySceneDetect's ContentDetector, and per scene its picture, the frame without its letterbox or
pillarbox bars (border rows or columns whose brightest pixel stays at most BAR_LUMA in every frame of the scene).
The crop keeps the picture's full extent along one axis and slides along the other (the free axis); bars are
never in the crop nor in the saliency. Also the frames the model analyses: about analysis_fps per second in each
scene, at the centres of equal parts of the scene (0: every frame), as AutoFlip analyses a few key frames a second.
"""
import re
from dataclasses import dataclass

import av
import numpy as np
from scenedetect import ContentDetector, FrameTimecode
from tqdm import tqdm

from media import VideoInfo, frames_by_index, held_frames
from utils import rational_rate
from vinet.reframing.geometry import Box
from vinet.reframing.options import BAR_LUMA, BAR_MIN_SHARE, DETECT_WIDTH, PICTURE_MIN_SHARE, ReframeOptions


@dataclass(frozen=True)
class Scene:
    """A shot: its first and last frame and its picture (the frame without bars)."""

    first: int
    last: int
    picture: Box

    @property
    def length(self) -> int:
        return self.last - self.first + 1


def luma(frame: av.VideoFrame) -> np.ndarray:
    """A frame's 8-bit luma plane as a (height, width) view (converted when the frame is not 8-bit YUV)."""
    if not re.fullmatch(r"yuvj?4[24][024]p|nv12", frame.format.name):
        frame = frame.reformat(format="gray")
    data = frame.planes[0]
    return np.frombuffer(data, np.uint8).reshape(-1, data.line_size)[:frame.height, :frame.width]


def dark_borders(gray: np.ndarray) -> np.ndarray:
    """(top, bottom, left, right): how many border rows and columns hold no pixel brighter than BAR_LUMA."""
    counts = []
    for dark in (gray.max(axis=1) <= BAR_LUMA, gray.max(axis=0) <= BAR_LUMA):
        counts += [len(dark)] * 2 if dark.all() else [int(np.argmin(dark)), int(np.argmin(dark[::-1]))]
    return np.array(counts)


def picture_span(before: int, after: int, length: int) -> tuple[int, int]:
    """[start, end) of the picture along a side of `length` pixels with bars of `before` and `after` pixels:
    bars thinner than BAR_MIN_SHARE are kept as picture, ones leaving under PICTURE_MIN_SHARE are no bars."""
    thinnest = max(2, BAR_MIN_SHARE * length)
    start = before + before % 2 if before >= thinnest else 0
    end = length - after if after >= thinnest else length
    if (start, end) != (0, length):
        end -= (end - start) % 2
    return (start, end) if end - start >= PICTURE_MIN_SHARE * length else (0, length)


def scene_picture(borders: np.ndarray, size: tuple[int, int]) -> Box:
    """The picture of a scene from its frames' dark borders (N, 4): only what is dark in every frame is a bar."""
    top, bottom, left, right = borders.min(axis=0) if len(borders) else (0, 0, 0, 0)
    (x0, x1), (y0, y1) = picture_span(left, right, size[0]), picture_span(top, bottom, size[1])
    return (x0, y0, x1 - x0, y1 - y0)


def detect_scenes(info: VideoInfo, threshold: float, min_scene_len: float) -> list[Scene]:
    """The scenes of a video: cuts from PySceneDetect's ContentDetector on frames shrunk to DETECT_WIDTH
    (min_scene_len in seconds), and each scene's picture inside its bars."""
    detector = ContentDetector(threshold=threshold, min_scene_len=float(min_scene_len))
    width = min(DETECT_WIDTH, info.size[0])
    height = max(2, round(info.size[1] * width / info.size[0]))
    rate = rational_rate(info.fps)
    cuts, borders = [], []
    frames = tqdm(held_frames(frames_by_index(info), info.path), total=info.num_frames, desc="scenes", unit="frame",
                  dynamic_ncols=True)
    for frame in frames:   # upright, as a player shows them; an undecodable frame shows the last that decoded
        cuts += detector.process_frame(FrameTimecode(len(borders), rate),
                                       frame.to_ndarray(width=width, height=height, format="bgr24"))
        borders.append(dark_borders(luma(frame)))
    cuts += detector.post_process(FrameTimecode(max(len(borders) - 1, 0), rate))
    starts = sorted({0, *(cut.frame_num for cut in cuts if 0 < cut.frame_num < info.num_frames)})
    ends = [*starts[1:], info.num_frames]
    return [Scene(first, end - 1, scene_picture(np.array(borders[first:end]), info.size))
            for first, end in zip(starts, ends)]


def find_scenes(info: VideoInfo, options: ReframeOptions) -> list[Scene]:
    """The video's scenes and pictures (detect_scenes with the options' cut detection)."""
    return detect_scenes(info, options.scene_threshold, options.min_scene_len)


def analysed_frames(scenes: list[Scene], fps: float, analysis_fps: float) -> list[int]:
    """The frames the model analyses: every frame for analysis_fps 0 (or at least the frame rate), else in each
    scene max(1, round(length / step)) frames at the centres of equal parts of it (step = fps / analysis_fps)."""
    if analysis_fps <= 0 or analysis_fps >= fps:
        return list(range(scenes[-1].last + 1))
    frames = []
    for scene in scenes:
        count = max(1, round(scene.length * analysis_fps / fps))
        frames += (scene.first + (np.arange(count) + 0.5) * scene.length / count).astype(int).tolist()
    return frames
