"""Saliency-driven reframing: crop a video to another aspect ratio where people look, with its sound.

    python reframe.py --video IN.mp4 --aspect 9:16 --output OUT.mp4 --maps OUT/<video>
    python reframe.py --video IN.mp4 --aspect 9:16 --output OUT.mp4 --file_weight AViNet_DIEM.pt

The crop keeps the full extent of one axis of the source and slides along the other (the free axis).
Saliency comes from the maps the generate scripts write (--maps: one grayscale map per frame, in frame
order; any size of the video's aspect ratio), so a second aspect ratio costs no model time, or from a
model run first (predict_maps).

Per frame t, the target c_t is the window position that holds the most saliency mass: with s_t the map's
sums across the free axis (its column sums for a horizontal crop), resampled to source pixels, and P_t its
prefix sum, the mass of the window of width w at p is P_t[p + w] - P_t[p]; c_t is its argmax or, where a
subject smaller than the window leaves a plateau of positions within NEAR_MAX of the best, the one of them
that centres the mass the window holds.

Cuts come from PySceneDetect's ContentDetector; no path crosses a cut. A scene whose salient region (the
union over its frames of the columns holding pixels at least SALIENT_LEVEL of the frame's peak) fits in
one window gets a still camera centred on that region (AutoFlip's steady camera:
SceneCameraMotionAnalyzer::DecideSteadyLookAtRegion). Otherwise the camera tracks: its path x solves

    min_x  sum_t (x_t - c_t)^2 + l1 sum_t (x_{t+1} - x_t)^2 + l2 sum_t (x_{t+1} - 2 x_t + x_{t-1})^2
      <=>  (I + l1 D1^T D1 + l2 D2^T D2) x = c

(D1, D2 the first and second difference matrices: a sparse pentadiagonal system; a frame with an empty
map takes the target interpolated from its neighbours), with l2 = (tau f)^4 and l1 = VELOCITY_SHARE (tau f)^2
for tau = --smoothing seconds and f the frame rate, so the smoothing lasts the same time at any frame rate. The
acceleration term leaves steady pans untouched; the small velocity term damps drift. The solution is
clamped to the frame, its speed bounded by --max_speed (the mean of a forward and a backward rate limiter:
no lag, never outside the frame) and rounded to even pixels (4:2:0 chroma then crops exactly).

The output is written by media.VideoWriter: H.264 (libx264, yuv420p) at the source's timestamps (same frame
count and duration), with the source's first audio track copied packet for packet (re-encoded to AAC only
when the output container cannot hold its codec).
"""
import argparse
import functools
import json
import logging
import re
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
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
    decode_video_frames,
    frames_by_index,
    heatmap_blend,
    probe_video,
    read_gray,
)
from registry import MODELS, get_entry
from utils import ArgumentParser, InputError, atomic_path, number_flag

log = logging.getLogger("reframe")

SALIENT_LEVEL = 0.5       # a pixel is salient at half its frame's peak (the still-camera rule)
NEAR_MAX = 1e-3           # window positions within this share of the frame's mass of the best tie
VELOCITY_SHARE = 0.05     # l1 = VELOCITY_SHARE * (tau f)^2: a light damping of drift
ASPECT_TOLERANCE = 0.05   # maps may be scaled copies of the frames, up to 5% off their aspect ratio
DETECT_WIDTH = 256        # frames are shrunk to this width for cut detection (PySceneDetect's default)
OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")

# ----------------------------------------------------------------------------------------------
# Geometry


@dataclass(frozen=True)
class Crop:
    """The crop window: its size in the source and the axis it moves along (0: x, 1: y)."""

    source: tuple[int, int]   # (width, height)
    size: tuple[int, int]     # (width, height), both even
    axis: int

    @property
    def extent(self) -> int:
        """Source pixels along the free axis."""
        return self.source[self.axis]

    @property
    def window(self) -> int:
        """Crop pixels along the free axis."""
        return self.size[self.axis]

    @property
    def last_position(self) -> int:
        """The largest even position that keeps the window inside the frame."""
        room = self.extent - self.window
        return room - room % 2

    def corner(self, position: int) -> tuple[int, int]:
        """(x, y) of the top-left corner for a position along the free axis."""
        return (position, 0) if self.axis == 0 else (0, position)


