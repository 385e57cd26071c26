"""ONNX, in one place: a registry model traced to a graph with named inputs, the metadata that says how to feed
it (written into the files export.py makes, and read back into a registry entry), the files written, and the
graphs run by onnxruntime (OnnxBackend; OpenVINO's runner shares GraphBackend).

Inputs `clip` (batch, 3, T, H, W), or one `clip_<member>` per member of an ensemble, then `audio`
(batch, 1, L, 1) for an audio-visual model; output `saliency` (batch, H, W); all float32, whatever the precision.
"""
import contextlib
import copy
import dataclasses
import json
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
import torch.nn as nn

from registry import ModelEntry, WindowRule, get_entry
from utils import AUDIO_RATE, AUDIO_SCALE, PRECISIONS, InputError, atomic_path, audio_buffer_length, require
from vinet.backends.base import ONNX_REQUIREMENTS

if TYPE_CHECKING:
    import onnx

log = logging.getLogger("generate")   # the engine's log: it runs the files
ONNX_OUTPUT = "saliency"   # the output name of every file export.py writes
DEFAULT_OPSET = 18          # the lowest the dynamo exporter implements (lower ones are converted); widely read
UNTRAINED = "untrained (random weights: the maps mean nothing)"   # the checkpoint of a file of random weights

# ----------------------------------------------------------------------------------------------
# Inputs


def clip_input_name(entry: ModelEntry, part: ModelEntry) -> str:
    """`clip`, or an ensemble's `clip_<member>` (clip_vinet_s, clip_vinet_a)."""
    return f"clip_{part.name.replace('-', '_')}" if entry.members else "clip"


def input_names(entry: ModelEntry) -> list[str]:
    """The graph's input names, in the order of the model's forward: a clip per part, then the audio if any."""
    return [clip_input_name(entry, part) for part in entry.parts] + (["audio"] if entry.takes_audio else [])


def example_inputs(entry: ModelEntry, batch: int) -> tuple[torch.Tensor, ...]:
    """Zero inputs of the shapes the entry's model takes (the exporter traces shapes, not values)."""
    clips = tuple(torch.zeros(batch, 3, part.clip_length, *part.frame_size) for part in entry.parts)
    if not entry.takes_audio:
        return clips
    return *clips, torch.zeros(batch, 1, audio_buffer_length(entry.clip_length), 1)


# ----------------------------------------------------------------------------------------------
# Tracing


class Float32Boundary(nn.Module):
    """A model computing in another dtype that takes and returns float32 tensors."""

    def __init__(self, model: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.model, self.dtype = model.to(dtype), dtype

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(*(x.to(self.dtype) for x in inputs)).float()


def traced_proto(model: nn.Module, entry: ModelEntry, batch: int | None = None, precision: str = "fp32",
                 opset: int = DEFAULT_OPSET) -> "onnx.ModelProto":
    """The eval-mode model through torch.onnx's dynamo exporter: named inputs, the `saliency` output, the batch
    dynamic (batch None) or fixed."""
    require("onnxscript", ONNX_REQUIREMENTS)
    for chatty in ("onnxscript", "onnx_ir"):    # the exporter's graph passes log each step at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
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


# ----------------------------------------------------------------------------------------------
# Metadata: what a program needs to feed a file, written by metadata and read by entry_from_metadata

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


def entry_from_metadata(metadata: dict[str, str], source: str | Path) -> ModelEntry:
    """The registry entry an exported file holds, with the input size, arguments, window and mean/std its
    metadata gives (metadata writes them)."""
    try:
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(metadata["model_kwargs"]).items()}
        entry = get_entry(metadata["model"]).configured(tuple(json.loads(metadata["frame_size"])), **kwargs)
        window = WindowRule(**json.loads(metadata["window"]))
        mean, std = (tuple(json.loads(metadata[key])) for key in ("mean", "std"))
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"{source} has no saliency-model metadata ({type(error).__name__}: {error}): "
                         "export the model with export.py") from error
    return dataclasses.replace(entry, window=window, mean=mean, std=std)


# ----------------------------------------------------------------------------------------------
# Writing files


class Quantizer(Protocol):
    """What export_model asks of its `calibration` (int8.Calibration): the traced fp32 graph quantized, and the
    metadata that says how."""

    def quantize(self, model: nn.Module, entry: ModelEntry, proto: "onnx.ModelProto",
                 batch: int | None) -> tuple["onnx.ModelProto", dict[str, str]]: ...


def cannot_write(output: Path, error: OSError) -> InputError:
    """The one line for an output file the system refuses."""
    where = f" ({error.filename})" if error.filename and Path(error.filename) != output else ""
    return InputError(f"cannot write --output {output}: {error.strerror or error}{where}; choose a file in a folder "
                      "you can write to")


