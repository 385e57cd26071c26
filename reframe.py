"""Saliency-driven reframing: a video cut to another aspect ratio where people look, with its sound.

    python reframe.py --video IN.mp4 --aspect 9:16 --output OUT.mp4 --file_weight vinet_s.pt --precision bf16
    python reframe.py --video IN.mp4 --aspect 9:16 --output OUT.mp4 --maps OUT/<video>
    python reframe.py --video IN.mp4 --width 1080 --height 1920 --fit auto --output OUT.mp4 --maps OUT/<video>

Saliency comes from a model run first (the engine, inference.maps_of_video) or from maps already made (--maps).
The model runs only on the windows of the analysed frames: about --analysis_fps per second in each scene, at the
centres of equal parts of the scene (0: every frame), as AutoFlip analyses a few key frames per second. Given
maps are all used (one per frame, or a sampled run's, named by frame number).

The algorithm is the library's, vinet/reframing/: scenes and bars (scenes.py), the saliency along the free axis
(profiles.py), the camera (camera.py), the fit: crop, pad or auto (plan.py), the videos (render.py: H.264 at the
source's timestamps, its first audio track copied) and the path JSON and summary (report.py). --path_json writes
every frame's region and mode, each scene's camera, fit and picture; --debug the source under the heatmap with
the region shown.
"""
import argparse
import logging
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import inference
from media import VideoInfo, probe_video
from registry import MODELS, get_entry
from utils import ArgumentParser, InputError, number_flag
from vinet.reframing.geometry import output_size
from vinet.reframing.options import FITS, OUTPUT_SUFFIXES, X264_PRESETS, ReframeOptions
from vinet.reframing.pipeline import reframe_video
from vinet.reframing.scenes import analysed_frames, find_scenes

log = logging.getLogger("reframe")


# ----------------------------------------------------------------------------------------------
# Saliency from a model, through the engine


def load_predictor(args: argparse.Namespace) -> tuple[inference.Predictor, inference.Settings]:
    """The model --onnx or --model names, else the checkpoint's own (an AViNet one hears the video's sound), run by
    --backend, and the engine's settings."""
    backend = inference.backend_name(args.backend, args.onnx)
    settings = inference.make_settings(args.device, args.batch_size, args.precision, backend=backend)
    if args.onnx:
        return inference.onnx_predictor(args.onnx, settings, backend), settings
    frame_size = tuple(args.frame_size) if args.frame_size else None
    entry = get_entry(args.model).configured(frame_size) if args.model else None
    return inference.build_predictor(args.file_weight, entry, frame_size, settings, backend=backend), settings


def predict_maps(info: VideoInfo, frames: list[int], save_path: Path,
                 model: tuple[inference.Predictor, inference.Settings], overwrite: bool = False) -> Path:
    """The maps of `frames` (the model runs on their windows alone), by the engine into save_path; their folder
    (its manifest records the frames when they are not all: inference.claim_output_folder)."""
    wanted = None if len(frames) == info.num_frames else set(frames)
    return inference.maps_of_video(info.path, save_path, *model, overwrite, frames=wanted)


