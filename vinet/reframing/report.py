"""What a reframing tells: the path document (every frame's region and mode, each scene's camera, fit and
picture) for other tools, and the one-line summary."""
import numpy as np

from media import VideoInfo
from vinet.reframing.geometry import Box
from vinet.reframing.plan import VideoPlan


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
