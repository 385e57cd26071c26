"""The inference engine: a saliency map for every frame of videos, for any model of the registry.

    video sources (frame folders, the audio-visual layout, video files)
      -> windows (the model entry's rule, registry.WindowRule) -> batches -> the backend (backends.py)
      -> maps post-processed and written (utils.postprocess_map); overlays with the sound

Frames are decoded and preprocessed ahead by a thread pool and maps written behind by another while the model runs;
each video's folder has a manifest of what made its maps (OUT/<video>.manifest.json), and a rerun with the same
settings skips the maps already on disk, so it resumes (other settings are refused). This module and backends.py
(how a model runs: PyTorch, onnxruntime or OpenVINO, precision, layout) are the engine: the one place that knows about
threads, batching, precision and resuming. generate_result.py and generate_result_audio_visual.py are its command
lines (their shared flags are at the end); benchmark.py and reframe.py run it too.
"""
import argparse
import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import queue
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from dataloader import (
    IMAGE_SUFFIXES,
    VALIDATION,
    clip_audio,
    frame_audio_windows,
    frame_tensor,
    list_audio_visual_videos,
    list_frame_folder_videos,
    read_image,
)
from media import Audio, VideoWriter, decode_audio, frames_by_index, heatmap_blend, load_wav, probe_video, read_gray
from registry import MODELS, ModelEntry, entry_from_flags, get_entry
from utils import (
    AUDIO_RATE,
    PRECISIONS,
    VERSION,
    InputError,
    atomic_write_bytes,
    audio_buffer_length,
    device_flag,
    number_flag,
    postprocess_map,
    resolve_device,
    save_map,
)
from vinet.backends import (
    BACKENDS,
    GRAPH_RUNTIMES,
    OPENVINO_STREAMS,
    Backend,
    Settings,
    check_graph_settings,
    graph_backend,
    model_backend,
)
from weights import load_model

