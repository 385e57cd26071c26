"""The cut handed to editors (--export): the camera as keyframes in an MLT XML project (Shotcut, Kdenlive, melt) or
FCPXML (Final Cut Pro, DaVinci Resolve), the format chosen by the file's extension."""
import logging
import os
from collections.abc import Callable
from pathlib import Path

from media import VideoInfo
from utils import InputError, atomic_write_bytes
from vinet.reframing.editors import fcpxml, mlt
from vinet.reframing.editors.keyframes import SceneKeys, scene_keys
from vinet.reframing.options import EXPORT_SUFFIXES
from vinet.reframing.plan import VideoPlan

log = logging.getLogger("reframe")
WRITERS: dict[str, Callable[[VideoInfo, list[SceneKeys], tuple[int, int]], bytes]] = {
    ".mlt": mlt.project, ".fcpxml": fcpxml.project}


def writable_folder(path: Path) -> bool:
    """Whether `path` can be made: its nearest existing ancestor is a folder this process may write in."""
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def check_exports(exports: list[str | Path] | None) -> list[Path]:
    """The --export paths; InputError naming the first whose extension is not an editor's or that cannot be
    written."""
    paths = [Path(export) for export in exports or []]
    for path in paths:
        if path.suffix.lower() not in WRITERS:
            raise InputError(f"--export {path}: the file name must end in {' or '.join(EXPORT_SUFFIXES)} (MLT for "
                             "Shotcut, Kdenlive and melt; FCPXML for Final Cut Pro and DaVinci Resolve)")
        if path.is_dir() or not writable_folder(path):
            raise InputError(f"--export {path}: cannot write there; choose a file in a folder you can write to")
    return paths


def write_exports(info: VideoInfo, plan: VideoPlan, exports: list[Path]) -> str:
    """Write each export (atomically) from the plan's keyframes; the log line naming them and the keyframe count."""
    keys = scene_keys(plan, info.size[0])
    for path in exports:
        atomic_write_bytes(path, WRITERS[path.suffix.lower()](info, keys, plan.size))
    count = sum(len(scene.offsets) for scene in keys)
    names = ", ".join(path.name for path in exports)
    return f"export: {names} ({count} keyframe{'s' * (count != 1)} for {info.num_frames} frames)"
