"""How each scene is shown: its crop (of the output's shape, in its picture), its camera (camera.py) and its fit.
A scene without saliency keeps the previous scene's position (the centre when there is none). The fit: crop
(always), pad (a scene whose keep region, the span holding KEEP_SHARE of its saliency, is wider than the window
shows that region whole, scaled into the output over a blurred, darkened copy of it: AutoFlip's padding) or auto
(pads such a scene only when its crop would keep less than pad_below of its saliency).
"""
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from media import VideoInfo
from vinet.reframing.camera import camera_path, even_positions
from vinet.reframing.geometry import Box, Crop, crop_geometry, output_size
from vinet.reframing.options import KEEP_SHARE, ReframeOptions
from vinet.reframing.profiles import SceneSaliency, best_positions, kept_shares, read_saliency
from vinet.reframing.scenes import Scene


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


def fit_scene(plan: ScenePlan, saliency: SceneSaliency, options: ReframeOptions) -> ScenePlan:
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


def plan_scene(scene: Scene, saliency: SceneSaliency, crop: Crop, options: ReframeOptions, fps: float,
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


def plan_video(scenes: list[Scene], maps: dict[int, Path], info: VideoInfo, options: ReframeOptions) -> VideoPlan:
    """The plan of a whole video: each scene's crop (of the output's shape, in its picture), saliency, camera, fit."""
    size = output_size(info.size, options.aspect, options.width, options.height)
    crops = [crop_geometry(scene.picture, Fraction(*size)) for scene in scenes]
    plans, previous = [], None
    for scene, saliency, crop in zip(scenes, read_saliency(maps, scenes, crops, info.size), crops):
        plans.append(plan_scene(scene, saliency, crop, options, info.fps, previous))
        previous = plans[-1].box(scene.last)
    scene_of = np.repeat(np.arange(len(scenes)), [scene.length for scene in scenes])
    return VideoPlan(plans, scene_of, size, sorted(maps))
