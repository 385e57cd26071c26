"""The inference engine: a saliency map for every frame of videos, for any model of the registry.

    video sources (frame folders, the audio-visual layout, video files)
      -> windows (the model entry's rule, model.WindowRule) -> batches -> the model
      -> maps post-processed and written (utils.postprocess_map); overlays with the sound

Frames are decoded and preprocessed ahead by a thread pool and maps written behind by another while the
model runs; a map already on disk is skipped, so a rerun resumes. This is the one module that knows about
threads, batching, precision and resuming. generate_result.py and generate_result_audio_visual.py are
its command lines (their shared flags are at the end); benchmark.py and reframe.py run it too.
"""
import argparse
import functools
import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from dataloader import (
    VALIDATION,
    Audio,
    clip_audio,
    decode_audio,
    decode_frames,
    decode_video_frames,
    frame_audio_windows,
    frame_tensor,
    list_audio_visual_videos,
    list_frame_folder_videos,
    load_wav,
    probe_video,
    read_image,
)
from model import ModelEntry, entry_from_flags, fuse_batchnorm, get_entry, load_model
from utils import AUDIO_RATE, PRECISIONS, InputError, audio_buffer_length, postprocess_map, save_map

log = logging.getLogger("generate")

# ----------------------------------------------------------------------------------------------
# Video sources


@dataclass
class Video:
    """One video: where its frames come from, the file name of each frame's map, and its sound."""

    name: str
    frame_names: list[str]
    frame_loaders: Callable[[], Iterable[Callable[[], Image.Image]]]  # per frame, in order, a function loading it
    source: Path | None = None          # the video file, for overlays
    fps: float | None = None
    frame_times: np.ndarray | None = None
    audio: Audio | None = None

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)


def frame_folder_video(name: str, frames: list[Path], fps: float | None = None) -> Video:
    """A video stored as frame files; its maps take the frames' file names."""
    times = None if fps is None else np.arange(len(frames)) * (1.0 / fps)
    return Video(name, [f.name for f in frames], lambda: (functools.partial(read_image, f) for f in frames), fps=fps,
                 frame_times=times)


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
            video.audio = load_wav(listed.audio)
        videos.append(video)
    return videos


def video_file(path: str | Path, with_audio: bool = False) -> Video:
    """A video file decoded with PyAV; maps named 00001.png, ...; audio resampled to SoundNet's rate."""
    info = probe_video(path)
    names = [f"{i:05d}.png" for i in range(1, info.num_frames + 1)]
    audio = decode_audio(info.path, rate=AUDIO_RATE) if with_audio else None
    return Video(info.path.stem, names, lambda: (frame.to_image for frame in decode_video_frames(info.path)),
                 source=info.path, fps=info.fps, frame_times=info.frame_times, audio=audio)


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
class Settings:
    """How the engine runs a model over videos."""

    batch_size: int = 1
    device: torch.device = torch.device("cpu")
    precision: str = "fp32"
    exact: bool = False                 # the original's kernels: NCDHW layout, one window per forward
    compile: str = "none"               # torch.compile mode: none, default, max-autotune, reduce-overhead (CUDA graphs)
    audio_ablation: str = "none"        # none | silence | shuffle: what an audio-visual model hears
    workers: int = 2                    # threads that decode and resize frames, and threads that write maps


@dataclass
class Predictor:
    """A model ready to run: its registry entry and the network prepared by prepare_model."""

    entry: ModelEntry
    model: torch.nn.Module

    def frame_input(self, image: Image.Image) -> torch.Tensor:
        """One frame as the model sees it: resized to its input size and normalised as it was trained."""
        return frame_tensor(image, self.entry.frame_size, self.entry.mean, self.entry.std)


