"""The engine's backends: what turns the inputs of a batch of windows into their maps.

A backend is any callable `backend(inputs) -> maps`: inputs are the window's clips (B, 3, T, H, W), one
per clip the model takes, then its sound (B, 1, L, 1) for an audio-visual model, float32 tensors on the
engine's device; maps are (B, H, W) float32 numpy arrays in [0, 1]. inference.py runs every backend the
same way (--backend chooses):

    TorchBackend     a PyTorch model, prepared for inference (batch norm folded, channels-last, precision,
                     torch.compile) or as the original computes (Settings.exact)
    OnnxBackend      an ONNX graph run by onnxruntime (requirements-onnx.txt)
    OpenVinoBackend  an ONNX graph run by OpenVINO on the CPU, fp32, bf16 or an int8 file (requirements-openvino.txt)

The ONNX graph is a file export.py wrote (its metadata names its model), or a checkpoint's model traced here
in memory (traced_proto, the exporter export.py writes files with).
"""
import copy
import dataclasses
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from model import SOUNDNET_LAYERS, BasicConv3d, Bottleneck, SepConv3d, SlowFastR50, SoundNet
from registry import ModelEntry, WindowRule, get_entry
from utils import PRECISIONS, InputError, audio_buffer_length, require

if TYPE_CHECKING:
    import onnx
    import openvino

log = logging.getLogger("generate")
BACKENDS = ("torch", "onnxruntime", "openvino")       # --backend choices
GRAPH_RUNTIMES = ("onnxruntime", "openvino")          # those that run ONNX graphs
ONNX_OUTPUT = "saliency"   # the output name of every file export.py writes
ONNX_REQUIREMENTS = "requirements-onnx.txt"
OPENVINO_REQUIREMENTS = "requirements-openvino.txt"
DEFAULT_OPSET = 18          # the lowest the dynamo exporter implements (lower ones are converted); widely read
# --precision -> OpenVINO's inference precision of float layers, and the CPU capability it needs
OPENVINO_PRECISIONS = {"fp32": ("f32", "FP32"), "bf16": ("bf16", "BF16"), "fp16": ("f16", "FP16")}
# windows OpenVINO runs at once, each on its share of the cores (its default --batch_size): on 2 cores, 10-60%
# more windows/s than one window at a time on both (benchmark.py)
OPENVINO_STREAMS = 2


@dataclass
class Settings:
    """How the engine runs a model over videos."""

    batch_size: int = 1
    device: torch.device = torch.device("cpu")
    precision: str = "fp32"
    exact: bool = False                 # the original's kernels: NCDHW layout, one window per forward
    compile: str = "none"               # torch.compile mode: none, default, max-autotune, reduce-overhead (CUDA graphs)
    audio_ablation: str = "none"        # none | silence | shuffle: what an audio-visual model hears
    workers: int = 2                    # threads that decode and resize frames, and threads that write maps


class Backend(Protocol):
    """Runs a model: the inputs of a batch of windows -> their maps, (B, H, W) float32."""

    def __call__(self, inputs: list[torch.Tensor]) -> np.ndarray: ...


# ----------------------------------------------------------------------------------------------
# PyTorch


def _batchnorm_pairs(module: nn.Module) -> list[tuple[str, str]]:
    """The (convolution, batch norm) attribute pairs of one of model.py's blocks, the norm after the conv."""
    if isinstance(module, BasicConv3d):
        return [("conv", "bn")]
    if isinstance(module, SepConv3d):
        return [("conv_s", "bn_s"), ("conv_t", "bn_t")]
    if isinstance(module, SoundNet):
        return [(f"conv{i}", f"batchnorm{i}") for i in range(1, len(SOUNDNET_LAYERS) + 1)]
    if isinstance(module, Bottleneck):
        return [("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")]
    if isinstance(module, SlowFastR50):
        return [("fast_conv1", "fast_bn1"), ("slow_conv1", "slow_bn1")]
    return []


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of a model for inference with each batch norm folded into the convolution before it
    (eval-mode statistics): the same function with fewer passes over memory. Its state dict is no
    longer the original's layout; keep the unfused model for checkpoints and training."""
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        if isinstance(module, Bottleneck) and module.downsample is not None:
            module.downsample[0] = fuse_conv_bn_eval(module.downsample[0], module.downsample_bn)
            module.downsample_bn = nn.Identity()
        for conv, norm in _batchnorm_pairs(module):
            setattr(module, conv, fuse_conv_bn_eval(getattr(module, conv), getattr(module, norm)))
            setattr(module, norm, nn.Identity())
    return model


