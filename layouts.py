"""The datasets' on-disk layouts: frame folders, the fold lists of the audio-visual sets, one listing function per
layout (frames, saliency maps, fixations, sound), and the readers of their maps. Inference lists frames, training
frames with maps and fixations, evaluation maps and fixations; a missing or malformed folder is one line naming it.
"""
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io
from PIL import Image, UnidentifiedImageError

from utils import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
AUDIO_VISUAL_DATASETS = ("AVAD", "Coutrot_db1", "Coutrot_db2", "DIEM", "ETMD_av", "SumMe")
SHIPPED_FOLD_LISTS = Path(__file__).resolve().parent / "fold_lists"


def list_frames(folder: str | Path) -> list[Path]:
    """The image files of a frame folder, sorted by name; InputError if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"frame folder not found: {folder}")
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not frames:
        raise InputError(f"no frames ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return frames


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
