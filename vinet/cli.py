"""What the command lines share: the flags that choose and run a model (each defined once, its default read from
the options' dataclass), the flags -> options -> predictor path, and the run of a script's body (logging; bad input
-> one line and exit 2)."""
import argparse
import logging
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from dataloader import AUDIO_ABLATIONS
from registry import FUSIONS, MODELS
from utils import PRECISIONS, InputError, device_flag, number_flag, str2bool
from vinet.backends import BACKENDS
from vinet.engine.run import check_save_path, finish, predict_all
from vinet.engine.sources import Video, process_share, select_part
from vinet.engine.writers import DEFAULT_OUTPUT_FORMAT, OUTPUT_FORMATS
from vinet.loading import GPU_BATCH_SIZE, ModelOptions, RunOptions, load_predictor

IGNORED_FLAGS = ("--multi_frame", "--num_decoder_layers")   # the original parsed them and never used them
log = logging.getLogger("generate")


def add_weights_flags(parser: argparse.ArgumentParser, onnx: bool = True, untrained: bool = False) -> None:
    """--file_weight, --model, --frame_size, and where the script offers them --onnx and --untrained."""
    parser.add_argument("--file_weight", default=ModelOptions.file_weight, nargs="+", metavar="W",
                        help="checkpoint to load (original, ViNet++ or train.py; ViNet-E: a ViNet-S and a ViNet-A "
                             "one); it names its model, so no model flags are needed")
    add_model_flag(parser)
    if onnx:
        parser.add_argument("--onnx", default=ModelOptions.onnx, metavar="MODEL.onnx",
                            help="run an ONNX file written by export.py (an int8 one too) instead of a checkpoint, "
                                 "with onnxruntime or --backend openvino (pip install -r requirements-onnx.txt)")
    if untrained:
        parser.add_argument("--untrained", action="store_true",
                            help="without weights: an untrained model, seeded (its maps mean nothing: for testing "
                                 "a pipeline)")
    add_frame_size_flag(parser)


def add_frame_size_flag(parser: argparse.ArgumentParser) -> None:
    """--frame_size H W (positive; the model's registry entry checks the sizes it accepts)."""
    parser.add_argument("--frame_size", default=ModelOptions.frame_size, type=number_flag(int, 1), nargs=2,
                        metavar=("H", "W"),
                        help="model input size, for models trained at another size (default: the model's own; "
                             "each model accepts its own multiples: 32, ViNet-A 4)")


def add_model_flag(parser: argparse.ArgumentParser) -> None:
    """--model NAME: a registry name."""
    parser.add_argument("--model", default=ModelOptions.model, choices=list(MODELS), metavar="NAME",
                        help=f"the model to build ({', '.join(MODELS)}); default: the checkpoint's, or the script's "
                             "own")


def add_variant_flags(parser: argparse.ArgumentParser) -> None:
    """The original's flags that pick a ViNet variant and the AViNet transformer's size."""
    parser.add_argument("--clip_size", default=ModelOptions.clip_size, type=number_flag(int, 1),
                        help="frames per clip (ViNet: 8, 16, 32, 48; default 32)")
    parser.add_argument("--num_hier", default=ModelOptions.num_hier, type=number_flag(int, 0, 3),
                        help="encoder hierarchies fused by the decoder (0-3; default 3)")
    parser.add_argument("--nhead", type=number_flag(int, 1), default=ModelOptions.nhead,
                        help="heads of the AViNet fusions' transformer (default 4)")
    parser.add_argument("--num_encoder_layers", type=number_flag(int, 1), default=ModelOptions.num_encoder_layers,
                        help="layers of the AViNet fusions' transformer (default 3)")


def add_original_model_flags(parser: argparse.ArgumentParser) -> None:
    """The original's model flags of its generate scripts: the variants, the decoder, and the two it ignored."""
    add_variant_flags(parser)
    parser.add_argument("--decoder_upsample", default=ModelOptions.decoder_upsample, type=number_flag(int, 1, 1),
                        help="1: the trilinear decoder (the only one released)")
    for legacy in IGNORED_FLAGS:
        parser.add_argument(legacy, default=None, help="the original's flag, accepted and ignored (as it did)")


def boolean_flag(parser: argparse.ArgumentParser, name: str, default: bool | None, help: str) -> None:
    """A boolean flag as the original parsed them (True/False/1/0/yes/no); given bare, it means True."""
    parser.add_argument(name, type=str2bool, nargs="?", const=True, default=default, help=help)


