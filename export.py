"""Export a registry model to ONNX, with what another program needs to feed it written into the file, and check
the file against PyTorch (the engine runs such files: backends.py, the generate scripts' --onnx and --backend).

    python export.py --file_weight ViNet_S.pt --output vinet_s.onnx             # dynamic batch, fp32
    python export.py --file_weight AViNet_DIEM.pt --output avinet.onnx --batch 8 --precision fp16
    python export.py --file_weight vinet_s.pt vinet_a.pt --output vinet_e.onnx  # ViNet-E: one file, two clips
    python export.py --model vinet --untrained --output random.onnx            # random weights, on purpose
    python export.py --file_weight ViNet_S.pt --output vinet_s_int8.onnx --int8 --calibrate a.mp4 b.mp4

int8 (--int8, for OpenVINO on CPUs): NNCF's post-training quantization of the fp32 graph, its activation ranges
calibrated on windows of the --calibrate videos (default: the bundled sample and synthetic scenes; footage like
what you will run calibrates better), cut as the engine cuts them. One window in four is held out: the int8
graph's maps on those (OpenVINO, the other layers in fp32 and in bf16 where the CPU has it) are compared with
the PyTorch fp32 model's; below CC 0.99 (MIN_INT8_CC) nothing is written, else the file holds those CCs in its
metadata (int8_cc_vs_fp32, with how they were measured) and the engine prints them when it runs it. The file is a
standard ONNX file with QuantizeLinear / DequantizeLinear pairs: OpenVINO runs it in int8, onnxruntime runs it
too (slower).

Inputs `clip` (batch, 3, T, H, W) and, for the audio-visual models, `audio` (batch, 1, L, 1) (ViNet-E: one
clip per member, `clip_vinet_s` and `clip_vinet_a`, described in meta["members"]); output `saliency`
(batch, H, W) in [0, 1]; all float32, whatever the precision. The file's metadata_props hold the
model's name, label and constructor arguments, the checkpoint's file name, the input size, mean/std, the
window rule (its fields, and in words what they mean), the audio format and the precision; OnnxBackend
rebuilds the registry entry from them. fp16 files compute in half precision (float32 at the boundary) and
are meant for GPUs and accelerators: onnxruntime on a CPU runs them, no faster than fp32, within ~1e-2 of it.

Exporter: torch.onnx's dynamo exporter (torch.export, translated by onnxscript), opset 18 by default. The
TorchScript exporter (dynamo=False) cannot translate aten::bilinear, AViNet's fusion, so it fails for avinet
and avinet-transformer; the dynamo exporter exports every model of the registry with a dynamic batch. The
fp32 file holds the model as loaded, batch norm unfolded: onnxruntime folds it into the convolutions itself
when it loads the file, so folding it here gains nothing (and the weights keep the checkpoint's names).

Feeding a file without this project (numpy and onnxruntime; `frames`: the RGB uint8 frames of one window, in
the order meta["window_rule"] gives, each resized to the file's frame_size, e.g. by PIL's bilinear resize; an
audio-visual file also takes `audio`, described in meta["audio"]):

    import json
    import numpy as np
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    height, width = json.loads(meta["frame_size"])                      # each frame (height, width, 3)
    mean, std = (np.array(json.loads(meta[key]), np.float32) for key in ("mean", "std"))
    assert len(frames) == int(meta["clip_length"])                       # the window: meta["window"]
    clip = np.stack(frames) / np.float32(255)                            # (T, height, width, 3) in [0, 1]
    clip = ((clip - mean) / std).transpose(3, 0, 1, 2)[None]            # (1, 3, T, height, width)
    saliency = session.run(["saliency"], {"clip": clip.astype(np.float32)})[0][0]   # (height, width) in [0, 1]
"""
import argparse
import contextlib
import dataclasses
import importlib.metadata
import json
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn

import inference
from backends import (
    DEFAULT_OPSET,
    ONNX_REQUIREMENTS,
    OPENVINO_PRECISIONS,
    OPENVINO_REQUIREMENTS,
    OnnxBackend,
    OpenVinoBackend,
    Settings,
    clip_input_name,
    example_inputs,
    input_names,
    openvino_core,
    traced_proto,
)
from loss import cc
from registry import MODELS, ModelEntry, get_entry
from synthetic import disc_paths, render_frames, soundtrack, write_video
from utils import (
    AUDIO_RATE,
    AUDIO_SCALE,
    ArgumentParser,
    InputError,
    atomic_path,
    audio_buffer_length,
    number_flag,
    require,
)
from weights import load_model

