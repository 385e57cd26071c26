"""How maps reach disk (--output_format): png, a map file per frame in OUT/<video>/, post-processed and saved by a
thread pool; mp4, one saliency video per input, OUT/<video>.mp4, in the form the 2026 benchmarks (CrowdSAL, NTIRE
2026) take: 10-bit (media.VideoWriter's `saliency`), the source's size, frame count and timestamps, each map min-max
normalised to 16 bits before the encoder keeps 10 of them."""
import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from media import VideoWriter, probe_video
from utils import InputError, remove_stale_temporaries, save_map
from vinet.engine.gpu_processing import finished_map
from vinet.engine.sources import Video

OUTPUT_FORMATS = ("png", "mp4")
DEFAULT_OUTPUT_FORMAT = "png"
MAP_BITS = {"png": 8, "mp4": 16}   # the maps' depth per output format (mp4: the encoder keeps 10 of the 16)
FOLDER_FPS = 30.0   # a saliency video of a frame folder (no timestamps): the 2026 benchmarks' rate


def disk_error(what: str, path: Path, error: OSError) -> InputError:
    """The one line for a disk that refuses a map or a saliency video."""
    return InputError(f"cannot write {what} {path}: {error.strerror or error}; free some space or fix the folder's "
                      "permissions and rerun (the maps already written are kept)")


def write_map(saliency: np.ndarray, size: tuple[int, int], path: Path) -> None:
    """Post-process (unless the GPU did: finished_map) and save one map atomically; InputError (not a traceback)
    when the disk refuses it."""
    try:
        save_map(finished_map(saliency, size), path)
    except OSError as error:
        raise disk_error("map", path, error) from error


class MapWriter:
    """Post-processes and saves maps in a thread pool, holding at most `limit` maps in flight. With `processes` (a
    GPU run's PNGs, post-processed on the GPU already), a process per core encodes them instead: the GPU makes maps
    faster than threads sharing one interpreter encode them."""

    def __init__(self, threads: int, limit: int, processes: bool = False):
        # spawned, not forked: a process that has started CUDA cannot be forked
        self.pool = ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("spawn")) \
            if processes else ThreadPoolExecutor(max_workers=max(1, threads))
        self.pending: list[Future] = []
        self.limit = limit

    def submit(self, saliency: np.ndarray, size: tuple[int, int], path: Path) -> None:
        self.pending.append(self.pool.submit(write_map, saliency, size, path))
        while len(self.pending) > self.limit:
            self.pending.pop(0).result()

    def drain(self) -> None:
        """Wait for every map in flight; the first failure is raised once all are done."""
        pending, self.pending = self.pending, []
        errors = [future.exception() for future in pending]
        if any(errors):
            raise next(error for error in errors if error)

    def __enter__(self) -> "MapWriter":
        return self

    def __exit__(self, *exc) -> None:
        """Wait for the maps in flight and join the pool's threads, whatever happened."""
        try:
            self.drain()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


class MapFolderSink:
    """One video's maps as files of its folder, named as its frames, saved by the MapWriter's threads."""

    def __init__(self, folder: Path, video: Video, writer: MapWriter):
        self.folder, self.video, self.writer = folder, video, writer

    def submit(self, index: int, saliency: np.ndarray, size: tuple[int, int]) -> None:
        self.writer.submit(saliency, size, self.folder / self.video.frame_names[index])

    def __enter__(self) -> "MapFolderSink":
        return self

    def __exit__(self, *exc) -> None:
        """The maps in flight are the MapWriter's to wait for."""


def frames_to_write(video: Video, folder: Path, output_format: str) -> list[int]:
    """The wanted frames of a video whose maps are not on disk yet (mp4: all of them unless its saliency video is
    complete), after removing what a killed run left half-written."""
    if output_format == "mp4":
        target = saliency_video_path(folder)
        remove_stale_temporaries(target)
        return [] if target.is_file() else video.wanted_frames
    folder.mkdir(exist_ok=True)
    for stale in folder.glob(".*.tmp*"):
        stale.unlink(missing_ok=True)
    return [j for j in video.wanted_frames if not (folder / video.frame_names[j]).is_file()]


