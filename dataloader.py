"""The data layer: frames as the models see them, a window's audio excerpt (inference, training and export share
these), then the training datasets. The datasets' on-disk layouts are layouts.py's; video and audio files are
decoded by media.py, the 2026 benchmarks' training clips by video_clips.py.

Frames are preprocessed exactly as the original (PIL bilinear resize to 224x384, ImageNet
normalisation); a clip's audio is its frames' excerpt under a Hann window, centred in SoundNet's
zero buffer, as in the original's generate and training code.
"""
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from layouts import (
    AUDIO_VISUAL_DATASETS,
    FRAME_FOLDER_PARTS,
    TEST,
    TRAIN,
    VALIDATION,
    AnnotatedVideo,
    BenchmarkVideo,
    check_benchmark_set,
    check_fixations_inside,
    check_not_empty,
    list_audio_visual_videos,
    list_benchmark_videos,
    list_frame_folder_videos,
    read_density,
    read_fixation_events,
    read_fixations,
)
from media import Audio, decode_audio, load_wav
from utils import (
    AUDIO_RATE,
    CLIP_LENGTH,
    FRAME_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    InputError,
    audio_buffer_length,
    resize_map,
)
from video_clips import ClipReader, video_facts

if TYPE_CHECKING:
    from registry import WindowRule


# ----------------------------------------------------------------------------------------------
# Frames


def read_image(path: str | Path) -> Image.Image:
    """An 8-bit RGB PIL image of any frame file: grey, RGBA (alpha dropped), palette or 16-bit (scaled to 8
    bits: PIL would clip 16-bit grey); InputError naming the file when it is missing or not an image."""
    try:
        with Image.open(path) as image:
            if image.mode.startswith("I"):  # 16- or 32-bit grey: keep the top 8 of its 16 bits
                pixels = np.asarray(image).astype(np.int64)
                return Image.fromarray(np.clip(pixels >> 8, 0, 255).astype(np.uint8)).convert("RGB")
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise InputError(f"cannot read frame {path}: not an image ({error.__class__.__name__}); replace or remove "
                         "it") from error


def frame_tensor(image: Image.Image, size: tuple[int, int] = FRAME_SIZE, mean: tuple[float, ...] = IMAGENET_MEAN,
                 std: tuple[float, ...] = IMAGENET_STD) -> torch.Tensor:
    """(3, H, W) model input: the original's Resize(size) on a PIL image, ToTensor, Normalize(mean, std)."""
    resized = image.resize((size[1], size[0]), Image.BILINEAR)
    return pixels_tensor(np.asarray(resized, dtype=np.uint8), mean, std)


def pixels_tensor(pixels: np.ndarray, mean: tuple[float, ...] = IMAGENET_MEAN,
                  std: tuple[float, ...] = IMAGENET_STD) -> torch.Tensor:
    """Model input from uint8 pixels already at the frame size, channels last: (H, W, 3) -> (3, H, W), or a clip's
    (T, H, W, 3) -> (3, T, H, W) in one pass; ToTensor, Normalize(mean, std)."""
    channels_first = torch.from_numpy(pixels.copy()).movedim(-1, 0)
    shape = (3,) + (1,) * (pixels.ndim - 1)
    return channels_first.float().div(255).sub_(torch.tensor(mean).view(shape)).div_(torch.tensor(std).view(shape))


# ----------------------------------------------------------------------------------------------
# Audio


def frame_audio_windows(frame_times: np.ndarray, fps: float, audio: Audio) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the [start, end] samples of its audio: 1/fps seconds centred on the frame time."""
    centres = (np.asarray(frame_times, dtype=np.float64) - audio.start_time) * audio.rate
    half = audio.rate / float(fps) / 2
    starts = np.maximum(0.0, centres - half).astype(np.int64)
    ends = np.minimum(len(audio.samples), np.abs(centres + half)).astype(np.int64)
    return starts, ends


def clip_audio(audio: Audio, starts: np.ndarray, ends: np.ndarray, first: int, num_frames: int,
               buffer_length: int, reverse: bool = False) -> torch.Tensor:
    """SoundNet input (1, buffer_length, 1) for frames first..first+num_frames-1 (clamped to the video),
    time-reversed with `reverse` (for a time-reversed clip).

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
    return buffer.flip(0).view(1, -1, 1) if reverse else buffer.view(1, -1, 1)