def prepare_model(model: torch.nn.Module, settings: Settings) -> torch.nn.Module:
    """The model as the engine runs it, in eval mode on the device.

    settings.exact keeps the original's computation (layout, batch norm, one window per forward):
    its maps bit for bit on the same machine. Otherwise the engine runs a copy with batch norm folded
    into the convolutions, 3D convolutions channels-last (faster oneDNN / cuDNN kernels), in the
    settings' precision, compiled if asked; in fp32 the sums then run in another order, which moves a
    map by one gray level in a few pixels in 10,000 (measured by benchmark.py).
    """
    model.eval()
    if settings.exact:
        if settings.precision != "fp32" or settings.compile != "none":
            raise InputError("--exact computes as the original: fp32, not compiled")
        return model.to(settings.device)
    model = fuse_batchnorm(model)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
    model.to(settings.device, PRECISIONS[settings.precision])
    if settings.compile != "none":
        model = torch.compile(model, mode=settings.compile, dynamic=False)
    return model


def run_model(model: torch.nn.Module, inputs: list[torch.Tensor], settings: Settings) -> np.ndarray:
    """The maps of a batch of windows, as float32 numpy, from a model made by prepare_model."""
    count = len(inputs[0])
    if settings.compile != "none" and count < settings.batch_size:  # a compiled model keeps one batch shape
        inputs = [torch.cat([x, x[-1:].expand(settings.batch_size - count, *x.shape[1:])]) for x in inputs]
    with torch.inference_mode():
        if settings.exact:
            maps = torch.cat([model(*(x[i:i + 1] for x in inputs)) for i in range(count)])
        else:
            dtype = PRECISIONS[settings.precision]
            clip = inputs[0].to(dtype).contiguous(memory_format=torch.channels_last_3d)
            maps = model(clip, *(x.to(dtype) for x in inputs[1:]))
    return maps[:count].float().cpu().numpy()


# ----------------------------------------------------------------------------------------------
# One video: frames decoded ahead, windows batched, maps written behind