if TYPE_CHECKING:
    import onnx

log = logging.getLogger("export")
UNTRAINED = "untrained (random weights: the maps mean nothing)"
FILE_PRECISIONS = ("fp32", "fp16")     # --precision: what the file computes in
MIN_INT8_CC = 0.99          # an int8 file's maps against fp32's on held-out windows, at the least
SAMPLE_VIDEO = Path(__file__).resolve().parent / "extras" / "sample.mp4"
SYNTHETIC_SCENES = 3        # beside the sample, the default calibration videos: 64 frames at 25 fps each

WINDOW_RULE = (
    "window = the clip that predicts frame i of an n-frame video, as its frames are fed: `length` frames. "
    "centred false: frames i-stride*(length-1), ..., i-stride, i, oldest first (the map is frame i's); for "
    "i < length-1, reverse_start true feeds frames i+length-1, ..., i+1, i instead (time-reversed, and its "
    "audio reversed too), reverse_start false clamps the indices below 0 to frame 0. centred true: frames "
    "i-h, i-h+stride, ..., i-h+stride*(length-1) with h = (stride*(length-1))//2 (it looks ahead). Indices "
    "past the last frame are clamped to it.")
CLIP_FORMAT = ("float32 (batch, 3, length, height, width): the window's RGB frames resized to frame_size "
               "(bilinear), scaled to [0, 1], then (x - mean) / std per channel")
AUDIO_FORMAT = (f"float32 (batch, 1, audio_samples, 1): mono sound at {AUDIO_RATE} Hz scaled to +-{AUDIO_SCALE:g} "
                f"(a [-1, 1] waveform times {AUDIO_SCALE:g}): the window's excerpt, from the start of its first "
                "frame's 1/fps seconds to the end of its last frame's (each centred on the frame's time), times a "
                "Hann window of the excerpt's length, centred in audio_samples zeros (its middle audio_samples "
                "when longer), time-reversed with a reversed clip")
ENSEMBLE_FORMAT = ("one clip input per member, named in `members` (each member's input, frame_size, clip_length, "
                   "mean, std and window), each as: " + CLIP_FORMAT + "; the saliency is the mean of the members' "
                   "maps, each resized bicubically to frame_size")
OUTPUT_FORMAT = ("float32 (batch, height, width) in [0, 1]: frame i's saliency; this project saves it resized "
                 "to the frame (bilinear), blurred by an 11x11 Gaussian and min-max scaled to 8 bits")

# ----------------------------------------------------------------------------------------------
# Exporting


def input_description(part: ModelEntry) -> dict[str, str]:
    """What one clip input is: its frame size, length, mean/std and window rule."""
    return {"frame_size": json.dumps(list(part.frame_size)), "clip_length": str(part.clip_length),
            "mean": json.dumps(list(part.mean)), "std": json.dumps(list(part.std)),
            "window": json.dumps(dataclasses.asdict(part.window))}


def metadata(entry: ModelEntry, checkpoint: str, batch: int | None, precision: str) -> dict[str, str]:
    """The file's metadata_props: what a program needs to feed it, and what it holds."""
    props = {
        "model": entry.name, "label": entry.label, "model_kwargs": json.dumps(dict(entry.kwargs), sort_keys=True),
        "checkpoint": checkpoint, **input_description(entry),
        "window_rule": WINDOW_RULE, "clip": CLIP_FORMAT, "saliency": OUTPUT_FORMAT,
        "batch": str(batch or "dynamic"), "precision": precision, "exporter": f"torch {torch.__version__} (dynamo)",
    }
    if entry.members:
        props["members"] = json.dumps([{"model": part.name, "input": clip_input_name(entry, part),
                                        **{k: json.loads(v) for k, v in input_description(part).items()}}
                                       for part in entry.parts])
        props["clip"] = ENSEMBLE_FORMAT
    if entry.takes_audio:
        props.update(audio=AUDIO_FORMAT, audio_samples=str(audio_buffer_length(entry.clip_length)),
                     audio_rate=str(AUDIO_RATE))
    return props


def cannot_write(output: Path, error: OSError) -> InputError:
    """The one line for an output file the system refuses."""
    where = f" ({error.filename})" if error.filename and Path(error.filename) != output else ""
    return InputError(f"cannot write --output {output}: {error.strerror or error}{where}; choose a file in a folder "
                      "you can write to")