def map_sink(video: Video, folder: Path, writer: MapWriter, output_format: str) -> "MapFolderSink | SaliencyVideoSink":
    """Where a video's maps go in the output format: files in `folder`, or the saliency video beside it."""
    if output_format == "mp4":
        return SaliencyVideoSink(saliency_video_path(folder), video, writer)
    return MapFolderSink(folder, video, writer)


def saliency_video_path(folder: Path) -> Path:
    """Where --output_format mp4 puts a video's maps: OUT/<video>.mp4, beside where its map folder would be."""
    return folder.with_name(folder.name + ".mp4")


def output_path(folder: Path, output_format: str) -> Path:
    """What a video's maps are on disk: its map folder (png), or its saliency video (mp4)."""
    return saliency_video_path(folder) if output_format == "mp4" else folder


class SaliencyVideoSink:
    """One video's maps as its saliency video: post-processed by the MapWriter's threads, encoded in frame order.
    A frame without a map (it could not be decoded) shows the map before it, so the video keeps the source's frame
    count. The file appears complete or not at all (VideoWriter writes a temporary file and renames it)."""

    def __init__(self, path: Path, video: Video, writer: MapWriter):
        self.path, self.video, self.writer = path, video, writer
        self.pending: deque[tuple[int, Future]] = deque()
        self.encoder: VideoWriter | None = None
        self.written, self.last = 0, None

    def submit(self, index: int, saliency: np.ndarray, size: tuple[int, int]) -> None:
        """Frame `index`'s map, in order; encodes the ones done while more than the writer's limit wait."""
        self.pending.append((index, self.writer.pool.submit(finished_map, saliency, size, MAP_BITS["mp4"])))
        while len(self.pending) > self.writer.limit:
            self._encode_next()

    def _encode_next(self) -> None:
        index, future = self.pending.popleft()
        self._encode_until(index, future.result())

    def _encode_until(self, index: int, gray: np.ndarray) -> None:
        """Encode the frames before `index` that have no map (the last map again), then frame `index`."""
        if self.encoder is None:
            self._open((gray.shape[1], gray.shape[0]))
        try:
            for held in range(self.written, index):
                self.encoder.write(self.last if self.last is not None else gray, held)
            self.encoder.write(gray, index)
        except OSError as error:
            raise disk_error("saliency video", self.path, error) from error
        self.written, self.last = index + 1, gray

    def _open(self, size: tuple[int, int]) -> None:
        source = self.video.source
        info = probe_video(source) if source is not None and Path(source).is_file() else None
        encoder = VideoWriter(self.path, size, source=info, fps=None if info else self.video.fps or FOLDER_FPS,
                              saliency=True)
        try:
            self.encoder = encoder.__enter__()
        except OSError as error:
            raise disk_error("saliency video", self.path, error) from error

    def __enter__(self) -> "SaliencyVideoSink":
        return self

    def __exit__(self, kind, error, trace) -> None:
        """Finish the video when every map came; else drop it (its temporary file is removed)."""
        try:
            if kind is None:
                self._finish()
        except BaseException as failure:
            self._close(type(failure), failure, failure.__traceback__)
            raise
        self._close(kind, error, trace)

    def _finish(self) -> None:
        while self.pending:
            self._encode_next()
        if self.encoder is not None and self.written < self.video.num_frames:
            # the last frames could not be decoded: they show the last map
            self._encode_until(self.video.num_frames - 1, self.last)

    def _close(self, kind, error, trace) -> None:
        for _, future in self.pending:
            future.cancel()
        if self.encoder is not None:
            try:
                self.encoder.__exit__(kind, error, trace)
            except OSError as failure:   # the disk refused the video's end
                raise disk_error("saliency video", self.path, failure) from failure