log = logging.getLogger("generate")
UNTRAINED_SEED = 0           # the untrained models' weights (for tests of a pipeline) are seeded
MANIFEST_SUFFIX = ".manifest.json"   # OUT/<video>.manifest.json, beside OUT/<video>/: what made its maps
DEFAULT_WORKERS = max(1, min(8, (os.cpu_count() or 2) // 2))  # threads that decode frames, and that write maps
GPU_BATCH_SIZE = 8          # windows per forward pass on a GPU: batch 8 beat 32 end to end on an H200 (README)

# ----------------------------------------------------------------------------------------------
# Video sources


@dataclass
class Video:
    """One video: where its frames come from, the file name of each frame's map, and its sound (decoded
    when the video's turn comes). `gaps` fills, while its frames are read, with those that could not be
    decoded (they get no map). `wanted` limits the maps made to some frames (None: every frame)."""

    name: str
    frame_names: list[str]
    frame_loaders: Callable[[], Iterable[Callable[[], Image.Image]]]  # per frame, in order, a function loading it
    source: Path | None = None          # the video file, or the folder of its frames
    fps: float | None = None
    frame_times: np.ndarray | None = None
    load_audio: Callable[[], Audio | None] | None = None
    gaps: list[int] = field(default_factory=list)
    wanted: set[int] | None = None

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


def video_file(path: str | Path, with_audio: bool = False, name: str | None = None) -> Video:
    """A video file decoded with PyAV (upright: media applies its rotation and pixel aspect), named `name` (default
    its stem); maps named 00001.png, ...; audio resampled to SoundNet's rate. A frame that cannot be decoded is
    replaced by the last one that could (gray before any) and noted in gaps."""
    info = probe_video(path)
    if with_audio and not info.has_audio:
        raise InputError(f"{info.path} has no audio track: an audio-visual model needs sound; run with "
                         "--use_sound False (or --model vinet) for ViNet")
    names = [f"{i:05d}.png" for i in range(1, info.num_frames + 1)]
    audio = functools.partial(decode_audio, info.path, rate=AUDIO_RATE) if with_audio else None
    video = Video(name or info.path.stem, names, lambda: None, source=info.path, fps=info.fps,
                  frame_times=info.frame_times, load_audio=audio)

    def loaders() -> Iterator[Callable[[], Image.Image]]:
        last = functools.partial(Image.new, "RGB", info.size, (128, 128, 128))
        for index, frame in enumerate(frames_by_index(info)):
            if frame is None:
                video.gaps.append(index)
            else:
                last = converted_once(frame)
            yield last

    video.frame_loaders = loaders
    return video


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


# ----------------------------------------------------------------------------------------------
# Running a model


@dataclass
class Predictor:
    """A model ready to run: its registry entry (what it sees), the backend that runs it, and where its weights
    come from (the files and their hashes: the output folders' manifests record it)."""

    entry: ModelEntry
    backend: Backend
    origin: dict = field(default_factory=dict)

    def frame_inputs(self, image: Image.Image) -> tuple[torch.Tensor, ...]:
        """One frame as the model sees it, per clip it takes: resized to that input size and normalised."""
        return tuple(frame_tensor(image, part.frame_size, part.mean, part.std) for part in self.entry.parts)

    def windows(self, index: int, num_frames: int) -> list[list[int]]:
        """The frames of frame `index`'s clips (one per clip the model takes), by each one's window rule."""
        return [part.window.frames(index, num_frames) for part in self.entry.parts]


# ----------------------------------------------------------------------------------------------
# One video: frames decoded ahead, windows batched, maps written behind


def in_background(items: Iterator, depth: int = 8) -> Iterator:
    """Iterate `items` in a thread, `depth` ahead; exceptions surface in the consumer. Closing the returned
    generator (or dropping it) stops the thread, closes `items` and joins the thread: no thread is left running
    native code (decoding) when the interpreter exits."""
    channel: queue.Queue = queue.Queue(maxsize=depth)
    done, stop = object(), threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        channel.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            channel.put(done)
        except BaseException as error:  # handed to the consumer, which re-raises it
            channel.put(error)
        finally:
            getattr(items, "close", lambda: None)()

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := channel.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():   # take what the producer still puts, so that it reaches its end
            with contextlib.suppress(queue.Empty):
                channel.get(timeout=0.05)
        thread.join()


class FrameStream:
    """A video's frames, decoded and turned into model inputs ahead by a thread pool, kept on the device
    while windows still need them. Frames no window needs are decoded (for their size) but not converted."""

    def __init__(self, video: Video, prepare: Callable[[Image.Image], tuple[torch.Tensor, ...]],
                 needed: set[int] | None, settings: Settings):
        self.video, self.prepare, self.needed, self.settings = video, prepare, needed, settings
        self.inputs: dict[int, tuple[torch.Tensor, ...]] = {}
        self.sizes: list[tuple[int, int]] = []    # (width, height) of every frame decoded so far
        self.stream = in_background(self._decoded())

    def _convert(self, index: int, load: Callable[[], Image.Image]) -> tuple[tuple | None, tuple[int, int]]:
        image = load()
        return (self.prepare(image) if self.needed is None or index in self.needed else None), image.size

    def _decoded(self) -> Iterator[tuple[tuple | None, tuple[int, int]]]:
        workers = self.settings.workers
        with ThreadPoolExecutor(workers) as pool:
            ahead: deque[Future] = deque()
            for index, load in enumerate(self.video.frame_loaders()):
                ahead.append(pool.submit(self._convert, index, load))
                if len(ahead) > 2 * workers:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()

    def read_through(self, last: int) -> None:
        """Decode frames up to index `last`; InputError when the video ends sooner."""
        while len(self.sizes) <= last:
            tensors, size = next(self.stream, (None, None))
            if size is None:
                raise InputError(f"{self.video.source}: decoded {len(self.sizes)} of "
                                 f"{self.video.num_frames} frames; the file may be truncated")
            if self.sizes and size != self.sizes[0]:
                raise InputError(f"{self.video.source}: frame {self.video.frame_names[len(self.sizes)]} is "
                                 f"{size[0]}x{size[1]} but the first is {self.sizes[0][0]}x{self.sizes[0][1]}; the "
                                 "frames of a video share one size: resize or remove it")
            if tensors is not None:
                self.inputs[len(self.sizes)] = tuple(t.to(self.settings.device, non_blocking=True) for t in tensors)
            self.sizes.append(size)

    def clips(self, windows: list[list[list[int]]]) -> list[torch.Tensor]:
        """Per clip the model takes, (B, 3, T, H, W): the frames of each window stacked along time."""
        self.read_through(max(max(max(w) for w in frame_windows) for frame_windows in windows))
        return [torch.stack([torch.stack([self.inputs[i][part] for i in frame_windows[part]], 1)
                             for frame_windows in windows]) for part in range(len(windows[0]))]

    def release_before(self, first_needed: int) -> None:
        """Drop the inputs of frames before `first_needed`."""
        for index in [i for i in self.inputs if i < first_needed]:
            del self.inputs[index]

    def close(self) -> None:
        """Stop decoding (a video given up half-way leaves no thread behind)."""
        self.stream.close()
        self.inputs.clear()


class SoundWindows:
    """The SoundNet input of each window of a video, after the audio ablation."""

    def __init__(self, video: Video, entry: ModelEntry, ablation: str):
        self.audio = video.load_audio() if video.load_audio else None
        if self.audio is None:
            raise InputError(f"{video.source} has no sound: {entry.label} needs it")
        if not video.fps or video.fps <= 0:
            raise InputError(f"{video.source}: frame rate {video.fps}; the sound cannot be matched to the frames")
        self.video, self.entry, self.ablation = video, entry, ablation
        self.windows = frame_audio_windows(video.frame_times, video.fps, self.audio)
        self.buffer_length = audio_buffer_length(entry.clip_length)
        # "shuffle" gives each clip the sound of another moment of the same video
        n = video.num_frames
        self.sound_of = np.random.default_rng(0).permutation(n) if ablation == "shuffle" else np.arange(n)

    def batch(self, indices: list[int]) -> torch.Tensor:
        """(B, 1, L, 1) SoundNet inputs of the windows of frames `indices`."""
        rule, n = self.entry.window, self.video.num_frames
        audio = torch.stack([clip_audio(self.audio, *self.windows, min(rule.frames(j, n)), rule.length,
                                        self.buffer_length, reverse=rule.reversed(j))
                             for j in (int(self.sound_of[i]) for i in indices)])
        return audio.zero_() if self.ablation == "silence" else audio


def predict_video(predictor: Predictor, video: Video, out_dir: Path, settings: Settings, writer: "MapWriter",
                  progress: tqdm) -> int:
    """Write the maps of one video's wanted frames that are not on disk yet (its folder's manifest saying what
    makes them); returns how many were written."""
    n = video.num_frames
    claim_output_folder(out_dir, maps_provenance(predictor, settings, video), video.wanted)
    todo = [j for j in video.wanted_frames if not (out_dir / video.frame_names[j]).is_file()]
    if not todo:
        return 0
    for stale in out_dir.glob(".*.tmp*"):  # left by a run that was killed while writing
        stale.unlink(missing_ok=True)
    needed = None if len(todo) == n else {i for j in todo for window in predictor.windows(j, n) for i in window}
    sound = SoundWindows(video, predictor.entry, settings.audio_ablation) if predictor.entry.takes_audio else None
    frames = FrameStream(video, predictor.frame_inputs, needed, settings)
    try:
        for batch, maps in run_batches(predictor, todo, n, frames, sound, settings):
            for j, saliency in zip(batch, maps):
                if j not in video.gaps:
                    writer.submit(saliency, frames.sizes[j], out_dir / video.frame_names[j])
            progress.update(len(batch))
    finally:
        frames.close()
    if video.gaps:
        raise InputError(f"{video.source}: frames {frame_ranges(video.gaps)} could not be decoded (corrupt data): no "
                         f"maps for them, the other {n - len(video.gaps)} are written; repair or re-encode the file")
    return len(todo)


def run_batches(predictor: Predictor, todo: list[int], num_frames: int, frames: FrameStream,
                sound: "SoundWindows | None", settings: Settings) -> Iterator[tuple[list[int], np.ndarray]]:
    """The maps of frames `todo`, batch by batch, releasing each frame once no later window needs it."""
    # the first frame any window from the k-th on still needs (a suffix minimum: windows are not monotonic)
    firsts = np.array([min(min(window) for window in predictor.windows(j, num_frames)) for j in todo])
    still_needed = [*np.minimum.accumulate(firsts[::-1])[::-1].tolist(), num_frames]
    for start in range(0, len(todo), settings.batch_size):
        batch = todo[start:start + settings.batch_size]
        inputs = frames.clips([predictor.windows(j, num_frames) for j in batch])
        if sound is not None:
            inputs.append(sound.batch(batch).to(settings.device))
        yield batch, predictor.backend(inputs)
        frames.release_before(still_needed[start + len(batch)])


def frame_ranges(indices: list[int]) -> str:
    """Frame numbers (from 1) as ranges: '4, 10-12'."""
    ranges, numbers = [], sorted(i + 1 for i in indices)
    for number in numbers:
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def write_map(saliency: np.ndarray, size: tuple[int, int], path: Path) -> None:
    """Post-process and save one map atomically; InputError (not a traceback) when the disk refuses it."""
    try:
        save_map(postprocess_map(saliency, size), path)
    except OSError as error:
        raise InputError(f"cannot write map {path}: {error.strerror or error}; free some space or fix the folder's "
                         "permissions and rerun (the maps already written are kept)") from error


class MapWriter:
    """Post-processes and saves maps in a thread pool, holding at most `limit` maps in flight."""

    def __init__(self, threads: int, limit: int):
        self.pool = ThreadPoolExecutor(max_workers=max(1, threads))
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


# ----------------------------------------------------------------------------------------------
# Output folders: OUT/<video>.manifest.json records what made the maps in OUT/<video>/ (which holds maps only,
# as the original's layout); a rerun resumes only when it matches


def file_identity(path: str | Path) -> dict[str, str]:
    """A weights or ONNX file's name and SHA-256 (what the manifests record of it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return {"file": Path(path).name, "sha256": digest.hexdigest()}


def maps_provenance(predictor: Predictor, settings: Settings, video: Video) -> dict:
    """What decides a video's maps: the project's version, the model and its weights, the backend, precision,
    the device's kind (a GPU's kernels differ from a CPU's by a gray level or two), input sizes, normalisation and
    window rules, what it hears, and the input itself."""
    parts = predictor.entry.parts
    return {"version": VERSION, "model": predictor.entry.label, **predictor.origin,
            "precision": settings.precision, "exact": settings.exact, "device": settings.device.type,
            "frame_size": [list(part.frame_size) for part in parts],
            "normalisation": [[list(part.mean), list(part.std)] for part in parts],
            "window": [dataclasses.asdict(part.window) for part in parts],
            "audio_ablation": settings.audio_ablation if predictor.entry.takes_audio else None,
            "source": {"path": str(Path(video.source).resolve()) if video.source else None,
                       "frames": video.num_frames}}


def manifest_path(folder: Path) -> Path:
    """The manifest of a video's map folder: beside it, <folder>.manifest.json."""
    return folder.with_name(folder.name + MANIFEST_SUFFIX)


def existing_maps(folder: Path) -> list[Path]:
    """The map files already in an output folder (temporary files aside)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]


def provenance_conflict(folder: Path, wanted: dict) -> str | None:
    """Why the maps in `folder` cannot be resumed with `wanted` (None when they can, or when there are none)."""
    maps = existing_maps(folder)
    if not maps:
        return None
    try:
        recorded = json.loads(manifest_path(folder).read_text())
    except (OSError, ValueError):
        return (f"{folder} holds {len(maps)} maps of unknown origin (no readable {manifest_path(folder).name}: made "
                "before manifests existed, or by another program)")
    if recorded.get("source") != wanted["source"]:
        return f"{folder} holds {len(maps)} maps of another input ({recorded.get('source', {}).get('path')})"
    changed = next((key for key in wanted if recorded.get(key) != wanted[key]), None)
    if changed:
        return (f"{folder} holds {len(maps)} maps made with another {changed} ({recorded.get(changed)} there, "
                f"{wanted[changed]} now)")
    return None


def check_output_folders(predictor: Predictor, videos: list[Video], save_path: Path, settings: Settings,
                         overwrite: bool) -> None:
    """Before any work: InputError for the first video whose folder holds maps made otherwise, unless
    `overwrite` (they are then redone when the video's turn comes)."""
    for video in videos:
        conflict = provenance_conflict(save_path / video.name, maps_provenance(predictor, settings, video))
        if conflict and not overwrite:
            raise InputError(f"{conflict}: rerun with the settings that made them to resume, pass --overwrite to "
                             "redo them, or choose another --save_path")


def recorded_frames(folder: Path) -> list[int] | None:
    """The frames a folder's manifest says its maps were asked for (None: every frame, or no manifest)."""
    try:
        frames = json.loads(manifest_path(folder).read_text()).get("frames", "all")
    except (OSError, ValueError):
        return None
    return None if frames == "all" else frames


def claim_output_folder(folder: Path, provenance: dict, wanted: set[int] | None = None) -> None:
    """Make `folder` the home of maps made as `provenance` says: maps made otherwise are removed (the run was
    told to overwrite them), then the manifest is written, with `frames`: "all", or the frames (from 0) that
    sampled runs (reframe.py's analysed frames, `wanted`) asked for, the ones already there included."""
    sampled = None
    if provenance_conflict(folder, provenance):
        for old in existing_maps(folder):
            old.unlink()
    elif existing_maps(folder):
        sampled = recorded_frames(folder)
    if sampled is not None and wanted is None:
        log.info("%s holds the maps of %d sampled frames (its manifest): the other frames' maps are made now",
                 folder, len(sampled))
    frames = "all" if wanted is None or (sampled is None and existing_maps(folder)) else \
        sorted(set(wanted) | set(sampled or ()))
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(manifest_path(folder), json.dumps({**provenance, "frames": frames}, indent=1).encode())


def predict_all(predictor: Predictor, videos: list[Video], save_path: str | Path, settings: Settings,
                overwrite: bool = False) -> dict[str, str]:
    """Run every video, logging one line per bad one and going on; returns {video name: cause} of failures.
    InputError before any work when a video's folder holds maps made otherwise (check_output_folders)."""
    check_output_folders(predictor, videos, Path(save_path), settings, overwrite)
    failures = {}
    writer = MapWriter(settings.workers, limit=4 * settings.batch_size + 8)
    with writer, tqdm(total=sum(len(v.wanted_frames) for v in videos), unit="frame", dynamic_ncols=True) as progress:
        for video in videos:
            progress.set_description(video.name)
            try:
                try:
                    written = predict_video(predictor, video, Path(save_path) / video.name, settings, writer, progress)
                finally:
                    writer.drain()   # a video's maps are on disk (or its failure known) before the next starts
                progress.update(len(video.wanted_frames) - written)
            except InputError as error:
                log.error("%s", error)
                failures[video.name] = str(error)
    return failures


# ----------------------------------------------------------------------------------------------
# Overlays: the heatmap over the frames, with the source's sound


def write_overlay(video: Video, maps_dir: Path, out_path: Path, alpha: float = 0.5) -> None:
    """Write a video file's frames blended with their JET-coloured maps, with its sound, to out_path
    (media.VideoWriter: H.264, the source's timestamps and sound); a frame that could not be decoded (it has
    no map) is left out."""
    info = probe_video(video.source)
    with VideoWriter(out_path, info.size, source=info) as writer:
        for index, (name, frame) in enumerate(zip(video.frame_names, frames_by_index(info))):
            if frame is not None:
                writer.write(heatmap_blend(frame.to_ndarray(format="rgb24"), read_gray(maps_dir / name), alpha), index)


# ----------------------------------------------------------------------------------------------
# The command line both generate scripts share

IGNORED_FLAGS = ("--multi_frame", "--num_decoder_layers")   # the original parsed them and never used them
MODEL_FLAGS = ("model", "clip_size", "num_hier", "decoder_upsample", "use_sound", "fusion", "use_transformer",
               "transformer_in_channel", "nhead", "num_encoder_layers")
SOUND_FLAGS = {"use_sound": None, "fusion": None, "use_transformer": None, "transformer_in_channel": None,
               "audio_ablation": "none"}   # generate_result_audio_visual.py's own flags, unset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags both generate scripts share: the original's names and the new ones."""
    parser.add_argument("--file_weight", default=None, nargs="+", metavar="W",
                        help="checkpoint to load (original, ViNet++ or train.py; ViNet-E: a ViNet-S and a ViNet-A "
                             "one); it names its model, so no model flags are needed. Without it the maps come "
                             "from an untrained model")
    parser.add_argument("--model", default=None, choices=list(MODELS), metavar="NAME",
                        help=f"the model to build ({', '.join(MODELS)}); default: the checkpoint's, or the script's "
                             "own")
    parser.add_argument("--onnx", default=None, metavar="MODEL.onnx",
                        help="run an ONNX file written by export.py (an int8 one too) instead of a checkpoint, with "
                             "onnxruntime or --backend openvino (pip install -r requirements-onnx.txt)")
    parser.add_argument("--save_path", default="results", help="output folder for the maps")
    parser.add_argument("--video", nargs="+", default=None, metavar="PATH",
                        help="video files (mp4, avi, mkv, mov, webm) instead of --path_indata")
    parser.add_argument("--overlay", default=None, metavar="OUT.mp4",
                        help="with --video: also write the heatmap over the frames, with the sound")
    parser.add_argument("--clip_size", default=None, type=number_flag(int, 1), help="frames per clip (8, 16, 32, 48)")
    parser.add_argument("--num_hier", default=None, type=number_flag(int, 0, 3),
                        help="encoder hierarchies fused by the decoder (0-3)")
    add_frame_size_argument(parser)
    parser.add_argument("--decoder_upsample", default=None, type=number_flag(int, 1, 1),
                        help="1: the trilinear decoder (the only one released)")
    parser.add_argument("--start_idx", default=-1, type=number_flag(int, -1),
                        help="process part START_IDX of --num_parts (1-based; -1: all)")
    parser.add_argument("--num_parts", default=4, type=number_flag(int, 1))
    add_run_arguments(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="redo the maps of a video whose folder holds maps made otherwise (see OUT/<video>"
                             ".manifest.json)")
    parser.add_argument("--compile", default="none", choices=["none", "default", "max-autotune", "reduce-overhead"],
                        help="torch.compile the model (reduce-overhead: with CUDA graphs); pays off on long runs")
    parser.add_argument("--exact", action="store_true",
                        help="the original's kernels too (one window per forward): bit-identical maps, slower")
    parser.add_argument("--workers", default=DEFAULT_WORKERS, type=number_flag(int, 1),
                        help="threads that decode frames, and threads that write maps")
    for legacy in ("--nhead", "--num_encoder_layers"):
        parser.add_argument(legacy, type=number_flag(int, 1), default=None, help="transformer of the AViNet fusions")
    for legacy in IGNORED_FLAGS:
        parser.add_argument(legacy, default=None, help="the original's flag, accepted and ignored (as it did)")


def add_frame_size_argument(parser: argparse.ArgumentParser) -> None:
    """--frame_size H W (positive; the model's registry entry checks the sizes it accepts)."""
    parser.add_argument("--frame_size", default=None, type=number_flag(int, 1), nargs=2, metavar=("H", "W"),
                        help="model input size, for models trained at another size (default: the model's own; "
                             "each model accepts its own multiples: 32, ViNet-A 4)")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """How a model runs, for every script that runs one: --batch_size, --device, --precision, --backend."""
    parser.add_argument("--batch_size", default=None, type=number_flag(int, 1),
                        help=f"windows per forward pass (default: {GPU_BATCH_SIZE} on a GPU; on a CPU 2 in fp32, "
                             "else 1)")
    parser.add_argument("--device", default="auto", type=device_flag,
                        help="auto (cuda when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--precision", default="fp32", choices=list(PRECISIONS),
                        help="fp32 (default): the original's maps within one gray level; bf16 (CPUs and GPUs) / "
                             "fp16 (GPUs only): faster, CC >= 0.99")
    parser.add_argument("--backend", default=None, choices=BACKENDS,
                        help="what runs the model: torch (default), onnxruntime (default with --onnx; "
                             "requirements-onnx.txt) or openvino (CPUs: fp32, bf16, an int8 file from export.py "
                             "--int8; requirements-openvino.txt); a checkpoint is converted to ONNX at start")


def entry_from_args(args: argparse.Namespace, default_model: str) -> ModelEntry | None:
    """The entry the model flags select; None when none is given (the checkpoint then decides)."""
    if all(getattr(args, name) is None for name in MODEL_FLAGS):
        return None
    use_sound = args.use_sound
    if args.model is None and use_sound is None:
        use_sound = get_entry(default_model).takes_audio or bool(args.fusion or args.use_transformer)
    widths = {"transformer_in_channel": args.transformer_in_channel, "nhead": args.nhead,
              "num_encoder_layers": args.num_encoder_layers,
              "use_upsample": None if args.decoder_upsample is None else bool(args.decoder_upsample)}
    return entry_from_flags(args.model, use_sound, args.fusion, args.use_transformer, args.clip_size, args.num_hier,
                            args.frame_size, **widths)


def backend_name(backend: str | None, onnx: str | None) -> str:
    """--backend as given, else torch, or onnxruntime for an --onnx file."""
    return backend or ("onnxruntime" if onnx else "torch")


def build_predictor(file_weight: str | list[str] | None, entry: ModelEntry | None,
                    frame_size: tuple[int, int] | None, settings: Settings, default_model: str = "vinet",
                    backend: str = "torch") -> Predictor:
    """The model `entry` names, else the checkpoint's own (a list: one per member of an ensemble), else
    default_model, with its weights (untrained without a checkpoint: a warning says so), run by `backend`; one
    log line says which model and why."""
    files = [file_weight] if isinstance(file_weight, str) else list(file_weight or [])
    chosen_by = "the flags" if entry else f"identified from {' '.join(files)}" if files else "the default"
    if files:
        entry, model = load_model(files, entry, frame_size)
        weights = [file_identity(path) for path in files]
    else:
        entry = entry or get_entry(default_model).configured(frame_size)
        with torch.random.fork_rng():   # the same untrained weights every run: a rerun resumes the same maps
            torch.manual_seed(UNTRAINED_SEED)
            model = entry.build()
        weights = f"untrained (seed {UNTRAINED_SEED})"
        log.warning("no --file_weight given: the maps come from an UNTRAINED model and mean nothing. Get the "
                    "checkpoints of %s or train one with train.py, then pass --file_weight", entry.checkpoints)
    log.info("model: %s (%s)", entry.label, chosen_by)
    return Predictor(entry, model_backend(backend, model, entry, settings), {"backend": backend, "weights": weights})


def onnx_predictor(path: str | Path, settings: Settings, backend: str = "onnxruntime") -> Predictor:
    """An ONNX file written by export.py, with the registry entry its metadata names, run by onnxruntime (CUDA when
    settings.device is a GPU and onnxruntime-gpu is installed; the file fixes the precision) or OpenVINO (float
    layers in settings.precision); an int8 file's CC with fp32 (export.py --int8) is logged."""
    runner = graph_backend(backend, path, settings)
    meta = runner.metadata
    log.info("model: %s (ONNX file %s, from %s, %s, by %s)", runner.entry.label, path, meta["checkpoint"],
             meta["precision"], backend)
    if "int8_cc_vs_fp32" in meta:
        scores = json.loads(meta["int8_cc_vs_fp32"])
        log.info("int8 file: CC %s with fp32's maps on %s held-out windows, float layers in %s (calibrated by %s)",
                 scores.get(settings.precision, scores), meta["int8_held_out_windows"], settings.precision,
                 meta["int8_calibration"])
    return Predictor(runner.entry, runner, {"backend": backend, "weights": [file_identity(path)],
                                            "file_precision": meta["precision"]})


def make_settings(device: str = "auto", batch_size: int | None = None, precision: str = "fp32", exact: bool = False,
                  compile: str = "none", audio_ablation: str = "none", workers: int = DEFAULT_WORKERS,
                  backend: str = "torch") -> Settings:
    """Engine settings; under torchrun each process takes its own GPU (processes share them round-robin when
    there are more processes than GPUs). The default batch size is the one benchmark.py measured fastest:
    GPU_BATCH_SIZE on a GPU; on a CPU 2 in fp32 (pairs of windows gain), else 1; OpenVINO's windows at once
    (it runs on the CPU)."""
    if backend == "openvino":
        if device not in ("auto", "cpu"):
            raise InputError(f"--backend openvino runs on the CPU here: use --device cpu, not {device}")
        device = "cpu"
        batch_size = OPENVINO_STREAMS if batch_size is None else batch_size
    chosen = resolve_device(device)
    if chosen.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    if precision == "fp16" and chosen.type != "cuda":
        raise InputError("--precision fp16 runs on CUDA devices only (on a CPU it is over 100x slower than fp32): "
                         "use --precision bf16 on a CPU")
    if exact and (precision != "fp32" or compile != "none"):
        raise InputError("--exact computes as the original: fp32, not compiled; drop --precision or --compile")
    if batch_size is None:
        batch_size = GPU_BATCH_SIZE if chosen.type == "cuda" else 2 if precision == "fp32" else 1
    if batch_size < 1 or workers < 1:
        raise InputError(f"--batch_size and --workers must be at least 1, got {batch_size} and {workers}")
    settings = Settings(batch_size, chosen, precision, exact, compile, audio_ablation, workers)
    if backend in GRAPH_RUNTIMES:
        check_graph_settings(backend, settings)
    return settings


def check_maps_of_video(path: str | Path, save_path: str | Path, predictor: Predictor, settings: Settings,
                        overwrite: bool = False) -> None:
    """Before any work: InputError when save_path/<stem> holds maps of this video made otherwise (maps_of_video
    refuses them too, later), unless `overwrite`."""
    video = video_files([str(path)], predictor.entry.takes_audio)[0]
    check_output_folders(predictor, [video], Path(save_path), settings, overwrite)


def maps_of_video(path: str | Path, save_path: str | Path, predictor: Predictor, settings: Settings,
                  overwrite: bool = False, frames: set[int] | None = None) -> Path:
    """The maps of one video file (with its sound when the model hears), of `frames` only when given (the model
    runs on their windows alone), in save_path/<stem>; that folder. InputError when the folder holds maps made
    otherwise, unless `overwrite`."""
    video = video_files([str(path)], predictor.entry.takes_audio)[0]
    video.wanted = frames
    failures = predict_all(predictor, [video], save_path, settings, overwrite)
    if failures:
        raise InputError(failures[video.name])
    return Path(save_path) / video.name


def check_save_path(save_path: Path, inputs: Path | None) -> None:
    """InputError unless the maps can be written to save_path, outside the input folder."""
    if inputs is not None and save_path.resolve().is_relative_to(inputs.resolve()):
        raise InputError(f"--save_path {save_path} is inside --path_indata {inputs}: the maps would mix with the "
                         "frames (and be read as frames next time); choose a folder outside it")
    try:
        save_path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=save_path).close()
    except OSError as error:
        raise InputError(f"cannot write to --save_path {save_path}: {error.strerror or error}; choose a folder you "
                         "can write to") from error


def finish(videos: list[Video], failures: dict[str, str], save_path: str | Path, overlay: str | None) -> int:
    """Write overlays, say where everything is, repeat each failure's cause; the exit status."""
    done = [v for v in videos if v.name not in failures]
    for video in done if overlay else ():
        target = Path(overlay)
        if len(videos) > 1:
            target = target.with_name(f"{target.stem}_{video.name}{target.suffix}")
        write_overlay(video, Path(save_path) / video.name, target)
        log.info("overlay: %s", target)
    for video in done:
        log.info("maps: %s (%d frames)", Path(save_path) / video.name, video.num_frames)
    if failures:
        log.error("%d of %d videos failed: %s", len(failures), len(videos),
                  ", ".join(f"{name} ({cause})" for name, cause in failures.items()))
        return 2
    return 0


def generate(parser: argparse.ArgumentParser, argv: list[str] | None,
             list_videos: Callable[[argparse.Namespace, bool], list[Video]], default_model: str) -> int:
    """Both scripts' body: the flags, the model, this process's videos (list_videos(args, with_audio)), the maps,
    the overlays; the exit status (2 after one line for bad input, before any work)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        args = parser.parse_args(argv)
        check_generate_args(args, default_model)
        backend = backend_name(args.backend, args.onnx)
        settings = make_settings(args.device, args.batch_size, args.precision, args.exact, args.compile,
                                 args.audio_ablation, args.workers, backend)
        predictor = onnx_predictor(args.onnx, settings, backend) if args.onnx else \
            build_predictor(args.file_weight, entry_from_args(args, default_model),
                            tuple(args.frame_size) if args.frame_size else None, settings, default_model, backend)
        if settings.audio_ablation != "none" and not predictor.entry.takes_audio:
            raise InputError(f"--audio_ablation {settings.audio_ablation} changes what an audio-visual model hears; "
                             f"{predictor.entry.label} hears nothing: drop it")
        videos = process_share(select_part(list_videos(args, predictor.entry.takes_audio), args.start_idx,
                                           args.num_parts))
        failures = predict_all(predictor, videos, args.save_path, settings, args.overwrite)
        return finish(videos, failures, args.save_path, args.overlay)
    except InputError as error:
        log.error("error: %s", error)
        return 2


def check_generate_args(args: argparse.Namespace, default_model: str) -> None:
    """InputError for flags that cannot work together; a warning for the original's ignored flags."""
    if args.overlay and not args.video:
        raise InputError("--overlay needs --video (overlays are made from video files)")
    if bool(args.video) == bool(args.path_indata):
        raise InputError("give either --path_indata DIR (frames) or --video PATH ...")
    if args.onnx and (args.file_weight or args.frame_size or entry_from_args(args, default_model)):
        raise InputError("--onnx names its model and input size: drop --file_weight, --frame_size and the "
                         "model flags")
    check_save_path(Path(args.save_path), args.path_indata and Path(args.path_indata))
    for name in IGNORED_FLAGS:
        if getattr(args, name.lstrip("-")) is not None:
            log.warning("%s is ignored: the original accepted it and never used it", name)


def video_files(paths: list[str], with_audio: bool) -> list[Video]:
    """--video files, with their sound for an audio-visual model (InputError for a silent one), each named for an
    output folder of its own (output_names)."""
    return [video_file(path, with_audio, name) for path, name in zip(paths, output_names(paths))]


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