def prepare_model(model: nn.Module, settings: Settings) -> nn.Module:
    """The model as the engine runs it, in eval mode on the device.

    settings.exact keeps the original's computation (layout, batch norm, one window per forward):
    its maps bit for bit on the same machine. Otherwise the engine runs a copy with batch norm folded
    into the convolutions, 3D convolutions channels-last (faster oneDNN / cuDNN kernels), in the
    settings' precision, compiled if asked; in fp32 the sums then run in another order, which moves a
    map by one gray level in a few pixels in 10,000 (measured by benchmark.py).
    """
    model.eval()
    if settings.exact:
        if settings.precision != "fp32" or settings.compile != "none":
            raise InputError("--exact computes as the original: fp32, not compiled")
        return model.to(settings.device)
    model = fuse_batchnorm(model)
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
    model.to(settings.device, PRECISIONS[settings.precision])
    if settings.compile != "none":
        model = torch.compile(model, mode=settings.compile, dynamic=False)
    return model


def run_model(model: nn.Module, inputs: list[torch.Tensor], settings: Settings) -> np.ndarray:
    """The maps of a batch of windows, as float32 numpy, from a model made by prepare_model; inputs are its
    clips (B, 3, T, H, W) and sound (B, 1, L, 1) in the order of its forward."""
    count = len(inputs[0])
    if settings.compile != "none" and count < settings.batch_size:  # a compiled model keeps one batch shape
        inputs = [torch.cat([x, x[-1:].expand(settings.batch_size - count, *x.shape[1:])]) for x in inputs]
    with torch.inference_mode():
        if settings.exact:
            maps = torch.cat([model(*(x[i:i + 1] for x in inputs)) for i in range(count)])
        else:
            dtype = PRECISIONS[settings.precision]
            maps = model(*(x.to(dtype).contiguous(memory_format=torch.channels_last_3d) if x.dim() == 5
                           else x.to(dtype) for x in inputs))
    return maps[:count].float().cpu().numpy()


class TorchBackend:
    """A PyTorch model run as `settings` say (prepare_model, run_model)."""

    def __init__(self, model: nn.Module, settings: Settings):
        self.model, self.settings = prepare_model(model, settings), settings

    def __call__(self, inputs: list[torch.Tensor]) -> np.ndarray:
        return run_model(self.model, inputs, self.settings)


# ----------------------------------------------------------------------------------------------
# ONNX graphs: what export.py writes, and what onnxruntime and OpenVINO run


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


def entry_from_metadata(metadata: dict[str, str], source: str | Path) -> ModelEntry:
    """The registry entry an exported file holds, with the input size, arguments, window and mean/std its
    metadata gives (export.metadata writes them)."""
    try:
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(metadata["model_kwargs"]).items()}
        entry = get_entry(metadata["model"]).configured(tuple(json.loads(metadata["frame_size"])), **kwargs)
        window = WindowRule(**json.loads(metadata["window"]))
        mean, std = (tuple(json.loads(metadata[key])) for key in ("mean", "std"))
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"{source} has no saliency-model metadata ({type(error).__name__}: {error}): "
                         "export the model with export.py") from error
    return dataclasses.replace(entry, window=window, mean=mean, std=std)


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


# ----------------------------------------------------------------------------------------------
# onnxruntime


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


# ----------------------------------------------------------------------------------------------
# OpenVINO


def openvino_core() -> "openvino.Core":
    """OpenVINO's runtime; InputError naming the requirements file when it is not installed."""
    return require("openvino", OPENVINO_REQUIREMENTS).Core()


def input_shape(shape: "openvino.PartialShape") -> tuple:
    """A graph input's shape: an int per fixed dimension, '?' for a dynamic one (the batch)."""
    return tuple(dim.get_length() if dim.is_static else "?" for dim in shape)