def export_model(model: nn.Module, entry: ModelEntry, output: Path, checkpoint: str = UNTRAINED,
                 batch: int | None = None, precision: str = "fp32", opset: int = DEFAULT_OPSET,
                 calibration: "Calibration | None" = None) -> dict[str, str]:
    """Write `model` (the entry's network) to an ONNX file at `output` with the entry's metadata, atomically,
    once onnx.checker has passed it; with `calibration`, quantized to int8 (quantized_proto) first. The file's
    metadata; InputError when the file cannot be written or the int8 maps are not close enough to fp32's."""
    onnx = require("onnx", ONNX_REQUIREMENTS)
    if output.is_dir():
        raise InputError(f"--output {output} is a folder: give a file name such as {output / entry.name}.onnx")
    with contextlib.ExitStack() as stack:
        try:
            temporary = stack.enter_context(atomic_path(output))   # fails now, before the export, if it must
        except OSError as error:
            raise cannot_write(output, error) from error
        proto = traced_proto(model, entry, batch, precision, opset)
        props = metadata(entry, checkpoint, batch, precision)
        if calibration:
            proto, int8_props = quantized_proto(model, entry, proto, calibration, batch)
            props.update(int8_props)
        onnx.helper.set_model_props(proto, props)
        try:
            onnx.save_model(proto, temporary)
        except OSError as error:
            raise cannot_write(output, error) from error
        onnx.checker.check_model(str(temporary), full_check=True)
    return props


# ----------------------------------------------------------------------------------------------
# int8: NNCF's post-training quantization, calibrated on windows of videos and checked on others


@dataclass
class Calibration:
    """Where int8 calibration takes its windows: `windows` spread evenly over the videos' frames (None: the
    bundled sample and synthetic scenes); every fourth is held out to measure the result."""

    videos: list[Path] | None = None
    windows: int = 32


def synthetic_scenes(folder: Path) -> list[Path]:
    """The default calibration footage beside the sample: SYNTHETIC_SCENES videos of moving discs, with sound."""
    paths = []
    for seed in range(SYNTHETIC_SCENES):
        height, width = (360, 640) if seed % 2 else (480, 480)
        discs = disc_paths(64, height, width, seed=20 + seed, num_discs=2 + seed % 2)
        paths.append(folder / f"scene{seed}.mp4")
        write_video(str(paths[-1]), render_frames(discs, height, width, seed=20 + seed,
                                                  colours=((230, 60, 40), (40, 90, 230), (240, 220, 60))),
                    25.0, soundtrack(discs, 25.0))
    return paths


def video_windows(video: inference.Video, entry: ModelEntry, indices: list[int]) -> list[list[torch.Tensor]]:
    """The inputs of the windows of frames `indices` (ascending) of a video, each a batch of one, as the engine
    feeds them: frames decoded and resized, clips by the entry's window rule, the sound of each."""
    predictor = inference.Predictor(entry, backend=None)   # its frame inputs and windows; nothing runs
    count = video.num_frames
    needed = {i for j in indices for window in predictor.windows(j, count) for i in window}
    frames = inference.FrameStream(video, predictor.frame_inputs, needed, Settings())
    sound = inference.SoundWindows(video, entry, "none") if entry.takes_audio else None
    try:
        return [frames.clips([predictor.windows(j, count)]) + ([sound.batch([j])] if sound else []) for j in indices]
    finally:
        frames.close()


def calibration_windows(entry: ModelEntry, videos: list[Path], count: int) -> list[list[torch.Tensor]]:
    """`count` windows (fewer when the videos have fewer frames) spread evenly over the videos' frames."""
    sources = [inference.video_file(path, entry.takes_audio) for path in videos]
    starts = np.cumsum([0] + [video.num_frames for video in sources])
    picks = np.linspace(0, starts[-1] - 1, count).round().astype(int)
    windows = []
    for video, first, end in zip(sources, starts, starts[1:]):
        windows += video_windows(video, entry, sorted({int(i - first) for i in picks if first <= i < end}))
    return windows


def int8_cc(model: nn.Module, entry: ModelEntry, proto: "onnx.ModelProto",
            windows: list[list[torch.Tensor]]) -> dict[str, float]:
    """Mean CC of the int8 graph's maps (OpenVINO, its float layers in each precision this CPU has) with the
    PyTorch fp32 model's, over `windows`."""
    with torch.inference_mode():
        expected = torch.cat([model.eval()(*window) for window in windows])
    capabilities = openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    graph, result = proto.SerializeToString(), {}
    for precision in ("fp32", "bf16"):
        if OPENVINO_PRECISIONS[precision][1] in capabilities:
            backend = OpenVinoBackend(graph, precision, entry)
            maps = torch.from_numpy(np.concatenate([backend(window) for window in windows]))
            result[precision] = round(float(cc(maps, expected).mean()), 5)
    return result


