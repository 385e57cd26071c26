"""The engine in this process against the original's loop: end-to-end generate in each mode (frames/s, peak memory,
its maps against the naive loop's), the models alone against their FLOP-bound limit, training steps."""
import copy
import functools
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from layouts import list_frames
from loss import kldiv
from media import load_wav
from registry import ModelEntry
from utils import CLIP_LENGTH, PRECISIONS, autocast, blur_map, map_to_uint8, resize_map
from vinet.backends import Settings
from vinet.backends.onnx import OnnxBackend, export_model
from vinet.backends.pytorch import TorchBackend, prepare_model
from vinet.bench.machine import PeakMemory, machine_description, matmul_rate, synchronize, window_flops
from vinet.bench.maps import map_cc, read_maps
from vinet.bench.steps import speedup_steps
from vinet.bench.workload import benchmark_models, write_workload
from vinet.engine.predictor import Predictor
from vinet.engine.run import predict_all
from vinet.engine.sources import frame_folder_video
from vinet.reference import FPS, original_loop

BENCHMARKED = ("vinet", "avinet", "vinet-s", "vinet-a", "vinet-e")  # the models measured (--quick: QUICK_MODELS)
QUICK_MODELS = ("vinet", "vinet-s")
WORKLOAD_SIZE = (360, 640)    # (height, width) of the end-to-end video


def measured_models(names: list[str] | None, quick: bool) -> tuple[str, ...]:
    """The models `names` (or the default set), ViNet first: the naive loop and training steps use it."""
    names = names or (QUICK_MODELS if quick else BENCHMARKED)
    return ("vinet", *(name for name in dict.fromkeys(names) if name != "vinet"))


def benchmark_modes(cuda: bool, quick_only: bool) -> list[tuple]:
    """The generate modes measured: (label, precision, batch size, exact, torch.compile mode)."""
    if not cuda:
        modes = [("fp32 exact b1", "fp32", 1, True, "none"), ("fp32 b1", "fp32", 1, False, "none"),
                 ("fp32 b2", "fp32", 2, False, "none"), ("bf16 b1", "bf16", 1, False, "none"),
                 ("bf16 b2", "bf16", 2, False, "none")]
        quick = ("fp32 exact b1", "fp32 b2", "bf16 b1")
        return [m for m in modes if m[0] in quick] if quick_only else modes
    modes = [("fp32 b8", "fp32", 8, False, "none")]
    for precision in ("fp16", "bf16"):
        modes += [(f"{precision} b{b}", precision, b, False, "none") for b in (1, 8, 32)]
    modes += [("fp16 b32 compiled", "fp16", 32, False, "default"),
              ("fp16 b32 CUDA graphs", "fp16", 32, False, "reduce-overhead")]
    quick = ("fp32 b8", "fp16 b8", "fp16 b32", "bf16 b32", "fp16 b32 CUDA graphs")
    return [m for m in modes if m[0] in quick] if quick_only else modes


def timed_generate(name: str, entry: ModelEntry, model: torch.nn.Module, frame_dir: Path, out: Path,
                   settings: Settings | None, wav: Path | None, onnx: Path | None = None) -> dict:
    """Run one generate mode end to end (model preparation included; with `onnx`, that file run by
    onnxruntime instead of the model; without settings, the original's loop); frames/s and peak memory."""
    if out.exists():
        raise RuntimeError(f"{out} exists")
    frames = list_frames(frame_dir)
    with PeakMemory(settings.device if settings else torch.device("cpu")) as memory:
        start = time.perf_counter()
        if settings is None:
            (out / "video").mkdir(parents=True)
            original_loop(model, frames, wav=wav, out_dir=out / "video")
        else:
            video = frame_folder_video("video", frames, fps=FPS)
            if wav:
                video.load_audio = functools.partial(load_wav, wav)
            backend = OnnxBackend(onnx) if onnx else TorchBackend(model, settings)
            predict_all(Predictor(entry, backend, settings), [video], out)
            synchronize(settings.device)
        seconds = time.perf_counter() - start
    return {"mode": name, "frames_per_s": len(frames) / seconds, "seconds": seconds, "peak_mib": memory.peak}


