"""Saliency-driven reframing: a video cut to another aspect ratio where people look, with its sound.

    python reframe.py --video IN.mp4 --aspect 9:16 --output OUT.mp4 --file_weight vinet_s.pt --precision bf16
    python reframe.py --video IN.mp4 --aspect 9:16 --output OUT.mp4 --maps OUT/<video>
    python reframe.py --video IN.mp4 --width 1080 --height 1920 --fit auto --output OUT.mp4 --maps OUT/<video>

Scenes first: cuts from PySceneDetect's ContentDetector, and per scene its picture, the frame without its
letterbox or pillarbox bars (border rows or columns whose brightest pixel stays at most BAR_LUMA in every frame
of the scene). The crop keeps the picture's full extent along one axis and slides along the other (the free
axis); bars are never in the crop nor in the saliency. The output (--aspect, or --width/--height) is the crop
scaled to the output size.

Saliency comes from a model run first (the engine, inference.maps_of_video) or from maps already made (--maps).
The model runs only on the windows of the analysed frames: about --analysis_fps per second in each scene, at the
centres of equal parts of the scene (0: every frame), as AutoFlip analyses a few key frames per second. Given
maps are all used (one per frame, or a sampled run's, named by frame number).

Per analysed frame, the target c is the window position holding the most saliency mass: with s the map's sums
across the free axis inside the picture, resampled to source pixels, and P its prefix sum, the window of width w
at p holds P[p + w] - P[p]; c is the argmax or, where a subject smaller than the window leaves a plateau of
positions within NEAR_MAX of the best, the one of them that centres the mass the window holds.

Per scene, a camera as AutoFlip's SceneCameraMotionAnalyzer decides it, from how far the targets move:
- still, when the targets' range (between their STILL_QUANTILE and 1 - STILL_QUANTILE quantiles) is at most
  STILL_MOTION of the window: the window at the middle of that range, snapped to the picture's centre when it is
  within SNAP_DISTANCE of the picture's extent of it (AutoFlip's snap_center_max_distance_percent);
- moving, otherwise: targets interpolated linearly between analysed frames (never across a cut), then the path x

    min_x  sum_t (x_t - c_t)^2 + l1 sum_t (x_{t+1} - x_t)^2 + l2 sum_t (x_{t+1} - 2 x_t + x_{t-1})^2
      <=>  (I + l1 D1^T D1 + l2 D2^T D2) x = c

  (D1, D2 the first and second difference matrices: a sparse pentadiagonal system) with l2 = (tau f)^4 and
  l1 = VELOCITY_SHARE (tau f)^2 for tau = --smoothing seconds and f the frame rate; clamped to the picture, its
  speed bounded by --max_speed (the mean of a forward and a backward rate limiter: no lag, never outside);
- a scene without saliency keeps the previous scene's position (the centre when there is none).
Positions are rounded to even pixels (4:2:0 chroma then crops exactly).

--fit: crop (always), pad (a scene whose keep region, the span holding KEEP_SHARE of its saliency, is wider
than the window shows that region whole, scaled into the output over a blurred, darkened copy of it: AutoFlip's
padding) or auto (pads such a scene only when its crop would keep less than --pad_below of its saliency).

The output is written by media.VideoWriter: H.264 at the source's timestamps (same frame count and duration),
with the source's first audio track copied packet for packet. --path_json writes every frame's region and
mode, each scene's camera, fit and picture; --debug the source under the heatmap with the region shown.
"""
import argparse
import json
import logging
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import scipy.sparse
import scipy.sparse.linalg
from scenedetect import ContentDetector, FrameTimecode
from tqdm import tqdm

import inference
from dataloader import IMAGE_SUFFIXES
from media import (
    DEFAULT_CRF,
    DEFAULT_PRESET,
    VideoInfo,
    VideoWriter,
    frames_by_index,
    heatmap_blend,
    probe_video,
    read_gray,
)
from registry import MODELS, get_entry
from utils import ArgumentParser, InputError, atomic_path, number_flag

log = logging.getLogger("reframe")

DEFAULT_ANALYSIS_FPS = 5.0  # analysed frames per second (AutoFlip's rate): measured to move the path by < 2% (README)
NEAR_MAX = 1e-3           # window positions within this share of the frame's mass of the best tie
VELOCITY_SHARE = 0.05     # l1 = VELOCITY_SHARE * (tau f)^2: a light damping of drift
STILL_MOTION = 0.25       # a still camera when the targets move over at most this share of the window
STILL_QUANTILE = 0.05     # ... measured between these quantiles: a flicker in a few frames does not count
SNAP_DISTANCE = 0.08      # a still camera this close to the centre (share of the picture) snaps to it (AutoFlip's)
KEEP_SHARE = 0.95         # the region that must be kept holds this share of a scene's saliency (--fit pad, auto)
DEFAULT_PAD_BELOW = 0.6   # --fit auto pads where the crop keeps less than this share of the saliency
PAD_BRIGHTNESS = 0.5      # the padding's blurred copy, darkened to this
PAD_BLUR_WIDTH = 32       # ... blurred at this width (pixels) and scaled up: a wide blur for little work
PAD_BLUR_SIGMA = 2.0      # ... by a Gaussian of this sigma at that width
BAR_LUMA = 32             # a border line whose brightest pixel stays at most this (8-bit luma) is a bar
BAR_MIN_SHARE = 0.01      # bars thinner than this share of the side are left as picture
PICTURE_MIN_SHARE = 0.5   # bars leaving less than this share of a side are not bars (a dark scene)
ASPECT_TOLERANCE = 0.05   # maps may be scaled copies of the frames, up to 5% off their aspect ratio
SIZE_TOLERANCE = 0.01     # --width/--height and --aspect given together may differ by this share
DETECT_WIDTH = 256        # frames are shrunk to this width for cut detection (PySceneDetect's default)
FITS = ("crop", "pad", "auto")
OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")

