"""Training frames decoded straight from video files (the 2026 benchmarks' mp4s), with no frame-extraction step.

A clip is read by seeking to the keyframe at or before its first frame's timestamp and decoding forward, keeping
the clip's frames by timestamp (an open GOP's leading frames, shown before their keyframe, make it seek further
back). Each kept frame is scaled by FFmpeg's swscale (bilinear) straight to the training
frame size and converted to RGB in one step (frame.reformat): a FullHD frame never becomes a full-size RGB array,
which makes decoding several times faster than PIL's resize of the full picture (the frame-folder datasets keep
PIL's resize, the original's preprocessing). A saliency video's frame is read at its own size as gray16le (all
10 bits of a yuv420p10le map).

With a frame cache (train.py --frame_cache DIR), each video's frames are decoded once, scaled the same way, into
DIR/<name>-<key>.npy ((N, H, W, 3) uint8, memory-mapped by later reads): the key hashes the video's resolved
path, size and modification time and the frame size, so a changed video or another frame size never reads a
stale file. It costs H x W x 3 bytes a frame (250 KiB at 224x384).
"""
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from media import VideoInfo, decoded, gray16, held_frames, open_media, probe_video
from utils import InputError, atomic_path

OPEN_FILES = 6          # containers kept open per worker: a clip's video and saliency video, for a few videos
CACHE_KEY_VERSION = 1   # bump when the cached frames would come out differently
CACHE_CHUNK = 256       # frames decoded at a time into a cache file
SEEK_BACK = 8           # frames a seek first steps back when a clip's first frame lies before its keyframe


def video_facts(path: Path) -> tuple[int, bool]:
    """A video's frame count (as its header says; counted from its packets when the header does not) and whether
    it has a decodable audio track; InputError in words when it cannot be read."""
    with open_media(path) as container:
        if not container.streams.video:
            raise InputError(f"{path} has no video track")
        listed = container.streams.video[0].frames
        audio = container.streams.audio
        has_audio = bool(audio) and audio[0].codec_context is not None
    return (listed or probe_video(path).num_frames), has_audio


def cache_key(path: Path, frame_size: tuple[int, int]) -> str:
    """The frame cache's key of a video at a frame size: its resolved path, size, modification time."""
    stat = path.stat()
    text = f"{CACHE_KEY_VERSION}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{frame_size[0]}x{frame_size[1]}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class ClipReader:
    """Frames of video files, decoded at `frame_size` (height, width) or read from a frame cache folder; a few
    containers kept open between clips. A DataLoader worker gets its own copy, so nothing is shared."""

    def __init__(self, frame_size: tuple[int, int], cache_dir: str | Path | None = None):
        self.frame_size = tuple(frame_size)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._containers: OrderedDict[Path, av.container.InputContainer] = OrderedDict()
        self._infos: dict[Path, VideoInfo] = {}
        self._cached: OrderedDict[Path, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict:
        # open containers do not travel to worker processes: each worker opens its own
        return {**self.__dict__, "_containers": OrderedDict(), "_cached": OrderedDict()}

    def info(self, path: Path) -> VideoInfo:
        """The video's probe (frame timestamps, rate), made once."""
        if path not in self._infos:
            self._infos[path] = probe_video(path)
        return self._infos[path]

    def rgb(self, path: Path, indices: list[int]) -> np.ndarray:
        """(T, H, W, 3) uint8: the frames `indices` of a video at the frame size."""
        if self.cache_dir is not None:
            return np.asarray(self.cached(path)[indices])
        height, width = self.frame_size
        return self.decode(path, indices, lambda frame: frame.reformat(
            width=width, height=height, format="rgb24", interpolation="BILINEAR").to_ndarray())

    def gray16(self, path: Path, index: int) -> np.ndarray:
        """(H, W) uint16: frame `index` of a saliency video at its own size."""
        return self.decode(path, [index], gray16)[0]

    def decode(self, path: Path, indices: list[int], convert: Callable[[av.VideoFrame], np.ndarray]) -> np.ndarray:
        """The converted frames `indices`: seek to the keyframe before the first, decode forward to the last. When the
        first comes out after it (an open GOP's leading frames need the keyframe before), seek further back. A frame
        that does not decode takes the nearest one that did."""
        pts = self.info(path).pts
        wanted = {int(pts[i]): i for i in sorted(set(indices))}
        first = min(wanted.values())
        seek, back = first, SEEK_BACK
        found, earliest = self.decode_from(path, int(pts[seek]), wanted, convert)
        while len(found) < len(wanted) and earliest is not None and earliest > pts[first] and seek > 0:
            seek, back = max(0, first - back), 4 * back
            found, earliest = self.decode_from(path, int(pts[seek]), wanted, convert)
        if len(found) < len(wanted):
            places = sorted(wanted.values())
            found = dict(zip(places, held_frames((found.get(i) for i in places), path, nearest=True)))
        return np.stack([found[i] for i in indices])

    def decode_from(self, path: Path, seek: int, wanted: dict[int, int],
                    convert: Callable[[av.VideoFrame], np.ndarray]) -> tuple[dict[int, np.ndarray], int | None]:
        """The wanted frames (by timestamp) decoded from the keyframe at or before `seek`, converted, by index; and
        the first decoded frame's timestamp."""
        container = self.container(path)
        stream = container.streams.video[0]
        container.seek(seek, stream=stream, backward=True, any_frame=False)
        found, earliest, last = {}, None, max(wanted)
        for frame in decoded(container, stream):
            if frame.pts is None:
                continue
            earliest = frame.pts if earliest is None else earliest
            if frame.pts in wanted:
                found[wanted[frame.pts]] = convert(frame)
            if frame.pts >= last:
                break
        return found, earliest

    def container(self, path: Path) -> av.container.InputContainer:
        """The open container of a file (the least recently used one closed past OPEN_FILES)."""
        if path in self._containers:
            self._containers.move_to_end(path)
            return self._containers[path]
        if len(self._containers) >= OPEN_FILES:
            self._containers.popitem(last=False)[1].close()
        container = open_media(path)
        container.streams.video[0].thread_type = "AUTO"   # FFmpeg's frame and slice threads
        self._containers[path] = container
        return container

    def cached(self, path: Path) -> np.ndarray:
        """The video's frames from the frame cache, memory-mapped; decoded into it first when absent."""
        if path not in self._cached:
            if len(self._cached) >= OPEN_FILES:
                self._cached.popitem(last=False)
            file = self.cache_dir / f"{path.stem}-{cache_key(path, self.frame_size)}.npy"
            if not file.is_file():
                self.fill_cache(path, file)
            self._cached[path] = np.load(file, mmap_mode="r")
        return self._cached[path]

    def fill_cache(self, path: Path, file: Path) -> None:
        """Decode every frame of a video at the frame size into a cache file (written atomically: workers filling
        the same file at once leave one whole file)."""
        num_frames = self.info(path).num_frames
        reader = ClipReader(self.frame_size)
        try:
            with atomic_path(file) as temporary:
                frames = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8,
                                                   shape=(num_frames, *self.frame_size, 3))
                for start in range(0, num_frames, CACHE_CHUNK):   # a long video never sits in memory whole
                    chunk = list(range(start, min(start + CACHE_CHUNK, num_frames)))
                    frames[chunk[0]:chunk[-1] + 1] = reader.rgb(path, chunk)
                frames.flush()
                del frames
        except OSError as error:
            raise InputError(f"cannot write the frame cache {file}: {error.strerror or error}; free space there or "
                             "choose another --frame_cache folder") from error