def add_fusion_flags(parser: argparse.ArgumentParser) -> None:
    """What an audio-visual model hears with: --use_sound, --fusion, --use_transformer, --transformer_in_channel."""
    boolean_flag(parser, "--use_sound", ModelOptions.use_sound,
                 "True: AViNet; False: ViNet (default: as the checkpoint says)")
    parser.add_argument("--fusion", default=ModelOptions.fusion, choices=list(FUSIONS),
                        help="bilinear (AViNet), transformer (bilinear + transformer), tokens (token fusion)")
    boolean_flag(parser, "--use_transformer", ModelOptions.use_transformer,
                 "the original's name for --fusion transformer")
    parser.add_argument("--transformer_in_channel", default=ModelOptions.transformer_in_channel,
                        type=number_flag(int, 1),
                        help="transformer width (the variant's default: 32 for transformer, 512 for tokens)")


def add_audio_ablation_flag(parser: argparse.ArgumentParser) -> None:
    """--audio_ablation: what an audio-visual model hears (an ablation study)."""
    parser.add_argument("--audio_ablation", default=RunOptions.audio_ablation, choices=AUDIO_ABLATIONS,
                        help="the sound as recorded (none), silenced, or each clip given another moment's sound "
                             "(shuffle)")


def add_sound_flags(parser: argparse.ArgumentParser) -> None:
    """The audio-visual models' flags: the fusion's and --audio_ablation."""
    add_fusion_flags(parser)
    add_audio_ablation_flag(parser)


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    """--device auto|cpu|cuda|cuda:N."""
    parser.add_argument("--device", default=RunOptions.device, type=device_flag,
                        help="auto (cuda when present), cpu, cuda, cuda:1, ...")


def add_precision_flag(parser: argparse.ArgumentParser, reframing: bool = False) -> None:
    """--precision fp32|bf16|fp16|int8; with `reframing`, no default: reframe.py chooses (fast_run_options)."""
    default = "the fast choice: bf16 where the CPU has it, else fp32" if reframing else "fp32"
    parser.add_argument("--precision", default=None if reframing else RunOptions.precision,
                        choices=[*PRECISIONS, "int8"],
                        help=f"default: {default}. fp32: the original's maps within one gray level; bf16 (CPUs and "
                             "GPUs) / fp16 (GPUs only): faster, CC >= 0.99; int8 (CPUs, OpenVINO): a checkpoint "
                             "quantized on windows of the videos it runs (cached), checked against fp32 as it runs")


def add_int8_check_flags(parser: argparse.ArgumentParser) -> None:
    """--check_every and --min_cc: how an int8 run checks its maps against the float path."""
    parser.add_argument("--check_every", default=RunOptions.check_every, type=number_flag(int, 0), metavar="N",
                        help="int8 runs: also run 1 window in N (at least 2 a video) in fp32 and record the maps' CC "
                             f"(default {RunOptions.check_every}; 0: no check)")
    parser.add_argument("--min_cc", default=RunOptions.min_cc, type=number_flag(float, 0, 1), metavar="X",
                        help="int8 runs: refuse a video (its maps removed, exit 2) whose checked windows fall "
                             "below CC X with fp32 (default: a warning below 0.99)")


def add_run_flags(parser: argparse.ArgumentParser, reframing: bool = False) -> None:
    """How a model runs, for every script that runs one: batch, device, precision, backend, compile, exact,
    workers, an int8 run's check, damaged media; with `reframing`, --precision and --backend default to reframe.py's
    fast choice (vinet.loading.fast_run_options)."""
    parser.add_argument("--batch_size", default=RunOptions.batch_size, type=number_flag(int, 1),
                        help=f"windows per forward pass (default: {GPU_BATCH_SIZE} on a GPU; on a CPU 2 in fp32, "
                             "else 1)")
    add_device_flag(parser)
    add_precision_flag(parser, reframing)
    default = "reframe's fast choice: openvino where installed and the CPU has bf16, else " if reframing else ""
    parser.add_argument("--backend", default=RunOptions.backend, choices=BACKENDS,
                        help=f"what runs the model (default: {default}torch, or onnxruntime with --onnx): torch, "
                             "onnxruntime (requirements-onnx.txt) or openvino (CPUs: fp32, bf16, an int8 file from "
                             "export.py --int8; requirements-openvino.txt); a checkpoint is converted to ONNX at start")
    parser.add_argument("--compile", default=RunOptions.compile,
                        choices=["none", "default", "max-autotune", "reduce-overhead"],
                        help="torch.compile the model (reduce-overhead: with CUDA graphs); pays off on long runs")
    parser.add_argument("--exact", action="store_true",
                        help="the original's kernels too (one window per forward): bit-identical maps, slower")
    parser.add_argument("--workers", default=RunOptions.workers, type=number_flag(int, 1),
                        help="threads that decode frames, and threads that write maps")
    add_int8_check_flags(parser)
    add_strict_media_flag(parser)


