"""Walking the ground truth's and the predictions' folders: the videos and frames to score, their fixation files,
each frame's prediction file, and the checks that refuse an incomplete set before scoring starts."""
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from layouts import VALIDATION, list_audio_visual_videos, list_frame_folder_videos
from utils import InputError
from vinet.evaluation.frame_scores import DISTRIBUTION_METRICS
from vinet.evaluation.maps import Fixations, fixations_of

PREDICTION_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Frame:
    """One ground-truth frame: its density map, its fixation file and the prediction's file stem."""
    name: str
    density_path: Path
    fixation_path: Path
    prediction_stem: str


@dataclass(frozen=True)
class GroundTruthVideo:
    """The annotated frames of one video and the folder of its density maps."""
    name: str
    frames: tuple[Frame, ...]
    maps_dir: Path


def list_videos(gt_root: Path, dataset: str | None, split: int | None) -> list[GroundTruthVideo]:
    """The ground truth's videos (dataloader's listing of the DHF1K layout, or of one fold of an audio-visual set in
    fold-list order); predictions are named as the maps (DHF1K) or img_%05d with the map's number."""
    if not gt_root.is_dir():
        held = f"annotations/{dataset}/" if dataset else "<video>/maps/*.png and <video>/fixation/"
        raise InputError(f"ground-truth folder not found: {gt_root}; pass --gt_path the folder holding {held}")
    if not dataset:
        listed = list_frame_folder_videos(gt_root, ("maps", "fixation"), "ground-truth folder (--gt_path)", False)
    elif dataset != "DIEM" and split is None:
        raise InputError(f"--split is required for {dataset}: pass the fold number (e.g. --split 1)")
    else:
        listed = list_audio_visual_videos(gt_root, dataset, split or 1, VALIDATION, ("maps", "fixations"), False)
    videos = []
    for video in listed:
        stems = [m.stem if not dataset else f"img_{m.stem.split('_')[-1]}" for m in video.maps]
        frames = tuple(Frame(m.name, m, f, stem) for m, f, stem in zip(video.maps, video.fixations, stems))
        maps_dir = (gt_root / video.name if not dataset else gt_root / "annotations" / dataset / video.name) / "maps"
        videos.append(GroundTruthVideo(video.name, frames, maps_dir))
    if not any(video.frames for video in videos):
        raise InputError(f"no ground-truth maps under {gt_root} for --dataset {dataset}; check --gt_path (the "
                         "dataset root) and --dataset")
    return videos


def load_video_fixations(video: GroundTruthVideo) -> tuple[tuple[Fixations | None, ...], list[tuple[str, str | None]]]:
    """Fixations of every frame of a video (None where the file is missing or unreadable) and the problems met."""
    fixations, problems = [], []
    for frame in video.frames:
        path, frame_fixations = frame.fixation_path, None
        if not path.is_file():
            problems.append(("missing_fixation", f"{path}: fixation map missing; "
                                                 "nss/auc_j/s_auc/auc_b are NaN for this frame"))
        else:
            try:
                frame_fixations = fixations_of(path)
            except InputError as error:
                problems.append(("unreadable_fixation", f"{error}; nss/auc_j/s_auc/auc_b are NaN for this frame"))
        fixations.append(frame_fixations)
    return tuple(fixations), problems


def check_fixations_exist(videos: list[GroundTruthVideo], fixations: list[tuple[Fixations | None, ...]],
                          metrics: tuple[str, ...]) -> None:
    """InputError when fixation metrics are asked for and not one frame of the ground truth has a readable
    fixation map (a wrong --gt_path, or a set without fixations); maps without fixations are fine (NaN)."""
    wanted = [m for m in metrics if m not in DISTRIBUTION_METRICS]
    if wanted and all(f is None for video_fixations in fixations for f in video_fixations):
        where = videos[0].frames[0].fixation_path.parent if videos and videos[0].frames else "the ground truth"
        raise InputError(f"no fixation maps in the ground truth (e.g. none in {where}): {', '.join(wanted)} need "
                         f"them; add them, or pass --metrics {','.join(DISTRIBUTION_METRICS)}")


def check_prediction_root(prediction_root: Path) -> None:
    """InputError when the predictions' folder does not exist."""
    if not prediction_root.is_dir():
        raise InputError(f"prediction folder not found: {prediction_root}; pass --pred_path the folder holding "
                         "<video>/<frame>.png")


def prediction_file(frame: Frame, prediction_dir: Path) -> Path | None:
    """The prediction of a frame (<stem>.png, .jpg, ...), None when there is none."""
    return next((path for path in (prediction_dir / (frame.prediction_stem + suffix) for suffix in PREDICTION_SUFFIXES)
                 if path.is_file()), None)


def missing_predictions(videos: Sequence[GroundTruthVideo], prediction_root: Path) -> dict[str, tuple[int, int]]:
    """{video: (frames without a prediction, annotated frames)} for the videos missing some."""
    missing = {}
    for video in videos:
        absent = sum(prediction_file(frame, prediction_root / video.name) is None for frame in video.frames)
        if absent:
            missing[video.name] = (absent, len(video.frames))
    return missing


def check_complete(missing: dict[str, tuple[int, int]], videos: Sequence[GroundTruthVideo],
                   prediction_root: Path) -> None:
    """InputError naming the videos (and frame counts) that lack predictions: a partial score is refused."""
    if missing:
        named = ", ".join(f"{name} ({absent} of {total} frames)" for name, (absent, total) in list(missing.items())[:5])
        raise InputError(f"predictions missing in {prediction_root} for {len(missing)} of {len(videos)} videos: "
                         f"{named}{', ...' if len(missing) > 5 else ''}; generate them, or pass --allow_missing to "
                         "score only the frames that have one")
