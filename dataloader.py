"""The data layer: frames, fold lists, a window's audio excerpt and the datasets' on-disk layouts (inference,
training and evaluation share these), then the training datasets. Video and audio files are decoded by
media.py.

Frames are preprocessed exactly as the original (PIL bilinear resize to 224x384, ImageNet
normalisation); a clip's audio is its frames' excerpt under a Hann window, centred in SoundNet's
zero buffer, as in the original's generate and training code.
"""
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import scipy.io
import torch
from PIL import Image, UnidentifiedImageError

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

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
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
# Dataset layouts: one listing function per on-disk layout, and the readers of their maps.
# Inference lists frames, training frames with maps and fixations, evaluation maps and fixations.

TRAIN, VALIDATION = "train", "val"
FRAME_FOLDER_PARTS = ("images", "maps", "fixation")
AUDIO_VISUAL_PARTS = ("frames", "maps", "fixations", "audio")


@dataclass(frozen=True)
class AnnotatedVideo:
    """One video of a dataset layout: its frames, saliency maps and fixation maps (frame i goes with map i),
    its soundtrack and frame rate on the audio-visual sets; the parts not asked for are empty."""

    name: str
    frames: tuple[Path, ...]
    maps: tuple[Path, ...] = ()
    fixations: tuple[Path, ...] = ()
    audio: Path | None = None
    fps: float = 0.0


def list_frame_folder_videos(root: str | Path, parts: tuple[str, ...] = FRAME_FOLDER_PARTS,
                             role: str = "dataset folder", strict: bool = True) -> list[AnnotatedVideo]:
    """The videos of the DHF1K / Hollywood-2 / UCF-Sports layout, <root>/<video>/images, maps and fixation,
    sorted by name, with the parts asked for. Frames and maps pair in name order (their counts must agree);
    each map's fixation file is fixation/<map name> or DHF1K's fixation/maps/<stem>.mat. strict: a missing
    fixation file is an InputError; otherwise its path is given for the caller to count. `role` names the
    root in messages."""
    root = Path(root)
    layout = ", ".join(f"<video>/{part}/" for part in parts)
    if not root.is_dir():
        raise InputError(f"{role} not found: {root} (expected {layout} inside)")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise InputError(f"no video folders in {root} (expected {layout})")
    return [_frame_folder_video(folder, parts, f"expected {layout} in {root}", strict) for folder in folders]


def _frame_folder_video(folder: Path, parts: tuple[str, ...], expected: str, strict: bool) -> AnnotatedVideo:
    listed = {}
    for part in ("images", "maps"):
        if part in parts:
            if not (folder / part).is_dir() or not _image_names(folder / part):
                raise InputError(f"{folder / part} is missing or holds no images ({expected})")
            listed[part] = tuple(folder / part / name for name in _image_names(folder / part))
    frames, maps = listed.get("images", ()), listed.get("maps", ())
    if frames and maps and len(frames) != len(maps):
        raise InputError(f"{folder} has {len(frames)} frames in images/ but {len(maps)} maps in maps/; "
                         "every frame needs its saliency map")
    fixations = ()
    if "fixation" in parts:
        fixation_folder = folder / "fixation"
        mats = [fixation_folder / "maps" / f"{m.stem}.mat" for m in maps]   # DHF1K's release
        fixations = tuple(mat if mat.is_file() and not (fixation_folder / m.name).is_file()
                          else fixation_folder / m.name for m, mat in zip(maps, mats))
        missing = [p for p in fixations if not p.is_file()]
        if strict and missing:
            raise InputError(f"{len(missing)} fixation maps missing in {fixation_folder}, e.g. {missing[0].name} "
                             "(a binary PNG named as each map in maps/)")
    return AnnotatedVideo(folder.name, frames, maps, fixations)


def check_not_empty(video: AnnotatedVideo) -> None:
    """InputError naming the first zero-byte file of a video (a copy or download cut short): found at start-up,
    not hours into training."""
    files = (*video.frames, *video.maps, *video.fixations, *([video.audio] if video.audio else []))
    empty = next((path for path in files if path.stat().st_size == 0), None)
    if empty is not None:
        raise InputError(f"{empty} is empty (0 bytes): copy it again from the dataset, or remove the video")


def _image_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _numbered(folder: Path, prefix: str, suffix: str) -> dict[int, str]:
    """{number: name} of the files prefix<number>suffix in a folder (none if it does not exist)."""
    numbered = {}
    for path in folder.iterdir() if folder.is_dir() else ():
        number = path.name.removeprefix(prefix).removesuffix(suffix)
        if path.name.startswith(prefix) and path.name.endswith(suffix) and number.isdigit():
            numbered[int(number)] = path.name
    return numbered