Box = tuple[int, int, int, int]   # x, y, width, height in source pixels

# ----------------------------------------------------------------------------------------------
# Geometry


@dataclass(frozen=True)
class Crop:
    """A crop window inside a picture (the frame without its bars): its size and the axis it moves along
    (0: x, 1: y)."""

    picture: Box
    size: tuple[int, int]     # (width, height), both even
    axis: int

    @property
    def extent(self) -> int:
        """Picture pixels along the free axis."""
        return self.picture[2 + self.axis]

    @property
    def window(self) -> int:
        """Crop pixels along the free axis."""
        return self.size[self.axis]

    @property
    def last_position(self) -> int:
        """The largest even position that keeps the window inside the picture."""
        room = self.extent - self.window
        return room - room % 2

    def corner(self, position: int) -> tuple[int, int]:
        """(x, y) of the top-left corner in the source for a position along the free axis."""
        x, y = self.picture[:2]
        return (x + position, y) if self.axis == 0 else (x, y + position)

    def box(self, position: int) -> Box:
        """The window at a position, as (x, y, width, height) in the source."""
        return (*self.corner(position), *self.size)


def parse_aspect(text: str) -> Fraction:
    """'W:H' (positive numbers, e.g. 9:16 or 2.39:1) as the ratio width / height."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*", text)
    if not match or float(match[1]) == 0 or float(match[2]) == 0:
        raise InputError(f"--aspect must be W:H with positive numbers (9:16, 4:5, 1:1, 16:9), got {text!r}")
    return Fraction(match[1]) / Fraction(match[2])


def _even(pixels: int) -> int:
    """The even number at or just below `pixels` (at least 2)."""
    return max(2, pixels - pixels % 2)


def crop_geometry(picture: Box, aspect: Fraction) -> Crop:
    """The largest window of `aspect` inside the picture, with even sides (the whole picture when it has that
    shape: the camera then has no room to move)."""
    width, height = picture[2:]
    if aspect < Fraction(width, height):
        return Crop(picture, (_even(min(width, round(height * aspect))), _even(height)), axis=0)
    return Crop(picture, (_even(width), _even(min(height, round(width / aspect)))), axis=1)


def output_size(source: tuple[int, int], aspect: str | None, width: int | None, height: int | None) -> tuple[int, int]:
    """The output's (width, height): --width and --height, or one of them and --aspect, or the largest crop of
    --aspect in the source; InputError for odd sides or flags that disagree."""
    for name, value in (("width", width), ("height", height)):
        if value is not None and (value < 2 or value % 2):
            raise InputError(f"--{name} {value}: give an even number of pixels, 2 or more (H.264 in 4:2:0 needs it)")
    ratio = parse_aspect(aspect) if aspect else None
    if width and height:
        if ratio and abs(Fraction(width, height) / ratio - 1) > SIZE_TOLERANCE:
            raise InputError(f"--width {width} --height {height} is not --aspect {aspect}: drop --aspect or one side")
        return width, height
    if ratio is None:
        raise InputError("give --aspect W:H (9:16, 4:5, 1:1, 16:9), or --width and --height")
    if width:
        return width, _even(round(width / ratio))
    if height:
        return _even(round(height * ratio)), height
    return crop_geometry((0, 0, *source), ratio).size


# ----------------------------------------------------------------------------------------------
# Scenes: cuts, and the picture inside letterbox or pillarbox bars


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
    rate = Fraction(info.fps).limit_denominator(100000)
    cuts, borders = [], []
    frames = tqdm(frames_by_index(info), total=info.num_frames, desc="scenes", unit="frame", dynamic_ncols=True)
    for frame in frames:   # upright, as a player shows them (media.frames_by_index)
        if frame is None:
            break
        cuts += detector.process_frame(FrameTimecode(len(borders), rate),
                                       frame.to_ndarray(width=width, height=height, format="bgr24"))
        borders.append(dark_borders(luma(frame)))
    cuts += detector.post_process(FrameTimecode(max(len(borders) - 1, 0), rate))
    if len(borders) != info.num_frames:
        raise InputError(f"{info.path}: decoded {len(borders)} of {info.num_frames} frames; the file may be "
                         "truncated")
    starts = sorted({0, *(cut.frame_num for cut in cuts if 0 < cut.frame_num < info.num_frames)})
    ends = [*starts[1:], info.num_frames]
    return [Scene(first, end - 1, scene_picture(np.array(borders[first:end]), info.size))
            for first, end in zip(starts, ends)]


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


# ----------------------------------------------------------------------------------------------
# Saliency along the free axis


@dataclass
class SceneSaliency:
    """A scene's analysed frames and, per frame, the saliency mass of each picture pixel along the free axis."""

    frames: np.ndarray    # (k,) int, ascending
    profiles: np.ndarray  # (k, crop.extent) float64