def openvino_config(core: "openvino.Core", precision: str) -> dict[str, str]:
    """OpenVINO's compile options for --precision on the CPU: its float layers in that precision (OpenVINO would
    pick bf16 by itself on a bf16 CPU), OPENVINO_STREAMS windows at once; InputError when the CPU lacks it."""
    hint, capability = OPENVINO_PRECISIONS[precision]
    capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if capability not in capabilities:
        raise InputError(f"--precision {precision}: this CPU has no {capability} for OpenVINO (it has "
                         f"{', '.join(capabilities)}); use --precision fp32")
    return {"INFERENCE_PRECISION_HINT": hint, "NUM_STREAMS": str(OPENVINO_STREAMS)}


class OpenVinoBackend(GraphBackend):
    """An exported file (or ONNX bytes, with their `entry`) run by OpenVINO on the CPU: float layers in
    `precision`, an int8 file's quantized layers in int8 (export.py --int8); a batch's windows run one per
    request, OPENVINO_STREAMS at once."""

    chunk = 1

    def __init__(self, source: str | Path | bytes, precision: str = "fp32", entry: ModelEntry | None = None):
        openvino = require("openvino", OPENVINO_REQUIREMENTS)
        check_source(source)
        core = openvino.Core()
        model = core.read_model(io.BytesIO(source) if isinstance(source, bytes) else str(source))
        compiled = core.compile_model(model, "CPU", openvino_config(core, precision))
        info = model.get_rt_info()   # an ONNX file's metadata_props are its "framework" section
        metadata = {key: value.value for key, value in info["framework"].items()} if "framework" in info else {}
        self.describe(source, metadata, [(port.any_name, input_shape(port.get_partial_shape()))
                                         for port in model.inputs], entry)
        self.requests = openvino.AsyncInferQueue(compiled, OPENVINO_STREAMS)

    def run_all(self, feeds: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
        maps: list[np.ndarray] = [np.empty(0)] * len(feeds)

        def keep(request: "openvino.InferRequest", index: int) -> None:
            maps[index] = request.get_output_tensor(0).data.copy()

        self.requests.set_callback(keep)
        for index, feed in enumerate(feeds):
            self.requests.start_async(feed, userdata=index)
        self.requests.wait_all()
        return maps


# ----------------------------------------------------------------------------------------------
# Choosing a backend


def check_graph_settings(name: str, settings: Settings) -> None:
    """InputError for settings an ONNX runtime cannot follow (OpenVINO's device: inference.make_settings)."""
    if settings.exact or settings.compile != "none":
        raise InputError(f"--backend {name} runs an ONNX graph: --exact and --compile are PyTorch's; drop them")
    if name == "onnxruntime" and settings.precision != "fp32":
        raise InputError("--backend onnxruntime runs a file in the precision it was exported in: drop --precision "
                         "(export.py --precision fp16 writes a half-precision file; --backend openvino runs bf16)")


def graph_backend(name: str, source: str | Path | bytes, settings: Settings,
                  entry: ModelEntry | None = None) -> GraphBackend:
    """An ONNX graph (a file export.py wrote, or bytes with their entry) run by the runtime --backend names."""
    if name not in GRAPH_RUNTIMES:
        raise InputError(f"--backend {name} runs checkpoints (--file_weight): drop --onnx, or run the file with "
                         f"--backend {' or '.join(GRAPH_RUNTIMES)}")
    check_graph_settings(name, settings)
    if name == "onnxruntime":
        return OnnxBackend(source, settings.device, entry)
    return OpenVinoBackend(source, settings.precision, entry)


def model_backend(name: str, model: nn.Module, entry: ModelEntry, settings: Settings) -> Backend:
    """A PyTorch model run by the backend --backend names: PyTorch itself as settings say, or an ONNX runtime on
    its graph, converted in memory (export.py writes it once: --onnx then skips the conversion)."""
    if name == "torch":
        return TorchBackend(model, settings)
    check_graph_settings(name, settings)
    log.info("converting %s to ONNX for %s (export.py writes the file once; run it with --onnx)", entry.label, name)
    return graph_backend(name, traced_proto(model, entry).SerializeToString(), settings, entry)