def parse_aspect(text: str) -> Fraction:
    """'W:H' (positive numbers, e.g. 9:16 or 2.39:1) as the ratio width / height."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*", text)
    if not match or float(match[1]) == 0 or float(match[2]) == 0:
        raise InputError(f"--aspect must be W:H with positive numbers (9:16, 4:5, 1:1, 16:9), got {text!r}")
    return Fraction(match[1]) / Fraction(match[2])


def _even(pixels: int) -> int:
    """The even number at or just below `pixels` (at least 2)."""
    return max(2, pixels - pixels % 2)


def crop_geometry(source: tuple[int, int], aspect: Fraction, text: str) -> Crop:
    """The largest window of `aspect` inside the source, with even sides; InputError if it is the source."""
    width, height = source
    if aspect < Fraction(width, height):
        crop = Crop(source, (_even(min(width, round(height * aspect))), _even(height)), axis=0)
    else:
        crop = Crop(source, (_even(width), _even(min(height, round(width / aspect)))), axis=1)
    if crop.extent - crop.window < 2:
        raise InputError(f"--aspect {text} is the source's own shape ({width}x{height}): nothing to reframe")
    return crop


# ----------------------------------------------------------------------------------------------
# Saliency along the free axis


@dataclass
class Saliency:
    """Per frame, the saliency mass of each source pixel along the free axis, and the salient span."""

    profiles: np.ndarray  # (N, extent) float64
    spans: np.ndarray     # (N, 2) float [first, end) in source pixels; NaN where the map is empty


def list_maps(folder: Path, info: VideoInfo) -> list[Path]:
    """The map files of a folder in name order; InputError unless there is one per frame."""
    if not folder.is_dir():
        raise InputError(f"--maps folder not found: {folder} (generate_result*.py --video writes OUT/<video>)")
    maps = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(maps) != info.num_frames:
        raise InputError(f"--maps {folder} holds {len(maps)} maps but {info.path} has {info.num_frames} frames: "
                         "give the maps generated from this video")
    return maps


def read_map_profile(path: Path, axis: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """A map's sums across the free axis, its salient span [first, end) and its size (width, height)."""
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise InputError(f"cannot read map {path}: not an image")
    across = 0 if axis == 0 else 1  # numpy axis summed away: rows for a horizontal crop
    profile = gray.sum(axis=across, dtype=np.int64)
    salient = np.flatnonzero(gray.max(axis=across) >= max(1, SALIENT_LEVEL * int(gray.max())))
    span = (int(salient[0]), int(salient[-1]) + 1) if salient.size else (-1, -1)
    return profile, span, (gray.shape[1], gray.shape[0])


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


def gather_saliency(maps: list[Path], results: list[tuple], crop: Crop) -> Saliency:
    """The maps' profiles (read_map_profile) resampled to source pixels along the free axis, and spans."""
    first_size = results[0][2]
    for path, (_, _, size) in zip(maps, results):
        check_map_size(path, size, first_size, crop.source)
    scale = crop.extent / first_size[crop.axis]
    spans = np.array([span for _, span, _ in results], dtype=np.float64) * scale
    spans[spans[:, 0] < 0] = np.nan
    return Saliency(resample_profiles(np.stack([p for p, _, _ in results]), crop.extent), spans)


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


# ----------------------------------------------------------------------------------------------
# Scenes


def detect_scenes(info: VideoInfo, threshold: float, min_scene_len: float) -> list[tuple[int, int]]:
    """[first, last] frame of each scene, from PySceneDetect's ContentDetector on frames shrunk to
    DETECT_WIDTH; min_scene_len in seconds."""
    detector = ContentDetector(threshold=threshold, min_scene_len=float(min_scene_len))
    width = min(DETECT_WIDTH, info.size[0])
    height = max(2, round(info.size[1] * width / info.size[0]))
    rate = Fraction(info.fps).limit_denominator(100000)
    cuts, index = [], -1
    frames = tqdm(decode_video_frames(info.path), total=info.num_frames, desc="scenes", unit="frame",
                  dynamic_ncols=True)
    for index, frame in enumerate(frames):
        small = frame.to_ndarray(width=width, height=height, format="bgr24")
        cuts += detector.process_frame(FrameTimecode(index, rate), small)
    cuts += detector.post_process(FrameTimecode(max(index, 0), rate))
    if index + 1 != info.num_frames:
        raise InputError(f"{info.path}: decoded {index + 1} of {info.num_frames} frames; the file may be truncated")
    starts = sorted({0, *(cut.frame_num for cut in cuts if 0 < cut.frame_num < info.num_frames)})
    return [(first, last - 1) for first, last in zip(starts, [*starts[1:], info.num_frames])]