def list_maps(folder: Path, info: VideoInfo) -> dict[int, Path]:
    """The map of each frame that has one: one map per frame (in name order), or maps named by frame number
    (00001.png, ...: a sampled run's); InputError otherwise."""
    if not folder.is_dir():
        raise InputError(f"--maps folder not found: {folder} (generate_result*.py --video writes OUT/<video>)")
    maps = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(maps) == info.num_frames:
        return dict(enumerate(maps))
    numbered = {int(p.stem) - 1: p for p in maps if p.stem.isdigit()}
    if not maps or len(numbered) != len(maps) or not all(0 <= i < info.num_frames for i in numbered):
        raise InputError(f"--maps {folder} holds {len(maps)} maps but {info.path} has {info.num_frames} frames: "
                         "give the maps generated from this video (one per frame, or named by frame number)")
    return numbered


def read_map_profile(path: Path, crop: Crop, source: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """A map's sums across the free axis inside the crop's picture (in map pixels), and the map's size."""
    gray = read_gray(path)
    height, width = gray.shape
    x, y, w, h = crop.picture
    inside = gray[round(y * height / source[1]):round((y + h) * height / source[1]),
                  round(x * width / source[0]):round((x + w) * width / source[0])]
    return inside.sum(axis=0 if crop.axis == 0 else 1, dtype=np.int64), (width, height)


def check_map_size(path: Path, size: tuple[int, int], first_size: tuple[int, int], source: tuple[int, int]) -> None:
    """InputError unless a map has the size of the folder's first map and (near) the video's aspect ratio."""
    if size != first_size:
        raise InputError(f"map {path} is {size[0]}x{size[1]} but the first map is {first_size[0]}x{first_size[1]}: "
                         "maps of one video share one size")
    if abs(size[0] * source[1] / (size[1] * source[0]) - 1) > ASPECT_TOLERANCE:
        raise InputError(f"map {path} is {size[0]}x{size[1]}, not the shape of the video's {source[0]}x{source[1]} "
                         "frames: give the maps generated from this video")


def resample_profiles(profiles: np.ndarray, extent: int) -> np.ndarray:
    """(N, n) masses over n map pixels as masses over `extent` source pixels (their prefix sums, linearly
    interpolated: the mass is kept)."""
    cumulative = np.pad(np.cumsum(profiles, axis=1, dtype=np.float64), ((0, 0), (1, 0)))
    edges = np.arange(extent + 1) * (profiles.shape[1] / extent)
    left = np.minimum(edges.astype(np.int64), profiles.shape[1] - 1)
    share = edges - left
    return np.diff(cumulative[:, left] * (1 - share) + cumulative[:, left + 1] * share, axis=1)


def read_saliency(maps: dict[int, Path], scenes: list[Scene], crops: list[Crop],
                  source: tuple[int, int]) -> list[SceneSaliency]:
    """Per scene, the profiles of its analysed frames' maps (read_map_profile) in source pixels of its picture."""
    analysed = np.array(sorted(maps))
    bounds = np.searchsorted(analysed, [scene.first for scene in scenes] + [scenes[-1].last + 1])
    jobs = []
    for number, crop in enumerate(crops):
        jobs += [(int(index), crop) for index in analysed[bounds[number]:bounds[number + 1]]]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda job: read_map_profile(maps[job[0]], job[1], source), jobs))
    for (index, _), (_, size) in zip(jobs, results):
        check_map_size(maps[index], size, results[0][1], source)
    saliency = []
    for number, crop in enumerate(crops):
        part = slice(bounds[number], bounds[number + 1])
        profiles = [profile for profile, _ in results[part]]
        saliency.append(SceneSaliency(analysed[part], resample_profiles(np.stack(profiles), crop.extent)
                                      if profiles else np.zeros((0, crop.extent))))
    return saliency


def window_masses(profiles: np.ndarray, window: int) -> np.ndarray:
    """(N, extent - window + 1) saliency mass of the window at every position, by prefix sums."""
    cumulative = np.pad(np.cumsum(profiles, axis=1), ((0, 0), (1, 0)))
    return cumulative[:, window:] - cumulative[:, :-window]


def best_positions(profiles: np.ndarray, window: int) -> np.ndarray:
    """Per frame, the window position holding the most mass; on a plateau of near-best positions (a subject
    smaller than the window), the one that centres the mass the window holds. NaN without mass."""
    masses = window_masses(profiles, window)
    rows, best = np.arange(len(masses)), masses.argmax(axis=1)
    near = masses >= masses[rows, best, None] - NEAR_MAX * profiles.sum(axis=1, keepdims=True)
    index = np.broadcast_to(np.arange(masses.shape[1]), masses.shape)
    left = np.maximum.accumulate(np.where(near, -1, index), axis=1)[rows, best] + 1
    right = np.minimum.accumulate(np.where(near, masses.shape[1], index)[:, ::-1], axis=1)[:, ::-1][rows, best] - 1
    moments = window_masses(profiles * (np.arange(profiles.shape[1]) + 0.5), window)[rows, best]
    with np.errstate(invalid="ignore", divide="ignore"):
        centred = moments / masses[rows, best] - window / 2
    return np.where(profiles.sum(axis=1) > 0, np.clip(centred, left, right), np.nan)