def export_model(model: nn.Module, entry: ModelEntry, output: Path, checkpoint: str = UNTRAINED,
                 batch: int | None = None, precision: str = "fp32", opset: int = DEFAULT_OPSET,
                 calibration: Quantizer | None = None) -> dict[str, str]:
    """Write `model` (the entry's network) to an ONNX file at `output` with the entry's metadata, atomically,
    once onnx.checker has passed it; with `calibration`, quantized to int8 (int8.quantized_proto) first. The
    file's metadata; InputError when the file cannot be written or the int8 maps are not close enough to fp32's."""
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
            proto, int8_props = calibration.quantize(model, entry, proto, batch)
            props.update(int8_props)
        onnx.helper.set_model_props(proto, props)
        try:
            onnx.save_model(proto, temporary)
        except OSError as error:
            raise cannot_write(output, error) from error
        onnx.checker.check_model(str(temporary), full_check=True)
    return props


# ----------------------------------------------------------------------------------------------
# Running graphs


class GraphBackend:
    """What the runtimes of an ONNX graph share: its inputs, metadata and registry entry (given, or rebuilt from
    the metadata); a batch checked against the inputs, split into runs of the graph's fixed batch (the last run
    padded with its last window) or of `chunk` windows, and put back together. Subclasses set the source with
    `describe` and run the feeds with `run_all`."""

    chunk: int | None = None     # windows per run of a dynamic-batch graph; None: the whole batch in one run

    def describe(self, source: str | Path | bytes, metadata: dict[str, str], inputs: list[tuple[str, tuple]],
                 entry: ModelEntry | None) -> None:
        """Keep what the graph says of itself: `inputs` are (name, shape) pairs, an int for a fixed dimension."""
        self.name = "the model's ONNX graph" if isinstance(source, bytes) else Path(source).name
        self.metadata, self.inputs = metadata, inputs
        self.entry = entry or entry_from_metadata(metadata, source)
        fixed = inputs[0][1][0]
        self.batch = fixed if isinstance(fixed, int) else None

    def __call__(self, inputs: list[torch.Tensor]) -> np.ndarray:
        arrays = [x.detach().to("cpu", torch.float32).contiguous().numpy() for x in inputs]
        self.check_shapes(arrays)
        count = len(arrays[0])
        step = self.batch or self.chunk or count
        starts = range(0, count, step)
        maps = self.run_all([self.feed([array[start:start + step] for array in arrays]) for start in starts])
        return np.concatenate([saliency[:count - start] for saliency, start in zip(maps, starts)])

    def check_shapes(self, arrays: list[np.ndarray]) -> None:
        """Raise a ValueError naming the expected shapes unless the arrays fit the graph's inputs."""
        expected = [shape[1:] for _, shape in self.inputs]
        if [array.shape[1:] for array in arrays] != expected:
            wanted = ", ".join(f"{name} (B, {', '.join(map(str, shape[1:]))})" for name, shape in self.inputs)
            raise ValueError(f"{self.name} takes {wanted}, got {[tuple(a.shape) for a in arrays]}")

    def feed(self, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
        """One run's inputs by name; a fixed-batch graph's partial batch padded with its last window."""
        count = len(arrays[0])
        if self.batch and count < self.batch:
            arrays = [np.concatenate([array, np.repeat(array[-1:], self.batch - count, axis=0)]) for array in arrays]
        return {name: array for (name, _), array in zip(self.inputs, arrays)}

    def run_all(self, feeds: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
        """The maps of each run, in order."""
        raise NotImplementedError


def check_source(source: str | Path | bytes) -> None:
    """InputError unless an ONNX source is bytes or an existing file."""
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise InputError(f"ONNX file not found: {source}")


def execution_providers(available: list[str], device: torch.device) -> list:
    """onnxruntime's CUDA provider first when a CUDA device is asked for and it has one, then the CPU."""
    if device.type == "cuda":
        if "CUDAExecutionProvider" in available:
            return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
        log.warning("this onnxruntime has no CUDA (pip install onnxruntime-gpu): running the ONNX file on the CPU")
    return ["CPUExecutionProvider"]


class OnnxBackend(GraphBackend):
    """An exported file (or ONNX bytes, with their `entry`) run by onnxruntime, a whole batch per run."""

    def __init__(self, source: str | Path | bytes, device: str | torch.device = "cpu", entry: ModelEntry | None = None):
        onnxruntime = require("onnxruntime", ONNX_REQUIREMENTS)
        check_source(source)
        self.session = onnxruntime.InferenceSession(source if isinstance(source, bytes) else str(source),
                                                    providers=execution_providers(
                                                        onnxruntime.get_available_providers(), torch.device(device)))
        self.describe(source, dict(self.session.get_modelmeta().custom_metadata_map),
                      [(node.name, tuple(node.shape)) for node in self.session.get_inputs()], entry)

    def run_all(self, feeds: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
        return [self.session.run([ONNX_OUTPUT], feed)[0] for feed in feeds]


def largest_difference(model: nn.Module, entry: ModelEntry, path: Path, batch: int | None) -> float:
    """max |onnxruntime - PyTorch| over the maps of one random input (seed 0) of the file's shapes."""
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randn(x.shape, generator=generator) for x in example_inputs(entry, batch or 1)]
    with torch.inference_mode():
        return float(np.abs(OnnxBackend(path)(inputs) - model.eval()(*inputs).numpy()).max())
