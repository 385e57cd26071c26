"""The data layer: frames as the models see them, a window's audio excerpt (inference, training and export share
these), then the training datasets. The datasets' on-disk layouts are layouts.py's; video and audio files are
decoded by media.py.

Frames are preprocessed exactly as the original (PIL bilinear resize to 224x384, ImageNet
normalisation); a clip's audio is its frames' excerpt under a Hann window, centred in SoundNet's
zero buffer, as in the original's generate and training code.
"""
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from layouts import (
    AUDIO_VISUAL_DATASETS,
    FRAME_FOLDER_PARTS,
    TRAIN,
    VALIDATION,
    AnnotatedVideo,
    check_not_empty,
    list_audio_visual_videos,
    list_frame_folder_videos,
    read_density,
    read_fixations,
)
from media import Audio, load_wav
from utils import (
    CLIP_LENGTH,
    FRAME_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    InputError,
    audio_buffer_length,
    resize_map,
)

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
    pixels = torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy()).permute(2, 0, 1)
    return pixels.float().div(255).sub_(torch.tensor(mean).view(3, 1, 1)).div_(torch.tensor(std).view(3, 1, 1))


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
        for video in videos:
            check_not_empty(video)
        self.videos = videos
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
            self.items = [(v, start) for v, video in enumerate(videos)
                          for start in self.validation_starts(len(video.maps))
                          if read_density(video.maps[self.target_frame(video, start)]).max() > 0]
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

    def target_frame(self, video: AnnotatedVideo, start: int) -> int:
        return self.clip_frames(len(video.maps), start)[1]

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
        video = self.videos[video_index]
        rng = np.random.default_rng([self.seed, self.salt, self.epoch, index])
        num_starts = max(1, len(video.maps) - self.span + 1)
        for attempt in range(RANDOM_DRAWS + num_starts):
            start = int(rng.integers(num_starts)) if attempt < RANDOM_DRAWS else attempt - RANDOM_DRAWS
            density = read_density(video.maps[self.target_frame(video, start)])
            if density.max() > 0:
                return start, density
        raise InputError(f"every saliency map of {video.name} that ends a clip is empty "
                         f"({video.maps[0].parent}); remove the video from the dataset")

    def load_clip(self, video_index: int, start: int, density: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """The sample dict of the clip of a video starting at `start`."""
        video = self.videos[video_index]
        indices, target = self.clip_frames(len(video.maps), start)
        clip = torch.stack([frame_tensor(read_image(video.frames[i]), self.frame_size, *self.normalisation)
                            for i in indices], dim=1)
        density = read_density(video.maps[target]) if density is None else density
        fixations = read_fixations(video.fixations[target]).astype(np.float32) if self.with_fixations else None
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