def add_strict_media_flag(parser: argparse.ArgumentParser) -> None:
    """--strict_media: refuse a damaged video rather than use what of it decodes."""
    boolean_flag(parser, "--strict_media", RunOptions.strict_media,
                 "refuse a video with frames or sound that do not decode (default: map what decodes, one warning "
                 "line per damaged file, the damage listed in its manifest)")


def _options(cls: type, args: argparse.Namespace):
    """An options dataclass from the flags the script has (the others keep their defaults)."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    if values.get("frame_size") is not None:
        values["frame_size"] = tuple(values["frame_size"])
    return cls(**values)


def model_options(args: argparse.Namespace) -> ModelOptions:
    """Which model and weights the flags choose."""
    return _options(ModelOptions, args)


def run_options(args: argparse.Namespace) -> RunOptions:
    """How the flags say the model runs."""
    return _options(RunOptions, args)


def run_main(body: Callable[[], int | None], logger: logging.Logger) -> int:
    """A script's body with INFO logging; bad input (InputError) ends it in one line with exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return body() or 0
    except InputError as error:
        logger.error("error: %s", error)
        return 2


def add_generate_flags(parser: argparse.ArgumentParser) -> None:
    """The flags both generate scripts share: the original's names and the new ones."""
    add_weights_flags(parser)
    parser.add_argument("--save_path", default="results", help="output folder for the maps")
    parser.add_argument("--video", nargs="+", default=None, metavar="PATH",
                        help="video files (mp4, avi, mkv, mov, webm) instead of --path_indata")
    parser.add_argument("--output_format", default=DEFAULT_OUTPUT_FORMAT, choices=OUTPUT_FORMATS,
                        help="png: a map per frame, OUT/<video>/<frame>.png; mp4: one 10-bit saliency video per "
                             "input, OUT/<video>.mp4, as CrowdSAL and NTIRE 2026 take them")
    parser.add_argument("--overlay", default=None, metavar="OUT.mp4",
                        help="with --video: also write the heatmap over the frames, with the sound")
    add_original_model_flags(parser)
    parser.add_argument("--start_idx", default=-1, type=number_flag(int, -1),
                        help="process part START_IDX of --num_parts (1-based; -1: all)")
    parser.add_argument("--num_parts", default=4, type=number_flag(int, 1))
    add_run_flags(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="redo the maps of a video whose folder holds maps made otherwise (see OUT/<video>"
                             ".manifest.json)")


def generate(parser: argparse.ArgumentParser, argv: list[str] | None,
             list_videos: Callable[[argparse.Namespace, bool], list[Video]], default_model: str) -> int:
    """Both generate scripts' body: the flags, the model, this process's videos (list_videos(args, with_audio)),
    the maps, the overlays; the exit status (2 after one line for bad input, before any work)."""
    def body() -> int:
        args = parser.parse_args(argv)
        check_generate_args(args)
        predictor = load_predictor(model_options(args), run_options(args), default_model)
        videos = process_share(select_part(list_videos(args, predictor.entry.takes_audio), args.start_idx,
                                           args.num_parts))
        failures = predict_all(predictor, videos, args.save_path, args.overwrite, output_format=args.output_format)
        return finish(videos, failures, args.save_path, args.overlay, args.output_format)
    return run_main(body, log)


def check_generate_args(args: argparse.Namespace) -> None:
    """InputError for flags that cannot work together; a warning for the original's ignored flags."""
    if args.overlay and not args.video:
        raise InputError("--overlay needs --video (overlays are made from video files)")
    if args.overlay and args.output_format != "png":
        raise InputError("--overlay is drawn from the map files: drop --overlay or --output_format "
                         f"{args.output_format}")
    if bool(args.video) == bool(args.path_indata):
        raise InputError("give either --path_indata DIR (frames) or --video PATH ...")
    check_save_path(Path(args.save_path), args.path_indata and Path(args.path_indata))
    for name in IGNORED_FLAGS:
        if getattr(args, name.lstrip("-")) is not None:
            log.warning("%s is ignored: the original accepted it and never used it", name)
