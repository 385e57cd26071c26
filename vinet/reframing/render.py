"""Writing the videos: each frame's region cropped (or padded) and scaled to the output size, and the debug video
(the source under its heatmap, the region shown). media.VideoWriter writes H.264 at the source's timestamps (same
frame count and duration), with the source's first audio track copied packet for packet.
"""
from contextlib import ExitStack
from pathlib import Path

import av
import cv2
import numpy as np
from tqdm import tqdm

from media import VideoInfo, VideoWriter, frames_by_index, held_frames
from utils import heatmap_blend, read_gray
from vinet.reframing.geometry import Box
from vinet.reframing.options import PAD_BLUR_SIGMA, PAD_BLUR_WIDTH, PAD_BRIGHTNESS
from vinet.reframing.plan import ScenePlan, VideoPlan


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
    """Decode the source once; write the reframed video (and the debug video) through media.VideoWriter, every
    frame of the source's timing: one that cannot be decoded shows the last one that could."""
    with ExitStack() as stack:
        output = stack.enter_context(VideoWriter(output_path, plan.size, source=info, crf=crf, preset=preset))
        debug = stack.enter_context(VideoWriter(debug_path, info.size, source=info, crf=crf, preset=preset)) \
            if debug_path else None
        heatmaps = nearest_maps(maps, info.num_frames) if debug else []
        frames = tqdm(held_frames(frames_by_index(info), info.path), total=info.num_frames, desc="reframe",
                      unit="frame", dynamic_ncols=True)
        for index, frame in enumerate(frames):   # an undecodable frame shows the last one that decoded
            scene = plan.at(index)
            output.write(output_picture(frame, scene, index, plan.size), index)
            if debug:
                label = f"scene {int(plan.scene_of[index])} {scene.mode} {scene.fit}"
                debug.write(debug_picture(frame, heatmaps[index], scene.box(index), label), index)
