"""Where a video's frames and sound come from: frame folders, the datasets' layouts, video files; which
videos this job and this process take."""
import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from damage import Damage
from dataloader import read_image
from layouts import (
    VALIDATION,
    check_benchmark_set,
    list_audio_visual_videos,
    list_benchmark_video_files,
    list_frame_folder_videos,
    list_frames,
)
from media import Audio, VideoInfo, decode_audio, frames_by_index, held_frames, load_wav, probe_video
from utils import (
    AUDIO_RATE,
    InputError,
)
from vinet.engine.selfcheck import VideoCheck


@dataclass
class Video:
    """One video: where its frames come from, the file name of each frame's map, and its sound (decoded
    when the video's turn comes). `damage` fills, while its frames and sound are read, with what could not be
    decoded (those frames get no map). `wanted` limits the maps made to some frames (None: every frame). `check`
    holds an int8 run's check of its maps against the float path (selfcheck.py)."""

    name: str
    frame_names: list[str]
    frame_loaders: Callable[[], Iterable[Callable[[], Image.Image]]]  # per frame, in order, a function loading it
    source: Path | None = None          # the video file, or the folder of its frames
    fps: float | None = None
    frame_times: np.ndarray | None = None
    load_audio: Callable[[], Audio | None] | None = None
    damage: Damage | None = None
    wanted: set[int] | None = None
    check: VideoCheck | None = None

    def __post_init__(self) -> None:
        if self.damage is None:
            self.damage = Damage(Path(self.source or self.name), self.num_frames)

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)

    @property
    def wanted_frames(self) -> list[int]:
        """The indices of the frames whose maps are made, in order."""
        return list(range(self.num_frames)) if self.wanted is None else sorted(self.wanted)


def frame_folder_video(name: str, frames: list[Path], fps: float | None = None) -> Video:
    """A video stored as frame files (of one folder); its maps take the frames' file names."""
    times = None if fps is None else np.arange(len(frames)) * (1.0 / fps)
    return Video(name, [f.name for f in frames], lambda: (functools.partial(read_image, f) for f in frames),
                 source=frames[0].parent if frames else None, fps=fps, frame_times=times)


def frame_folder_layout_videos(root: str | Path) -> list[Video]:
    """The videos of the seed's ViNet layout, root/<video>/images/<frames>, sorted by name."""
    listed = list_frame_folder_videos(root, ("images",), role="input folder")
    return [frame_folder_video(video.name, list(video.frames)) for video in listed]


def audio_visual_layout_videos(root: str | Path, dataset: str, split: int, with_audio: bool) -> list[Video]:
    """The test videos of one fold of an audio-visual dataset, sorted by name, with their sound when asked."""
    parts = ("frames", "audio") if with_audio else ("frames",)
    videos = []
    for listed in sorted(list_audio_visual_videos(root, dataset, split, VALIDATION, parts), key=lambda v: v.name):
        video = frame_folder_video(listed.name, list(listed.frames), fps=listed.fps)
        if with_audio:
            video.load_audio = functools.partial(load_wav, listed.audio)
        videos.append(video)
    return videos


def video_file(path: str | Path, with_audio: bool = False, name: str | None = None,
               info: VideoInfo | None = None) -> Video:
    """A video file decoded with PyAV (upright: media applies its rotation and pixel aspect), named `name` (default
    its stem); maps named 00001.png, ... by each frame's place in the video; audio resampled to SoundNet's rate. A
    frame that cannot be decoded gets no map, and the windows that hold it take the nearest frame that could
    (noted in the damage of `info`, the file's probe, made here when not given)."""
    info = info or probe_video(path)
    if with_audio and not info.has_audio:
        raise InputError(f"{info.path} has no audio track: an audio-visual model needs sound; run with "
                         "--use_sound False (or --model vinet) for ViNet")
    names = [f"{i:05d}.png" for i in range(1, info.num_frames + 1)]
    audio = functools.partial(decode_audio, info.path, rate=AUDIO_RATE) if with_audio else None

    def loaders() -> Iterator[Callable[[], Image.Image]]:
        frames = (None if frame is None else converted_once(frame) for frame in frames_by_index(info))
        return held_frames(frames, info.path, nearest=True)

    return Video(name or info.path.stem, names, loaders, source=info.path, fps=info.fps,
                 frame_times=info.frame_times, load_audio=audio, damage=info.damage)


def converted_once(frame: av.VideoFrame) -> Callable[[], Image.Image]:
    """A loader converting the frame to an image at most once, however many threads call it: a frame repeated
    over a gap is loaded twice, and PyAV's converter of one frame crashes when two threads share it."""
    lock, image = threading.Lock(), []

    def load() -> Image.Image:
        with lock:
            if not image:
                image.append(frame.to_image())
        return image[0]
    return load


def video_files(paths: list[str], with_audio: bool) -> list[Video]:
    """--video files, with their sound for an audio-visual model (InputError for a silent one), each named for an
    output folder of its own (output_names)."""
    return [video_file(path, with_audio, name) for path, name in zip(paths, output_names(paths))]


def benchmark_layout_videos(root: str | Path, dataset: str, split: str, with_audio: bool) -> list[Video]:
    """The videos of a split of a CrowdSAL or NTIRE 2026 folder (`dataset` names which; InputError when the folder
    holds the other), named by their ids."""
    check_benchmark_set(root, dataset)
    return [video_file(path, with_audio, name) for name, path in list_benchmark_video_files(root, split)]


def output_names(paths: list[str | Path]) -> list[str]:
    """Each video's output name: its file stem; where stems repeat, its path from the repeating files' common
    folder joined by '_' (a/clip.mp4, b/clip.mp4 -> a_clip, b_clip), with the suffix where that still repeats
    (clip.mp4, clip.mkv -> clip_mp4, clip_mkv). InputError for a file given twice."""
    resolved = [Path(p).resolve() for p in paths]
    twice = next((p for p in resolved if resolved.count(p) > 1), None)
    if twice:
        raise InputError(f"--video {twice} is given twice: give each video once")
    names = []
    for path in resolved:
        group = [p for p in resolved if p.stem == path.stem]
        common = Path(os.path.commonpath([str(p.parent) for p in group]))
        names.append("_".join(path.relative_to(common).with_suffix("").parts) if len(group) > 1 else path.stem)
    return [f"{name}_{path.suffix[1:]}" if names.count(name) > 1 else name for name, path in zip(names, resolved)]


def select_part(videos: list[Video], start_idx: int, num_parts: int) -> list[Video]:
    """Part start_idx (1-based) of num_parts, to split a dataset across jobs; -1 keeps all."""
    if start_idx == -1:
        return videos
    if not 1 <= start_idx <= num_parts:
        raise InputError(f"--start_idx must be -1 or in 1..{num_parts} (--num_parts), got {start_idx}")
    share = len(videos) / num_parts
    return videos[int((start_idx - 1) * share):int(start_idx * share)]


def process_share(videos: list[Video]) -> list[Video]:
    """This process's share of the videos under torchrun (RANK of WORLD_SIZE); all of them otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    return select_part(videos, int(os.environ.get("RANK", "0")) + 1, world_size) if world_size > 1 else videos


def open_source(path: str | Path, with_audio: bool = False) -> Video:
    """A video file, or a folder of frame images (named for its maps by their file names), as a Video."""
    path = Path(path)
    if path.is_dir():
        return frame_folder_video(path.name, list_frames(path))
    if not path.is_file():
        raise InputError(f"{path}: no such video file or folder of frames; give a video file or a folder of images")
    return video_file(path, with_audio)
