"""--processes: whole processes as a user runs them (start-up, decoding and writing included), interleaved round by
round against the original's loop as a process; the models alone; where one process's time goes."""
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from dataloader import read_image
from layouts import list_frames
from registry import MODELS, ModelEntry
from utils import encode_map, postprocess_map
from vinet.backends import BACKENDS, Settings
from vinet.backends.int8 import float_layers
from vinet.backends.pytorch import TorchBackend
from vinet.bench.commands import SCRIPTS, timed_process
from vinet.bench.maps import map_cc, read_maps
from vinet.bench.runtimes import graph_files, model_alone_rows, process_runs
from vinet.bench.workload import contrasted_weights, video_workload, write_workload
from vinet.engine.stream import clip_windows, model_inputs
from weights import load_model

PROCESS_MODELS = ("vinet", "vinet-s")
ORIGINAL = "original loop (ViNet fp32)"
UNCHECKED = "unchecked"     # an int8 run with --check_every 0


@dataclass
class ProcessOptions:
    """The workload (synthetic JPEG frames of `size`, or the first `frames` frames of `video`), the runs timed (the
    `backends` and `precisions`, default all, beside PyTorch fp32) and the interleaved rounds (the best counts)."""

    frames: int = 66
    size: tuple[int, int] = (272, 640)
    video: str | None = None
    rounds: int = 2
    backends: list[str] | None = None
    precisions: list[str] | None = None


def engine_flags(name: str, backend: str, precision: str, weights: dict[str, Path],
                 files: dict[tuple[str, str], Path]) -> list[str]:
    """The model flags of generate_result.py for one run: the checkpoint (PyTorch) or the exported file."""
    if backend == "torch":
        return ["--file_weight", str(weights[name]), "--precision", precision]
    if backend == "onnxruntime":
        return ["--onnx", str(files[name, "fp32"])]
    if precision == "int8":
        return ["--onnx", str(files[name, "int8"]), "--backend", "openvino", "--precision", float_layers()]
    return ["--onnx", str(files[name, "fp32"]), "--backend", "openvino", "--precision", precision]


def process_commands(root: Path, weights: dict[str, Path], runs: list[tuple[str, str]],
                     files: dict[tuple[str, str], Path]) -> dict[str, tuple[str, list[str]]]:
    """The commands timed, by label, each with its model: the original's loop and generate_result.py as a user
    types it, per model and run; an int8 run also without its check against the float path (what it costs)."""
    python = sys.executable
    commands = {ORIGINAL: ("vinet", [python, str(SCRIPTS / "benchmark.py"), "--naive_process",
                                     str(root / "video" / "images"), "OUT", str(weights["vinet"])])}
    for name in weights:
        for backend, precision in runs:
            command = [python, str(SCRIPTS / "generate_result.py"), "--path_indata", str(root), "--save_path", "OUT",
                       *engine_flags(name, backend, precision, weights, files)]
            commands[f"{name} {backend} {precision}"] = (name, command)
            if precision == "int8":
                commands[f"{name} {backend} {precision} {UNCHECKED}"] = (name, [*command, "--check_every", "0"])
    return commands


def check_costs(rows: list[dict]) -> dict[str, float]:
    """What an int8 run's check against the float path costs each model: its share of the unchecked run's time."""
    seconds = {row["command"]: row["seconds"] for row in rows}
    return {label.split()[0]: seconds[label.removesuffix(f" {UNCHECKED}")] / time - 1
            for label, time in seconds.items() if label.endswith(UNCHECKED)}


