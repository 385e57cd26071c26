"""Reading data: frames, fold lists, audio windows and video files (inference and training share
these), then the training datasets.

Frames are preprocessed exactly as the original (PIL bilinear resize to 224x384, ImageNet
normalisation); a clip's audio is its frames' excerpt under a Hann window, centred in SoundNet's
zero buffer, as in the original's generate and training code.
"""
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from utils import AUDIO_SCALE, FRAME_SIZE, IMAGENET_MEAN, IMAGENET_STD, InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
AUDIO_VISUAL_DATASETS = ("AVAD", "Coutrot_db1", "Coutrot_db2", "DIEM", "ETMD_av", "SumMe")
SHIPPED_FOLD_LISTS = Path(__file__).resolve().parent / "fold_lists"

# ----------------------------------------------------------------------------------------------
# Frames


def list_frames(folder: str | Path) -> list[Path]:
    """The image files of a frame folder, sorted by name; InputError if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"frame folder not found: {folder}")
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not frames:
        raise InputError(f"no frames ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return frames


def read_image(path: str | Path) -> Image.Image:
    """An RGB PIL image; InputError naming the file when it is missing or unreadable."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError) as error:
        raise InputError(f"cannot read frame {path}: {error.__class__.__name__}") from error


_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


def frame_tensor(image: Image.Image, size: tuple[int, int] = FRAME_SIZE) -> torch.Tensor:
    """(3, H, W) model input: the original's Resize(size) on a PIL image, ToTensor, Normalize."""
    resized = image.resize((size[1], size[0]), Image.BILINEAR)
    pixels = torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy()).permute(2, 0, 1)
    return pixels.float().div(255).sub_(_MEAN).div_(_STD)


# ----------------------------------------------------------------------------------------------
# Fold lists of the audio-visual sets


@dataclass(frozen=True)
class FoldEntry:
    """One line of a fold list: a video's name, frame count and frame rate."""

    name: str
    num_frames: int
    fps: float


def fold_list_path(root: str | Path, dataset: str, split: int, mode: str = "test") -> Path:
    """root/fold_lists/<dataset>_list_<mode>_<split>_fps.txt (DIEM: one split, no number); the
    copy shipped with this project when root has none."""
    name = f"DIEM_list_{mode}_fps.txt" if dataset == "DIEM" else f"{dataset}_list_{mode}_{split}_fps.txt"
    for folder in (Path(root) / "fold_lists", SHIPPED_FOLD_LISTS):
        if (folder / name).is_file():
            return folder / name
    raise InputError(f"fold list not found: {Path(root) / 'fold_lists' / name} "
                     f"(dataset one of {', '.join(AUDIO_VISUAL_DATASETS)}; split 1-3, DIEM has one)")


def read_fold_list(path: str | Path) -> list[FoldEntry]:
    """Parse a fold list (`name nframes fps` per line); InputError naming the line if malformed."""
    entries = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            entries.append(FoldEntry(fields[0], int(fields[1]), float(fields[2])))
        except (IndexError, ValueError) as error:
            raise InputError(f"{path}:{number}: expected 'name nframes fps', got {line.strip()!r}") from error
    return entries


# ----------------------------------------------------------------------------------------------
# Audio


@dataclass
class Audio:
    """A mono waveform scaled to SoundNet's range, its sample rate, and the time of its first sample."""

    samples: np.ndarray  # float32, in [-AUDIO_SCALE, AUDIO_SCALE]
    rate: int
    start_time: float = 0.0


