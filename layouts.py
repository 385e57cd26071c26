"""The datasets' on-disk layouts: frame folders, the fold lists of the audio-visual sets, one listing function per
layout (frames, saliency maps, fixations, sound), and the readers of their maps. Inference lists frames, training
frames with maps and fixations, evaluation maps and fixations; a missing or malformed folder is one line naming it.
"""
import json
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


# ----------------------------------------------------------------------------------------------
# The 2026 benchmarks: CrowdSAL and NTIRE 2026 store a video's saliency as a 10-bit video and its fixations as JSON.
#
# CrowdSAL: ROOT/Videos/<id>.mp4, ROOT/Saliency/<id>.mp4, ROOT/Fixations/<id>.json, ids 0001-3000 training and
# 3001-5000 test; or ROOT/Train and ROOT/Test, each of that layout. NTIRE 2026: ROOT/Videos/<id>.mp4,
# ROOT/SaliencyTrain|SaliencyTest/<id>.mp4, ROOT/FixationsTrain|FixationsTest/<id>/fixations.json (their archives
# unpack one folder deeper, .../Train/<id>..., read too), ROOT/TrainTestSplit.json ({"train": [...],
# "public_test": [...], "private_test": [...]}). A fixation file holds, per frame, a non-empty list of zero-based
# [y, x] points; a repeated point is another observer's event.

CROWDSAL, NTIRE2026 = "CrowdSAL", "NTIRE2026"
BENCHMARK_SETS = (CROWDSAL, NTIRE2026)
TEST = "test"
CROWDSAL_LAST_TRAIN_ID = 3000
NTIRE_SPLIT_FILE = "TrainTestSplit.json"


@dataclass(frozen=True)
class BenchmarkVideo:
    """One video of a 2026 benchmark: its id, the video with its sound (None where it is not needed and absent),
    its 10-bit saliency video and its fixation JSON."""

    name: str
    video: Path | None
    saliency: Path
    fixations: Path


def benchmark_set(root: str | Path) -> str:
    """Which 2026 benchmark's layout a folder holds; InputError naming what it lacks."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"dataset folder not found: {root}")
    if (root / NTIRE_SPLIT_FILE).is_file() or any((root / f"Saliency{part}").is_dir() for part in ("Train", "Test")):
        return NTIRE2026
    if any((folder / "Saliency").is_dir() for folder in (root, root / "Train", root / "Test")):
        return CROWDSAL
    raise InputError(f"{root} is neither a CrowdSAL folder (Saliency/, Fixations/, Videos/, or Train/ and Test/ of "
                     f"them) nor an NTIRE 2026 one (SaliencyTrain/ or SaliencyTest/, {NTIRE_SPLIT_FILE}); point to "
                     "the dataset's root")


def check_benchmark_set(root: str | Path, dataset: str) -> None:
    """InputError unless the folder holds `dataset`'s layout (CROWDSAL or NTIRE2026)."""
    found = benchmark_set(root)
    if found != dataset:
        raise InputError(f"{root} holds the {found} layout, not {dataset}'s: pass --dataset {found}")


def list_benchmark_videos(root: str | Path, split: str = TEST, need_videos: bool = True) -> list[BenchmarkVideo]:
    """The videos of a split (TRAIN or TEST) of a CrowdSAL or NTIRE 2026 folder that have ground truth, by id;
    InputError naming the first missing folder or file (a video's mp4 only with `need_videos`)."""
    if split not in (TRAIN, TEST):
        raise ValueError(f"split must be {TRAIN!r} or {TEST!r}, got {split!r}")
    root = Path(root)
    lister = _ntire_videos if benchmark_set(root) == NTIRE2026 else _crowdsal_videos
    videos = lister(root, split)
    if not videos:
        raise InputError(f"{root} holds no {split} video with a saliency video")
    for video in videos:
        if not video.fixations.is_file():
            raise InputError(f"{video.name}: fixations not found: {video.fixations}")
        if need_videos and (video.video is None or not video.video.is_file()):
            raise InputError(f"{video.name}: video not found: {video.video}")
    return videos


def list_benchmark_video_files(root: str | Path, split: str = TEST) -> list[tuple[str, Path]]:
    """(id, video file) of every video of a split of a CrowdSAL or NTIRE 2026 folder, ground truth or not (a
    submission covers the test videos whose maps are private); InputError naming what is missing."""
    root = Path(root)
    if benchmark_set(root) == CROWDSAL:
        nested = (root / "Train").is_dir() or (root / "Test").is_dir()
        folder = _required_folder((root / split.capitalize() if nested else root) / "Videos")
        names = _mp4_stems(folder)
        if not nested:
            names = [n for n in names if n.isdigit() and (int(n) <= CROWDSAL_LAST_TRAIN_ID) == (split == TRAIN)]
    else:
        folder = _required_folder(root / "Videos")
        listed = ntire_split_ids(root / NTIRE_SPLIT_FILE, split)
        if listed is None:
            raise InputError(f"{root / NTIRE_SPLIT_FILE} not found: it says which of {folder}'s videos are {split} "
                             "videos; put the challenge's file there")
        missing = sorted(listed - set(_mp4_stems(folder)))
        if missing:
            raise InputError(f"{folder} lacks {len(missing)} {split} videos of {NTIRE_SPLIT_FILE}, e.g. "
                             f"{missing[0]}.mp4")
        names = sorted(listed)
    if not names:
        raise InputError(f"{folder} holds no {split} video")
    return [(name, folder / f"{name}.mp4") for name in names]