# ----------------------------------------------------------------------------------------------
# The camera path


@dataclass
class CameraPath:
    """The crop's position along the free axis per frame, each frame's scene and each scene's mode."""

    positions: np.ndarray   # (N,) int, even, in [0, crop.last_position]
    scene_of: np.ndarray    # (N,) int
    modes: list[str]        # per scene: "still" or "tracking"


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


def fill_gaps(targets: np.ndarray) -> np.ndarray:
    """NaN targets (frames without saliency) interpolated from their neighbours; the nearest at the ends."""
    known = np.flatnonzero(np.isfinite(targets))
    return np.interp(np.arange(len(targets)), known, targets[known])


def limit_speed(path: np.ndarray, max_step: float) -> np.ndarray:
    """Steps of at most max_step: the mean of a forward and a backward rate limiter (zero lag; both stay
    between values of the path, so the mean does too)."""
    def forward(values: np.ndarray) -> np.ndarray:
        limited = values.copy()
        for t in range(1, len(limited)):
            limited[t] = np.clip(limited[t], limited[t - 1] - max_step, limited[t - 1] + max_step)
        return limited

    return (forward(path) + forward(path[::-1])[::-1]) / 2


def scene_path(spans: np.ndarray, targets: np.ndarray, crop: Crop, smoothing: float, max_speed: float,
               fps: float) -> tuple[np.ndarray, str]:
    """The float positions of one scene's frames and its mode (AutoFlip's rule: still when the salient
    region of the whole scene, the union of its frames' spans, fits in the window)."""
    spans = spans[~np.isnan(spans[:, 0])]
    if not len(spans):  # nothing salient: look at the centre, as AutoFlip does
        return np.full(len(targets), crop.last_position / 2), "still"
    first, end = spans[:, 0].min(), spans[:, 1].max()
    if end - first <= crop.window:
        return np.full(len(targets), (first + end - crop.window) / 2), "still"
    smooth = np.clip(smooth_path(fill_gaps(targets), smoothing * fps), 0, crop.last_position)
    return limit_speed(smooth, max_speed * crop.extent / fps), "tracking"


def plan_path(saliency: Saliency, scenes: list[tuple[int, int]], crop: Crop, smoothing: float, max_speed: float,
              fps: float) -> CameraPath:
    """The camera path of a whole video, scene by scene (smoothing in seconds, max_speed in extents per second)."""
    targets = best_positions(saliency.profiles, crop.window)
    positions, scene_of, modes = np.zeros(len(targets)), np.zeros(len(targets), dtype=np.int64), []
    for number, (first, last) in enumerate(scenes):
        part = slice(first, last + 1)
        positions[part], mode = scene_path(saliency.spans[part], targets[part], crop, smoothing, max_speed, fps)
        scene_of[part] = number
        modes.append(mode)
    even = np.clip(2 * np.round(positions / 2), 0, crop.last_position).astype(np.int64)
    return CameraPath(even, scene_of, modes)


# ----------------------------------------------------------------------------------------------
# Writing videos


def plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    """A frame's plane as a (height, line size) uint8 view."""
    data = frame.planes[index]
    return np.frombuffer(data, np.uint8).reshape(-1, data.line_size)