def kept_shares(profiles: np.ndarray, first: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per frame with saliency, the share of its mass in [first, end) (per frame, in picture pixels)."""
    cumulative = np.pad(np.cumsum(profiles, axis=1), ((0, 0), (1, 0)))
    rows, totals = np.arange(len(profiles)), cumulative[:, -1]
    kept = cumulative[rows, np.broadcast_to(end, rows.shape)] - cumulative[rows, np.broadcast_to(first, rows.shape)]
    return kept[totals > 0] / totals[totals > 0]


# ----------------------------------------------------------------------------------------------
# The camera, scene by scene


@dataclass
class ScenePlan:
    """How a scene is shown: its crop, the window's position per frame, the camera's mode (still or moving),
    the fit (crop, or pad: `padded` shown whole over a blurred copy) and the share of saliency its frames keep."""

    scene: Scene
    crop: Crop
    positions: np.ndarray           # (scene.length,) int, even, in [0, crop.last_position]
    mode: str
    fit: str = "crop"
    padded: Box | None = None
    shares: np.ndarray = field(default_factory=lambda: np.zeros(0))         # per analysed frame with saliency
    centre_shares: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ... for a still centred crop

    def box(self, index: int) -> Box:
        """The region of the source frame `index` shows."""
        return self.padded or self.crop.box(int(self.positions[index - self.scene.first]))


def difference_matrix(n: int, order: int) -> scipy.sparse.csr_matrix:
    """The (n - order, n) matrix of `order`-th differences (empty when n <= order)."""
    matrix = scipy.sparse.identity(n, format="csr")
    for _ in range(order):
        matrix = matrix[1:] - matrix[:-1]
    return matrix


def smooth_path(targets: np.ndarray, frames_of_smoothing: float) -> np.ndarray:
    """The regularised least-squares path through `targets` (module docstring), smoothing over about
    `frames_of_smoothing` frames."""
    n = len(targets)
    d1, d2 = difference_matrix(n, 1), difference_matrix(n, 2)
    system = (scipy.sparse.identity(n) + VELOCITY_SHARE * frames_of_smoothing ** 2 * (d1.T @ d1)
              + frames_of_smoothing ** 4 * (d2.T @ d2))
    return np.atleast_1d(scipy.sparse.linalg.spsolve(system.tocsc(), targets))


def limit_speed(path: np.ndarray, max_step: float) -> np.ndarray:
    """Steps of at most max_step: the mean of a forward and a backward rate limiter (zero lag; both stay
    between values of the path, so the mean does too)."""
    def forward(values: np.ndarray) -> np.ndarray:
        limited = values.copy()
        for t in range(1, len(limited)):
            limited[t] = np.clip(limited[t], limited[t - 1] - max_step, limited[t - 1] + max_step)
        return limited

    return (forward(path) + forward(path[::-1])[::-1]) / 2


def even_positions(positions: np.ndarray, crop: Crop) -> np.ndarray:
    """Positions rounded to even pixels inside the picture."""
    return np.clip(2 * np.round(positions / 2), 0, crop.last_position).astype(np.int64)


def still_position(targets: np.ndarray, crop: Crop) -> float | None:
    """The still camera's position when the targets move over at most STILL_MOTION of the window (the middle of
    their range, snapped to the centre within SNAP_DISTANCE of the picture), else None."""
    low, high = np.quantile(targets, [STILL_QUANTILE, 1 - STILL_QUANTILE])
    if high - low > STILL_MOTION * crop.window:
        return None
    centre = (crop.extent - crop.window) / 2
    middle = (low + high) / 2
    return centre if abs(middle - centre) <= SNAP_DISTANCE * crop.extent else middle


def camera_path(offsets: np.ndarray, targets: np.ndarray, length: int, crop: Crop, options: "ReframeOptions",
                fps: float) -> tuple[np.ndarray, str]:
    """A scene's positions from the targets of its analysed frames (at `offsets` from its first frame): still,
    or moving along the smoothed, speed-limited path through the targets interpolated between them."""
    still = still_position(targets, crop)
    if still is not None:
        return even_positions(np.full(length, still), crop), "still"
    interpolated = np.interp(np.arange(length), offsets, targets)
    smooth = np.clip(smooth_path(interpolated, options.smoothing * fps), 0, crop.last_position)
    return even_positions(limit_speed(smooth, options.max_speed * crop.extent / fps), crop), "moving"


def keep_region(profiles: np.ndarray, crop: Crop) -> tuple[int, int]:
    """[first, end) along the free axis (picture pixels, even) holding KEEP_SHARE of the scene's saliency,
    centred on it in the share it leaves out."""
    cumulative = np.cumsum(profiles.sum(axis=0))
    tail = (1 - KEEP_SHARE) / 2 * cumulative[-1]
    first = int(np.searchsorted(cumulative, tail, side="right"))
    end = int(np.searchsorted(cumulative, cumulative[-1] - tail)) + 1
    return first - first % 2, min(crop.extent - crop.extent % 2, end + end % 2)


def padded_box(crop: Crop, first: int, end: int) -> Box:
    """The source region [first, end) along the free axis, the picture's full extent along the other."""
    x, y, width, height = crop.picture
    return (x + first, y, end - first, height) if crop.axis == 0 else (x, y + first, width, end - first)


