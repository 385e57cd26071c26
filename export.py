"""Export a registry model to ONNX, with what another program needs to feed it written into the file, and check
the file against PyTorch (the engine runs such files: backends.OnnxBackend, the generate scripts' --onnx).

    python export.py --file_weight ViNet_S.pt --output vinet_s.onnx             # dynamic batch, fp32
    python export.py --file_weight AViNet_DIEM.pt --output avinet.onnx --batch 8 --precision fp16
    python export.py --file_weight vinet_s.pt vinet_a.pt --output vinet_e.onnx  # ViNet-E: one file, two clips
    python export.py --model vinet --untrained --output random.onnx            # random weights, on purpose

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
import copy
import dataclasses
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn

from backends import ONNX_OUTPUT, ONNX_REQUIREMENTS, OnnxBackend
from registry import MODELS, ModelEntry, get_entry
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
DEFAULT_OPSET = 18          # the lowest the dynamo exporter implements (lower ones are converted); widely read
UNTRAINED = "untrained (random weights: the maps mean nothing)"
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16}

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


def clip_input_name(entry: ModelEntry, part: ModelEntry) -> str:
    """`clip`, or an ensemble's `clip_<member>` (clip_vinet_s, clip_vinet_a)."""
    return f"clip_{part.name.replace('-', '_')}" if entry.members else "clip"


def input_names(entry: ModelEntry) -> list[str]:
    """The file's input names, in the order of the model's forward: a clip per part, then the audio if any."""
    return [clip_input_name(entry, part) for part in entry.parts] + (["audio"] if entry.takes_audio else [])


def example_inputs(entry: ModelEntry, batch: int) -> tuple[torch.Tensor, ...]:
    """Zero inputs of the shapes the entry's model takes (the exporter traces shapes, not values)."""
    clips = tuple(torch.zeros(batch, 3, part.clip_length, *part.frame_size) for part in entry.parts)
    if not entry.takes_audio:
        return clips
    return *clips, torch.zeros(batch, 1, audio_buffer_length(entry.clip_length), 1)


def input_description(part: ModelEntry) -> dict[str, str]:
    """What one clip input is: its frame size, length, mean/std and window rule."""
    return {"frame_size": json.dumps(list(part.frame_size)), "clip_length": str(part.clip_length),
            "mean": json.dumps(list(part.mean)), "std": json.dumps(list(part.std)),
            "window": json.dumps(dataclasses.asdict(part.window))}


class Float32Boundary(nn.Module):
    """A model computing in another dtype that takes and returns float32 tensors."""

    def __init__(self, model: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.model, self.dtype = model.to(dtype), dtype

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(*(x.to(self.dtype) for x in inputs)).float()


def traced_proto(model: nn.Module, entry: ModelEntry, batch: int | None, precision: str,
                 opset: int) -> "onnx.ModelProto":
    """The eval-mode model through torch.onnx's dynamo exporter: named inputs, the `saliency` output, the batch
    dynamic (batch None) or fixed."""
    require("onnxscript", ONNX_REQUIREMENTS)
    network = model.eval()
    if precision != "fp32":
        network = Float32Boundary(copy.deepcopy(network), PRECISIONS[precision]).eval()
    inputs = example_inputs(entry, batch or 2)   # a dynamic batch is traced at 2: 1 would be specialised
    dynamic = torch.export.Dim("batch")
    shapes = None if batch else tuple({0: dynamic} for _ in inputs)
    if precision != "fp32":
        shapes = shapes and (shapes,)            # Float32Boundary.forward takes them as one *inputs tuple
    with warnings.catch_warnings():   # naming one Dim for several inputs is the way to tie their batch sizes
        warnings.filterwarnings("ignore", message=".*axis name: batch will not be used")
        program = torch.onnx.export(network, inputs, input_names=input_names(entry), output_names=[ONNX_OUTPUT],
                                    opset_version=opset, dynamo=True, dynamic_shapes=shapes, external_data=False,
                                    verbose=False)
    return program.model_proto


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
                 batch: int | None = None, precision: str = "fp32", opset: int = DEFAULT_OPSET) -> None:
    """Write `model` (the entry's network) to an ONNX file at `output` with the entry's metadata, atomically,
    once onnx.checker has passed it; InputError when the file cannot be written."""
    onnx = require("onnx", ONNX_REQUIREMENTS)
    if output.is_dir():
        raise InputError(f"--output {output} is a folder: give a file name such as {output / entry.name}.onnx")
    with contextlib.ExitStack() as stack:
        try:
            temporary = stack.enter_context(atomic_path(output))   # fails now, before the export, if it must
        except OSError as error:
            raise cannot_write(output, error) from error
        proto = traced_proto(model, entry, batch, precision, opset)
        onnx.helper.set_model_props(proto, metadata(entry, checkpoint, batch, precision))
        try:
            onnx.save_model(proto, temporary)
        except OSError as error:
            raise cannot_write(output, error) from error
        onnx.checker.check_model(str(temporary), full_check=True)


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
    parser.add_argument("--precision", default="fp32", choices=list(PRECISIONS),
                        help="fp32 (default), or fp16 for GPUs and accelerators (float32 inputs and output)")
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


def largest_difference(model: nn.Module, entry: ModelEntry, path: Path, batch: int | None) -> float:
    """max |onnxruntime - PyTorch| over the maps of one random input (seed 0) of the file's shapes."""
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randn(x.shape, generator=generator) for x in example_inputs(entry, batch or 1)]
    with torch.inference_mode():
        return float(np.abs(OnnxBackend(path)(inputs) - model.eval()(*inputs).numpy()).max())


def main(argv: list[str] | None = None) -> int:
    """Export the model the flags name; the exit status (2 after one line for bad input)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for chatty in ("onnxscript", "onnx_ir"):    # the exporter's graph passes log each step at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        args = parse_args(argv)
        output = Path(args.output)
        if output.suffix.lower() != ".onnx":
            raise InputError(f"--output {output}: an ONNX file's name ends in .onnx")
        entry, model, checkpoint = chosen_model(args)
        export_model(model, entry, output, checkpoint, args.batch, args.precision, args.opset)
        if args.verify:
            log.info("onnxruntime vs PyTorch: max |difference| %.2g", largest_difference(model, entry, output,
                                                                                          args.batch))
    except InputError as error:
        log.error("error: %s", error)
        return 2
    log.info("wrote %s (%s, %s, batch %s, %.0f MB)", output, entry.label, args.precision, args.batch or "dynamic",
             output.stat().st_size / 2**20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