def process_rows(root: Path, commands: dict[str, tuple[str, list[str]]], tmp: Path, rounds: int) -> list[dict]:
    """Wall time and peak memory of each command, interleaved round by round; the best of `rounds`, its ratio to
    the original loop's best, and the CC of its maps with its model's PyTorch fp32 maps."""
    times: dict[str, list[float]] = {label: [] for label in commands}
    memory: dict[str, float] = {}
    for round_index in range(rounds):
        for label, (_, command) in commands.items():
            out = tmp / f"process-{round_index}-{label.replace(' ', '_')}"
            seconds, memory[label] = timed_process([str(out) if part == "OUT" else part for part in command],
                                                   tmp / "process.log")
            times[label].append(seconds)
            print(f"round {round_index + 1}: {label}: {seconds:.1f} s, {memory[label]:.0f} MiB", flush=True)
    maps = {label: read_maps(tmp / f"process-0-{label.replace(' ', '_')}" / "video") for label in commands}
    frames = len(list_frames(root / "video" / "images"))
    naive = min(times[ORIGINAL])
    return [{"command": label, "seconds": min(seconds), "all_seconds": seconds, "frames_per_s": frames / min(seconds),
             "vs_original": naive / min(seconds), "peak_mib": memory[label],
             "cc_vs_fp32": map_cc(maps[label], maps[f"{commands[label][0]} torch fp32"])}
            for label, seconds in times.items()]


def stage_costs(frame_dir: Path, entry: ModelEntry, weights: Path, precision: str) -> dict[str, float]:
    """Where one process's seconds go, each stage timed alone on one thread pool: start-up (imports, in a
    fresh interpreter; building, loading and preparing the model), per frame decoding and preprocessing, per
    window the model, per frame post-processing and PNG encoding."""
    start = time.perf_counter()
    # what generate_result.py imports: the shared flags, the one path to a model, the engine
    subprocess.run([sys.executable, "-c", "import vinet.cli"], check=True, cwd=SCRIPTS)
    imports = time.perf_counter() - start
    settings = Settings(batch_size=1, precision=precision)
    start = time.perf_counter()
    backend = TorchBackend(load_model(weights, entry)[1], settings)
    model_setup = time.perf_counter() - start
    paths = list_frames(frame_dir)
    start = time.perf_counter()
    inputs = [model_inputs(entry, read_image(path)) for path in paths]
    decode = (time.perf_counter() - start) / len(paths)
    windows = clip_windows(entry, len(paths) // 2, len(paths))
    clips = [torch.stack([inputs[i][part] for i in window], 1)[None] for part, window in enumerate(windows)]
    backend(clips)
    start = time.perf_counter()
    saliency = backend(clips)[0]
    model_seconds = time.perf_counter() - start
    size = read_image(paths[0]).size
    start = time.perf_counter()
    for _ in range(10):
        encode_map(postprocess_map(saliency, size), ".png")
    return {"imports_s": imports, "model_setup_s": model_setup, "decode_per_frame_s": decode,
            "model_per_window_s": model_seconds, "write_per_frame_s": (time.perf_counter() - start) / 10}


def whole_process_report(options: ProcessOptions, tmp: Path) -> dict:
    """--processes: the workload as JPEG frames (synthetic, or the video's), the models' weight files and ONNX files,
    the commands' times, the models alone, and where one process's time goes."""
    root = tmp / "process_data"
    frame_dir = video_workload(options.video, root, options.frames) if options.video else \
        write_workload(root, options.frames, *options.size, suffix=".jpg")
    weights = contrasted_weights(tmp, frame_dir, PROCESS_MODELS)
    runs = process_runs(options.backends or list(BACKENDS), options.precisions)
    files = graph_files(tmp, weights, runs, frame_dir)
    frames = list_frames(frame_dir)
    report = {"frames": len(frames), "frame_size": list(read_image(frames[0]).size[::-1]), "video": options.video,
              "rounds": options.rounds,
              "int8_float_layers": float_layers() if ("openvino", "int8") in runs else None,
              "processes": process_rows(root, process_commands(root, weights, runs, files), tmp, options.rounds),
              "model_alone": model_alone_rows(frame_dir, weights, runs, files, options.rounds)}
    report["int8_check_cost"] = check_costs(report["processes"])
    report["stages"] = {f"{name} {precision}": stage_costs(frame_dir, MODELS[name], weights[name], precision)
                        for name in PROCESS_MODELS for precision in ("fp32", "bf16")}
    return report
