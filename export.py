"""Export a registry model to ONNX, with what another program needs to feed it written into the file, and check
the file against PyTorch (the engine runs such files: vinet/backends/, the generate scripts' --onnx and --backend).

    python export.py --file_weight ViNet_S.pt --output vinet_s.onnx             # dynamic batch, fp32
    python export.py --file_weight AViNet_DIEM.pt --output avinet.onnx --batch 8 --precision fp16
    python export.py --file_weight vinet_s.pt vinet_a.pt --output vinet_e.onnx  # ViNet-E: one file, two clips
    python export.py --model vinet --untrained --output random.onnx            # random weights, on purpose
    python export.py --file_weight ViNet_S.pt --output vinet_s_int8.onnx --int8 --calibrate a.mp4 b.mp4

int8 (--int8, for OpenVINO on CPUs): NNCF's post-training quantization of the fp32 graph, its activation ranges
calibrated on windows of the --calibrate videos (default: natural scenes over scikit-image's photographs and
synthetic scenes; footage like what you will run calibrates better), cut as the engine cuts them. One window in
four is held out: the int8 graph's maps on those (OpenVINO, the other layers in fp32 and in bf16 where the CPU has
it) are compared with the PyTorch fp32 model's; below CC 0.99 (MIN_INT8_CC) nothing is written, else the file
holds those CCs in its metadata (int8_cc_vs_fp32, with the footage they were measured on) and the engine prints
them when it runs it. The file is a standard ONNX file with QuantizeLinear / DequantizeLinear pairs that keeps the
fp32 weights (about the fp32 file's size): runs check their maps against its float path as they go. OpenVINO
runs it in int8, onnxruntime runs it too (slower).

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
import logging
import sys
from pathlib import Path

import torch.nn as nn

from registry import ModelEntry
from utils import ArgumentParser, InputError, number_flag
from vinet.backends.base import MIN_INT8_CC
from vinet.backends.int8 import Calibration
from vinet.backends.onnx import DEFAULT_OPSET, UNTRAINED, export_model, largest_difference
from vinet.cli import add_weights_flags, model_options
from vinet.loading import load_network

log = logging.getLogger("export")
FILE_PRECISIONS = ("fp32", "fp16")     # --precision: what the file computes in


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
    add_weights_flags(parser, onnx=False, untrained=True)
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
                        help="--int8: the videos to calibrate on (default: natural scenes over scikit-image's "
                             "photographs and synthetic ones; footage like what you will run calibrates better)")
    parser.add_argument("--calibration_windows", default=Calibration.windows, type=number_flag(int, 4), metavar="N",
                        help="--int8: windows spread over the videos, one in four held out to check (default "
                             f"{Calibration.windows})")
    parser.add_argument("--opset", default=DEFAULT_OPSET, type=number_flag(int, 14),
                        help=f"ONNX opset (default {DEFAULT_OPSET}; 14 or later)")
    parser.add_argument("--verify", action="store_true",
                        help="also run the file with onnxruntime on a random input and log its largest difference "
                             "from PyTorch")
    return parser.parse_args(argv)


def chosen_model(args: argparse.Namespace) -> tuple[ModelEntry, nn.Module, str]:
    """The entry and eval-mode model the flags name (by the scripts' one path), and the checkpoints' file names;
    InputError for no --file_weight without --untrained."""
    choice = model_options(args)
    choice.check("vinet")
    if not (choice.file_weight or choice.untrained):
        raise InputError("no --file_weight given: pass the checkpoint to export, or --untrained to export random "
                         "weights on purpose (their maps mean nothing)")
    entry, model, _ = load_network(choice)
    return entry, model, " ".join(Path(path).name for path in choice.file_weight) if choice.file_weight else UNTRAINED


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
            log.info("int8: CC %s with fp32's maps on %s held-out windows of the calibration footage, by the "
                     "precision of the float layers (calibrated by %s)", props["int8_cc_vs_fp32"],
                     props["int8_held_out_windows"], props["int8_calibration"])
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
