"""Overlays: the heatmap over a video's frames, with its sound."""
from pathlib import Path

from media import VideoWriter, frames_by_index, heatmap_blend, probe_video, read_gray
from vinet.engine.sources import Video


def write_overlay(video: Video, maps_dir: Path, out_path: Path, alpha: float = 0.5) -> None:
    """Write a video file's frames blended with their JET-coloured maps, with its sound, to out_path
    (media.VideoWriter: H.264, the source's timestamps and sound); a frame that could not be decoded (it has
    no map) is left out."""
    info = probe_video(video.source)
    with VideoWriter(out_path, info.size, source=info) as writer:
        for index, (name, frame) in enumerate(zip(video.frame_names, frames_by_index(info))):
            if frame is not None:
                writer.write(heatmap_blend(frame.to_ndarray(format="rgb24"), read_gray(maps_dir / name), alpha), index)

