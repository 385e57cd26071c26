"""One path from settings to a ready model: which model and weights (ModelOptions) and how it runs (RunOptions)
-> the engine's Settings -> a Predictor. Every script, the demo, export and the Python API come through here."""
import importlib.util
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn as nn

from registry import ModelEntry, entry_from_flags, get_entry
from utils import InputError, resolve_device
from vinet.backends import (
    GRAPH_RUNTIMES,
    OPENVINO_STREAMS,
    Settings,
    check_graph_settings,
    graph_backend,
    model_backend,
)
from vinet.backends.int8 import FLOAT_PATH, CheckpointInt8, float_layers, float_path
from vinet.backends.openvino import openvino_bf16
from vinet.engine.manifest import file_identity
from vinet.engine.predictor import Predictor
from vinet.engine.selfcheck import CHECK_EVERY, SelfCheck
from weights import load_model

log = logging.getLogger("generate")
UNTRAINED_SEED = 0           # the untrained models' weights (for tests of a pipeline) are seeded
DEFAULT_WORKERS = max(1, min(8, (os.cpu_count() or 2) // 2))  # threads that decode frames, and that write maps
GPU_BATCH_SIZE = 8          # windows per forward pass on a GPU: batch 8 beat 32 end to end on an H200 (docs)
FAST_DEFAULT = "reframe's fast default"   # what the log and the manifest call reframe.py's own choice of run
BACKEND_NAMES = {"torch": "PyTorch", "onnxruntime": "onnxruntime", "openvino": "OpenVINO"}   # as the docs write them


# The flags that choose a model's entry: any of them given, they decide; none, the checkpoint does.
ENTRY_FLAGS = ("model", "clip_size", "num_hier", "decoder_upsample", "use_sound", "fusion", "use_transformer",
               "transformer_in_channel", "nhead", "num_encoder_layers")


@dataclass
class ModelOptions:
    """Which model, with which weights: a checkpoint (file_weight; it names its model), an ONNX file from export.py,
    or an untrained model; the registry name and the original's model flags override what the checkpoint says."""

    file_weight: list[str] | None = None
    onnx: str | None = None
    untrained: bool = False
    model: str | None = None
    frame_size: tuple[int, int] | None = None
    clip_size: int | None = None
    num_hier: int | None = None
    decoder_upsample: int | None = None
    use_sound: bool | None = None
    fusion: str | None = None
    use_transformer: bool | None = None
    transformer_in_channel: int | None = None
    nhead: int | None = None
    num_encoder_layers: int | None = None

    def check(self, default_model: str) -> None:
        """InputError for choices that contradict each other."""
        if self.onnx and (self.file_weight or self.frame_size or self.entry(default_model)):
            raise InputError("--onnx names its model and input size: drop --file_weight, --frame_size and the "
                             "model flags")
        if self.untrained and (self.file_weight or self.onnx):
            raise InputError("--untrained runs a model without weights: drop it, or drop --file_weight/--onnx (give "
                             "weights or --untrained, not both)")

    def entry(self, default_model: str) -> ModelEntry | None:
        """The entry the model flags select; None when none is given (the checkpoint then decides)."""
        if all(getattr(self, name) is None for name in ENTRY_FLAGS):
            return None
        use_sound = self.use_sound
        if self.model is None and use_sound is None:
            use_sound = get_entry(default_model).takes_audio or bool(self.fusion or self.use_transformer)
        widths = {"transformer_in_channel": self.transformer_in_channel, "nhead": self.nhead,
                  "num_encoder_layers": self.num_encoder_layers,
                  "use_upsample": None if self.decoder_upsample is None else bool(self.decoder_upsample)}
        return entry_from_flags(self.model, use_sound, self.fusion, self.use_transformer, self.clip_size,
                                self.num_hier, self.frame_size, **widths)


@dataclass
class RunOptions:
    """How the model runs: where, in which precision, by which backend, in batches of how many windows."""

    device: str = "auto"
    batch_size: int | None = None
    precision: str | None = "fp32"      # None (reframe.py's flag not given): fast_run_options chooses
    backend: str | None = None
    exact: bool = False
    compile: str = "none"
    workers: int = DEFAULT_WORKERS
    audio_ablation: str = "none"
    strict_media: bool = False
    check_every: int = CHECK_EVERY      # an int8 run checks 1 window in this many against its float path (0: none)
    min_cc: float | None = None         # an int8 video below it on a checked window is refused


def backend_name(backend: str | None, onnx: str | None, precision: str = "fp32") -> str:
    """--backend as given, else torch, or onnxruntime for an --onnx file, or openvino for --precision int8."""
    return backend or ("openvino" if precision == "int8" else "onnxruntime" if onnx else "torch")


def openvino_installed() -> bool:
    """Whether OpenVINO can be imported (requirements-openvino.txt)."""
    return importlib.util.find_spec("openvino") is not None


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX, as oneDNN, PyTorch's CPU kernels, reports
    it); elsewhere bf16 is emulated, slower than fp32."""
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


def fast_run_options(run: RunOptions, onnx: str | None = None) -> tuple[RunOptions, bool]:
    """reframe.py's run: --backend and --precision as given; left None, the fastest run whose crop stays where
    fp32 puts it (within 2% of the width on the test videos: docs/reframing.md): OpenVINO bf16 where it is
    installed and the CPU has bf16, else bf16 by PyTorch where the CPU has it, else fp32 (a GPU's too) (an --onnx file
    without OpenVINO: onnxruntime, in the file's precision). Whether reframe chose (not the flags)."""
    if run.precision is not None or run.exact:   # --exact computes as the original: fp32
        return replace(run, precision=run.precision or "fp32"), False
    backend = run.backend
    if backend == "openvino":   # on the CPU (or refused by make_settings, as a generate run is)
        return replace(run, precision="bf16" if openvino_bf16() else "fp32"), True
    on_cpu = resolve_device(run.device).type == "cpu"
    if backend is None:
        backend = "openvino" if on_cpu and openvino_installed() and openvino_bf16() else backend_name(None, onnx)
    if backend == "openvino":
        precision = "bf16"
    else:
        # a GPU stays in fp32: its TF32 kernels beat bf16 and fp16 there (docs/performance.md)
        precision = "bf16" if backend == "torch" and on_cpu and cpu_has_bf16() else "fp32"
    return replace(run, backend=backend, precision=precision), True


def make_settings(run: RunOptions, backend: str = "torch") -> Settings:
    """Engine settings; under torchrun each process takes its own GPU (processes share them round-robin when
    there are more processes than GPUs). The default batch size is the one benchmark.py measured fastest:
    GPU_BATCH_SIZE on a GPU; on a CPU 2 in fp32 (pairs of windows gain), else 1; OpenVINO's windows at once
    (it runs on the CPU)."""
    device, batch_size = run.device, run.batch_size
    if run.precision == "int8" and backend != "openvino":
        raise InputError(f"--precision int8 runs by OpenVINO on the CPU: drop --backend {backend}")
    if backend == "openvino":
        if device not in ("auto", "cpu"):
            raise InputError(f"--backend openvino runs on the CPU here: use --device cpu, not {device}")
        device = "cpu"
        batch_size = OPENVINO_STREAMS if batch_size is None else batch_size
    chosen = resolve_device(device)
    if chosen.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    if run.precision == "fp16" and chosen.type != "cuda":
        raise InputError("--precision fp16 runs on CUDA devices only (on a CPU it is over 100x slower than fp32): "
                         "use --precision bf16 on a CPU")
    if run.exact and (run.precision != "fp32" or run.compile != "none"):
        raise InputError("--exact computes as the original: fp32, not compiled; drop --precision or --compile")
    if batch_size is None:
        batch_size = GPU_BATCH_SIZE if chosen.type == "cuda" else 2 if run.precision == "fp32" else 1
    if batch_size < 1 or run.workers < 1:
        raise InputError(f"--batch_size and --workers must be at least 1, got {batch_size} and {run.workers}")
    settings = Settings(batch_size, chosen, run.precision, run.exact, run.compile, run.audio_ablation, run.workers,
                        run.strict_media)
    if backend in GRAPH_RUNTIMES:
        check_graph_settings(backend, settings)
    return settings


def untrained_model(entry: ModelEntry) -> nn.Module:
    """The entry's model with seeded random weights, in eval mode: the same every run, so a rerun resumes the
    same maps and an exported file is reproducible."""
    with torch.random.fork_rng():
        torch.manual_seed(UNTRAINED_SEED)
        return entry.build().eval()


def load_network(choice: ModelOptions, default_model: str = "vinet") -> tuple[ModelEntry, nn.Module, dict]:
    """The model the options name, else the checkpoint's own (a list: one per member of an ensemble), else
    default_model, with its weights (untrained without a checkpoint: a warning says so), and what the manifests
    record of its weights; one log line says which model and why."""
    files = [choice.file_weight] if isinstance(choice.file_weight, str) else list(choice.file_weight or [])
    entry = choice.entry(default_model)
    chosen_by = "the flags" if entry else f"identified from {' '.join(files)}" if files else "the default"
    if files:
        entry, model = load_model(files, entry, choice.frame_size)
        weights = [file_identity(path) for path in files]
    else:
        entry = entry or get_entry(default_model).configured(choice.frame_size)
        model, weights = untrained_model(entry), f"untrained (seed {UNTRAINED_SEED})"
        log.warning("no --file_weight given: the maps come from an UNTRAINED model and mean nothing. Get the "
                    "checkpoints of %s or train one with train.py, then pass --file_weight", entry.checkpoints)
    log.info("model: %s (%s)", entry.label, chosen_by)
    return entry, model, {"weights": weights}


def onnx_predictor(path: str | Path, settings: Settings, backend: str = "onnxruntime") -> Predictor:
    """An ONNX file written by export.py, with the registry entry its metadata names, run by onnxruntime (CUDA when
    settings.device is a GPU and onnxruntime-gpu is installed; the file fixes the precision) or OpenVINO (float
    layers in settings.precision); an int8 file's CC with fp32 on its calibration footage (export.py --int8) is
    logged."""
    runner = graph_backend(backend, path, settings)
    meta = runner.metadata
    log.info("model: %s (ONNX file %s, from %s, %s, by %s)", runner.entry.label, path, meta["checkpoint"],
             meta["precision"], backend)
    if "int8_cc_vs_fp32" in meta:
        scores = json.loads(meta["int8_cc_vs_fp32"])
        log.info("int8 file: CC %s with fp32's maps on %s held-out windows of its calibration footage, float layers "
                 "in %s (calibrated by %s); on other footage it can be lower: the run checks its own maps, and "
                 "footage like yours calibrates better (export.py --int8 --calibrate VIDEO ...)",
                 scores.get(settings.precision, scores), meta["int8_held_out_windows"], settings.precision,
                 meta["int8_calibration"])
    return Predictor(runner.entry, runner, settings, {"backend": backend, "weights": [file_identity(path)],
                                                      "file_precision": meta["precision"]})


def self_check(predictor: Predictor, run: RunOptions, float_file: Callable[[], str | Path] | None,
               layers: str) -> None:
    """Give an int8 predictor its check against the float path (the fp32 graph in the int8 file `float_file()`
    names, its layers in the run's float precision `layers`; None: no int8 model, or one that cannot be checked);
    InputError for --min_cc with nothing to check."""
    if float_file is not None and run.check_every:
        predictor.check = SelfCheck(lambda: float_path(float_file(), predictor.entry, layers), layers,
                                    run.check_every, run.min_cc)
    if run.min_cc is not None and predictor.check is None:
        raise InputError(f"--min_cc {run.min_cc} refuses the videos whose int8 maps fall below it against the float "
                         "path: this run has no int8 model it can check (or --check_every 0): drop it")


def int8_file(path: str, predictor: Predictor) -> Callable[[], str] | None:
    """An int8 file that keeps its fp32 weights (its float path), else None (with a warning for an int8 file
    without them)."""
    if predictor.origin["file_precision"] != "int8":
        return None
    if FLOAT_PATH not in predictor.backend.metadata:
        log.warning("%s holds no fp32 weights (an int8 file of an earlier export.py): its maps cannot be checked "
                    "against the float path; export it again to check them", path)
        return None
    return lambda: path


def load_predictor(choice: ModelOptions, run: RunOptions, default_model: str = "vinet") -> Predictor:
    """The predictor the options describe: the settings, then an ONNX file's runner or a model's backend (a
    checkpoint in int8: quantized on the first videos it is given), an int8 model's check."""
    choice.check(default_model)
    backend = backend_name(run.backend, choice.onnx, run.precision)
    settings = make_settings(run, backend)
    if choice.onnx:
        if run.precision == "int8":
            raise InputError("--precision int8 quantizes a checkpoint: run an int8 file from export.py --int8 with "
                             "--precision fp32 or bf16 (its float layers)")
        predictor = onnx_predictor(choice.onnx, settings, backend)
        float_file = int8_file(choice.onnx, predictor)
    else:
        entry, model, origin = load_network(choice, default_model)
        origin = {"backend": backend, **origin}
        if run.precision == "int8":
            int8 = CheckpointInt8(model, entry, origin)
            predictor = Predictor(entry, int8, settings, origin, calibrate=int8.calibrate)
            float_file = lambda: int8.file   # noqa: E731 (known once calibrated)
        else:
            predictor, float_file = Predictor(entry, model_backend(backend, model, entry, settings), settings,
                                              origin), None
    self_check(predictor, run, float_file, float_layers() if run.precision == "int8" else run.precision)
    if settings.audio_ablation != "none" and not predictor.entry.takes_audio:
        raise InputError(f"--audio_ablation {settings.audio_ablation} changes what an audio-visual model hears; "
                         f"{predictor.entry.label} hears nothing: drop it")
    return predictor


def options_from(flags: dict) -> tuple[ModelOptions, RunOptions]:
    """Split keyword settings (named as the flags) into the two option sets; TypeError names an unknown one."""
    names = {cls: {f.name for f in fields(cls)} for cls in (ModelOptions, RunOptions)}
    unknown = set(flags) - names[ModelOptions] - names[RunOptions]
    if unknown:
        raise TypeError(f"unknown setting(s) {', '.join(sorted(unknown))}: choose from "
                        f"{', '.join(sorted(names[ModelOptions] | names[RunOptions]))}")
    return tuple(cls(**{k: v for k, v in flags.items() if k in names[cls]}) for cls in (ModelOptions, RunOptions))