def model_only(model: torch.nn.Module, inputs: list[torch.Tensor], settings: Settings, repeats: int,
               onnx: Path | None = None) -> float:
    """Windows per second of the model alone, as generate runs it (layout, precision, compilation), or of
    an ONNX file run by onnxruntime."""
    backend = OnnxBackend(onnx) if onnx else TorchBackend(model, settings)
    backend(list(inputs))
    synchronize(settings.device)
    start = time.perf_counter()
    for _ in range(repeats):
        backend(list(inputs))
    synchronize(settings.device)
    return repeats * inputs[0].shape[0] / (time.perf_counter() - start)


def training_steps(model: torch.nn.Module, inputs: list[torch.Tensor], precision: str, device: torch.device,
                   repeats: int) -> float:
    """Training steps per second (forward under autocast, KL loss, backward, Adam) at the inputs' batch size,
    channels-last as train.py runs on a GPU."""
    model = copy.deepcopy(model).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    target = torch.rand(inputs[0].shape[0], *inputs[0].shape[-2:], device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(device.type, precision):
            loss = kldiv(model(*inputs).float(), target).mean()
        loss.backward()
        optimizer.step()

    step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    synchronize(device)
    return repeats / (time.perf_counter() - start)


def thread_variation(model: torch.nn.Module, inputs: list[torch.Tensor], size: tuple[int, int]) -> dict:
    """How the original's computation of one map changes with the thread count (1 vs the default):
    the share of differing pixels and the largest difference, in gray levels, after post-processing."""
    threads = torch.get_num_threads()

    def gray_map(num_threads: int) -> np.ndarray:
        torch.set_num_threads(num_threads)
        with torch.inference_mode():
            saliency = model(*inputs).float().cpu().numpy()[0]
        return map_to_uint8(blur_map(resize_map(saliency, size))).astype(np.int16)

    try:
        default, single = gray_map(threads), gray_map(1)
    finally:
        torch.set_num_threads(threads)
    return {"threads": [threads, 1], "pixels_differing": float(np.mean(default != single)),
            "max_gray_diff": float(np.abs(default - single).max())}


def generate_rows(models: dict, modes: list[tuple], frame_dir: Path, wav: Path, tmp: Path,
                  device: torch.device) -> list[dict]:
    """End-to-end generate of every model in every mode; ViNet and AViNet compared with their naive loop's
    maps, every model's speed with the ViNet naive loop's."""
    rows, reference = [], None
    for name, (entry, model, _) in models.items():
        sound = wav if entry.takes_audio else None
        naive_maps = None
        if name in ("vinet", "avinet"):
            prepare_model(model, Settings(device=device, exact=True))
            naive = timed_generate("naive", entry, model, frame_dir, tmp / f"{name}-naive", None, sound)
            naive_maps = read_maps(tmp / f"{name}-naive" / "video")
            reference = reference or naive["frames_per_s"]
            rows.append({"model": name, **naive, "vs_naive": naive["frames_per_s"] / reference,
                         "identical_to_naive": 1.0, "cc_vs_naive": 1.0})
            print(f"{name} naive: {naive['frames_per_s']:.3f} frames/s", flush=True)
        for label, precision, batch, exact, compile_mode in modes:
            settings = Settings(batch_size=batch, device=device, precision=precision, exact=exact,
                                compile=compile_mode)
            row = timed_generate(label, entry, model, frame_dir, tmp / f"{name}-{label}", settings, sound)
            row = {"model": name, **row, "vs_naive": row["frames_per_s"] / reference}
            if naive_maps is not None:
                maps = read_maps(tmp / f"{name}-{label}" / "video")
                row.update(identical_to_naive=float(np.mean(maps == naive_maps)),
                           max_gray_diff=float(np.abs(maps - naive_maps).max()), cc_vs_naive=map_cc(maps, naive_maps))
            rows.append(row)
            print(f"{name} {label}: {row['frames_per_s']:.3f} frames/s", flush=True)
    return rows


def model_only_rows(models: dict, modes: list[tuple], rates: dict, flops: dict, device: torch.device) -> list[dict]:
    """Windows/s of each model alone in each mode, against its FLOP-bound limit."""
    rows = []
    for name, (_, model, inputs) in models.items():
        for label, precision, batch, exact, compile_mode in modes:
            settings = Settings(batch_size=batch, device=device, precision=precision, exact=exact,
                                compile=compile_mode)
            batched = [x.expand(batch, *x.shape[1:]).contiguous() for x in inputs]
            rate = model_only(model, batched, settings, repeats=20 if device.type == "cuda" else 2)
            limit = rates[precision] / flops[name]
            rows.append({"model": name, "mode": label, "windows_per_s": rate, "flop_bound_windows_per_s": limit,
                         "of_flop_bound": rate / limit})
            print(f"{name} {label} model only: {rate:.3f} windows/s", flush=True)
    return rows


def onnx_rows(models: dict, frame_dir: Path, wav: Path, tmp: Path, repeats: int) -> tuple[list[dict], list[dict]]:
    """onnxruntime on the CPU, beside PyTorch's rows: each model exported (export.py, fp32, dynamic batch), end to
    end and alone; no rows when onnxruntime is not installed (requirements-onnx.txt)."""
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnxscript") is None:
        print("onnxruntime rows skipped: pip install -r requirements-onnx.txt", flush=True)
        return [], []
    generate, alone = [], []
    for name, (entry, model, inputs) in models.items():
        path = tmp / f"{name}.onnx"
        export_model(model, entry, path)
        settings = Settings(batch_size=1)
        row = timed_generate("onnxruntime fp32 b1", entry, model, frame_dir, tmp / f"{name}-onnx", settings,
                             wav if entry.takes_audio else None, onnx=path)
        generate.append({"model": name, **row})
        rate = model_only(model, inputs, settings, repeats, onnx=path)
        alone.append({"model": name, "mode": "onnxruntime fp32 b1", "windows_per_s": rate})
        print(f"{name} onnxruntime: {row['frames_per_s']:.3f} frames/s, alone {rate:.3f} windows/s", flush=True)
    return generate, alone


def engine_report(device: torch.device, quick: bool, frames: int | None, names: tuple[str, ...], steps: bool,
                  command: str) -> dict:
    """The engine against the original's loop, the models alone, training steps (and with `steps` the model-only
    speed-ups one at a time), on a synthetic video of `frames` frames (default: enough for the device)."""
    cuda = device.type == "cuda"
    # the naive loop (the original) needs 2T-1 frames or more; a GPU needs more to reach its pace
    num_frames = frames or ((128 if quick else 256) if cuda else 2 * CLIP_LENGTH)
    modes = benchmark_modes(cuda, quick)
    torch.manual_seed(0)
    report = {"machine": machine_description(device), "frames": num_frames, "frame_size": list(WORKLOAD_SIZE),
              "command": command}
    print(json.dumps(report["machine"]))
    precisions = sorted({m[1] for m in modes} | {"fp32"})
    rates = {p: matmul_rate(device, PRECISIONS[p]) for p in precisions}
    report["matmul_tflops"] = {p: r / 1e12 for p, r in rates.items()}
    with tempfile.TemporaryDirectory() as tmp:
        report.update(workload_rows(Path(tmp), num_frames, names, modes, rates, quick, steps, device))
    return report


def workload_rows(tmp: Path, num_frames: int, names: tuple[str, ...], modes: list[tuple], rates: dict, quick: bool,
                  steps: bool, device: torch.device) -> dict:
    """engine_report's measurements on its synthetic video, written to `tmp`; training steps in each precision of
    `rates`."""
    report, repeats = {}, 20 if device.type == "cuda" else 2
    frame_dir, wav = write_workload(tmp / "data", num_frames, *WORKLOAD_SIZE), tmp / "data" / "video.wav"
    models = benchmark_models(names, frame_dir, device)
    flops = {name: window_flops(model, inputs) for name, (_, model, inputs) in models.items()}
    report["gflop_per_window"] = {k: v / 1e9 for k, v in flops.items()}
    _, vinet, vinet_inputs = models["vinet"]
    report["naive_thread_variation"] = thread_variation(vinet, vinet_inputs, WORKLOAD_SIZE)
    print(f"naive loop, 1 thread vs {torch.get_num_threads()}: {report['naive_thread_variation']}", flush=True)
    report["generate"] = generate_rows(models, modes, frame_dir, wav, tmp, device)
    report["model_only"] = model_only_rows(models, modes, rates, flops, device)
    if device.type == "cpu" and not quick:
        onnx_generate, onnx_alone = onnx_rows(models, frame_dir, wav, tmp, repeats)
        report["generate"] += onnx_generate
        report["model_only"] += onnx_alone
    if steps:
        report["speedup_steps"] = speedup_steps(vinet, vinet_inputs[0], device, repeats)
    report["training_steps_per_s"] = {p: training_steps(vinet, vinet_inputs, p, device, repeats=repeats // 2 or 1)
                                      for p in rates}
    return report
