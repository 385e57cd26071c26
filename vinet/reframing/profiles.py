"""Saliency along the free axis. The maps of a video are all used (one per frame, or a sampled run's, named by
frame number). Per analysed frame, the target c is the window position holding the most saliency mass: with s the
map's sums across the free axis inside the picture, resampled to source pixels, and P its prefix sum, the window
of width w at p holds P[p + w] - P[p]; c is the argmax or, where a subject smaller than the window leaves a plateau
of positions within NEAR_MAX of the best, the one of them that centres the mass the window holds.
"""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layouts import IMAGE_SUFFIXES
from media import VideoInfo
from utils import InputError, read_gray
from vinet.reframing.geometry import Crop
from vinet.reframing.options import ASPECT_TOLERANCE, NEAR_MAX
from vinet.reframing.scenes import Scene


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