def quantized_proto(model: nn.Module, entry: ModelEntry, proto: "onnx.ModelProto", calibration: Calibration,
                    batch: int | None = None) -> tuple["onnx.ModelProto", dict[str, str]]:
    """The fp32 graph (of a fixed `batch`, or dynamic) quantized to int8 by NNCF on the calibration windows, and its
    metadata: its CC with the fp32 model's maps on the held-out windows; InputError below MIN_INT8_CC."""
    nncf = require("nncf", OPENVINO_REQUIREMENTS)
    require("onnxruntime", ONNX_REQUIREMENTS)   # NNCF collects an ONNX graph's statistics with it
    with tempfile.TemporaryDirectory() as folder:
        videos = calibration.videos or [SAMPLE_VIDEO, *synthetic_scenes(Path(folder))]
        windows = calibration_windows(entry, videos, calibration.windows)
    held_out, fitted = windows[3::4], [w for i, w in enumerate(windows) if i % 4 != 3]
    if not held_out:
        raise InputError(f"--int8 needs 4 windows or more (one in four held out to check the result), the videos "
                         f"gave {len(windows)}: give longer videos, or more of them, to --calibrate")
    names = input_names(entry)
    dataset = nncf.Dataset([{name: np.repeat(x.numpy(), batch or 1, axis=0) for name, x in zip(names, window)}
                            for window in fitted])   # a fixed batch of one window, repeated
    source = ", ".join(Path(video).name for video in calibration.videos) if calibration.videos else \
        f"{SAMPLE_VIDEO.name} and {SYNTHETIC_SCENES} synthetic scenes"
    log.info("int8: calibrating on %d windows of %s, checking on %d held out%s", len(fitted), source, len(held_out),
             "" if calibration.videos else " (footage like yours calibrates better: --calibrate VIDEO ...)")
    quantized = nncf.quantize(proto, dataset, subset_size=len(fitted))
    scores = int8_cc(model, entry, quantized, held_out)
    worst = min(scores.values())
    if worst < MIN_INT8_CC:
        raise InputError(f"int8 maps reach CC {worst:.4f} with fp32's on {len(held_out)} held-out windows, below "
                         f"{MIN_INT8_CC}: not written; calibrate on footage like yours (--calibrate VIDEO ...) or "
                         "run fp32 or bf16")
    return quantized, {
        "precision": "int8", "int8_cc_vs_fp32": json.dumps(scores), "int8_held_out_windows": str(len(held_out)),
        "int8_check": "mean CC of the maps with the PyTorch fp32 model's on the held-out windows, run by OpenVINO "
                      f"{importlib.metadata.version('openvino')} with the float layers in each precision",
        "int8_calibration": f"NNCF {importlib.metadata.version('nncf')} on {len(fitted)} windows of {source}"}


# ----------------------------------------------------------------------------------------------
# Command line


def batch_flag(text: str) -> int | None:
    """--batch: 'dynamic' (None) or a fixed size of at least 1."""
    if text == "dynamic":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected 'dynamic' or a batch size of at least 1, got {text!r}")
    return int(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line's flags."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file_weight", default=None, nargs="+", metavar="W", help="the checkpoint to export; it "
                        "names its model (like the generate scripts); ViNet-E: one file of each member")
    parser.add_argument("--model", default=None, choices=list(MODELS), metavar="NAME",
                        help="registry model name (default: the checkpoint's own)")
    parser.add_argument("--untrained", action="store_true",
                        help="export random weights, without --file_weight (to test a pipeline: the maps mean nothing)")
    parser.add_argument("--output", required=True, metavar="PATH.onnx", help="the ONNX file to write")
    parser.add_argument("--batch", default=None, type=batch_flag, metavar="dynamic|N",
                        help="the batch size: dynamic (default) or a fixed N")
    parser.add_argument("--precision", default="fp32", choices=FILE_PRECISIONS,
                        help="fp32 (default), or fp16 for GPUs and accelerators (float32 inputs and output)")
    parser.add_argument("--int8", action="store_true",
                        help="quantize to int8 (NNCF, post-training) for OpenVINO on CPUs: calibrated on windows of "
                             f"--calibrate, written only if its maps reach CC {MIN_INT8_CC} with fp32's on held-out "
                             "windows (pip install -r requirements-openvino.txt)")
    parser.add_argument("--calibrate", default=None, nargs="+", metavar="VIDEO",
                        help="--int8: the videos to calibrate on (default: the bundled sample and synthetic scenes; "
                             "footage like what you will run calibrates better)")
    parser.add_argument("--calibration_windows", default=Calibration.windows, type=number_flag(int, 4), metavar="N",
                        help="--int8: windows spread over the videos, one in four held out to check (default "
                             f"{Calibration.windows})")
    parser.add_argument("--opset", default=DEFAULT_OPSET, type=number_flag(int, 14),
                        help=f"ONNX opset (default {DEFAULT_OPSET}; 14 or later)")
    parser.add_argument("--frame_size", default=None, type=number_flag(int, 1), nargs=2, metavar=("H", "W"),
                        help="model input size, for models trained at another size (default: the model's own)")
    parser.add_argument("--verify", action="store_true",
                        help="also run the file with onnxruntime on a random input and log its largest difference "
                             "from PyTorch")
    return parser.parse_args(argv)