def fit_scene(plan: ScenePlan, saliency: SceneSaliency, options: "ReframeOptions") -> ScenePlan:
    """The scene padded (still, its keep region shown whole) when the fit asks for it and its keep region is
    wider than the window; as it was otherwise."""
    first, end = keep_region(saliency.profiles, plan.crop)
    kept = float(plan.shares.mean()) if plan.shares.size else 1.0
    if options.fit == "crop" or end - first <= plan.crop.window or (options.fit == "auto" and
                                                                     kept >= options.pad_below):
        return plan
    plan.mode, plan.fit, plan.padded = "still", "pad", padded_box(plan.crop, first, end)
    plan.shares = kept_shares(saliency.profiles, np.array(first), np.array(end))
    return plan


def plan_scene(scene: Scene, saliency: SceneSaliency, crop: Crop, options: "ReframeOptions", fps: float,
               previous: Box | None) -> ScenePlan:
    """A scene's camera and fit from its analysed frames; one without saliency keeps the previous scene's
    position (the centre of its last frame's region) or, first, the picture's centre."""
    targets = best_positions(saliency.profiles, crop.window)
    known = np.isfinite(targets)
    if not known.any():
        centre = crop.extent / 2 if previous is None else \
            previous[crop.axis] + previous[2 + crop.axis] / 2 - crop.picture[crop.axis]
        return ScenePlan(scene, crop, even_positions(np.full(scene.length, centre - crop.window / 2), crop), "still")
    offsets = saliency.frames[known] - scene.first
    positions, mode = camera_path(offsets, targets[known], scene.length, crop, options, fps)
    at_frames = positions[saliency.frames - scene.first]
    centre = even_positions(np.array((crop.extent - crop.window) / 2), crop)
    plan = ScenePlan(scene, crop, positions, mode,
                     shares=kept_shares(saliency.profiles, at_frames, at_frames + crop.window),
                     centre_shares=kept_shares(saliency.profiles, centre, centre + crop.window))
    return fit_scene(plan, saliency, options)


@dataclass
class VideoPlan:
    """Every scene's plan, the scene of each frame, the output size and the frames analysed."""

    scenes: list[ScenePlan]
    scene_of: np.ndarray    # (N,) int
    size: tuple[int, int]
    analysed: list[int]

    def at(self, index: int) -> ScenePlan:
        """The plan of frame `index`'s scene."""
        return self.scenes[int(self.scene_of[index])]


def plan_video(scenes: list[Scene], maps: dict[int, Path], info: VideoInfo, options: "ReframeOptions") -> VideoPlan:
    """The plan of a whole video: each scene's crop (of the output's shape, in its picture), saliency, camera, fit."""
    size = output_size(info.size, options.aspect, options.width, options.height)
    crops = [crop_geometry(scene.picture, Fraction(*size)) for scene in scenes]
    plans, previous = [], None
    for scene, saliency, crop in zip(scenes, read_saliency(maps, scenes, crops, info.size), crops):
        plans.append(plan_scene(scene, saliency, crop, options, info.fps, previous))
        previous = plans[-1].box(scene.last)
    scene_of = np.repeat(np.arange(len(scenes)), [scene.length for scene in scenes])
    return VideoPlan(plans, scene_of, size, sorted(maps))


# ----------------------------------------------------------------------------------------------
# Writing videos


def plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    """A frame's plane as a (height, line size) uint8 view."""
    data = frame.planes[index]
    return np.frombuffer(data, np.uint8).reshape(-1, data.line_size)