# ----------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """reframe.py's flags; InputError (one line) for a bad one."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", required=True, help="the source video")
    parser.add_argument("--aspect", default=ReframeOptions.aspect,
                        help="output aspect ratio W:H (9:16, 4:5, 1:1, 16:9, ...)")
    parser.add_argument("--width", default=ReframeOptions.width, type=number_flag(int, 2),
                        help="output width in pixels (even)")
    parser.add_argument("--height", default=ReframeOptions.height, type=number_flag(int, 2),
                        help="output height in pixels (even)")
    parser.add_argument("--output", required=True, help="the reframed video (.mp4, .mov, .mkv)")
    parser.add_argument("--fit", default=ReframeOptions.fit, choices=FITS,
                        help="crop: always crop; pad: show whole, over a blurred copy, what a crop cannot hold; "
                             "auto: pad only where the crop would keep less than --pad_below of the saliency")
    parser.add_argument("--pad_below", default=ReframeOptions.pad_below, type=number_flag(float, 0, 1, above=True),
                        help="--fit auto pads scenes whose crop keeps less than this share of the saliency")
    parser.add_argument("--analysis_fps", default=ReframeOptions.analysis_fps, type=number_flag(float, 0),
                        help="frames per second the model analyses, the targets between them interpolated "
                             "(0: every frame); with --maps every map given is used")
    parser.add_argument("--maps", default=None, metavar="DIR",
                        help="maps already generated for this video (OUT/<video>), instead of a model run")
    parser.add_argument("--file_weight", default=None, nargs="+", metavar="W",
                        help="checkpoint of the saliency model (ViNet-E: a ViNet-S and a ViNet-A one), without --maps")
    parser.add_argument("--model", default=None, choices=list(MODELS), metavar="NAME",
                        help="registry model name (default: the checkpoint's own)")
    parser.add_argument("--untrained", action="store_true",
                        help="without --maps, --file_weight or --onnx: crop on an untrained model's maps (they mean "
                             "nothing: for testing a pipeline)")
    parser.add_argument("--onnx", default=None, metavar="MODEL.onnx",
                        help="an ONNX file written by export.py (an int8 one too), instead of a checkpoint")
    parser.add_argument("--save_path", default=None, help="where a model run keeps its maps (default: deleted)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo maps in --save_path that other settings made (see <video>.manifest.json)")
    inference.add_run_arguments(parser)
    inference.add_frame_size_argument(parser)
    parser.add_argument("--path_json", default=None, metavar="PATH.json", help="also write the crop path")
    parser.add_argument("--debug", default=None, metavar="DEBUG.mp4",
                        help="also write the source with heatmap, region shown, scene, camera and fit")
    parser.add_argument("--smoothing", default=ReframeOptions.smoothing, type=number_flag(float, 0),
                        help="time constant of the moving camera in seconds (0: follow the targets)")
    parser.add_argument("--max_speed", default=ReframeOptions.max_speed, type=number_flag(float, 0, above=True),
                        help="top camera speed in picture widths (heights for a vertical crop) per second")
    parser.add_argument("--scene_threshold", default=ReframeOptions.scene_threshold,
                        type=number_flag(float, 0, above=True),
                        help="ContentDetector threshold: lower finds more cuts")
    parser.add_argument("--min_scene_len", default=ReframeOptions.min_scene_len, type=number_flag(float, 0),
                        help="shortest scene in seconds")
    parser.add_argument("--crf", default=ReframeOptions.crf, type=number_flag(int, 0, 51),
                        help="x264 quality (0-51, lower is better)")
    parser.add_argument("--preset", default=ReframeOptions.preset, choices=X264_PRESETS,
                        help="x264 preset: veryfast is twice as fast as medium for the same quality (crf) in a "
                             "file a few percent larger")
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """InputError for flags that cannot work together or out of range."""
    if args.maps and (args.file_weight or args.model or args.onnx):
        raise InputError("give --maps (maps already made) or --file_weight/--model/--onnx (run a model), not both")
    if args.onnx and (args.file_weight or args.model):
        raise InputError("--onnx names its model: drop --file_weight and --model")
    if not (args.maps or args.file_weight or args.onnx or args.untrained):
        raise InputError("no saliency given: pass --maps DIR (maps made by the generate scripts), --file_weight W or "
                         "--onnx FILE; --untrained crops on an untrained model's maps, which mean nothing")
    if args.untrained and (args.maps or args.file_weight or args.onnx):
        raise InputError("--untrained runs a model without weights: drop it, or drop --maps/--file_weight/--onnx")
    for name in ("output", "debug"):
        value = getattr(args, name)
        if value and Path(value).suffix.lower() not in OUTPUT_SUFFIXES:
            raise InputError(f"--{name} {value}: the file name must end in {', '.join(OUTPUT_SUFFIXES)}")
        if value and Path(value).resolve() == Path(args.video).resolve():
            raise InputError(f"--{name} {value} would overwrite --video: choose another file")


def options_of(args: argparse.Namespace) -> ReframeOptions:
    """The ReframeOptions the flags give (each field has the flag of its name)."""
    return ReframeOptions(**{option.name: getattr(args, option.name) for option in fields(ReframeOptions)})


def reframe(args: argparse.Namespace) -> None:
    """The command line's job: the scenes, the maps (given, or from a model run on the analysed frames), then
    reframe_video; each stage's time logged."""
    check_args(args)
    options = options_of(args)
    info = probe_video(args.video)
    output_size(info.size, options.aspect, options.width, options.height)   # refused before any work
    model = None if args.maps else load_predictor(args)
    if model and args.save_path:   # maps made otherwise are refused before the scene pass, not after it
        inference.check_maps_of_video(info.path, args.save_path, *model, args.overwrite)
    started = time.perf_counter()
    scenes = find_scenes(info, options)
    log.info("scenes: %d in %.1f s", len(scenes), time.perf_counter() - started)
    with tempfile.TemporaryDirectory(prefix="reframe.") as scratch:
        maps_dir = Path(args.maps) if args.maps else None
        if model:
            started, frames = time.perf_counter(), analysed_frames(scenes, info.fps, options.analysis_fps)
            maps_dir = predict_maps(info, frames, Path(args.save_path or scratch), model, args.overwrite)
            log.info("model: %d of %d frames analysed in %.1f s", len(frames), info.num_frames,
                     time.perf_counter() - started)
        started = time.perf_counter()
        line = reframe_video(info.path, maps_dir, Path(args.output), options,
                             Path(args.path_json) if args.path_json else None,
                             Path(args.debug) if args.debug else None, scenes)
        log.info("reframing: %.1f s", time.perf_counter() - started)
        log.info("%s", line)


def main(argv: list[str] | None = None) -> int:
    """Reframe as the flags say; the exit status (2 after one line for bad input)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        reframe(parse_args(argv))
        return 0
    except InputError as error:
        log.error("error: %s", error)
        return 2


if __name__ == "__main__":
    sys.exit(main())
