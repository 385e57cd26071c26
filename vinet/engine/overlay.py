"""Overlays: the heatmap over a video's frames, with its sound."""
from pathlib import Path

from media import VideoWriter, frames_by_index, held_frames, probe_video
from utils import heatmap_blend, read_gray
from vinet.engine.sources import Video


def write_overlay(video: Video, maps_dir: Path, out_path: Path, alpha: float = 0.5) -> None:
    """Write a video file's frames blended with their JET-coloured maps, with its sound, to out_path
    (media.VideoWriter: H.264, the source's timestamps and sound). A frame that could not be decoded (it has no
    map) shows the last one that could, with its map, so the duration and the sound stay in sync."""
    info = probe_video(video.source)
    shown = (None if frame is None else (frame, name) for name, frame in zip(video.frame_names, frames_by_index(info)))
    with VideoWriter(out_path, info.size, source=info) as writer:
        for index, (frame, name) in enumerate(held_frames(shown, info.path)):
            writer.write(heatmap_blend(frame.to_ndarray(format="rgb24"), read_gray(maps_dir / name), alpha), index)
