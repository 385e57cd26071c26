"""ViNet inference: a saliency map for every frame of frame folders or video files.

    python generate_result.py --path_indata DIR --save_path OUT --file_weight ViNet_DHF1K.pt
    python generate_result.py --video clip.mp4 --save_path OUT --file_weight W --overlay clip_overlay.mp4

DIR holds <video>/images/<frames> (the DHF1K layout); maps go to OUT/<video>/<frame file name>.
Video files give OUT/<video stem>/00001.png, 00002.png, ... The map of frame i comes from the clip
of frames i-T+1..i; the first T-1 frames use the time-reversed clip i..i+T-1, and where a video is
shorter than that, the clip repeats its last frame. Frames are decoded and maps written in
background threads while the model runs; maps already on disk are skipped, so a rerun resumes.
generate_result_audio_visual.py runs AViNet with the same machinery.
"""
import argparse
import functools
import logging
import os
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from dataloader import (
    Audio,
    clip_audio,
    decode_audio,
    decode_frames,
    decode_video_frames,
    frame_audio_windows,
    frame_tensor,
    list_frames,
    probe_video,
    read_image,
)
from model import VideoSaliencyModel, fuse_batchnorm, load_checkpoint
from utils import (
    AUDIO_RATE,
    CLIP_LENGTH,
    FRAME_SIZE,
    PRECISIONS,
    InputError,
    audio_buffer_length,
    postprocess_map,
    save_map,
)

log = logging.getLogger("generate")

# ----------------------------------------------------------------------------------------------
# What to process


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


def frame_folder_video(name: str, folder: Path, fps: float | None = None) -> Video:
    """A video stored as a folder of frames; its maps take the frames' file names."""
    frames = list_frames(folder)
    times = None if fps is None else np.arange(len(frames)) * (1.0 / fps)
    return Video(name, [f.name for f in frames], lambda: (functools.partial(read_image, f) for f in frames), fps=fps,
                 frame_times=times)


def dhf1k_videos(root: str | Path) -> list[Video]:
    """The videos of the seed's ViNet layout: root/<video>/images/<frames>, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"input folder not found: {root} (expected <video>/images/<frames> inside)")
    names = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not names:
        raise InputError(f"no video folders in {root} (expected <video>/images/<frames> inside)")
    return [frame_folder_video(name, root / name / "images") for name in names]


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


# ----------------------------------------------------------------------------------------------
# Windows of frames and sound


def window_frames(index: int, num_frames: int, clip_size: int) -> list[int]:
    """Frame indices of the clip that predicts frame `index` (its last frame is `index`)."""
    if index >= clip_size - 1:
        return list(range(index - clip_size + 1, index + 1))
    return [min(index + clip_size - 1 - k, num_frames - 1) for k in range(clip_size)]


def window_audio(video: Video, index: int, clip_size: int, buffer_length: int,
                 windows: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:
    """SoundNet input of frame `index`'s clip: its excerpt, time-reversed with a reversed clip."""
    if index >= clip_size - 1:
        return clip_audio(video.audio, *windows, index - clip_size + 1, clip_size, buffer_length)
    return clip_audio(video.audio, *windows, index, clip_size, buffer_length).flip(1)


# ----------------------------------------------------------------------------------------------
# The engine: decode ahead, run batches of windows, write behind


@dataclass
class Settings:
    """How to run a model over videos."""

    clip_size: int = CLIP_LENGTH
    frame_size: tuple[int, int] = FRAME_SIZE
    batch_size: int = 1
    device: torch.device = torch.device("cpu")
    precision: str = "fp32"
    exact: bool = False                 # the original's kernels: NCDHW layout, one window per forward
    compile: str = "none"               # torch.compile mode: none, default, max-autotune, reduce-overhead (CUDA graphs)
    use_audio: bool = False
    audio_ablation: str = "none"        # none | silence | shuffle
    workers: int = 2                    # threads that decode and resize frames, and threads that write maps


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


