"""A video and its maps to the reframed cut: scenes, plan, the videos written, the path document and the summary."""
import json
import logging
from contextlib import ExitStack
from pathlib import Path

from media import VideoInfo
from utils import atomic_path
from vinet.reframing.editors import check_exports, write_exports
from vinet.reframing.geometry import output_size
from vinet.reframing.options import ReframeOptions
from vinet.reframing.plan import plan_video
from vinet.reframing.profiles import list_maps
from vinet.reframing.render import write_videos
from vinet.reframing.report import path_document, summary
from vinet.reframing.scenes import Scene, find_scenes

log = logging.getLogger("reframe")   # reframe.py's: its records read as before the library moved out of it


def reframe_video(info: VideoInfo, maps_dir: Path, output: Path, options: ReframeOptions,
                  path_json: Path | None = None, debug: Path | None = None, scenes: list[Scene] | None = None,
                  exports: list[Path] | None = None) -> str:
    """Cut a video (its probe: media.probe_video) to the options' shape along its maps (maps_dir: one per frame, or
    a sampled run's) into `output`, with the path JSON, the debug video and the editors' projects (`exports`: .mlt,
    .fcpxml) when asked; the one-line summary. `scenes` (find_scenes) spares the scene pass when known. InputError
    for bad input."""
    output_size(info.size, options.aspect, options.width, options.height)
    exports = check_exports(exports)
    maps = list_maps(maps_dir, info)
    if len(maps) < info.num_frames:
        log.info("maps of %d of %d frames: the targets between them are interpolated", len(maps), info.num_frames)
    plan = plan_video(scenes or find_scenes(info, options), maps, info, options)
    with ExitStack() as stack:
        if path_json:  # published when the block ends, after the videos
            document = path_document(info, plan)
            stack.enter_context(atomic_path(path_json)).write_text(json.dumps(document, indent=1))
        write_videos(info, plan, maps, output, debug, options.crf, options.preset)
    if exports:
        log.info("%s", write_exports(info, plan, exports))
    return summary(info, plan)
