"""--processes' runs: the (backend, precision) pairs timed, those installed; the ONNX files they need, written as
export.py writes them; each model alone in each run."""
import importlib.util
import time
from pathlib import Path

import numpy as np

from layouts import list_frames
from vinet.backends import graph_backend
from vinet.backends.int8 import Calibration, float_layers
from vinet.backends.onnx import export_model
from vinet.backends.pytorch import TorchBackend
from vinet.bench.maps import map_cc
from vinet.bench.workload import window_batches
from vinet.engine.sources import frame_folder_video
from vinet.loading import RunOptions, make_settings
from weights import load_model

# the precisions of each backend, and the packages it needs (int8: export.py --int8's files)
BACKEND_PRECISIONS = {"torch": ("fp32", "bf16"), "onnxruntime": ("fp32",), "openvino": ("fp32", "bf16", "int8")}
BACKEND_MODULES = {"torch": (), "onnxruntime": ("onnx", "onnxscript", "onnxruntime"),
                   "openvino": ("onnx", "onnxscript", "onnxruntime", "openvino", "nncf")}


def process_runs(backends: list[str], precisions: list[str] | None = None) -> list[tuple[str, str]]:
    """The (backend, precision) pairs whole processes and the models alone are timed in, for the backends measured
    and installed (their requirements files) in `precisions` (default: all), PyTorch fp32 first (the reference of
    every CC, always timed)."""
    runs = [("torch", "fp32")]
    for backend in backends:
        missing = [module for module in BACKEND_MODULES[backend] if importlib.util.find_spec(module) is None]
        if missing:
            print(f"{backend} rows skipped: {', '.join(missing)} not installed", flush=True)
            continue
        runs += [(backend, precision) for precision in BACKEND_PRECISIONS[backend]
                 if (backend, precision) not in runs and precision in (precisions or BACKEND_PRECISIONS[backend])]
    return runs


def graph_files(tmp: Path, weights: dict[str, Path], runs: list[tuple[str, str]],
                frame_dir: Path) -> dict[tuple[str, str], Path]:
    """The ONNX files the runs need, written as a user would with export.py: (model, "fp32") for every ONNX run,
    (model, "int8") calibrated on the workload's frames (export.py --int8 --calibrate on the footage it will run,
    as the docs advise); the seconds each took are printed."""
    files = {}
    for name, path in weights.items():
        for kind in sorted({"int8" if precision == "int8" else "fp32" for backend, precision in runs
                            if backend != "torch"}, reverse=True):
            files[name, kind] = tmp / f"{name}_{kind}.onnx"
            start = time.perf_counter()
            entry, model = load_model(path)
            footage = Calibration([frame_folder_video("video", list_frames(frame_dir))])
            export_model(model, entry, files[name, kind], path.name, calibration=footage if kind == "int8" else None)
            print(f"export.py {name} {kind}: {time.perf_counter() - start:.0f} s", flush=True)
    return files


def model_alone(name: str, backend: str, precision: str, frame_dir: Path, weights: dict[str, Path],
                files: dict[tuple[str, str], Path]) -> tuple[float, np.ndarray]:
    """Windows/s of one model as the engine runs it with --backend and --precision, at its default batch size
    (a first batch untimed), and its maps of the windows."""
    layers = float_layers() if precision == "int8" else precision
    settings = make_settings(RunOptions(device="cpu", precision=layers), backend)
    if backend == "torch":
        entry, model = load_model(weights[name])
        runner = TorchBackend(model, settings)
    else:
        runner = graph_backend(backend, files[name, "int8" if precision == "int8" else "fp32"], settings)
        entry = runner.entry
    batches = window_batches(frame_dir, entry, settings.batch_size)
    runner(batches[0])
    start = time.perf_counter()
    maps = np.concatenate([runner(inputs) for inputs in batches])
    return len(maps) / (time.perf_counter() - start), maps


def model_alone_rows(frame_dir: Path, weights: dict[str, Path], runs: list[tuple[str, str]],
                     files: dict[tuple[str, str], Path], rounds: int) -> list[dict]:
    """Each model alone in each run, interleaved round by round, the best of `rounds`; the CC of its maps with
    PyTorch fp32's on the same windows."""
    rates: dict[tuple[str, str, str], list[float]] = {}
    maps = {}
    for round_index in range(rounds):
        for name in weights:
            for backend, precision in runs:
                rate, maps[name, backend, precision] = model_alone(name, backend, precision, frame_dir, weights,
                                                                   files)
                rates.setdefault((name, backend, precision), []).append(rate)
                print(f"round {round_index + 1}: {name} {backend} {precision} alone: {rate:.3f} windows/s", flush=True)
    return [{"model": name, "backend": backend, "precision": precision, "windows_per_s": max(values),
             "all_windows_per_s": values,
             "cc_vs_fp32": map_cc(maps[name, backend, precision], maps[name, "torch", "fp32"])}
            for (name, backend, precision), values in rates.items()]