def predict_video(model: torch.nn.Module, video: Video, out_dir: Path, settings: Settings, writer: MapWriter,
                  progress: tqdm) -> int:
    """Write the maps of one video that are not on disk yet; returns how many were written."""
    n, clip_size = video.num_frames, settings.clip_size
    todo = [j for j in range(n) if not (out_dir / video.frame_names[j]).is_file()]
    if not todo:
        return 0
    out_dir.mkdir(parents=True, exist_ok=True)
    needed = {i for j in todo for i in window_frames(j, n, clip_size)}
    buffer_length = audio_buffer_length(clip_size)
    if settings.use_audio:
        windows = frame_audio_windows(video.frame_times, video.fps, video.audio)
        # The ablation "shuffle" gives each clip the sound of another moment of the same video.
        sound_of = np.random.default_rng(0).permutation(n) if settings.audio_ablation == "shuffle" else np.arange(n)

    def prepare(index: int, load: Callable[[], Image.Image]) -> tuple[torch.Tensor | None, tuple[int, int]]:
        image = load()
        return (frame_tensor(image, settings.frame_size) if index in needed else None), image.size

    def frames() -> Iterator[tuple[torch.Tensor | None, tuple[int, int]]]:
        """Frames decoded and resized by a thread pool, in order."""
        with ThreadPoolExecutor(settings.workers) as pool:
            ahead: deque[Future] = deque()
            for index, load in enumerate(video.frame_loaders()):
                ahead.append(pool.submit(prepare, index, load))
                if len(ahead) > 2 * settings.workers:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()

    cache: dict[int, torch.Tensor] = {}
    sizes: list[tuple[int, int]] = []
    stream = in_background(frames())
    for start in range(0, len(todo), settings.batch_size):
        batch = todo[start:start + settings.batch_size]
        clips = [window_frames(j, n, clip_size) for j in batch]
        while len(sizes) <= max(max(c) for c in clips):
            tensor, size = next(stream, (None, None))
            if size is None:
                raise InputError(f"{video.source or video.name}: decoded {len(sizes)} of {n} frames; "
                                 "the file may be truncated")
            if tensor is not None:
                cache[len(sizes)] = tensor.to(settings.device, non_blocking=True)
            sizes.append(size)
        inputs = [torch.stack([torch.stack([cache[i] for i in clip], 1) for clip in clips])]
        if settings.use_audio:
            audio = torch.stack([window_audio(video, int(sound_of[j]), clip_size, buffer_length, windows)
                                 for j in batch])
            if settings.audio_ablation == "silence":
                audio.zero_()
            inputs.append(audio.to(settings.device))
        maps = run_model(model, inputs, settings)
        for j, saliency in zip(batch, maps):
            writer.submit(saliency, sizes[j], out_dir / video.frame_names[j])
        progress.update(len(batch))
        oldest_needed = todo[start + len(batch)] - clip_size + 1 if start + len(batch) < len(todo) else n
        for i in [i for i in cache if i < oldest_needed]:
            del cache[i]
    writer.drain()
    return len(todo)


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


