"""What made a video's maps: OUT/<video>.manifest.json beside OUT/<video>/ (which holds maps only, as the
original's layout). A rerun resumes only maps its manifest says were made as it would make them."""
import dataclasses
import hashlib
import json
import logging
from pathlib import Path

from layouts import IMAGE_SUFFIXES
from utils import (
    VERSION,
    InputError,
    atomic_write_bytes,
)
from vinet.engine.predictor import Predictor
from vinet.engine.sources import Video
from vinet.engine.writers import DEFAULT_OUTPUT_FORMAT, saliency_video_path

log = logging.getLogger("generate")

MANIFEST_SUFFIX = ".manifest.json"   # OUT/<video>.manifest.json, beside OUT/<video>/: what made its maps


def file_identity(path: str | Path) -> dict[str, str]:
    """A weights or ONNX file's name and SHA-256 (what the manifests record of it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return {"file": Path(path).name, "sha256": digest.hexdigest()}


def maps_provenance(predictor: Predictor, video: Video, output_format: str = DEFAULT_OUTPUT_FORMAT) -> dict:
    """What decides a video's maps: the project's version, the model and its weights, the backend, precision,
    the device's kind (a GPU's kernels differ from a CPU's by a gray level or two), input sizes, normalisation and
    window rules, what it hears, the input itself, and the output format."""
    parts, settings = predictor.entry.parts, predictor.settings
    return {"output_format": output_format, "version": VERSION, "model": predictor.entry.label, **predictor.origin,
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
    """The maps already made of a video: the map files in its output folder (temporary files aside) and its
    saliency video beside it (OUT/<video>.mp4)."""
    video = saliency_video_path(folder)
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")] \
        if folder.is_dir() else []
    return files + ([video] if video.is_file() else [])


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
    recorded.setdefault("output_format", "png")   # manifests older than the key were of map files
    if recorded.get("source") != wanted["source"]:
        return f"{folder} holds {len(maps)} maps of another input ({recorded.get('source', {}).get('path')})"
    changed = next((key for key in wanted if recorded.get(key) != wanted[key]), None)
    if changed:
        return (f"{folder} holds {len(maps)} maps made with another {changed} ({recorded.get(changed)} there, "
                f"{wanted[changed]} now)")
    return None


def check_output_folders(predictor: Predictor, videos: list[Video], save_path: Path, overwrite: bool,
                         output_format: str = DEFAULT_OUTPUT_FORMAT) -> None:
    """Before any work: InputError for the first video whose folder holds maps made otherwise, unless
    `overwrite` (they are then redone when the video's turn comes)."""
    for video in videos:
        conflict = provenance_conflict(save_path / video.name, maps_provenance(predictor, video, output_format))
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
    folder.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(manifest_path(folder), json.dumps({**provenance, "frames": frames}, indent=1).encode())


def add_record(folder: Path, key: str, record: dict) -> None:
    """Add to a folder's manifest what the run found of its video: "damage" (what could not be decoded: the frames
    without a map and why, the spans of sound made silence) or "int8_check" (the int8 maps' CC with fp32's)."""
    path = manifest_path(folder)
    document = json.loads(path.read_text())
    atomic_write_bytes(path, json.dumps({**document, key: record}, indent=1).encode())


def discard_maps(folder: Path) -> None:
    """Remove a refused video's maps and manifest (and its folder, once empty)."""
    for old in existing_maps(folder):
        old.unlink()
    manifest_path(folder).unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
