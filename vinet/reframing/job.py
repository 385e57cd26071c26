"""Reframing end to end: a video's scenes, its saliency (maps already made, or the model run by the engine on the
frames the reframing analyses), then the cut (pipeline.reframe_video); each stage's time logged."""
import logging
import tempfile
import time
from pathlib import Path

from media import VideoInfo, probe_video
from vinet.engine.manifest import add_record
from vinet.engine.predictor import Predictor
from vinet.engine.run import check_maps_of_video, maps_of_video
from vinet.loading import BACKEND_NAMES, FAST_DEFAULT, ModelOptions, RunOptions, fast_run_options, load_predictor
from vinet.reframing.editors import check_exports
from vinet.reframing.geometry import output_size
from vinet.reframing.options import ReframeOptions
from vinet.reframing.pipeline import reframe_video
from vinet.reframing.scenes import analysed_frames, find_scenes

log = logging.getLogger("reframe")


def predict_maps(info: VideoInfo, frames: list[int], save_path: Path, predictor: Predictor,
                 overwrite: bool = False) -> Path:
    """The maps of `frames` (the model runs on their windows alone), by the engine into save_path; their folder
    (its manifest records the frames when they are not all: engine.manifest.claim_output_folder)."""
    wanted = None if len(frames) == info.num_frames else set(frames)
    return maps_of_video(info, save_path, predictor, overwrite, frames=wanted)


def chosen_predictor(model: tuple[ModelOptions, RunOptions]) -> tuple[Predictor, dict]:
    """The predictor of a reframing run, --backend and --precision left None chosen fast (fast_run_options), and the
    run's record for the manifest; one line says which run and who chose it."""
    choice, run = model
    run, fast = fast_run_options(run, choice.onnx)
    predictor = load_predictor(choice, run)
    backend, precision = predictor.origin["backend"], predictor.settings.precision
    why = f"{FAST_DEFAULT}; --precision fp32 for the reference maps" if fast else "the flags"
    log.info("model: %s by %s %s (%s)", predictor.entry.label, BACKEND_NAMES[backend], precision, why)
    return predictor, {"backend": backend, "precision": precision, "chosen_by": FAST_DEFAULT if fast else "the flags"}


def reframe(video: str | Path, output: str | Path, options: ReframeOptions, maps: str | Path | None = None,
            model: tuple[ModelOptions, RunOptions] | None = None, save_path: str | Path | None = None,
            overwrite: bool = False, path_json: str | Path | None = None, debug: str | Path | None = None,
            strict_media: bool = False, exports: list[str | Path] | None = None) -> str:
    """Cut `video` to the options' shape into `output`, along `maps` (a folder of maps) or the maps of `model` (its
    options) on the analysed frames, kept in save_path when given, with the editors' projects (`exports`); the
    one-line summary. Bad input (InputError) is refused before any work. A damaged video is cut from what decodes,
    with one warning line saying what was lost (`strict_media`: refused)."""
    exports = check_exports(exports)
    info = probe_video(video)
    info.damage.make_strict(strict_media)
    output_size(info.size, options.aspect, options.width, options.height)
    predictor, run_choice = (None, None) if maps else chosen_predictor(model)
    if predictor and save_path:   # maps made otherwise are refused before the scene pass, not after it
        check_maps_of_video(info, save_path, predictor, overwrite)
    started = time.perf_counter()
    scenes = find_scenes(info, options)
    log.info("scenes: %d in %.1f s", len(scenes), time.perf_counter() - started)
    with tempfile.TemporaryDirectory(prefix="reframe.") as scratch:
        maps_dir = Path(maps) if maps else None
        if predictor:
            started, frames = time.perf_counter(), analysed_frames(scenes, info.fps, options.analysis_fps)
            maps_dir = predict_maps(info, frames, Path(save_path or scratch), predictor, overwrite)
            add_record(maps_dir, "run_choice", run_choice)
            log.info("model: %d of %d frames analysed in %.1f s", len(frames), info.num_frames,
                     time.perf_counter() - started)
        started = time.perf_counter()
        line = reframe_video(info, maps_dir, Path(output), options, path_json and Path(path_json),
                             debug and Path(debug), scenes, exports)
        log.info("reframing: %.1f s", time.perf_counter() - started)
    if info.damage:
        log.warning("%s", info.damage.line())
    return line