def predict_all(model: torch.nn.Module, videos: list[Video], save_path: str | Path, settings: Settings) -> list[str]:
    """Run every video, logging one line per bad one and going on; returns the names of failures."""
    model = prepare_model(model, settings)
    failed = []
    writer = MapWriter(settings.workers, limit=4 * settings.batch_size + 8)
    with tqdm(total=sum(v.num_frames for v in videos), unit="frame", dynamic_ncols=True) as progress:
        for video in videos:
            progress.set_description(video.name)
            try:
                written = predict_video(model, video, Path(save_path) / video.name, settings, writer, progress)
                progress.update(video.num_frames - written)
            except InputError as error:
                log.error("%s", error)
                failed.append(video.name)
    writer.close()
    return failed


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
# Command line


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags both generate scripts share (the original's names, and the new ones)."""
    parser.add_argument("--file_weight", default=None,
                        help="checkpoint to load (ViNet/AViNet, original or train.py); without it the "
                             "maps come from an untrained model")
    parser.add_argument("--save_path", default="results", help="output folder for the maps")
    parser.add_argument("--video", nargs="+", default=None, metavar="PATH",
                        help="video files (mp4, avi, mkv, mov, webm) instead of --path_indata")
    parser.add_argument("--overlay", default=None, metavar="OUT.mp4",
                        help="with --video: also write the heatmap over the frames, with the sound")
    parser.add_argument("--clip_size", default=CLIP_LENGTH, type=int, help="frames per clip (8, 16, 32, 48)")
    parser.add_argument("--num_hier", default=3, type=int, help="encoder hierarchies fused by the decoder (0-3)")
    parser.add_argument("--frame_size", default=FRAME_SIZE, type=int, nargs=2, metavar=("H", "W"),
                        help="model input size; the published models use 224 384")
    parser.add_argument("--decoder_upsample", default=1, type=int, help="1: the trilinear decoder (the only one)")
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
    for legacy in ("--nhead", "--num_encoder_layers", "--multi_frame", "--num_decoder_layers"):
        parser.add_argument(legacy, type=int, default=None, help=argparse.SUPPRESS)


def settings_from(args: argparse.Namespace, use_audio: bool = False) -> Settings:
    """Engine settings from parsed flags."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else torch.device(args.device)
    # measured by benchmark.py: on a CPU fp32 gains from pairs of windows, bf16 runs best one at a time
    batch_size = args.batch_size if args.batch_size is not None else \
        16 if device.type == "cuda" else 2 if args.precision == "fp32" else 1
    if batch_size < 1:
        raise InputError(f"--batch_size must be at least 1, got {batch_size}")
    return Settings(clip_size=args.clip_size, frame_size=tuple(args.frame_size), batch_size=batch_size, device=device,
                    precision=args.precision, exact=args.exact, compile=args.compile, use_audio=use_audio,
                    audio_ablation=getattr(args, "audio_ablation", "none"), workers=args.workers)


def build_model(model_class: type, **kwargs) -> torch.nn.Module:
    """Construct a model; a flag combination it does not support is an InputError."""
    try:
        return model_class(**kwargs)
    except ValueError as error:
        raise InputError(str(error)) from error


def load_weights_or_warn(model: torch.nn.Module, file_weight: str | None) -> None:
    """Load the checkpoint, or say plainly that the maps will come from an untrained model."""
    if file_weight:
        load_checkpoint(model, file_weight)
        return
    log.warning("no --file_weight given: the maps come from an UNTRAINED model and mean nothing. Get the "
                "released checkpoints (github samyak0210/ViNet, README 'Testing') or train one with train.py, "
                "then pass --file_weight")


def finish(videos: list[Video], failed: list[str], args: argparse.Namespace) -> int:
    """Write overlays, say where everything is, and return the exit status."""
    done = [v for v in videos if v.name not in failed]
    if args.overlay:
        for video in done:
            target = Path(args.overlay)
            if len(videos) > 1:
                target = target.with_name(f"{target.stem}_{video.name}{target.suffix}")
            write_overlay(video, Path(args.save_path) / video.name, target)
            log.info("overlay: %s", target)
    for video in done:
        log.info("maps: %s (%d frames)", Path(args.save_path) / video.name, video.num_frames)
    if failed:
        log.error("%d of %d videos failed: %s", len(failed), len(videos), ", ".join(failed))
        return 1
    return 0


def run_videos(model: torch.nn.Module, videos: list[Video], args: argparse.Namespace, use_audio: bool = False) -> int:
    """Both scripts' common tail: this part's videos, the weights, the maps, the overlays; the exit status."""
    videos = select_part(videos, args.start_idx, args.num_parts)
    load_weights_or_warn(model, args.file_weight)
    failed = predict_all(model, videos, args.save_path, settings_from(args, use_audio))
    return finish(videos, failed, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path_indata", default=None, help="folder of <video>/images/<frames>")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.overlay and not args.video:
            raise InputError("--overlay needs --video (overlays are made from video files)")
        if bool(args.video) == bool(args.path_indata):
            raise InputError("give either --path_indata DIR (frame folders) or --video PATH ...")
        videos = [video_file(p) for p in args.video] if args.video else dhf1k_videos(args.path_indata)
        model = build_model(VideoSaliencyModel, use_upsample=bool(args.decoder_upsample), num_hier=args.num_hier,
                            num_clips=args.clip_size)
        return run_videos(model, videos, args)
    except InputError as error:
        log.error("error: %s", error)
        return 2


if __name__ == "__main__":
    sys.exit(main())