def crop_frame(frame: av.VideoFrame, box: Box) -> av.VideoFrame:
    """The region of a frame (even corner and sides), cropped in 4:2:0 (converted first if the frame is not
    yuv420p)."""
    source = frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")
    x, y, width, height = box
    pieces = [plane(source, 0)[y:y + height, x:x + width]]
    pieces += [plane(source, i)[y // 2:(y + height) // 2, x // 2:(x + width) // 2] for i in (1, 2)]
    packed = np.concatenate([piece.ravel() for piece in pieces]).reshape(height * 3 // 2, width)
    return av.VideoFrame.from_ndarray(packed, format="yuv420p")


def padded_picture(rgb: np.ndarray, box: Box, size: tuple[int, int]) -> np.ndarray:
    """The region `box` of an RGB frame scaled whole into `size`, over a blurred, darkened copy of it scaled to
    fill the output."""
    x, y, width, height = box
    region, (out_width, out_height) = rgb[y:y + height, x:x + width], size
    cover = max(out_width / width, out_height / height)
    seen_width, seen_height = min(width, round(out_width / cover)), min(height, round(out_height / cover))
    left, top = (width - seen_width) // 2, (height - seen_height) // 2
    small = (PAD_BLUR_WIDTH, max(1, round(PAD_BLUR_WIDTH * out_height / out_width)))
    blurred = cv2.GaussianBlur(cv2.resize(region[top:top + seen_height, left:left + seen_width], small,
                                          interpolation=cv2.INTER_AREA), (0, 0), PAD_BLUR_SIGMA)
    picture = (cv2.resize(blurred, size, interpolation=cv2.INTER_LINEAR) * PAD_BRIGHTNESS).astype(np.uint8)
    scale = min(out_width / width, out_height / height)
    inner_width, inner_height = min(out_width, round(width * scale)), min(out_height, round(height * scale))
    left, top = (out_width - inner_width) // 2, (out_height - inner_height) // 2
    picture[top:top + inner_height, left:left + inner_width] = cv2.resize(region, (inner_width, inner_height),
                                                                          interpolation=cv2.INTER_AREA)
    return picture


def output_picture(frame: av.VideoFrame, plan: ScenePlan, index: int, size: tuple[int, int]) -> av.VideoFrame | \
        np.ndarray:
    """Frame `index` as the output shows it: its crop (scaled to the output size when it differs) or its padding."""
    box = plan.box(index)
    if plan.fit == "pad":
        return padded_picture(frame.to_ndarray(format="rgb24"), box, size)
    cropped = crop_frame(frame, box)
    return cropped if tuple(box[2:]) == tuple(size) else cropped.reformat(width=size[0], height=size[1],
                                                                         interpolation="AREA")


def debug_picture(frame: av.VideoFrame, map_path: Path, box: Box, label: str) -> np.ndarray:
    """The frame under its (nearest analysed) heatmap, as generate's overlays, the region shown and a label, as
    RGB."""
    picture = heatmap_blend(frame.to_ndarray(format="rgb24"), read_gray(map_path))
    height, width = picture.shape[:2]
    thickness = max(1, width // 320)
    x, y, box_width, box_height = box
    cv2.rectangle(picture, (x, y), (x + box_width - 1, y + box_height - 1), (255, 255, 255), thickness)
    cv2.putText(picture, label, (4 + thickness, height - 4 - thickness), cv2.FONT_HERSHEY_SIMPLEX,
                max(0.3, width / 1600), (255, 255, 255), thickness, cv2.LINE_AA)
    return picture


def nearest_maps(maps: dict[int, Path], num_frames: int) -> list[Path]:
    """Per frame, the map of the nearest analysed frame (its own when it was analysed)."""
    analysed, frames = np.array(sorted(maps)), np.arange(num_frames)
    after = np.minimum(np.searchsorted(analysed, frames), len(analysed) - 1)
    before = np.maximum(after - 1, 0)
    nearer = np.where(np.abs(analysed[before] - frames) <= np.abs(analysed[after] - frames), before, after)
    return [maps[int(index)] for index in analysed[nearer]]


def write_videos(info: VideoInfo, plan: VideoPlan, maps: dict[int, Path], output_path: Path,
                 debug_path: Path | None, crf: int, preset: str) -> None:
    """Decode the source once; write the reframed video (and the debug video) through media.VideoWriter."""
    with ExitStack() as stack:
        output = stack.enter_context(VideoWriter(output_path, plan.size, source=info, crf=crf, preset=preset))
        debug = stack.enter_context(VideoWriter(debug_path, info.size, source=info, crf=crf, preset=preset)) \
            if debug_path else None
        heatmaps = nearest_maps(maps, info.num_frames) if debug else []
        count = 0
        frames = tqdm(frames_by_index(info), total=info.num_frames, desc="reframe", unit="frame", dynamic_ncols=True)
        for index, frame in enumerate(frames):
            if frame is None:   # undecodable: left out, as in the maps
                continue
            count += 1
            scene = plan.at(index)
            output.write(output_picture(frame, scene, index, plan.size), index)
            if debug:
                label = f"scene {int(plan.scene_of[index])} {scene.mode} {scene.fit}"
                debug.write(debug_picture(frame, heatmaps[index], scene.box(index), label), index)
        if count != info.num_frames:
            raise InputError(f"{info.path}: decoded {count} of {info.num_frames} frames; the file may be truncated")


# ----------------------------------------------------------------------------------------------
# The path for other tools, and the summary


def box_fields(box: Box) -> dict[str, int]:
    """A region as the path JSON writes it."""
    return dict(zip(("x", "y", "width", "height"), map(int, box)))


def path_document(info: VideoInfo, plan: VideoPlan) -> dict:
    """The --path_json document: source, output size, analysed frames, scenes and each frame's region and mode."""
    scenes = [{"first": p.scene.first, "last": p.scene.last, "mode": p.mode, "fit": p.fit,
               "picture": box_fields(p.scene.picture), "kept": float(p.shares.mean()) if p.shares.size else None}
              for p in plan.scenes]
    frames = []
    for index in range(info.num_frames):
        scene = plan.at(index)
        frames.append({"index": index, **box_fields(scene.box(index)), "scene": int(plan.scene_of[index]),
                       "mode": scene.mode, "fit": scene.fit})
    return {"source": {"width": info.size[0], "height": info.size[1], "fps": info.fps, "frames": info.num_frames},
            "output": {"width": plan.size[0], "height": plan.size[1]}, "analysed": plan.analysed,
            "scenes": scenes, "frames": frames}


def mean_speed(plan: VideoPlan) -> float:
    """Mean |step| of the crop's corner in pixels per frame, within scenes (a cut is no camera motion)."""
    corners = np.array([plan.at(index).box(index)[:2] for index in range(len(plan.scene_of))])
    same_scene = np.diff(plan.scene_of) == 0
    return float(np.abs(np.diff(corners, axis=0)).sum(axis=1)[same_scene].mean()) if same_scene.any() else 0.0


def mean_share(values: np.ndarray) -> str:
    """A mean share as a percentage ('none' without values: no frame had saliency)."""
    return f"{values.mean():.1%}" if values.size else "none"


def summary(info: VideoInfo, plan: VideoPlan) -> str:
    """One line: the output, its scenes, the frames analysed, the saliency kept against a centre crop, the speed."""
    kept, by_centre = (np.concatenate([getattr(p, name) for p in plan.scenes]) for name in ("shares", "centre_shares"))
    modes, fits = [p.mode for p in plan.scenes], [p.fit for p in plan.scenes]
    barred = sum(p.scene.picture != (0, 0, *info.size) for p in plan.scenes)
    return (f"{info.path.name}: {plan.size[0]}x{plan.size[1]}, {len(modes)} scenes ({modes.count('still')} still, "
            f"{fits.count('pad')} padded, {barred} with bars), {len(plan.analysed)} of {info.num_frames} frames "
            f"analysed, keeps {mean_share(kept)} of the saliency (centre crop {mean_share(by_centre)}), mean speed "
            f"{mean_speed(plan):.2f} px/frame")


# ----------------------------------------------------------------------------------------------
# Reframing a video along its maps


@dataclass(frozen=True)
class ReframeOptions:
    """How a video is reframed: the output's shape (aspect W:H, or width and height), the fit, the frames the model
    analyses, the camera, the cut detection and the encoding."""

    aspect: str | None = None
    width: int | None = None
    height: int | None = None
    fit: str = "crop"
    pad_below: float = DEFAULT_PAD_BELOW
    analysis_fps: float = DEFAULT_ANALYSIS_FPS
    smoothing: float = 0.5        # time constant of the moving camera in seconds
    max_speed: float = 1.0        # picture widths (heights for a vertical crop) per second
    scene_threshold: float = 27.0
    min_scene_len: float = 0.6    # seconds
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET


def find_scenes(info: VideoInfo, options: ReframeOptions) -> list[Scene]:
    """The video's scenes and pictures (detect_scenes with the options' cut detection)."""
    return detect_scenes(info, options.scene_threshold, options.min_scene_len)


def reframe_video(video: Path, maps_dir: Path, output: Path, options: ReframeOptions, path_json: Path | None = None,
                  debug: Path | None = None, scenes: list[Scene] | None = None) -> str:
    """Cut `video` to the options' shape along its maps (maps_dir: one per frame, or a sampled run's) into
    `output`, with the path JSON and the debug video when asked; the one-line summary. `scenes` (find_scenes)
    spares the scene pass when known. InputError for bad input."""
    info = probe_video(video)
    output_size(info.size, options.aspect, options.width, options.height)
    maps = list_maps(maps_dir, info)
    if len(maps) < info.num_frames:
        log.info("maps of %d of %d frames: the targets between them are interpolated", len(maps), info.num_frames)
    plan = plan_video(scenes or find_scenes(info, options), maps, info, options)
    with ExitStack() as stack:
        if path_json:  # published when the block ends, after the videos
            document = path_document(info, plan)
            stack.enter_context(atomic_path(path_json)).write_text(json.dumps(document, indent=1))
        write_videos(info, plan, maps, output, debug, options.crf, options.preset)
    return summary(info, plan)


# ----------------------------------------------------------------------------------------------
# Saliency from a model, through the engine


def load_predictor(args: argparse.Namespace) -> tuple[inference.Predictor, inference.Settings]:
    """The model --onnx or --model names, else the checkpoint's own (an AViNet one hears the video's sound), run by
    --backend, and the engine's settings."""
    backend = inference.backend_name(args.backend, args.onnx)
    settings = inference.make_settings(args.device, args.batch_size, args.precision, backend=backend)
    if args.onnx:
        return inference.onnx_predictor(args.onnx, settings, backend), settings
    frame_size = tuple(args.frame_size) if args.frame_size else None
    entry = get_entry(args.model).configured(frame_size) if args.model else None
    return inference.build_predictor(args.file_weight, entry, frame_size, settings, backend=backend), settings


def predict_maps(info: VideoInfo, frames: list[int], save_path: Path,
                 model: tuple[inference.Predictor, inference.Settings], overwrite: bool = False) -> Path:
    """The maps of `frames` (the model runs on their windows alone), by the engine into save_path; their folder
    (its manifest records the frames when they are not all: inference.claim_output_folder)."""
    wanted = None if len(frames) == info.num_frames else set(frames)
    return inference.maps_of_video(info.path, save_path, *model, overwrite, frames=wanted)


# ----------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """reframe.py's flags; InputError (one line) for a bad one."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", required=True, help="the source video")
    parser.add_argument("--aspect", default=None, help="output aspect ratio W:H (9:16, 4:5, 1:1, 16:9, ...)")
    parser.add_argument("--width", default=None, type=number_flag(int, 2),
                        help="output width in pixels (even)")
    parser.add_argument("--height", default=None, type=number_flag(int, 2),
                        help="output height in pixels (even)")
    parser.add_argument("--output", required=True, help="the reframed video (.mp4, .mov, .mkv)")
    parser.add_argument("--fit", default="crop", choices=FITS,
                        help="crop: always crop; pad: show whole, over a blurred copy, what a crop cannot hold; "
                             "auto: pad only where the crop would keep less than --pad_below of the saliency")
    parser.add_argument("--pad_below", default=DEFAULT_PAD_BELOW, type=number_flag(float, 0, 1, above=True),
                        help="--fit auto pads scenes whose crop keeps less than this share of the saliency")
    parser.add_argument("--analysis_fps", default=DEFAULT_ANALYSIS_FPS, type=number_flag(float, 0),
                        help="frames per second the model analyses, the targets between them interpolated "
                             "(0: every frame); with --maps every map given is used")
    parser.add_argument("--maps", default=None, metavar="DIR",
                        help="maps already generated for this video (OUT/<video>), instead of a model run")
    parser.add_argument("--file_weight", default=None, nargs="+", metavar="W",
                        help="checkpoint of the saliency model (ViNet-E: a ViNet-S and a ViNet-A one), without --maps")
    parser.add_argument("--model", default=None, choices=list(MODELS), metavar="NAME",
                        help="registry model name (default: the checkpoint's own)")
    parser.add_argument("--untrained", action="store_true",
                        help="without --maps, --file_weight or --onnx: crop on an untrained model's maps (they mean "
                             "nothing: for testing a pipeline)")
    parser.add_argument("--onnx", default=None, metavar="MODEL.onnx",
                        help="an ONNX file written by export.py (an int8 one too), instead of a checkpoint")
    parser.add_argument("--save_path", default=None, help="where a model run keeps its maps (default: deleted)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo maps in --save_path that other settings made (see <video>.manifest.json)")
    inference.add_run_arguments(parser)
    inference.add_frame_size_argument(parser)
    parser.add_argument("--path_json", default=None, metavar="PATH.json", help="also write the crop path")
    parser.add_argument("--debug", default=None, metavar="DEBUG.mp4",
                        help="also write the source with heatmap, region shown, scene, camera and fit")
    parser.add_argument("--smoothing", default=0.5, type=number_flag(float, 0),
                        help="time constant of the moving camera in seconds (0: follow the targets)")
    parser.add_argument("--max_speed", default=1.0, type=number_flag(float, 0, above=True),
                        help="top camera speed in picture widths (heights for a vertical crop) per second")
    parser.add_argument("--scene_threshold", default=27.0, type=number_flag(float, 0, above=True),
                        help="ContentDetector threshold: lower finds more cuts")
    parser.add_argument("--min_scene_len", default=0.6, type=number_flag(float, 0), help="shortest scene in seconds")
    parser.add_argument("--crf", default=DEFAULT_CRF, type=number_flag(int, 0, 51),
                        help="x264 quality (0-51, lower is better)")
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=X264_PRESETS,
                        help="x264 preset: veryfast is twice as fast as medium for the same quality (crf) in a "
                             "file a few percent larger")
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """InputError for flags that cannot work together or out of range."""
    if args.maps and (args.file_weight or args.model or args.onnx):
        raise InputError("give --maps (maps already made) or --file_weight/--model/--onnx (run a model), not both")
    if args.onnx and (args.file_weight or args.model):
        raise InputError("--onnx names its model: drop --file_weight and --model")
    if not (args.maps or args.file_weight or args.onnx or args.untrained):
        raise InputError("no saliency given: pass --maps DIR (maps made by the generate scripts), --file_weight W or "
                         "--onnx FILE; --untrained crops on an untrained model's maps, which mean nothing")
    if args.untrained and (args.maps or args.file_weight or args.onnx):
        raise InputError("--untrained runs a model without weights: drop it, or drop --maps/--file_weight/--onnx")
    for name in ("output", "debug"):
        value = getattr(args, name)
        if value and Path(value).suffix.lower() not in OUTPUT_SUFFIXES:
            raise InputError(f"--{name} {value}: the file name must end in {', '.join(OUTPUT_SUFFIXES)}")
        if value and Path(value).resolve() == Path(args.video).resolve():
            raise InputError(f"--{name} {value} would overwrite --video: choose another file")


def options_of(args: argparse.Namespace) -> ReframeOptions:
    """The ReframeOptions the flags give."""
    return ReframeOptions(args.aspect, args.width, args.height, args.fit, args.pad_below, args.analysis_fps,
                          args.smoothing, args.max_speed, args.scene_threshold, args.min_scene_len, args.crf,
                          args.preset)


def reframe(args: argparse.Namespace) -> None:
    """The command line's job: the scenes, the maps (given, or from a model run on the analysed frames), then
    reframe_video; each stage's time logged."""
    check_args(args)
    options = options_of(args)
    info = probe_video(args.video)
    output_size(info.size, options.aspect, options.width, options.height)   # refused before any work
    model = None if args.maps else load_predictor(args)
    if model and args.save_path:   # maps made otherwise are refused before the scene pass, not after it
        inference.check_maps_of_video(info.path, args.save_path, *model, args.overwrite)
    started = time.perf_counter()
    scenes = find_scenes(info, options)
    log.info("scenes: %d in %.1f s", len(scenes), time.perf_counter() - started)
    with tempfile.TemporaryDirectory(prefix="reframe.") as scratch:
        maps_dir = Path(args.maps) if args.maps else None
        if model:
            started, frames = time.perf_counter(), analysed_frames(scenes, info.fps, options.analysis_fps)
            maps_dir = predict_maps(info, frames, Path(args.save_path or scratch), model, args.overwrite)
            log.info("model: %d of %d frames analysed in %.1f s", len(frames), info.num_frames,
                     time.perf_counter() - started)
        started = time.perf_counter()
        line = reframe_video(info.path, maps_dir, Path(args.output), options,
                             Path(args.path_json) if args.path_json else None,
                             Path(args.debug) if args.debug else None, scenes)
        log.info("reframing: %.1f s", time.perf_counter() - started)
        log.info("%s", line)


def main(argv: list[str] | None = None) -> int:
    """Reframe as the flags say; the exit status (2 after one line for bad input)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        reframe(parse_args(argv))
        return 0
    except InputError as error:
        log.error("error: %s", error)
        return 2


if __name__ == "__main__":
    sys.exit(main())