def list_audio_visual_videos(root: str | Path, dataset: str, split: int, mode: str = VALIDATION,
                             parts: tuple[str, ...] = AUDIO_VISUAL_PARTS, strict: bool = True) -> list[AnnotatedVideo]:
    """The videos of one fold of an audio-visual set in the STAViS layout, in fold-list order (training: the
    train list, otherwise the test list): video_frames/<ds>/<video>/img_%05d.jpg, annotations/<ds>/<video>/
    maps/eyeMap_%05d.jpg and fixMap_%05d.mat, video_audio/<ds>/<video>/<video>.wav; frame rates from the list.

    With maps, frames and fixations are those numbered as the maps; without, frames are the folder's images.
    strict: a missing part is an InputError; otherwise it is left empty (or its path given) for the caller
    to count."""
    root = Path(root)
    entries = read_fold_list(fold_list_path(root, dataset, split, "train" if mode == TRAIN else "test"))
    return [_audio_visual_video(root, dataset, entry, parts, strict) for entry in entries]


def _audio_visual_video(root: Path, dataset: str, entry: FoldEntry, parts: tuple[str, ...],
                        strict: bool) -> AnnotatedVideo:
    frame_folder = root / "video_frames" / dataset / entry.name
    annotations = root / "annotations" / dataset / entry.name
    if strict and "frames" in parts and not frame_folder.is_dir():
        raise InputError(f"folder not found: {frame_folder} (the STAViS layout: video_frames/, annotations/, "
                         f"video_audio/ under {root})")
    numbers, maps = [], ()
    if "maps" in parts:
        if strict and not (annotations / "maps").is_dir():
            raise InputError(f"folder not found: {annotations / 'maps'} (the STAViS layout: video_frames/, "
                             f"annotations/, video_audio/ under {root})")
        named = _numbered(annotations / "maps", "eyeMap_", ".jpg")
        if strict and not named:
            raise InputError(f"no eyeMap_%05d.jpg maps in {annotations / 'maps'}")
        numbers = sorted(named)
        maps = tuple(annotations / "maps" / named[n] for n in numbers)
    frames = ()
    if "frames" in parts:
        frames = _numbered_frames(frame_folder, numbers) if maps else tuple(list_frames(frame_folder))
    fixations = tuple(annotations / f"fixMap_{n:05d}.mat" for n in numbers) if "fixations" in parts else ()
    missing = [p for p in fixations if not p.is_file()]
    if strict and missing:
        raise InputError(f"{annotations} lacks {len(missing)} fixation maps, e.g. {missing[0].name}")
    audio = root / "video_audio" / dataset / entry.name / f"{entry.name}.wav" if "audio" in parts else None
    if strict and audio is not None and not audio.is_file():
        raise InputError(f"audio file not found: {audio}")
    if strict and audio is not None and entry.fps <= 0:
        raise InputError(f"{entry.name} has frame rate {entry.fps} in the fold list of {dataset}; it must be > 0")
    return AnnotatedVideo(entry.name, frames, maps, fixations, audio, entry.fps)


def _numbered_frames(folder: Path, numbers: list[int]) -> tuple[Path, ...]:
    """The frames img_%05d.jpg of a folder that carry the given numbers."""
    frames = _numbered(folder, "img_", ".jpg")
    missing = [n for n in numbers if n not in frames]
    if missing:
        raise InputError(f"{folder} lacks {len(missing)} frames that have maps, e.g. img_{missing[0]:05d}.jpg")
    return tuple(folder / frames[n] for n in numbers)


def read_density(path: str | Path) -> np.ndarray:
    """An 8-bit saliency map image as a float32 (h, w) array in [0, 1]."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"), dtype=np.float32) / np.float32(255)
    except (OSError, UnidentifiedImageError) as error:
        raise InputError(f"cannot read saliency map {path}: {error.__class__.__name__}") from error


def read_fixations(path: str | Path) -> np.ndarray:
    """A binary fixation map as a bool (h, w) array: an image of any depth and channel count (nonzero grey =
    fixated) or a .mat file holding `eyeMap` (the audio-visual sets) or `I` (DHF1K); InputError naming the
    file when it is missing, unreadable or of another shape."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".mat":
            variables = scipy.io.loadmat(str(path))
            name = next((key for key in ("eyeMap", "I") if key in variables), None)
            if name is None:
                raise InputError(f"{path} holds no fixation map (variable eyeMap or I)")
            binary = np.asarray(variables[name])
        else:
            binary = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if binary is None:
                raise OSError("not an image")
            if binary.ndim == 3:
                binary = cv2.cvtColor(binary, cv2.COLOR_BGRA2GRAY if binary.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    except (OSError, ValueError, IndexError, NotImplementedError, scipy.io.matlab.MatReadError) as error:
        # scipy raises IndexError, among others, on a file that is not MATLAB data (a pickle renamed .mat)
        raise InputError(f"cannot read fixation map {path}: {error.__class__.__name__}") from error
    if binary.ndim != 2 or binary.size == 0:
        raise InputError(f"fixation map {path} has shape {binary.shape}, expected (height, width)")
    return binary > 0


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