def chosen_model(args: argparse.Namespace) -> tuple[ModelEntry, nn.Module, str]:
    """The entry and eval-mode model the flags name, and the checkpoints' file names; InputError for no
    --file_weight without --untrained."""
    frame_size = tuple(args.frame_size) if args.frame_size else None
    entry = None
    if args.model:
        entry = get_entry(args.model).configured(frame_size)
    if args.file_weight and args.untrained:
        raise InputError("give --file_weight (a checkpoint) or --untrained (random weights), not both")
    if args.file_weight:
        entry, model = load_model(args.file_weight, entry, frame_size)
        names = " ".join(Path(path).name for path in args.file_weight)
        log.info("model: %s (%s)", entry.label, "the flags" if args.model else f"identified from {names}")
        return entry, model, names
    if not args.untrained:
        raise InputError("no --file_weight given: pass the checkpoint to export, or --untrained to export random "
                         "weights on purpose (their maps mean nothing)")
    entry = entry or get_entry("vinet").configured(frame_size)
    log.warning("--untrained: exporting %s with random weights; its maps mean nothing", entry.label)
    return entry, entry.build().eval(), UNTRAINED


def chosen_calibration(args: argparse.Namespace) -> Calibration | None:
    """--int8's calibration, None without it; InputError for flags that cannot go with it."""
    if not args.int8:
        if args.calibrate:
            raise InputError("--calibrate gives --int8 its videos: add --int8")
        return None
    if args.precision != "fp32":
        raise InputError("--int8 quantizes the fp32 graph: drop --precision")
    for video in args.calibrate or []:
        if not Path(video).is_file():
            raise InputError(f"--calibrate {video}: no such file; give video files to calibrate on")
    return Calibration([Path(video) for video in args.calibrate] if args.calibrate else None,
                       args.calibration_windows)


def largest_difference(model: nn.Module, entry: ModelEntry, path: Path, batch: int | None) -> float:
    """max |onnxruntime - PyTorch| over the maps of one random input (seed 0) of the file's shapes."""
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randn(x.shape, generator=generator) for x in example_inputs(entry, batch or 1)]
    with torch.inference_mode():
        return float(np.abs(OnnxBackend(path)(inputs) - model.eval()(*inputs).numpy()).max())


def main(argv: list[str] | None = None) -> int:
    """Export the model the flags name; the exit status (2 after one line for bad input)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)   # NNCF imports it: "no CUDA runtime"
    try:
        args = parse_args(argv)
        output = Path(args.output)
        if output.suffix.lower() != ".onnx":
            raise InputError(f"--output {output}: an ONNX file's name ends in .onnx")
        calibration = chosen_calibration(args)
        entry, model, checkpoint = chosen_model(args)
        props = export_model(model, entry, output, checkpoint, args.batch, args.precision, args.opset, calibration)
        if calibration:
            log.info("int8: CC %s with fp32's maps on %s held-out windows, by the precision of the float layers "
                     "(calibrated by %s)", props["int8_cc_vs_fp32"], props["int8_held_out_windows"],
                     props["int8_calibration"])
        if args.verify:
            log.info("onnxruntime vs PyTorch: max |difference| %.2g", largest_difference(model, entry, output,
                                                                                          args.batch))
    except InputError as error:
        log.error("error: %s", error)
        return 2
    log.info("wrote %s (%s, %s, batch %s, %.0f MB)", output, entry.label, props["precision"],
             args.batch or "dynamic", output.stat().st_size / 2**20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