def in_background(items: Iterator, depth: int = 8) -> Iterator:
    """Iterate `items` in a daemon thread, `depth` ahead; exceptions surface in the consumer."""
    channel: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        try:
            for item in items:
                channel.put(item)
            channel.put(done)
        except BaseException as error:  # handed to the consumer, which re-raises it
            channel.put(error)

    threading.Thread(target=produce, daemon=True).start()
    while (item := channel.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


class FrameStream:
    """A video's frames, decoded and turned into model inputs ahead by a thread pool, kept on the device
    while windows still need them. Frames no window needs are decoded (for their size) but not converted."""

    def __init__(self, video: Video, prepare: Callable[[Image.Image], torch.Tensor], needed: set[int],
                 settings: Settings):
        self.video, self.prepare, self.needed, self.settings = video, prepare, needed, settings
        self.inputs: dict[int, torch.Tensor] = {}
        self.sizes: list[tuple[int, int]] = []    # (width, height) of every frame decoded so far
        self.stream = in_background(self._decoded())

    def _convert(self, index: int, load: Callable[[], Image.Image]) -> tuple[torch.Tensor | None, tuple[int, int]]:
        image = load()
        return (self.prepare(image) if index in self.needed else None), image.size

    def _decoded(self) -> Iterator[tuple[torch.Tensor | None, tuple[int, int]]]:
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
            tensor, size = next(self.stream, (None, None))
            if size is None:
                raise InputError(f"{self.video.source or self.video.name}: decoded {len(self.sizes)} of "
                                 f"{self.video.num_frames} frames; the file may be truncated")
            if tensor is not None:
                self.inputs[len(self.sizes)] = tensor.to(self.settings.device, non_blocking=True)
            self.sizes.append(size)

    def clips(self, windows: list[list[int]]) -> torch.Tensor:
        """(B, 3, T, H, W): the frames of each window stacked along time."""
        self.read_through(max(max(window) for window in windows))
        return torch.stack([torch.stack([self.inputs[i] for i in window], 1) for window in windows])

    def release_before(self, first_needed: int) -> None:
        """Drop the inputs of frames before `first_needed`."""
        for index in [i for i in self.inputs if i < first_needed]:
            del self.inputs[index]


class SoundWindows:
    """The SoundNet input of each window of a video, after the audio ablation."""

    def __init__(self, video: Video, entry: ModelEntry, ablation: str):
        if video.audio is None:
            raise InputError(f"{video.source or video.name} has no sound: {entry.label} needs it")
        self.video, self.entry, self.ablation = video, entry, ablation
        self.windows = frame_audio_windows(video.frame_times, video.fps, video.audio)
        self.buffer_length = audio_buffer_length(entry.clip_length)
        # "shuffle" gives each clip the sound of another moment of the same video
        n = video.num_frames
        self.sound_of = np.random.default_rng(0).permutation(n) if ablation == "shuffle" else np.arange(n)

    def batch(self, indices: list[int]) -> torch.Tensor:
        """(B, 1, L, 1) SoundNet inputs of the windows of frames `indices`."""
        rule, n = self.entry.window, self.video.num_frames
        audio = torch.stack([clip_audio(self.video.audio, *self.windows, min(rule.frames(j, n)), rule.length,
                                        self.buffer_length, reverse=rule.reversed(j))
                             for j in (int(self.sound_of[i]) for i in indices)])
        return audio.zero_() if self.ablation == "silence" else audio


def predict_video(predictor: Predictor, video: Video, out_dir: Path, settings: Settings, writer: "MapWriter",
                  progress: tqdm) -> int:
    """Write the maps of one video that are not on disk yet; returns how many were written."""
    n, rule = video.num_frames, predictor.entry.window
    todo = [j for j in range(n) if not (out_dir / video.frame_names[j]).is_file()]
    if not todo:
        return 0
    out_dir.mkdir(parents=True, exist_ok=True)
    windows = {j: rule.frames(j, n) for j in todo}
    frames = FrameStream(video, predictor.frame_input, {i for window in windows.values() for i in window}, settings)
    sound = SoundWindows(video, predictor.entry, settings.audio_ablation) if predictor.entry.takes_audio else None
    # the first frame any window from the k-th on still needs (a suffix minimum: windows are not monotonic)
    still_needed = list(accumulate((min(windows[j]) for j in reversed(todo)), min))[::-1] + [n]
    for start in range(0, len(todo), settings.batch_size):
        batch = todo[start:start + settings.batch_size]
        inputs = [frames.clips([windows[j] for j in batch])]
        if sound is not None:
            inputs.append(sound.batch(batch).to(settings.device))
        for j, saliency in zip(batch, run_model(predictor.model, inputs, settings)):
            writer.submit(saliency, frames.sizes[j], out_dir / video.frame_names[j])
        progress.update(len(batch))
        frames.release_before(still_needed[start + len(batch)])
    writer.drain()
    return len(todo)


class MapWriter:
    """Post-processes and saves maps in a thread pool, holding at most `limit` maps in flight."""

    def __init__(self, threads: int, limit: int):
        self.pool = ThreadPoolExecutor(max_workers=max(1, threads))
        self.pending: list[Future] = []
        self.limit = limit

    def submit(self, saliency: np.ndarray, size: tuple[int, int], path: Path) -> None:
        self.pending.append(self.pool.submit(lambda: save_map(postprocess_map(saliency, size), path)))
        while len(self.pending) > self.limit:
            self.pending.pop(0).result()

    def drain(self) -> None:
        for future in self.pending:
            future.result()
        self.pending.clear()

    def close(self) -> None:
        self.drain()
        self.pool.shutdown()


def predict_all(predictor: Predictor, videos: list[Video], save_path: str | Path,
                settings: Settings) -> dict[str, str]:
    """Run every video, logging one line per bad one and going on; returns {video name: cause} of failures."""
    failures = {}
    writer = MapWriter(settings.workers, limit=4 * settings.batch_size + 8)
    with tqdm(total=sum(v.num_frames for v in videos), unit="frame", dynamic_ncols=True) as progress:
        for video in videos:
            progress.set_description(video.name)
            try:
                written = predict_video(predictor, video, Path(save_path) / video.name, settings, writer, progress)
                progress.update(video.num_frames - written)
            except InputError as error:
                log.error("%s", error)
                failures[video.name] = str(error)
    writer.close()
    return failures


# ----------------------------------------------------------------------------------------------
# Overlays: the heatmap over the frames, with the source's sound


def write_overlay(video: Video, maps_dir: Path, out_path: Path, alpha: float = 0.5) -> None:
    """Encode the frames blended with their JET-coloured maps (H.264, the source frame rate) and the
    source audio (AAC) to out_path, atomically."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.stem}.tmp{out_path.suffix}")
    try:
        with av.open(str(video.source)) as source, av.open(str(tmp), "w") as target:
            width, height = source.streams.video[0].codec_context.width, source.streams.video[0].codec_context.height
            picture = target.add_stream("libx264", rate=Fraction(video.fps).limit_denominator(100000))
            picture.pix_fmt = "yuv420p"
            picture.width, picture.height = width + width % 2, height + height % 2
            sound = add_audio_copy(source, target)
            for name, image in zip(video.frame_names, decode_frames(video.source)):
                heat = cv2.imread(str(maps_dir / name), cv2.IMREAD_GRAYSCALE)
                coloured = cv2.cvtColor(cv2.applyColorMap(heat, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
                blended = cv2.addWeighted(np.asarray(image), 1 - alpha, coloured, alpha, 0)
                blended = np.pad(blended, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
                target.mux(picture.encode(av.VideoFrame.from_ndarray(blended, format="rgb24")))
            target.mux(picture.encode())
            if sound is not None:
                sound()
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)


def add_audio_copy(source: av.container.InputContainer, target: av.container.OutputContainer) -> Callable | None:
    """Add an AAC track (stereo at most) for the source's first audio track to target; returns the
    function that re-encodes the sound into it (None without sound). Streams must all be added
    before the first packet is written, hence the split."""
    if not source.streams.audio:
        return None
    track = source.streams.audio[0]
    layout = "mono" if track.channels == 1 else "stereo"
    stream = target.add_stream("aac", rate=track.rate, layout=layout)

    def encode() -> None:
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=track.rate)
        source.seek(0)
        for frame in [*source.decode(track), None]:
            for chunk in resampler.resample(frame):
                chunk.pts = None
                target.mux(stream.encode(chunk))
        target.mux(stream.encode())

    return encode


# ----------------------------------------------------------------------------------------------
# The command line both generate scripts share

MODEL_FLAGS = ("model", "clip_size", "num_hier", "decoder_upsample", "use_sound", "fusion", "use_transformer",
               "transformer_in_channel", "nhead", "num_encoder_layers")
SOUND_FLAGS = {"use_sound": None, "fusion": None, "use_transformer": None, "transformer_in_channel": None,
               "audio_ablation": "none"}   # generate_result_audio_visual.py's own flags, unset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags both generate scripts share: the original's names and the new ones."""
    parser.add_argument("--file_weight", default=None,
                        help="checkpoint to load (original or train.py); it names its model, so no model flags "
                             "are needed. Without it the maps come from an untrained model")
    parser.add_argument("--model", default=None, help="the model to build (python -c 'import model; "
                        "print(*model.MODELS)'); default: the checkpoint's, or the script's own")
    parser.add_argument("--save_path", default="results", help="output folder for the maps")
    parser.add_argument("--video", nargs="+", default=None, metavar="PATH",
                        help="video files (mp4, avi, mkv, mov, webm) instead of --path_indata")
    parser.add_argument("--overlay", default=None, metavar="OUT.mp4",
                        help="with --video: also write the heatmap over the frames, with the sound")
    parser.add_argument("--clip_size", default=None, type=int, help="frames per clip (8, 16, 32, 48)")
    parser.add_argument("--num_hier", default=None, type=int, help="encoder hierarchies fused by the decoder (0-3)")
    parser.add_argument("--frame_size", default=None, type=int, nargs=2, metavar=("H", "W"),
                        help="model input size, for models trained at another size (default: the model's own)")
    parser.add_argument("--decoder_upsample", default=None, type=int, help="1: the trilinear decoder (the only one)")
    parser.add_argument("--start_idx", default=-1, type=int, help="process part START_IDX of --num_parts (1-based)")
    parser.add_argument("--num_parts", default=4, type=int)
    parser.add_argument("--batch_size", default=None, type=int,
                        help="windows per forward pass (default: 16 on a GPU; on a CPU 2 in fp32, else 1)")
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--precision", default="fp32", choices=list(PRECISIONS),
                        help="fp32 (default): the original's maps within one gray level; bf16 / fp16: faster, "
                             "CC >= 0.99")
    parser.add_argument("--compile", default="none", choices=["none", "default", "max-autotune", "reduce-overhead"],
                        help="torch.compile the model (reduce-overhead: with CUDA graphs); pays off on long runs")
    parser.add_argument("--exact", action="store_true",
                        help="the original's kernels too (one window per forward): bit-identical maps, slower")
    parser.add_argument("--workers", default=max(1, min(8, (os.cpu_count() or 2) // 2)), type=int,
                        help="threads that decode frames, and threads that write maps")
    for legacy in ("--nhead", "--num_encoder_layers"):
        parser.add_argument(legacy, type=int, default=None, help="transformer of the AViNet fusions")
    for legacy in ("--multi_frame", "--num_decoder_layers"):
        parser.add_argument(legacy, type=int, default=None, help=argparse.SUPPRESS)


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


def load_predictor(args: argparse.Namespace, default_model: str, settings: Settings) -> Predictor:
    """The model the flags or the checkpoint name, with its weights, prepared to run; one log line says which."""
    entry = entry_from_args(args, default_model)
    frame_size = tuple(args.frame_size) if args.frame_size else None
    if args.file_weight:
        chosen_by = "the flags" if entry else f"identified from {args.file_weight}"
        entry, model = load_model(args.file_weight, entry, frame_size)
    else:
        entry = entry or get_entry(default_model).configured(frame_size)
        chosen_by, model = "the default", entry.build()
        log.warning("no --file_weight given: the maps come from an UNTRAINED model and mean nothing. Get the "
                    "released checkpoints (github samyak0210/ViNet, README 'Testing') or train one with train.py, "
                    "then pass --file_weight")
    log.info("model: %s (%s)", entry.label, chosen_by)
    return Predictor(entry, prepare_model(model, settings))


def settings_from(args: argparse.Namespace) -> Settings:
    """Engine settings from the parsed flags; under torchrun each process takes its own GPU."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else torch.device(args.device)
    if device.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    # measured by benchmark.py: on a CPU fp32 gains from pairs of windows, bf16 runs best one at a time
    batch_size = args.batch_size if args.batch_size is not None else \
        16 if device.type == "cuda" else 2 if args.precision == "fp32" else 1
    if batch_size < 1:
        raise InputError(f"--batch_size must be at least 1, got {batch_size}")
    return Settings(batch_size=batch_size, device=device, precision=args.precision, exact=args.exact,
                    compile=args.compile, audio_ablation=args.audio_ablation, workers=args.workers)


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
        return 1
    return 0


def generate(args: argparse.Namespace, list_videos: Callable[[bool], list[Video]], default_model: str) -> int:
    """Both scripts' body: the model, this process's videos (list_videos(with_audio)), the maps, the
    overlays; the exit status (2 after one line for bad input)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.overlay and not args.video:
            raise InputError("--overlay needs --video (overlays are made from video files)")
        if bool(args.video) == bool(args.path_indata):
            raise InputError("give either --path_indata DIR (frames) or --video PATH ...")
        settings = settings_from(args)
        predictor = load_predictor(args, default_model, settings)
        videos = process_share(select_part(list_videos(predictor.entry.takes_audio), args.start_idx, args.num_parts))
        failures = predict_all(predictor, videos, args.save_path, settings)
        return finish(videos, failures, args.save_path, args.overlay)
    except InputError as error:
        log.error("error: %s", error)
        return 2


def video_files(paths: list[str], with_audio: bool) -> list[Video]:
    """--video files, with their sound for an audio-visual model (InputError for a silent one)."""
    videos = [video_file(path, with_audio) for path in paths]
    silent = [str(v.source) for v in videos if with_audio and v.audio is None]
    if silent:
        raise InputError(f"{silent[0]} has no audio track: an audio-visual model needs sound; run with "
                         "--use_sound False (or --model vinet) for ViNet")
    return videos
