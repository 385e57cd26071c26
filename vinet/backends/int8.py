"""int8 for OpenVINO on CPUs: NNCF's post-training quantization of an fp32 graph, its activation ranges calibrated
on windows of videos cut as the engine cuts them, and the result checked on windows held out (export.py --int8).

The windows are the engine's (its video sources, frame stream and sound windows, by the registry entry's window
rules): calibrating runs no model but the one it quantizes.
"""
import functools
import importlib.metadata
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn

from loss import cc
from media import probe_video
from registry import ModelEntry
from synthetic import disc_paths, render_frames, soundtrack, write_video
from utils import InputError, require
from vinet.backends.base import ONNX_REQUIREMENTS, OPENVINO_REQUIREMENTS, Settings
from vinet.backends.onnx import input_names
from vinet.backends.openvino import OPENVINO_PRECISIONS, OpenVinoBackend, openvino_core
from vinet.engine.sources import video_file
from vinet.engine.stream import FrameStream, SoundWindows, clip_windows, model_inputs

if TYPE_CHECKING:
    import onnx

log = logging.getLogger("export")   # its lines are export.py's
MIN_INT8_CC = 0.99          # an int8 file's maps against fp32's on held-out windows, at the least
SAMPLE_VIDEO = Path(__file__).resolve().parents[2] / "extras" / "sample.mp4"
SYNTHETIC_SCENES = 3        # beside the sample, the default calibration videos: 64 frames at 25 fps each


@dataclass
class Calibration:
    """Where int8 calibration takes its windows: `windows` spread evenly over the videos' frames (None: the
    bundled sample and synthetic scenes); every fourth is held out to measure the result."""

    videos: list[Path] | None = None
    windows: int = 32

    def quantize(self, model: nn.Module, entry: ModelEntry, proto: "onnx.ModelProto",
                 batch: int | None = None) -> tuple["onnx.ModelProto", dict[str, str]]:
        """quantized_proto calibrated here (what onnx.export_model asks of its `calibration`)."""
        return quantized_proto(model, entry, proto, self, batch)


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


# ----------------------------------------------------------------------------------------------
# Calibration windows


def video_windows(path: Path, entry: ModelEntry, indices: list[int]) -> list[list[torch.Tensor]]:
    """The inputs of the windows of frames `indices` of a video, each a batch of one, as the engine feeds them (its
    sources and streams): a clip per part of the entry by its window rule, then the sound if the model hears it."""
    if entry.takes_audio and not probe_video(path).has_audio:
        raise InputError(f"--calibrate {path}: no audio track, and {entry.label} hears the sound; calibrate "
                         "on videos with sound")
    video = video_file(path, entry.takes_audio)
    windows = {j: clip_windows(entry, j, video.num_frames) for j in indices}
    needed = {i for clips in windows.values() for clip in clips for i in clip}
    frames = FrameStream(video, functools.partial(model_inputs, entry), needed, Settings())
    sound = SoundWindows(video, entry, "none") if entry.takes_audio else None
    try:
        return [frames.clips([windows[j]]) + ([sound.batch([j])] if sound else []) for j in indices]
    finally:
        frames.close()
        if video.damage:
            log.warning("%s", video.damage.line())


def calibration_windows(entry: ModelEntry, videos: list[Path], count: int) -> list[list[torch.Tensor]]:
    """`count` windows (fewer when the videos have fewer frames) spread evenly over the videos' frames."""
    starts = np.cumsum([0] + [probe_video(path).num_frames for path in videos])
    picks = np.linspace(0, starts[-1] - 1, count).round().astype(int)
    windows = []
    for path, first, end in zip(videos, starts, starts[1:]):
        indices = sorted({int(i - first) for i in picks if first <= i < end})
        windows += video_windows(Path(path), entry, indices) if indices else []
    return windows


# ----------------------------------------------------------------------------------------------
# Quantizing and checking


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
        "int8_check": "mean CC of the maps with the PyTorch fp32 model's on the held-out windows of the calibration "
                      "footage (int8_calibration; other footage can score lower), run by OpenVINO "
                      f"{importlib.metadata.version('openvino')} with the float layers in each precision",
        "int8_calibration": f"NNCF {importlib.metadata.version('nncf')} on {len(fitted)} windows of {source}"}