def decode_audio(path: str | Path, rate: int | None = None) -> Audio | None:
    """The first audio track of any file PyAV reads, downmixed to mono (the mean of its channels) and
    scaled to +-256;
    resampled to `rate` when given, else at its own rate. None when the file has no audio track."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            out_rate = rate or stream.rate
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=out_rate)
            chunks, start_time = [], None
            for frame in container.decode(stream):
                if start_time is None and frame.time is not None:
                    start_time = frame.time
                chunks += [chunk.to_ndarray() for chunk in resampler.resample(frame)]
            chunks += [chunk.to_ndarray() for chunk in resampler.resample(None)]
    except (av.error.FFmpegError, OSError) as error:
        raise InputError(f"cannot decode audio of {path}: {error}") from error
    samples = np.concatenate(chunks, axis=1).mean(axis=0) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise InputError(f"the audio track of {path} is empty")
    return Audio(samples.astype(np.float32) * np.float32(AUDIO_SCALE), out_rate, start_time or 0.0)


def load_wav(path: str | Path) -> Audio:
    """A dataset's .wav at its own sample rate, as the original reads it; InputError if missing/empty."""
    if not Path(path).is_file():
        raise InputError(f"audio file not found: {path}")
    audio = decode_audio(path)
    if audio is None:
        raise InputError(f"{path} has no audio track")
    return audio


def frame_audio_windows(frame_times: np.ndarray, fps: float, audio: Audio) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the [start, end] samples of its audio: 1/fps seconds centred on the frame time."""
    centres = (np.asarray(frame_times, dtype=np.float64) - audio.start_time) * audio.rate
    half = audio.rate / float(fps) / 2
    starts = np.maximum(0.0, centres - half).astype(np.int64)
    ends = np.minimum(len(audio.samples), np.abs(centres + half)).astype(np.int64)
    return starts, ends


def clip_audio(audio: Audio, starts: np.ndarray, ends: np.ndarray, first: int, num_frames: int,
               buffer_length: int) -> torch.Tensor:
    """SoundNet input (1, buffer_length, 1) for frames first..first+num_frames-1 (clamped to the video).

    The excerpt runs from the first frame's window start to the last frame's window end, is
    multiplied by a Hann window of its own length and centred in a zero buffer; an excerpt longer
    than the buffer keeps its centre.
    """
    last = min(first + num_frames - 1, len(ends) - 1)
    excerpt = torch.from_numpy(audio.samples[starts[first]:ends[last] + 1])
    windowed = torch.from_numpy(np.hanning(len(excerpt))).float() * excerpt
    if len(windowed) > buffer_length:
        cut = (len(windowed) - buffer_length) // 2
        windowed = windowed[cut:cut + buffer_length]
    buffer = torch.zeros(buffer_length)
    begin = buffer_length // 2 - len(windowed) // 2
    buffer[begin:begin + len(windowed)] = windowed
    return buffer.view(1, -1, 1)


# ----------------------------------------------------------------------------------------------
# Video files


@dataclass
class VideoInfo:
    """What inference needs to know of a video file before decoding its frames."""

    path: Path
    frame_times: np.ndarray  # presentation time of each frame in seconds, from the stream's timestamps
    fps: float
    size: tuple[int, int]    # (width, height)

    @property
    def num_frames(self) -> int:
        return len(self.frame_times)


def probe_video(path: str | Path) -> VideoInfo:
    """Frame timestamps (from the packets, so variable frame rate works), rate and size of a video."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"video not found: {path}")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"unsupported video file {path}: expected one of {', '.join(VIDEO_SUFFIXES)}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path} has no video track")
            stream = container.streams.video[0]
            pts = sorted(packet.pts for packet in container.demux(stream) if packet.pts is not None)
            rate = stream.average_rate or stream.guessed_rate
            size = (stream.codec_context.width, stream.codec_context.height)
            time_base = float(stream.time_base)
    except av.error.FFmpegError as error:
        raise InputError(f"cannot read video {path}: {error}") from error
    if not pts:
        raise InputError(f"{path} has no video frames")
    times = np.asarray(pts, dtype=np.float64) * time_base
    if rate:
        fps = float(rate)
    elif len(times) > 1 and times[-1] > times[0]:
        fps = (len(times) - 1) / (times[-1] - times[0])
    else:
        fps = 25.0
    return VideoInfo(path, times, fps, size)


def decode_frames(path: str | Path):
    """Yield the frames of a video's first video track as RGB PIL images, in presentation order."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                yield frame.to_image()
    except av.error.FFmpegError as error:
        raise InputError(f"cannot decode video {path}: {error}") from error