# ----------------------------------------------------------------------------------------------
# Training datasets
#
# Every dataset yields one dict per clip: "clip" (3, T, H, W) frames made by frame_tensor; "map", the
# density of the clip's LAST frame as float32 in [0, 1]; "fixations", that frame's binary fixation
# map (when asked for); "audio" (1, L, 1) on the audio-visual sets with sound. Training targets are
# resized to the frame size, validation targets keep their own size. Training draws clips_per_video
# clips per video per epoch at random starts seeded by (seed, dataset, epoch, index), so any worker
# count and a resumed run draw the same clips; validation takes the original's fixed starts. Target
# frames whose map is empty are redrawn in training and left out of validation. Layouts are checked
# when a dataset is built, so a missing or malformed folder fails at start-up.

AUDIO_ABLATIONS = ("none", "silence", "shuffle")
RANDOM_DRAWS = 20      # random starts tried before a training clip falls back to scanning its video
AUDIO_CACHE_SIZE = 4   # decoded soundtracks kept per worker


def resize_fixations(fixations: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A binary map moved to size (height, width) pixel by pixel, so that no fixation is lost to interpolation."""
    rows, cols = np.nonzero(fixations)
    height, width = fixations.shape
    resized = np.zeros(size, np.float32)
    resized[(2 * rows + 1) * size[0] // (2 * height), (2 * cols + 1) * size[1] // (2 * width)] = 1
    return resized


def clip_frame_indices(num_frames: int, start: int, clip_length: int) -> list[int]:
    """The frames of the clip starting at `start`; a video shorter than a clip repeats its first frame
    at the front, as the original pads Hollywood-2 and UCF-Sports."""
    if num_frames < clip_length:
        return [0] * (clip_length - num_frames) + list(range(num_frames))
    return list(range(start, start + clip_length))


class ClipDataset(torch.utils.data.Dataset):
    """Clips of annotated videos with the saliency of their target frame (see the section comment): the
    last frame of clip_length consecutive ones, or with a centred window rule (registry.WindowRule, ViNet-A's)
    the middle frame of the window's frames. Frames are normalised with `normalisation` (mean, std).

    Validation clips start every validation_step * clip_length frames (subclasses set the original's step).
    """

    validation_step = 4

    def __init__(self, videos: list[AnnotatedVideo], mode: str = TRAIN, clip_length: int = CLIP_LENGTH,
                 frame_size: tuple[int, int] = FRAME_SIZE, fixations: bool = True, seed: int = 0,
                 clips_per_video: int = 1, name: str = "", window: "WindowRule | None" = None,
                 normalisation: tuple[tuple[float, ...], tuple[float, ...]] = (IMAGENET_MEAN, IMAGENET_STD)):
        if mode not in (TRAIN, VALIDATION):
            raise ValueError(f"mode must be {TRAIN!r} or {VALIDATION!r}, got {mode!r}")
        self.videos = videos
        for video in videos:
            self.check_video(video)
        self.mode = mode
        self.clip_length = clip_length
        self.window = window if window is not None and window.centred else None
        self.span = (window.stride * (clip_length - 1) + 1) if self.window else clip_length  # frames a clip covers
        self.normalisation = normalisation
        self.frame_size = tuple(frame_size)
        self.with_fixations = fixations
        self.seed = seed
        self.clips_per_video = clips_per_video
        self.name = name
        self.salt = zlib.crc32(name.encode())
        self.epoch = 0
        self.items = []
        if mode == VALIDATION:
            self.items = [(v, start) for v in range(len(videos)) for start in self.validation_starts(self.num_frames(v))
                          if self.validation_target_usable(v, self.target_frame(v, start))]
            if not self.items:
                raise InputError(f"no validation clips in {name}: videos need more than {self.span} frames "
                                 "and non-empty saliency maps")

    def validation_starts(self, num_frames: int) -> list[int]:
        """First frames of the validation clips of a video of num_frames frames."""
        return list(range(0, num_frames - self.span, self.validation_step * self.clip_length))

    def clip_frames(self, num_frames: int, start: int) -> tuple[list[int], int]:
        """The frames of the clip whose first frame is `start`, and its target frame."""
        if self.window is None:
            frames = clip_frame_indices(num_frames, start, self.clip_length)
            return frames, frames[-1]
        target = min(start + (self.span - 1) // 2, num_frames - 1)
        return self.window.frames(target, num_frames), target

    def target_frame(self, video_index: int, start: int) -> int:
        return self.clip_frames(self.num_frames(video_index), start)[1]

    # Per-video accessors: frame folders here; a subclass reading other files (video_clips) overrides them.

    def check_video(self, video: AnnotatedVideo) -> None:
        """InputError (at start-up) when a video cannot give clips."""
        check_not_empty(video)

    def num_frames(self, video_index: int) -> int:
        return len(self.videos[video_index].maps)

    def clip_tensor(self, video_index: int, indices: list[int]) -> torch.Tensor:
        """(3, T, H, W): the frames `indices` of a video as the model sees them."""
        frames = self.videos[video_index].frames
        return torch.stack([frame_tensor(read_image(frames[i]), self.frame_size, *self.normalisation)
                            for i in indices], dim=1)

    def density(self, video_index: int, frame: int) -> np.ndarray:
        """The float32 saliency map in [0, 1] of a frame, at its own size."""
        return read_density(self.videos[video_index].maps[frame])

    def fixation_map(self, video_index: int, frame: int) -> np.ndarray:
        """The float32 binary fixation map of a frame, at the saliency map's size."""
        return read_fixations(self.videos[video_index].fixations[frame]).astype(np.float32)

    def saliency_source(self, video_index: int) -> Path:
        """Where a video's saliency maps are (named when they are all empty)."""
        return self.videos[video_index].maps[0].parent

    def validation_target_usable(self, video_index: int, frame: int) -> bool:
        """Whether a validation clip may end on this frame: its map is not empty."""
        return self.density(video_index, frame).max() > 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random clips training draws (call before creating the epoch's loader iterator)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos) * self.clips_per_video if self.mode == TRAIN else len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.mode == TRAIN:
            video_index = index % len(self.videos)
            start, density = self.draw_start(video_index, index)
        else:
            (video_index, start), density = self.items[index], None
        return self.load_clip(video_index, start, density)

    def draw_start(self, video_index: int, index: int) -> tuple[int, np.ndarray]:
        """A random start whose target map is not empty, and that map."""
        rng = np.random.default_rng([self.seed, self.salt, self.epoch, index])
        num_starts = max(1, self.num_frames(video_index) - self.span + 1)
        for attempt in range(RANDOM_DRAWS + num_starts):
            start = int(rng.integers(num_starts)) if attempt < RANDOM_DRAWS else attempt - RANDOM_DRAWS
            density = self.density(video_index, self.target_frame(video_index, start))
            if density.max() > 0:
                return start, density
        raise InputError(f"every saliency map of {self.videos[video_index].name} that ends a clip is empty "
                         f"({self.saliency_source(video_index)}); remove the video from the dataset")

    def load_clip(self, video_index: int, start: int, density: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """The sample dict of the clip of a video starting at `start`."""
        indices, target = self.clip_frames(self.num_frames(video_index), start)
        clip = self.clip_tensor(video_index, indices)
        density = self.density(video_index, target) if density is None else density
        fixations = self.fixation_map(video_index, target) if self.with_fixations else None
        if self.mode == TRAIN:
            height, width = self.frame_size
            density = resize_map(density, (width, height))
            fixations = None if fixations is None else resize_fixations(fixations, self.frame_size)
        sample = {"clip": clip, "map": torch.from_numpy(density)}
        if fixations is not None:
            sample["fixations"] = torch.from_numpy(fixations)
        return sample


class DHF1KDataset(ClipDataset):
    """DHF1K: <root>/<video>/images, maps (8-bit density), fixation (binary PNG), any file names
    (sorted); validation clips every 4 clip lengths, as the original."""

    def __init__(self, root: str | Path, mode: str = TRAIN, clip_length: int = CLIP_LENGTH,
                 frame_size: tuple[int, int] = FRAME_SIZE, fixations: bool = True, **options):
        parts = FRAME_FOLDER_PARTS if fixations else ("images", "maps")
        super().__init__(list_frame_folder_videos(root, parts), mode, clip_length, frame_size, fixations,
                         name=f"{type(self).__name__} {root}", **options)


class HollywoodUCFDataset(DHF1KDataset):
    """Hollywood-2 and UCF-Sports: <root>/<clip>/images, maps, fixation; clips shorter than the clip
    length are padded with their first frame; validation clips every clip length (one for a short clip)."""

    validation_step = 1

    def validation_starts(self, num_frames: int) -> list[int]:
        return super().validation_starts(num_frames) + ([0] if num_frames <= self.clip_length else [])


class AudioVisualDataset(ClipDataset):
    """One of the six audio-visual sets (STAViS layout), one fold; validation clips every 2 clip lengths.

    With use_sound each sample has the clip's "audio" as inference makes it (load_wav,
    frame_audio_windows, clip_audio). audio_ablation replaces it: "silence" with zeros, "shuffle" with
    the audio at the same time of another video of the set (a fixed, seeded choice per video).
    """

    validation_step = 2

    def __init__(self, root: str | Path, dataset: str, split: int, mode: str = TRAIN,
                 clip_length: int = CLIP_LENGTH, frame_size: tuple[int, int] = FRAME_SIZE, use_sound: bool = True,
                 fixations: bool = True, audio_ablation: str = "none", seed: int = 0, **options):
        if audio_ablation not in AUDIO_ABLATIONS:
            raise ValueError(f"audio_ablation must be one of {AUDIO_ABLATIONS}, got {audio_ablation!r}")
        parts = ("frames", "maps", *(["fixations"] if fixations else []), *(["audio"] if use_sound else []))
        videos = sorted(list_audio_visual_videos(root, dataset, split, mode, parts), key=lambda v: v.name)
        super().__init__(videos, mode, clip_length, frame_size, fixations, seed, name=f"{dataset} split {split} "
                         f"({mode})", **options)
        self.use_sound = use_sound
        self.audio_ablation = audio_ablation
        self.buffer_length = audio_buffer_length(clip_length)
        if use_sound and audio_ablation == "shuffle":
            if len(videos) < 2:
                raise InputError(f"audio_ablation 'shuffle' needs two videos or more; {self.name} has {len(videos)}")
            rng = np.random.default_rng([seed, self.salt])
            self.audio_partner = [(v + int(rng.integers(1, len(videos)))) % len(videos) for v in range(len(videos))]
        self._audio_cache: dict[int, Audio] = {}

    def load_clip(self, video_index: int, start: int, density: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        sample = super().load_clip(video_index, start, density)
        if self.use_sound:
            sample["audio"] = self.clip_audio_input(video_index, start)
        return sample

    def clip_audio_input(self, video_index: int, start: int) -> torch.Tensor:
        """SoundNet's (1, L, 1) input for the clip, after the ablation."""
        if self.audio_ablation == "silence":
            return torch.zeros(1, self.buffer_length, 1)
        if self.audio_ablation == "shuffle":
            video_index = self.audio_partner[video_index]
            start = min(start, max(0, len(self.videos[video_index].maps) - self.clip_length))
        video = self.videos[video_index]
        audio = self.soundtrack(video_index)
        num_frames = len(video.maps)
        starts, ends = frame_audio_windows(np.arange(num_frames) * (1.0 / video.fps), video.fps, audio)
        return clip_audio(audio, starts, ends, start, self.clip_length, self.buffer_length)

    def soundtrack(self, video_index: int) -> Audio:
        """The decoded .wav of a video, from a small per-worker cache."""
        if video_index not in self._audio_cache:
            if len(self._audio_cache) >= AUDIO_CACHE_SIZE:
                self._audio_cache.pop(next(iter(self._audio_cache)))
            self._audio_cache[video_index] = load_wav(self.videos[video_index].audio)
        return self._audio_cache[video_index]


class BenchmarkDataset(ClipDataset):
    """CrowdSAL or NTIRE 2026 (layouts.list_benchmark_videos), one split (training's TRAIN, validation's TEST): clips
    decoded straight from the mp4s or read from a frame cache (video_clips.ClipReader), targets from the 10-bit
    saliency videos, fixation maps of the JSON's events and, with use_sound, the mp4's sound windowed as
    AudioVisualDataset's (at SoundNet's rate, by the video's frame times, as inference hears it)."""

    def __init__(self, root: str | Path, dataset: str, mode: str = TRAIN, clip_length: int = CLIP_LENGTH,
                 frame_size: tuple[int, int] = FRAME_SIZE, use_sound: bool = False, fixations: bool = True,
                 frame_cache: str | Path | None = None, **options):
        check_benchmark_set(root, dataset)
        split = TRAIN if mode == TRAIN else TEST
        videos = list_benchmark_videos(root, split)
        self.use_sound = use_sound
        self.lengths = [self.usable_length(video) for video in videos]
        self.reader = ClipReader(frame_size, frame_cache)
        self.buffer_length = audio_buffer_length(clip_length)
        self._events: OrderedDict[int, list[np.ndarray]] = OrderedDict()
        self._audio: OrderedDict[int, Audio] = OrderedDict()
        super().__init__(videos, mode, clip_length, frame_size, fixations, name=f"{dataset} {root} ({split})",
                         **options)

    def usable_length(self, video: BenchmarkVideo) -> int:
        """Frames a video and its saliency video both have; InputError when the sound an audio model needs is
        missing."""
        frames, has_audio = video_facts(video.video)
        if self.use_sound and not has_audio:
            raise InputError(f"{video.video} has no audio track: AViNet hears the videos' sound; train ViNet "
                             "(--use_sound False) or remove the video")
        return min(frames, video_facts(video.saliency)[0])

    def check_video(self, video: BenchmarkVideo) -> None:
        """Checked when listed and counted (list_benchmark_videos, usable_length)."""

    def num_frames(self, video_index: int) -> int:
        return self.lengths[video_index]

    def clip_tensor(self, video_index: int, indices: list[int]) -> torch.Tensor:
        return pixels_tensor(self.reader.rgb(self.videos[video_index].video, indices), *self.normalisation)

    def density(self, video_index: int, frame: int) -> np.ndarray:
        gray = self.reader.gray16(self.videos[video_index].saliency, frame)
        return gray.astype(np.float32) / np.float32(65535)

    def fixation_map(self, video_index: int, frame: int) -> np.ndarray:
        """The frame's unique events as a binary map at the saliency video's size."""
        video = self.videos[video_index]
        width, height = self.reader.info(video.saliency).size
        if video_index not in self._events:
            events = read_fixation_events(video.fixations, video.name)
            check_fixations_inside(events, (height, width), video.name, video.fixations)
            self._events[video_index] = events
            if len(self._events) > AUDIO_CACHE_SIZE:
                self._events.popitem(last=False)
        events = self._events[video_index]
        if frame >= len(events):
            raise InputError(f"{video.name}: {video.fixations} has {len(events)} frames, the video "
                             f"{self.num_frames(video_index)}: fix or replace the file")
        binary = np.zeros((height, width), np.float32)
        binary[events[frame][:, 0], events[frame][:, 1]] = 1
        return binary

    def saliency_source(self, video_index: int) -> Path:
        return self.videos[video_index].saliency

    def validation_target_usable(self, video_index: int, frame: int) -> bool:
        """Every frame: the benchmarks' maps are blurred fixations and every frame has some (decoding each target
        at start-up would take minutes)."""
        return True

    def load_clip(self, video_index: int, start: int, density: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        sample = super().load_clip(video_index, start, density)
        if self.use_sound:
            info = self.reader.info(self.videos[video_index].video)
            audio = self.soundtrack(video_index)
            starts, ends = frame_audio_windows(info.frame_times, info.fps, audio)
            sample["audio"] = clip_audio(audio, starts, ends, start, self.clip_length, self.buffer_length)
        return sample

    def soundtrack(self, video_index: int) -> Audio:
        """The mp4's sound at SoundNet's rate, from a small per-worker cache."""
        if video_index not in self._audio:
            if len(self._audio) >= AUDIO_CACHE_SIZE:
                self._audio.popitem(last=False)
            self._audio[video_index] = decode_audio(self.videos[video_index].video, rate=AUDIO_RATE)
        return self._audio[video_index]


class SoundDataset(torch.utils.data.ConcatDataset):
    """The audio-visual sets of one fold together (the original trains on all six at once)."""

    def __init__(self, root: str | Path, split: int, mode: str = TRAIN,
                 datasets: tuple[str, ...] = AUDIO_VISUAL_DATASETS, **options):
        super().__init__([AudioVisualDataset(root, name, split, mode, **options) for name in datasets])

    def set_epoch(self, epoch: int) -> None:
        for dataset in self.datasets:
            dataset.set_epoch(epoch)


def collate_clips(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor | list[torch.Tensor]]:
    """Batch samples: tensors of one shape are stacked, others (validation maps of different sizes) kept as lists."""
    batch = {}
    for key in samples[0]:
        values = [sample[key] for sample in samples]
        same_shape = all(value.shape == values[0].shape for value in values)
        batch[key] = torch.stack(values) if same_shape else values
    return batch
