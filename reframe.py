"""Saliency-driven reframing: a video cut to another aspect ratio where people look, with its sound.

    python reframe.py --video IN.mp4 --aspect 9:16 --output OUT.mp4 --file_weight vinet_s.pt
    python reframe.py --video IN.mp4 --aspect 9:16 --output OUT.mp4 --maps OUT/<video>
    python reframe.py --video IN.mp4 --width 1080 --height 1920 --fit auto --output OUT.mp4 --maps OUT/<video>

Saliency comes from a model run first (the engine, vinet/engine) or from maps already made (--maps). The model
runs fast by default: OpenVINO bf16 where it is installed and the CPU has bf16, else PyTorch bf16 where it has it,
else fp32 (the crop within 2% of the width of fp32's); --precision fp32 gives the reference maps.
The model runs only on the windows of the analysed frames: about --analysis_fps per second in each scene, at the
centres of equal parts of the scene (0: every frame), as AutoFlip analyses a few key frames per second. Given
maps are all used (one per frame, or a sampled run's, named by frame number).

The algorithm is the library's, vinet/reframing/: scenes and bars (scenes.py), the saliency along the free axis
(profiles.py), the camera (camera.py), the fit: crop, pad or auto (plan.py), the videos (render.py: H.264 at the
source's timestamps, its first audio track copied) and the path JSON and summary (report.py). --path_json writes
every frame's region and mode, each scene's camera, fit and picture; --debug the source under the heatmap with
the region shown; --export the camera as keyframes for editors (vinet/reframing/editors: .mlt for Shotcut,
Kdenlive and melt, .fcpxml for Final Cut Pro and DaVinci Resolve).
"""
import argparse
import logging
import sys
from dataclasses import fields
from pathlib import Path

from utils import ArgumentParser, InputError, number_flag
from vinet.cli import add_run_flags, add_weights_flags, model_options, run_main, run_options
from vinet.reframing.job import reframe
from vinet.reframing.options import FITS, OUTPUT_SUFFIXES, X264_PRESETS, ReframeOptions

log = logging.getLogger("reframe")


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
    add_weights_flags(parser, untrained=True)
    parser.add_argument("--save_path", default=None, help="where a model run keeps its maps (default: deleted)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo maps in --save_path that other settings made (see <video>.manifest.json)")
    add_run_flags(parser, reframing=True)
    parser.add_argument("--path_json", default=None, metavar="PATH.json", help="also write the crop path")
    parser.add_argument("--export", default=None, nargs="+", metavar="FILE",
                        help="also write the camera as keyframes for editors, the format by the extension: .mlt "
                             "(Shotcut, Kdenlive, melt), .fcpxml (Final Cut Pro, DaVinci Resolve)")
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
    if not (args.maps or args.file_weight or args.onnx or args.untrained):
        raise InputError("no saliency given: pass --maps DIR (maps made by the generate scripts), --file_weight W or "
                         "--onnx FILE; --untrained crops on an untrained model's maps, which mean nothing")
    if args.untrained and args.maps:
        raise InputError("--untrained runs a model without weights: drop it, or drop --maps")
    for name in ("output", "debug"):
        value = getattr(args, name)
        if value and Path(value).suffix.lower() not in OUTPUT_SUFFIXES:
            raise InputError(f"--{name} {value}: the file name must end in {', '.join(OUTPUT_SUFFIXES)}")
        if value and Path(value).resolve() == Path(args.video).resolve():
            raise InputError(f"--{name} {value} would overwrite --video: choose another file")


def options_of(args: argparse.Namespace) -> ReframeOptions:
    """The ReframeOptions the flags give (each field has the flag of its name)."""
    return ReframeOptions(**{option.name: getattr(args, option.name) for option in fields(ReframeOptions)})


def main(argv: list[str] | None = None) -> int:
    """Reframe as the flags say; the exit status (2 after one line for bad input)."""
    def body() -> None:
        args = parse_args(argv)
        check_args(args)
        model = None if args.maps else (model_options(args), run_options(args))
        line = reframe(args.video, args.output, options_of(args), args.maps, model, args.save_path, args.overwrite,
                       args.path_json, args.debug, args.strict_media, args.export)
        log.info("%s", line)
    return run_main(body, log)


if __name__ == "__main__":
    sys.exit(main())
