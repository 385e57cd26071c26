"""The ONNX export cases the ONNX, OpenVINO and int8 tests share (conftest's `exported` fixture makes each once per
session), the deterministic inputs and PyTorch maps they are compared on, and the scene they cut windows from."""
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import detweights
import numpy as np
import torch
from conftest import deterministic_weights

import export
from loss import cc
from registry import MODELS, ModelEntry
from synthetic import disc_paths, render_frames, soundtrack, write_video
from utils import audio_buffer_length
from vinet.backends.calibration import calibration_windows
from vinet.backends.onnx import OnnxBackend, input_names
from vinet.backends.openvino import OPENVINO_PRECISIONS, openvino_core

SMALL = (64, 96)
# name: (frame size, --batch, other flags); the real input size for vinet-s and avinet. Some are exported with a
# fixed batch, which takes half the time of a dynamic one.
CASES = {
    "vinet": (SMALL, "dynamic", ["--verify"]),
    "avinet-transformer": (SMALL, "dynamic", []),
    "avinet-tokens": (SMALL, "2", []),
    "vinet-s": ((224, 384), "dynamic", []),
    "avinet": ((224, 384), "1", []),
    "vinet-a": (SMALL, "1", []),
    "vinet-e": (SMALL, "1", []),      # one file of each member; two clip inputs
}
UMASK = 0o027


@dataclass
class Exported:
    """One exported case: the model exported, its file, what main logged, the file opened by OnnxBackend."""

    entry: ModelEntry
    model: torch.nn.Module
    path: Path
    messages: list[str]
    onnx_model: OnnxBackend          # its one onnxruntime session


class Messages(logging.Handler):
    """Keeps the messages of a logger, at INFO and above."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def export_case(folder: Path, name: str, precision: str) -> Exported:
    """Export a registry model with deterministic weights through the command line (umask UMASK); precision int8:
    export.py --int8, calibrated on 8 windows of the scene (the default footage's natural scenes bring these
    untrained weights to CC 0.97 on its held-out windows: refused)."""
    frame_size, batch, flags = CASES[name]
    entry = MODELS[name].configured(frame_size)
    model = deterministic_weights(entry.build())
    output = folder / f"{name}.onnx"
    checkpoints = [folder / f"{part.name}.pt" for part in entry.parts]
    for part, checkpoint in zip(entry.parts, checkpoints):
        torch.save((getattr(model, part.name.replace("-", "_")) if entry.members else model).state_dict(), checkpoint)
    messages, logger, mask = Messages(), logging.getLogger("export"), os.umask(UMASK)
    logger.addHandler(messages)
    logger.setLevel(logging.INFO)
    precision_flags = ["--int8", "--calibrate", str(write_scene(folder)), "--calibration_windows", "8"] \
        if precision == "int8" else ["--precision", precision]
    try:
        status = export.main(["--file_weight", *map(str, checkpoints), "--output", str(output), "--batch", batch,
                              *precision_flags, "--frame_size", *map(str, frame_size), *flags])
    finally:
        os.umask(mask)
        logger.removeHandler(messages)
    for checkpoint in checkpoints:
        checkpoint.unlink()
    assert status == 0, messages.lines
    return Exported(entry, model, output, messages.lines, OnnxBackend(output))


def inputs_of(entry: ModelEntry, batch: int = 1) -> list[torch.Tensor]:
    """Deterministic inputs of the entry's shapes, each sample its own (clip seeds 3, 4, ..., audio seeds 1, 2, ...);
    one clip per part of an ensemble."""
    inputs = [torch.from_numpy(np.concatenate([detweights.clip_input((1, 3, part.clip_length, *part.frame_size),
                                                                     seed=3 + i + 10 * k) for i in range(batch)]))
              for k, part in enumerate(entry.parts)]
    if entry.takes_audio:
        shape = (1, 1, audio_buffer_length(entry.clip_length), 1)
        audio = [detweights.audio_input(shape, seed=1 + i) for i in range(batch)]
        inputs.append(torch.from_numpy(np.concatenate(audio)))
    return inputs


def pytorch_maps(result: Exported, inputs: list[torch.Tensor]) -> np.ndarray:
    """The PyTorch model's maps, one sample at a time."""
    with torch.inference_mode():
        return torch.cat([result.model(*(x[i:i + 1] for x in inputs)) for i in range(len(inputs[0]))]).numpy()


def onnxruntime_difference(result: Exported, inputs: list[torch.Tensor], expected: np.ndarray | None = None) -> float:
    """max |onnxruntime - PyTorch|, onnxruntime running the whole batch through the file's session."""
    names = input_names(result.entry)
    maps = result.onnx_model.session.run(["saliency"], {name: x.numpy() for name, x in zip(names, inputs)})[0]
    expected = pytorch_maps(result, inputs) if expected is None else expected
    assert maps.shape == expected.shape
    return float(np.abs(maps - expected).max())


def mean_cc(maps: np.ndarray, expected: np.ndarray) -> float:
    return float(cc(torch.from_numpy(maps), torch.from_numpy(expected)).mean())


def openvino_has_bf16() -> bool:
    """Whether OpenVINO runs bf16 layers on this CPU (OpenVINO installed)."""
    return OPENVINO_PRECISIONS["bf16"][1] in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def write_scene(folder: Path) -> Path:
    """A lossless 3 s scene of moving discs with their sound (10 fps, 72x128): the test clips, and windows to
    calibrate int8 on."""
    path = folder / "scene.mkv"
    discs = disc_paths(30, 72, 128, seed=5)
    write_video(str(path), render_frames(discs, 72, 128, seed=5), 10.0, soundtrack(discs, 10.0))
    return path


def scene_clips(entry: ModelEntry, scene_video: Path, count: int) -> list[torch.Tensor]:
    """`count` windows of the scene as one batch, as the engine feeds them."""
    windows = calibration_windows(entry, [scene_video], count)
    return [torch.cat(inputs) for inputs in zip(*windows)]