def crop_frame(frame: av.VideoFrame, corner: tuple[int, int], size: tuple[int, int]) -> av.VideoFrame:
    """The window of a frame, cropped in 4:2:0 (converted first if the frame is not yuv420p)."""
    source = frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")
    (x, y), (width, height) = corner, size
    pieces = [plane(source, 0)[y:y + height, x:x + width]]
    pieces += [plane(source, i)[y // 2:(y + height) // 2, x // 2:(x + width) // 2] for i in (1, 2)]
    packed = np.concatenate([piece.ravel() for piece in pieces]).reshape(height * 3 // 2, width)
    return av.VideoFrame.from_ndarray(packed, format="yuv420p")


def debug_picture(frame: av.VideoFrame, map_path: Path, corner: tuple[int, int], size: tuple[int, int],
                  label: str) -> np.ndarray:
    """The frame under its heatmap (as generate's overlays), the crop box and a label, as RGB."""
    picture = heatmap_blend(frame.to_ndarray(format="rgb24"), read_gray(map_path))
    height, width = picture.shape[:2]
    thickness = max(1, width // 320)
    end = (corner[0] + size[0] - 1, corner[1] + size[1] - 1)
    cv2.rectangle(picture, corner, end, (255, 255, 255), thickness)
    cv2.putText(picture, label, (4 + thickness, height - 4 - thickness), cv2.FONT_HERSHEY_SIMPLEX,
                max(0.3, width / 1600), (255, 255, 255), thickness, cv2.LINE_AA)
    return picture


def write_videos(info: VideoInfo, crop: Crop, camera: CameraPath, maps: list[Path], output_path: Path,
                 debug_path: Path | None, crf: int, preset: str) -> None:
    """Decode the source once; write the reframed video (and the debug video) through media.VideoWriter."""
    with ExitStack() as stack:
        output = stack.enter_context(VideoWriter(output_path, crop.size, source=info, crf=crf, preset=preset))
        debug = stack.enter_context(VideoWriter(debug_path, info.size, source=info, crf=crf, preset=preset)) \
            if debug_path else None
        count = 0
        frames = tqdm(frames_by_index(info), total=info.num_frames, desc="reframe", unit="frame", dynamic_ncols=True)
        for index, frame in enumerate(frames):
            if frame is None:   # undecodable: left out, as in the maps
                continue
            count += 1
            corner = crop.corner(int(camera.positions[index]))
            output.write(crop_frame(frame, corner, crop.size), index)
            if debug:
                scene = int(camera.scene_of[index])
                debug.write(debug_picture(frame, maps[index], corner, crop.size,
                                          f"scene {scene} {camera.modes[scene]}"), index)
        if count != info.num_frames:
            raise InputError(f"{info.path}: decoded {count} of {info.num_frames} frames; the file may be truncated")


# ----------------------------------------------------------------------------------------------
# The path for other tools, and the summary


def path_document(info: VideoInfo, crop: Crop, scenes: list[tuple[int, int]], camera: CameraPath) -> dict:
    """The --path_json document: source, crop size, scenes, and each frame's top-left corner and mode."""
    frames = []
    for index, position in enumerate(camera.positions):
        x, y = crop.corner(int(position))
        scene = int(camera.scene_of[index])
        frames.append({"index": index, "x": x, "y": y, "scene": scene, "mode": camera.modes[scene]})
    return {"source": {"width": info.size[0], "height": info.size[1], "fps": info.fps, "frames": info.num_frames},
            "crop": {"width": crop.size[0], "height": crop.size[1]},
            "scenes": [[first, last] for first, last in scenes], "frames": frames}


def kept_share(profiles: np.ndarray, positions: np.ndarray, window: int) -> float:
    """Mean over frames with saliency of the share of their mass inside the window at `positions`."""
    masses = window_masses(profiles, window)[np.arange(len(profiles)), positions]
    totals = profiles.sum(axis=1)
    return float(np.mean(masses[totals > 0] / totals[totals > 0])) if np.any(totals > 0) else float("nan")


def mean_speed(camera: CameraPath) -> float:
    """Mean |step| of the path in pixels per frame, within scenes (a cut is no camera motion)."""
    same_scene = np.diff(camera.scene_of) == 0
    return float(np.abs(np.diff(camera.positions))[same_scene].mean()) if same_scene.any() else 0.0


def summary(info: VideoInfo, crop: Crop, saliency: Saliency, camera: CameraPath) -> str:
    """One line: the crop, its scenes, the saliency it keeps against a centre crop, and its speed."""
    centre = np.full(len(camera.positions), crop.last_position // 2 // 2 * 2)
    kept, kept_by_centre = (kept_share(saliency.profiles, p, crop.window) for p in (camera.positions, centre))
    return (f"{info.path.name}: {crop.size[0]}x{crop.size[1]} crop, {len(camera.modes)} scenes "
            f"({camera.modes.count('still')} still), keeps {kept:.1%} of the saliency (centre crop "
            f"{kept_by_centre:.1%}), mean speed {mean_speed(camera):.2f} px/frame")


# ----------------------------------------------------------------------------------------------
# Saliency from a model, through the engine


def predict_maps(video_path: Path, save_path: Path, args: argparse.Namespace) -> Path:
    """The maps of the video from the model --model names, else the checkpoint's own (an AViNet one hears the
    video's sound), run by the engine into save_path; their folder."""
    backend = inference.backend_name(args.backend, args.onnx)
    settings = inference.make_settings(args.device, args.batch_size, args.precision, backend=backend)
    if args.onnx:
        predictor = inference.onnx_predictor(args.onnx, settings, backend)
    else:
        frame_size = tuple(args.frame_size) if args.frame_size else None
        entry = get_entry(args.model).configured(frame_size) if args.model else None
        predictor = inference.build_predictor(args.file_weight, entry, frame_size, settings, backend=backend)
    return inference.maps_of_video(video_path, save_path, predictor, settings, args.overwrite)


# ----------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """reframe.py's flags; InputError (one line) for a bad one."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", required=True, help="the source video")
    parser.add_argument("--aspect", required=True, help="target aspect ratio W:H (9:16, 4:5, 1:1, 16:9, ...)")
    parser.add_argument("--output", required=True, help="the reframed video (.mp4, .mov, .mkv)")
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
                        help="also write the source with heatmap, crop box and scene number")
    parser.add_argument("--smoothing", default=0.5, type=number_flag(float, 0),
                        help="time constant of the tracking camera in seconds (0: follow the targets)")
    parser.add_argument("--max_speed", default=1.0, type=number_flag(float, 0, above=True),
                        help="top camera speed in source widths (heights for a vertical crop) per second")
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


@dataclass(frozen=True)
class ReframeOptions:
    """How a video is reframed: the aspect ratio (W:H), the camera, the cut detection and the encoding."""

    aspect: str
    smoothing: float = 0.5        # time constant of the tracking camera in seconds
    max_speed: float = 1.0        # source widths (heights for a vertical crop) per second
    scene_threshold: float = 27.0
    min_scene_len: float = 0.6    # seconds
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET


def reframe_video(video: Path, maps_dir: Path, output: Path, options: ReframeOptions, path_json: Path | None = None,
                  debug: Path | None = None) -> str:
    """Crop `video` to options.aspect along its maps (one per frame in maps_dir) into `output`, with the crop path
    (path_json) and the debug video when asked; the one-line summary. InputError for bad input."""
    info = probe_video(video)
    crop = crop_geometry(info.size, parse_aspect(options.aspect), options.aspect)
    maps = list_maps(maps_dir, info)
    with ThreadPoolExecutor(2) as pool:  # maps are read while the cuts are detected
        profiles = pool.map(functools.partial(read_map_profile, axis=crop.axis), maps)
        scenes = detect_scenes(info, options.scene_threshold, options.min_scene_len)
        saliency = gather_saliency(maps, list(profiles), crop)
    camera = plan_path(saliency, scenes, crop, options.smoothing, options.max_speed, info.fps)
    with ExitStack() as stack:
        if path_json:  # published when the block ends, after the videos
            document = path_document(info, crop, scenes, camera)
            stack.enter_context(atomic_path(path_json)).write_text(json.dumps(document, indent=1))
        write_videos(info, crop, camera, maps, output, debug, options.crf, options.preset)
    return summary(info, crop, saliency, camera)


def reframe(args: argparse.Namespace) -> None:
    """The command line's job: the maps (given, or from a model run), then reframe_video."""
    check_args(args)
    options = ReframeOptions(args.aspect, args.smoothing, args.max_speed, args.scene_threshold, args.min_scene_len,
                             args.crf, args.preset)
    crop_geometry(probe_video(args.video).size, parse_aspect(args.aspect), args.aspect)   # refused before the model
    with tempfile.TemporaryDirectory(prefix="reframe.") as scratch:
        maps_dir = Path(args.maps) if args.maps else predict_maps(Path(args.video), Path(args.save_path or scratch),
                                                                  args)
        log.info("%s", reframe_video(Path(args.video), maps_dir, Path(args.output), options,
                                     Path(args.path_json) if args.path_json else None,
                                     Path(args.debug) if args.debug else None))


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