def _required_folder(folder: Path) -> Path:
    if not folder.is_dir():
        raise InputError(f"folder not found: {folder}")
    return folder


def _mp4_stems(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.iterdir() if p.suffix.lower() == ".mp4" and not p.name.startswith("."))


def _crowdsal_videos(root: Path, split: str) -> list[BenchmarkVideo]:
    base = root / split.capitalize() if (root / "Train").is_dir() or (root / "Test").is_dir() else root
    names = _mp4_stems(_required_folder(base / "Saliency"))
    _required_folder(base / "Fixations")
    if base == root:
        unnumbered = next((name for name in names if not name.isdigit()), None)
        if unnumbered is not None:
            raise InputError(f"{base / 'Saliency' / unnumbered}.mp4: CrowdSAL's ids are numbers (0001-3000 "
                             "training, 3001-5000 test); put the split's videos in Train/ and Test/ folders instead")
        names = [n for n in names if (int(n) <= CROWDSAL_LAST_TRAIN_ID) == (split == TRAIN)]
    return [BenchmarkVideo(n, base / "Videos" / f"{n}.mp4", base / "Saliency" / f"{n}.mp4",
                           base / "Fixations" / f"{n}.json") for n in names]


def _unpacked(folder: Path, split: str) -> Path:
    """An NTIRE folder, or the one its archive unpacks into (SaliencyTest/Test)."""
    inner = folder / split.capitalize()
    return inner if inner.is_dir() else folder


def _ntire_videos(root: Path, split: str) -> list[BenchmarkVideo]:
    part = split.capitalize()
    saliency = _unpacked(_required_folder(root / f"Saliency{part}"), split)
    fixations = _unpacked(_required_folder(root / f"Fixations{part}"), split)
    names = _mp4_stems(saliency)
    listed = ntire_split_ids(root / NTIRE_SPLIT_FILE, split)
    if listed is not None:
        names = [name for name in names if name in listed]
    return [BenchmarkVideo(n, root / "Videos" / f"{n}.mp4", saliency / f"{n}.mp4", fixations / n / "fixations.json")
            for n in names]


def ntire_split_ids(path: Path, split: str) -> set[str] | None:
    """The ids TrainTestSplit.json gives a split ("train"; TEST: its test lists, public and private), None without
    the file; InputError when it is not such a file."""
    if not path.is_file():
        return None
    try:
        lists = json.loads(path.read_text())
        ids = {Path(str(name)).stem for key, names in lists.items()
               if (key.lower() == TRAIN) == (split == TRAIN) for name in names}
    except (ValueError, AttributeError, TypeError) as error:
        raise InputError(f"{path} is not a split file ({{\"train\": [...], \"public_test\": [...], ...}}): "
                         f"{error}") from error
    return ids


def read_fixation_events(path: str | Path, name: str) -> list[np.ndarray]:
    """A video's fixation JSON: per frame an (N, 2) int64 array of zero-based [y, x] events, N >= 1; InputError
    naming the video, the frame and the fix when the file is unreadable, a frame's list empty or malformed."""
    try:
        frames = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{name}: cannot read fixations {path}: {error}") from error
    if not isinstance(frames, list):
        raise InputError(f"{name}: {path} must hold a list of frames, each a list of [y, x] fixations")
    events = []
    for index, points in enumerate(frames):
        try:
            array = np.asarray(points, dtype=np.int64)
        except (ValueError, TypeError):
            array = np.empty((0, 3))
        if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
            what = "no fixation" if isinstance(points, list) and not points else "not a list of [y, x] points"
            raise InputError(f"{name}: frame {index} of {path} has {what}; every frame needs at least one [y, x] "
                             "fixation: fix or replace the file")
        events.append(array)
    return events


def check_fixations_inside(events: list[np.ndarray], shape: tuple[int, int], name: str, path: Path) -> None:
    """InputError naming the video, frame and point when a fixation lies outside a (height, width) map."""
    height, width = shape
    for index, points in enumerate(events):
        outside = (points[:, 0] < 0) | (points[:, 0] >= height) | (points[:, 1] < 0) | (points[:, 1] >= width)
        if outside.any():
            raise InputError(f"{name}: frame {index} of {path} has fixation {points[outside.argmax()].tolist()} "
                             f"([y, x]) outside the {width}x{height} map; fix the file")
