"""Speed of inference and training on this machine, against a re-creation of the original's loop.

    python benchmark.py                      # CPU: ViNet and AViNet, fp32 and bf16, a few batch sizes
    python benchmark.py --device cuda --quick

Measures, on the same synthetic frames (a 360x640 video, written as PNG frames and a wav):
- end-to-end frames/s of generate (decode -> maps on disk), ViNet and AViNet, per precision and batch size;
- the "naive" mode: the original's loop (one window per forward, fp32, decoding, resizing, blurring
  and writing inline, nothing overlapped), as the reference every figure is a ratio to;
- model-only windows/s, one training step (forward, backward, Adam) per second, peak memory;
- the FLOP-bound limit per frame from a measured matmul rate, and how close each mode comes.
Every map of each mode is compared with the naive loop's (identical pixels, CC), and so is the
naive loop with itself at another thread count: how far the original's own maps move with the
machine. --steps times the model-only speed-ups one at a time (layout, batching, folded batch
norm, bf16, torch.compile). Prints tables and writes JSON (--json).
"""
import argparse
import contextlib
import copy
import functools
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import scipy.io.wavfile
import torch
import torchvision
from inference import Predictor, frame_folder_video, make_settings, predict_all
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms

from dataloader import clip_audio, frame_audio_windows, list_frames, read_image
from loss import kldiv
from media import VideoWriter, frames_by_index, load_wav, probe_video
from registry import MODELS, ModelEntry
from synthetic import SAMPLE, disc_paths, gaze_density, render_frames, sample_paths, soundtrack, write_video
from utils import (
    AUDIO_RATE,
    CLIP_LENGTH,
    FRAME_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRECISIONS,
    ArgumentParser,
    InputError,
    atomic_write_bytes,
    audio_buffer_length,
    autocast,
    blur_map,
    device_flag,
    encode_map,
    map_to_uint8,
    number_flag,
    postprocess_map,
    resize_map,
    resolve_device,
)
from vinet.backends import BACKENDS, Settings, graph_backend
from vinet.backends.int8 import Calibration
from vinet.backends.onnx import OnnxBackend, export_model
from vinet.backends.openvino import OPENVINO_PRECISIONS, openvino_core
from vinet.backends.pytorch import TorchBackend, prepare_model, run_model
from weights import load_model

FPS = 25.0
REFRAME_SIZE = (720, 1280)   # (height, width) of the reframing workloads
BENCHMARKED = ("vinet", "avinet", "vinet-s", "vinet-a", "vinet-e")  # the models measured (--quick: ViNet, ViNet-S)
PROCESS_MODELS = ("vinet", "vinet-s")           # --processes
ORIGINAL = "original loop (ViNet fp32)"
# --processes: the precisions of each backend, and the packages it needs (int8: export.py --int8's files)
BACKEND_PRECISIONS = {"torch": ("fp32", "bf16"), "onnxruntime": ("fp32",), "openvino": ("fp32", "bf16", "int8")}
BACKEND_MODULES = {"torch": (), "onnxruntime": ("onnx", "onnxscript", "onnxruntime"),
                   "openvino": ("onnx", "onnxscript", "onnxruntime", "openvino", "nncf")}
MODEL_ALONE_WINDOWS = 4     # --processes: windows each model alone is timed on (after one untimed batch)
# runs the command argv[2:] with its output to the file argv[1]; prints its peak resident memory in MiB
PEAK_PROBE = ("import resource, subprocess, sys; status = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], 'wb'), "
              "stderr=subprocess.STDOUT).returncode; print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / "
              "1024); sys.exit(status)")

# ----------------------------------------------------------------------------------------------
# The machine


def machine_description(device: torch.device) -> dict:
    """CPU model, cores, GPU and library versions."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__, "python": platform.python_version(),
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int = 2048, seconds: float = 2.0) -> float:
    """Measured dense matmul rate in FLOP/s (the roof the FLOP-bound limit uses)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    synchronize(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
        if device.type == "cuda" and count % 10:
            continue
        synchronize(device)
    synchronize(device)
    return 2 * size ** 3 * count / (time.perf_counter() - start)


def window_flops(model: torch.nn.Module, inputs: list[torch.Tensor]) -> int:
    """FLOPs of one forward pass (one window)."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(*inputs)
    return counter.get_total_flops()


class PeakMemory:
    """Peak resident memory (CPU, sampled) or peak allocated GPU memory during a block, in MiB."""

    def __init__(self, device: torch.device):
        self.device, self.peak, self._running = device, 0.0, False

    @staticmethod
    def _rss() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.02)

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._running, self.peak = True, self._rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device) / 2 ** 20
        else:
            self._running = False
            self._thread.join()


# ----------------------------------------------------------------------------------------------
# The workload and the naive loop


def write_workload(root: Path, num_frames: int, height: int, width: int, suffix: str = ".png") -> Path:
    """A synthetic video as ROOT/video/images/00001.png (or .jpg) ... and ROOT/video.wav; the frame folder."""
    paths = disc_paths(num_frames, height, width, seed=3)
    folder = root / "video" / "images"
    folder.mkdir(parents=True)
    for i, frame in enumerate(render_frames(paths, height, width, seed=3), start=1):
        cv2.imwrite(str(folder / f"{i:05d}{suffix}"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    scipy.io.wavfile.write(root / "video.wav", AUDIO_RATE, (soundtrack(paths, FPS) * 32767).astype(np.int16))
    return folder


def original_gray(saliency: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The seed's saving of a map for a frame of size (width, height): cv2 resize, 11x11 Gaussian blur,
    torchvision's make_grid(normalize=True), round(x * 255 + 0.5)."""
    blurred = torch.from_numpy(cv2.GaussianBlur(cv2.resize(saliency, size), (11, 11), 0))
    grid = torchvision.utils.make_grid(blurred, normalize=True)
    return torch.round(grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0)).to(torch.uint8).numpy()[:, :, 0]


def original_loop(model: torch.nn.Module, frames: list[Path], clip_size: int = CLIP_LENGTH,
                  frame_size: tuple[int, int] = FRAME_SIZE, wav: Path | None = None, fps: float = FPS,
                  out_dir: Path | None = None) -> dict[str, np.ndarray]:
    """The original's generate loop, re-created from its description (the reference for speed and maps):
    frame by frame, the map of frame i from frames i-T+1..i (the first T-1 from the time-reversed first
    clips), one window per forward in fp32 on the model's device, PIL resize + ToTensor + Normalize, the
    seed's saving (original_gray); each map written to out_dir (PIL's defaults) as soon as it is made.
    The maps by frame file name."""
    transform = transforms.Compose([transforms.Resize(frame_size), transforms.ToTensor(),
                                    transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    device = next(model.parameters()).device
    audio = load_wav(wav) if wav else None
    windows = frame_audio_windows(np.arange(len(frames)) * (1.0 / fps), fps, audio) if audio else None
    maps = {}

    def save(clip: torch.Tensor, index: int, size: tuple[int, int], sound: torch.Tensor | None) -> None:
        with torch.no_grad():
            inputs = (clip.to(device),) if sound is None else (clip.to(device), sound[None].to(device))
            maps[frames[index].name] = original_gray(model(*inputs).cpu().numpy()[0], size)
        if out_dir:
            Image.fromarray(maps[frames[index].name]).save(out_dir / frames[index].name, quality=100)

    snippet = []
    for i, path in enumerate(frames):
        image = Image.open(path).convert("RGB")
        snippet.append(transform(image))
        if i < clip_size - 1:
            continue
        clip = torch.stack(snippet, 1)[None]
        first = i - clip_size + 1
        sound = clip_audio(audio, *windows, first, clip_size, audio_buffer_length(clip_size)) if audio else None
        save(clip, i, image.size, sound)
        if i < 2 * clip_size - 2:
            save(clip.flip(2), first, image.size, None if sound is None else sound.flip(1))
        del snippet[0]
    return maps


def give_contrast(model: torch.nn.Module, inputs: list[torch.Tensor]) -> None:
    """Rescale the output layer (the convolution with one output channel; one per member of an ensemble) so the
    logits have unit spread over the map, as a trained model's do.

    Untrained weights give maps that vary by ~1e-4 around 0.5, below bf16's resolution, which would
    make the precision comparison meaningless; this keeps every feature and only stretches the map.
    """
    output_convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d) and m.out_channels == 1]
    logits = {}   # an ensemble has one output layer per member
    handles = [conv.register_forward_hook(lambda module, args, out: logits.setdefault(module, out))
               for conv in output_convs]
    with torch.inference_mode():
        model(*inputs)
    for handle in handles:
        handle.remove()
    with torch.no_grad():
        for conv in output_convs:
            mean, spread = logits[conv].mean(), logits[conv].std()
            conv.weight /= spread
            conv.bias.sub_(mean).div_(spread)


# ----------------------------------------------------------------------------------------------
# Measurements


def read_maps(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p), dtype=np.float64) for p in sorted(folder.iterdir())])


def map_cc(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over frames of the Pearson correlation of two stacks of maps."""
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(1, keepdims=True)
    return float(np.mean((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1) + 1e-12)))


def timed_generate(name: str, entry: ModelEntry, model: torch.nn.Module, frame_dir: Path, out: Path,
                   settings: Settings | None, wav: Path | None, onnx: Path | None = None) -> dict:
    """Run one generate mode end to end (model preparation included; with `onnx`, that file run by
    onnxruntime instead of the model); frames/s and peak memory."""
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
            predict_all(Predictor(entry, backend), [video], out, settings)
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


def channels_last_copy(model: torch.nn.Module) -> torch.nn.Module:
    """The model with channels-last 3D convolution weights and batch norm kept (the original's function)."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
    return model


def speedup_steps(model: torch.nn.Module, clip: torch.Tensor, device: torch.device, repeats: int) -> list[dict]:
    """ViNet model-only seconds per window, adding one change at a time to the original's computation."""

    def seconds(run: Callable[[torch.Tensor], torch.Tensor], batch: int) -> float:
        batched = clip.expand(batch, *clip.shape[1:]).contiguous()
        with torch.inference_mode():
            run(batched)
            synchronize(device)
            start = time.perf_counter()
            for _ in range(repeats):
                run(batched)
            synchronize(device)
        return (time.perf_counter() - start) / (repeats * batch)

    last = channels_last_copy(model)
    to_last = functools.partial(torch.Tensor.contiguous, memory_format=torch.channels_last_3d)
    steps = [("the original: NCDHW, batch 1, fp32", lambda x: model(x), 1),
             ("+ channels_last_3d", lambda x: last(to_last(x)), 1),
             ("+ 2 windows per forward", lambda x: last(to_last(x)), 2)]
    for label, precision, batch, compile_mode in (("+ batch norm folded (generate's fp32)", "fp32", 2, "none"),
                                                  ("+ bf16, batch 1", "bf16", 1, "none"),
                                                  ("+ bf16, batch 2", "bf16", 2, "none"),
                                                  ("fp32 batch 2 + torch.compile", "fp32", 2, "default")):
        settings = Settings(batch_size=batch, device=device, precision=precision, compile=compile_mode)
        prepared = prepare_model(model, settings)
        steps.append((label, functools.partial(lambda m, s, x: run_model(m, [x], s), prepared, settings), batch))
    rows = []
    for label, run, batch in steps:
        try:
            rows.append({"step": label, "s_per_window": seconds(run, batch)})
        except Exception as error:  # torch.compile needs a C++ compiler; report, do not abort the benchmark
            rows.append({"step": label, "s_per_window": None, "error": f"{type(error).__name__}: {error}"[:200]})
        print(f"{label}: {rows[-1]}", flush=True)
    return rows


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


# ----------------------------------------------------------------------------------------------
# Whole processes, as a user runs them: start-up, decoding and writing included


def naive_process(frame_dir: str, out_dir: str, weights: str) -> None:
    """The original's generate_result.py re-created as a process: build ViNet, load the file, the naive loop; the
    maps in out_dir/<video>/, as generate_result.py writes them."""
    model = MODELS["vinet"].build()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    maps = Path(out_dir) / Path(frame_dir).parent.name
    maps.mkdir(parents=True, exist_ok=True)
    original_loop(model.eval(), list_frames(frame_dir), out_dir=maps)


def int8_float_layers() -> str:
    """The precision OpenVINO runs an int8 file's float layers in here: bf16 where the CPU has it."""
    has_bf16 = OPENVINO_PRECISIONS["bf16"][1] in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "bf16" if has_bf16 else "fp32"


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


def graph_files(tmp: Path, weights: dict[str, Path], runs: list[tuple[str, str]]) -> dict[tuple[str, str], Path]:
    """The ONNX files the runs need, written as a user would with export.py: (model, "fp32") for every ONNX run,
    (model, "int8") calibrated on export.py's default videos; the seconds each took are printed."""
    files = {}
    for name, path in weights.items():
        for kind in sorted({"int8" if precision == "int8" else "fp32" for backend, precision in runs
                            if backend != "torch"}, reverse=True):
            files[name, kind] = tmp / f"{name}_{kind}.onnx"
            start = time.perf_counter()
            entry, model = load_model(path)
            export_model(model, entry, files[name, kind], path.name, calibration=Calibration() if kind == "int8"
                         else None)
            print(f"export.py {name} {kind}: {time.perf_counter() - start:.0f} s", flush=True)
    return files


def engine_flags(name: str, backend: str, precision: str, weights: dict[str, Path],
                 files: dict[tuple[str, str], Path]) -> list[str]:
    """The model flags of generate_result.py for one run: the checkpoint (PyTorch) or the exported file."""
    if backend == "torch":
        return ["--file_weight", str(weights[name]), "--precision", precision]
    if backend == "onnxruntime":
        return ["--onnx", str(files[name, "fp32"])]
    if precision == "int8":
        return ["--onnx", str(files[name, "int8"]), "--backend", "openvino", "--precision", int8_float_layers()]
    return ["--onnx", str(files[name, "fp32"]), "--backend", "openvino", "--precision", precision]


def process_commands(root: Path, weights: dict[str, Path], runs: list[tuple[str, str]],
                     files: dict[tuple[str, str], Path]) -> dict[str, tuple[str, list[str]]]:
    """The commands timed, by label, each with its model: the original's loop and generate_result.py as a user
    types it, per model and run."""
    python, here = sys.executable, Path(__file__).resolve().parent
    commands = {ORIGINAL: ("vinet", [python, str(here / "benchmark.py"), "--naive_process",
                                     str(root / "video" / "images"), "OUT", str(weights["vinet"])])}
    for name in weights:
        for backend, precision in runs:
            commands[f"{name} {backend} {precision}"] = (name, [
                python, str(here / "generate_result.py"), "--path_indata", str(root), "--save_path", "OUT",
                *engine_flags(name, backend, precision, weights, files)])
    return commands


def timed_process(command: list[str], log: Path) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB, as the OS measured it: through a small interpreter, as a fork
    of this process would count this one's memory) of one command; its output goes to `log`, whose end is raised
    with a failure."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PEAK_PROBE, str(log), *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {log.read_text()[-2000:]}")
    return seconds, float(result.stdout)


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


def window_batches(frame_dir: Path, entry: ModelEntry, batch: int) -> list[list[torch.Tensor]]:
    """MODEL_ALONE_WINDOWS windows from the middle of the workload in batches of `batch`, as the engine feeds them."""
    predictor = Predictor(entry, backend=None)   # its frame inputs and windows; nothing runs
    paths = list_frames(frame_dir)
    inputs = [predictor.frame_inputs(read_image(path)) for path in paths]
    centres = range(len(paths) // 2, len(paths) // 2 + MODEL_ALONE_WINDOWS)
    clips = [[torch.stack([inputs[i][part] for i in window], 1) for part, window in
              enumerate(predictor.windows(j, len(paths)))] for j in centres]
    return [[torch.stack(parts) for parts in zip(*clips[k:k + batch])] for k in range(0, len(clips), batch)]


def model_alone(name: str, backend: str, precision: str, frame_dir: Path, weights: dict[str, Path],
                files: dict[tuple[str, str], Path]) -> tuple[float, np.ndarray]:
    """Windows/s of one model as the engine runs it with --backend and --precision, at its default batch size
    (a first batch untimed), and its maps of the windows."""
    float_layers = int8_float_layers() if precision == "int8" else precision
    settings = make_settings("cpu", precision=float_layers, backend=backend)
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


def stage_costs(frame_dir: Path, entry: ModelEntry, weights: Path, precision: str) -> dict[str, float]:
    """Where one process's seconds go, each stage timed alone on one thread pool: start-up (imports, in a
    fresh interpreter; building, loading and preparing the model), per frame decoding and preprocessing, per
    window the model, per frame post-processing and PNG encoding."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import inference"], check=True, cwd=Path(__file__).resolve().parent)
    imports = time.perf_counter() - start
    settings = Settings(batch_size=1, precision=precision)
    start = time.perf_counter()
    predictor = Predictor(entry, TorchBackend(load_model(weights, entry)[1], settings))
    model_setup = time.perf_counter() - start
    paths = list_frames(frame_dir)
    start = time.perf_counter()
    inputs = [predictor.frame_inputs(read_image(path)) for path in paths]
    decode = (time.perf_counter() - start) / len(paths)
    windows = predictor.windows(len(paths) // 2, len(paths))
    clips = [torch.stack([inputs[i][part] for i in window], 1)[None] for part, window in enumerate(windows)]
    predictor.backend(clips)
    start = time.perf_counter()
    saliency = predictor.backend(clips)[0]
    model_seconds = time.perf_counter() - start
    size = read_image(paths[0]).size
    start = time.perf_counter()
    for _ in range(10):
        encode_map(postprocess_map(saliency, size), ".png")
    return {"imports_s": imports, "model_setup_s": model_setup, "decode_per_frame_s": decode,
            "model_per_window_s": model_seconds, "write_per_frame_s": (time.perf_counter() - start) / 10}


def video_workload(video: str, root: Path, num_frames: int) -> Path:
    """The first num_frames frames of a video file as JPEG frames ROOT/video/images/00001.jpg ...; the folder."""
    info = probe_video(video)
    folder = root / "video" / "images"
    folder.mkdir(parents=True)
    for index, frame in zip(range(num_frames), frames_by_index(info)):
        if frame is not None:
            frame.to_image().save(folder / f"{index + 1:05d}.jpg", quality=95)
    return folder


def contrasted_weights(tmp: Path, frame_dir: Path) -> dict[str, Path]:
    """Weight files of the PROCESS_MODELS, untrained, with a trained model's contrast (give_contrast on a window of
    the workload), so that the maps of the runs can be compared."""
    weights = {}
    for name in PROCESS_MODELS:
        model = MODELS[name].build().eval()
        give_contrast(model, window_batches(frame_dir, MODELS[name], 1)[0])
        weights[name] = tmp / f"{name}.pt"
        torch.save(model.state_dict(), weights[name])
    return weights


def whole_process_report(args: argparse.Namespace, tmp: Path) -> dict:
    """--processes: the workload as JPEG frames (synthetic, or --video's), the models' weight files and ONNX files,
    the commands' times, the models alone, and where one process's time goes."""
    height, width = args.process_size
    root = tmp / "process_data"
    frame_dir = video_workload(args.video, root, args.process_frames) if args.video else \
        write_workload(root, args.process_frames, height, width, suffix=".jpg")
    weights = contrasted_weights(tmp, frame_dir)
    runs = process_runs(args.backend or list(BACKENDS), args.precision)
    files = graph_files(tmp, weights, runs)
    frames = list_frames(frame_dir)
    report = {"frames": len(frames), "frame_size": list(read_image(frames[0]).size[::-1]), "video": args.video,
              "rounds": args.rounds, "int8_float_layers": int8_float_layers() if ("openvino", "int8") in runs else None,
              "processes": process_rows(root, process_commands(root, weights, runs, files), tmp, args.rounds),
              "model_alone": model_alone_rows(frame_dir, weights, runs, files, args.rounds)}
    report["stages"] = {f"{name} {precision}": stage_costs(frame_dir, MODELS[name], weights[name], precision)
                        for name in PROCESS_MODELS for precision in ("fp32", "bf16")}
    return report


def print_process_report(report: dict) -> None:
    print(f"\n{'whole process':28s} {'best s':>8s} {'frames/s':>9s} {'x original':>11s} {'CC fp32':>8s} "
          f"{'peak MiB':>9s}   all runs (s)")
    for r in report["processes"]:
        runs = " ".join(f"{t:.1f}" for t in r["all_seconds"])
        print(f"{r['command']:28s} {r['seconds']:8.1f} {r['frames_per_s']:9.3f} {r['vs_original']:11.2f} "
              f"{r['cc_vs_fp32']:8.5f} {r['peak_mib']:9.0f}   {runs}")
    print(f"\n{'model alone':28s} {'windows/s':>10s} {'CC fp32':>8s}   all rounds")
    for r in report["model_alone"]:
        rounds = " ".join(f"{rate:.3f}" for rate in r["all_windows_per_s"])
        print(f"{r['model'] + ' ' + r['backend'] + ' ' + r['precision']:28s} {r['windows_per_s']:10.3f} "
              f"{r['cc_vs_fp32']:8.5f}   {rounds}")
    print(f"\n{'stages':16s} {'imports s':>10s} {'model setup s':>14s} {'decode ms/fr':>13s} {'model ms/win':>13s} "
          f"{'write ms/fr':>12s}")
    for label, stage in report["stages"].items():
        print(f"{label:16s} {stage['imports_s']:10.2f} {stage['model_setup_s']:14.2f} "
              f"{1000 * stage['decode_per_frame_s']:13.1f} {1000 * stage['model_per_window_s']:13.1f} "
              f"{1000 * stage['write_per_frame_s']:12.1f}")


# ----------------------------------------------------------------------------------------------
# Reframing: with maps given, sampled analysis against the full rate, one minute end to end

AGREEMENT_RATES = (2.0, 3.0, 4.0, 5.0, 6.25)   # --analysis_fps values compared with every frame's maps
AGREEMENT_TOLERANCE = 0.02                     # frames agree within this share of the width of the full rate's crop
AGREEMENT_SIZE = (180, 320)                    # (height, width) of the agreement videos
ONE_MINUTE = ["--untrained", "--model", "vinet-s", "--precision", "bf16", "--device", "cpu", "--aspect", "9:16"]


def write_disc_video(path: Path, scenes: list[np.ndarray], fps: float, height: int, width: int) -> None:
    """An H.264 + AAC video of discs along each scene's paths (N, K, 2), each scene on its own background (a cut
    between them), streamed frame by frame."""
    tone = soundtrack(np.concatenate(scenes), fps)[None]
    with VideoWriter(path, (width, height), fps=fps, waveform=tone, audio_rate=AUDIO_RATE, crf=20) as writer:
        index = 0
        for seed, paths in enumerate(scenes, start=11):
            for centres in paths:
                writer.write(render_frames(centres[None], height, width, seed=seed)[0], index)
                index += 1


def write_gaze_maps(folder: Path, watched: np.ndarray, height: int, width: int) -> None:
    """A map per frame, as the generate scripts write them: a Gaussian at each watched centre (N, 2)."""
    folder.mkdir(parents=True)
    for index, centre in enumerate(watched):
        density = gaze_density(centre[None, None], height, width)[0]
        atomic_write_bytes(folder / f"{index + 1:05d}.png", encode_map(np.round(density * 255).astype(np.uint8),
                                                                        ".png"))


def write_reframe_workload(folder: Path, seconds: float, fps: float, height: int, width: int) -> tuple[Path, Path]:
    """A synthetic video of two discs and its maps (a Gaussian at the watched one)."""
    paths = disc_paths(round(seconds * fps), height, width, seed=11)
    video, maps = folder / "reframe.mp4", folder / "reframe_maps"
    write_disc_video(video, [paths], fps, height, width)
    write_gaze_maps(maps, paths[:, 0], height, width)
    return video, maps


def agreement_videos(folder: Path, fps: float = 25.0, frames: int = 300) -> dict[str, tuple[Path, Path]]:
    """The agreement's test videos (12 s, 320x180) and their maps: a disc on a smooth random path; the same
    with maps 2% of the width off at random (a model's jitter); a disc crossing the frame every second; four
    scenes of other paths; the bundled sample (10 fps)."""
    height, width = AGREEMENT_SIZE
    smooth = disc_paths(frames, height, width, seed=11)
    noisy = smooth[:, 0] + np.random.default_rng(0).normal(0, 0.02 * width, (frames, 2))
    sweep = width * (0.5 + 0.4 * np.sin(np.pi * np.arange(frames) / fps))
    fast = np.stack([np.full(frames, height / 2), sweep], axis=1)[:, None]
    cuts = [disc_paths(frames // 4, height, width, seed=seed) for seed in range(4)]
    layouts = {"smooth": ([smooth], smooth[:, 0]), "noisy maps": ([smooth], noisy), "fast": ([fast], fast[:, 0]),
               "four scenes": (cuts, np.concatenate(cuts)[:, 0])}
    videos = {}
    for name, (scenes, watched) in layouts.items():
        video, maps = folder / f"{name.replace(' ', '_')}.mp4", folder / f"{name.replace(' ', '_')}_maps"
        write_disc_video(video, scenes, fps, height, width)
        write_gaze_maps(maps, watched, height, width)
        videos[name] = (video, maps)
    write_gaze_maps(folder / "sample_maps", sample_paths()[:, 0], SAMPLE.height, SAMPLE.width)
    videos["bundled sample"] = (Path(__file__).resolve().parent / "extras" / "sample.mp4", folder / "sample_maps")
    return videos


def agreement_rows(folder: Path, aspects: tuple[str, ...] = ("9:16", "1:1")) -> list[dict]:
    """Per test video, aspect and --analysis_fps: the share of frames whose crop is within AGREEMENT_TOLERANCE of
    the width of the full rate's, and the share of the full rate's model windows it needs."""
    # here: the other modes do not need PySceneDetect
    from vinet.reframing.options import ReframeOptions
    from vinet.reframing.plan import plan_video
    from vinet.reframing.profiles import list_maps
    from vinet.reframing.scenes import analysed_frames, find_scenes

    rows = []
    for name, (video, maps) in agreement_videos(folder).items():
        info = probe_video(video)
        for aspect in aspects:
            options = ReframeOptions(aspect)
            scenes = find_scenes(info, options)
            every = list_maps(maps, info)
            full = plan_video(scenes, every, info, options)
            for rate in AGREEMENT_RATES:
                picked = analysed_frames(scenes, info.fps, rate)
                plan = plan_video(scenes, {i: every[i] for i in picked}, info, options)
                offsets = [abs(plan.at(i).box(i)[0] - full.at(i).box(i)[0]) for i in range(info.num_frames)]
                rows.append({"video": name, "aspect": aspect, "analysis_fps": rate, "fps": info.fps,
                             "windows_share": len(picked) / info.num_frames,
                             "agreeing": float(np.mean(np.array(offsets) <= AGREEMENT_TOLERANCE * info.size[0])),
                             "max_offset_share": max(offsets) / info.size[0]})
    return rows


def stage_seconds(log_text: str) -> dict[str, float]:
    """The stage times reframe.py logs (scenes, model, reframing), in seconds."""
    found = {stage: re.search(rf"^{stage}: .*?([0-9.]+) s$", log_text, re.MULTILINE)
             for stage in ("scenes", "model", "reframing")}
    return {stage: float(match[1]) for stage, match in found.items() if match}


def one_minute_report(tmp: Path, seconds: float = 60.0, fps: float = 25.0) -> dict:
    """reframe.py as a user runs it (a fresh process: imports, model, scenes, the model on the analysed frames,
    writing) on one minute of 25 fps 1280x720 video, ViNet-S in bf16 on the CPU, untrained weights (the same
    work as trained ones); the full rate's time estimated from the measured time per model window."""
    height, width = REFRAME_SIZE
    paths = disc_paths(round(seconds * fps), height, width, seed=11)
    video = tmp / "one_minute.mp4"
    write_disc_video(video, [paths], fps, height, width)
    command = [sys.executable, str(Path(__file__).resolve().parent / "reframe.py"), "--video", str(video),
               "--output", str(tmp / "one_minute_9x16.mp4"), *ONE_MINUTE]
    alone = 1 / model_only(MODELS["vinet-s"].build().eval(), [torch.zeros(1, 3, CLIP_LENGTH, *FRAME_SIZE)],
                           Settings(batch_size=1, precision="bf16"), repeats=3)
    load, start = os.getloadavg()[0], time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    total = time.perf_counter() - start
    stages = stage_seconds(result.stderr)
    windows = int(re.search(r"^model: (\d+) of", result.stderr, re.MULTILINE)[1])
    full_rate = total + stages["model"] / windows * (len(paths) - windows)
    print(f"one minute of 1280x720 at {fps:g} fps, ViNet-S bf16: {total:.1f} s ({windows} windows; stages {stages}); "
          f"the full rate would take about {full_rate:.0f} s; the model alone {alone:.2f} s per window, load "
          f"{load:.1f} before, {os.getloadavg()[0]:.1f} after", flush=True)
    return {"command": " ".join(["python reframe.py --video ONE_MINUTE.mp4 --output OUT.mp4", *ONE_MINUTE]),
            "video_seconds": seconds, "size": [height, width], "fps": fps, "seconds": total, "windows": windows,
            "frames": len(paths), "stages": stages, "full_rate_estimate_s": full_rate,
            "model_alone_s_per_window": alone, "load_average": [load, os.getloadavg()[0]],
            "summary": result.stderr.strip().splitlines()[-1]}


def reframe_report(tmp: Path, rounds: int, seconds: float = 10.0, fps: float = 25.0) -> dict:
    """--reframe: reframe_video on a 10 s 720p video with its maps given (to 9:16, in this process, imports
    excluded, best of `rounds`) against its duration; the sampled analysis against the full rate on the test
    videos; one minute of 720p with ViNet-S bf16, end to end."""
    # here: the other modes do not need PySceneDetect
    from vinet.reframing.options import ReframeOptions
    from vinet.reframing.pipeline import reframe_video

    video, maps = write_reframe_workload(tmp / "reframe", seconds, fps, *REFRAME_SIZE)
    times = []
    for round_index in range(rounds):
        start = time.perf_counter()
        reframe_video(video, maps, tmp / f"reframed{round_index}.mp4", ReframeOptions("9:16"))
        times.append(time.perf_counter() - start)
        print(f"round {round_index + 1}: reframing {seconds:g} s of 1280x720: {times[-1]:.2f} s", flush=True)
    agreement = agreement_rows(tmp / "agreement")
    for rate in AGREEMENT_RATES:
        rows = [row for row in agreement if row["analysis_fps"] == rate]
        print(f"--analysis_fps {rate:g}: {min(r['agreeing'] for r in rows):.1%} of frames agree at worst, "
              f"{max(r['windows_share'] for r in rows if r['fps'] == fps):.1%} of the windows", flush=True)
    return {"reframe": {"video_seconds": seconds, "size": list(REFRAME_SIZE), "fps": fps, "seconds": min(times),
                        "all_seconds": times, "x_real_time": seconds / min(times)},
            "analysis_agreement": agreement, "one_minute": one_minute_report(tmp)}


# ----------------------------------------------------------------------------------------------
# Memory on long videos


def peak_memory(video: Path, out: Path) -> float:
    """Peak resident memory (MiB) of generate_result.py mapping a video at a small model input size."""
    command = [sys.executable, str(Path(__file__).resolve().parent / "generate_result.py"), "--video", str(video),
               "--frame_size", "32", "64", "--save_path", str(out)]
    return timed_process(command, out.with_suffix(".log"))[1]


def memory_report(tmp: Path, lengths: tuple[int, ...] = (300, 3000)) -> dict:
    """--memory: peak resident memory of generate on synthetic 320x180 H.264 videos of each length."""
    rows = []
    for length in lengths:
        paths = disc_paths(length, 180, 320, seed=5)
        video = tmp / f"long{length}.mp4"
        write_video(str(video), render_frames(paths, 180, 320, seed=5), 25.0, soundtrack(paths, 25.0))
        start = time.perf_counter()
        rows.append({"frames": length, "peak_mib": peak_memory(video, tmp / f"maps{length}"),
                     "seconds": time.perf_counter() - start})
        print(f"{length} frames: peak {rows[-1]['peak_mib']:.0f} MiB ({rows[-1]['seconds']:.0f} s)", flush=True)
    return {"memory": rows}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """benchmark.py's flags; InputError (one line) for a bad one."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", type=device_flag, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quick", action="store_true", help="fewer frames, modes and repeats; no onnxruntime rows")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=None, metavar="NAME",
                        help=f"the models measured, beside ViNet, the reference (default: {' '.join(BENCHMARKED)}; "
                             "--quick: vinet vinet-s)")
    parser.add_argument("--frames", type=number_flag(int, 2 * CLIP_LENGTH - 1), default=None,
                        help="frames of the end-to-end video (the original's loop maps every frame from 63 on, and "
                             "the engine's maps are compared with its maps)")
    parser.add_argument("--json", default="benchmark.json")
    parser.add_argument("--steps", action="store_true",
                        help="also time the model-only speed-ups one at a time (ViNet)")
    parser.add_argument("--processes", action="store_true",
                        help="only time whole processes as a user runs them (start-up included), interleaved")
    parser.add_argument("--process_frames", type=number_flag(int, 2 * CLIP_LENGTH - 1), default=66,
                        help="--processes: frames of the video (the original's loop maps every frame from 63 on, and "
                             "every command's maps are compared)")
    parser.add_argument("--video", help="--processes: time the first --process_frames frames of this video file "
                                        "instead of synthetic ones")
    parser.add_argument("--process_size", type=number_flag(int, 2), nargs=2, default=(272, 640), metavar=("H", "W"),
                        help="--processes: frame size (JPEG frames)")
    parser.add_argument("--rounds", type=number_flag(int, 1), default=2,
                        help="--processes: interleaved rounds (the best counts)")
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=None, metavar="NAME",
                        help="--processes: the backends timed beside PyTorch fp32 (default: all installed; int8 "
                             "files are calibrated first with export.py's defaults)")
    parser.add_argument("--precision", nargs="+", choices=("fp32", "bf16", "int8"), default=None, metavar="P",
                        help="--processes: only the runs in these precisions (default: all), beside PyTorch fp32, "
                             "the reference of every CC")
    parser.add_argument("--memory", action="store_true",
                        help="only measure generate's peak memory on 300- and 3,000-frame videos")
    parser.add_argument("--reframe", action="store_true",
                        help="only time reframe.py: 10 s of 720p with maps given, against real time; --analysis_fps "
                             "against the full rate; one minute of 720p with ViNet-S bf16, end to end")
    parser.add_argument("--naive_process", nargs=3, metavar=("FRAMES", "OUT", "WEIGHTS"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def benchmark_models(names: tuple[str, ...], frame_dir: Path,
                     device: torch.device) -> dict[str, tuple[ModelEntry, torch.nn.Module, list]]:
    """The measured models with untrained weights given a trained model's contrast, and the inputs of one
    window (each model's clips from the workload's frames, as it sees them)."""
    frames = [read_image(p) for p in list_frames(frame_dir)]
    models = {}
    for name in names:
        entry = MODELS[name]
        predictor = Predictor(entry, torch.nn.Identity())
        clips = [torch.stack([predictor.frame_inputs(frames[i])[part] for i in window], 1)[None].to(device)
                 for part, window in enumerate(predictor.windows(len(frames) // 2, len(frames)))]
        sound = [torch.randn(1, 1, audio_buffer_length(), 1, device=device) * 50] if entry.takes_audio else []
        model = entry.build().eval().to(device)
        give_contrast(model, clips + sound)
        models[name] = (entry, model, clips + sound)
    return models


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


def print_report(report: dict) -> None:
    """The report's tables, as the README shows them."""
    print(f"\n{'model':7s} {'mode':20s} {'frames/s':>9s} {'x naive':>8s} {'identical':>10s} {'max diff':>8s} "
          f"{'CC naive':>9s} {'peak MiB':>9s}")
    for r in report["generate"]:
        compared = "identical_to_naive" in r
        print(f"{r['model']:7s} {r['mode']:20s} {r['frames_per_s']:9.3f} {r['vs_naive']:8.2f} "
              + (f"{100 * r['identical_to_naive']:9.4f}% {r.get('max_gray_diff', 0):8.0f} {r['cc_vs_naive']:9.5f} "
                 if compared else f"{'-':>10s} {'-':>8s} {'-':>9s} ") + f"{r['peak_mib']:9.0f}")
    print(f"\n{'model':7s} {'mode':20s} {'windows/s':>10s} {'FLOP bound':>11s} {'of bound':>9s}")
    for r in report["model_only"]:
        bound = f"{r['flop_bound_windows_per_s']:11.3f} {100 * r['of_flop_bound']:8.1f}%" if "of_flop_bound" in r \
            else ""
        print(f"{r['model']:7s} {r['mode']:20s} {r['windows_per_s']:10.3f} {bound}")
    variation = report["naive_thread_variation"]
    print(f"\nthe naive loop's own maps, 1 thread vs {variation['threads'][0]}: "
          f"{100 * variation['pixels_differing']:.4f}% of pixels differ, by up to {variation['max_gray_diff']:.0f}")
    for r in report.get("speedup_steps", []):
        print(f"{r['step']:40s} {r['s_per_window'] or float('nan'):8.3f} s/window {r.get('error', '')}")
    print(f"\nGFLOP per window: {report['gflop_per_window']}; matmul TFLOP/s: {report['matmul_tflops']}")
    print(f"training steps/s (ViNet, batch 1, forward + backward + Adam): {report['training_steps_per_s']}")


def check_args(args: argparse.Namespace) -> None:
    """InputError for flags that cannot work together."""
    if args.steps and (args.processes or args.reframe or args.memory):
        raise InputError("--steps times the model alone: run it without --processes, --reframe or --memory")
    if args.video and not args.processes:
        raise InputError("--video gives --processes its frames: add --processes")
    if (args.backend or args.precision) and not args.processes:
        raise InputError("--backend and --precision choose the runs --processes times: add --processes")
    resolve_device(args.device)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark the flags ask for; the exit status (2 after one line for bad input)."""
    try:
        args = parse_args(argv)
        check_args(args)
        run(args)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> None:
    """The benchmark the flags ask for; its report printed and written to --json."""
    if args.naive_process:
        naive_process(*args.naive_process)
        return
    report = process_benchmarks(args) if args.processes or args.reframe or args.memory else engine_benchmarks(args)
    atomic_write_bytes(args.json, json.dumps(report, indent=2).encode())
    print(f"wrote {args.json}")


def process_benchmarks(args: argparse.Namespace) -> dict:
    """--processes, --reframe and --memory: whole processes and reframing against the clock, and memory."""
    with tempfile.TemporaryDirectory() as tmp:
        report = {"machine": machine_description(torch.device("cpu"))}
        report.update(whole_process_report(args, Path(tmp)) if args.processes else {})
        report.update(reframe_report(Path(tmp), args.rounds) if args.reframe else {})
        report.update(memory_report(Path(tmp)) if args.memory else {})
    if args.processes:
        print_process_report(report)
    return report


def measured_models(args: argparse.Namespace) -> tuple[str, ...]:
    """The models --models names (or the default set), ViNet first: the naive loop and training steps use it."""
    names = args.models or (("vinet", "vinet-s") if args.quick else BENCHMARKED)
    return ("vinet", *(name for name in dict.fromkeys(names) if name != "vinet"))


def engine_benchmarks(args: argparse.Namespace) -> dict:
    """The engine against the original's loop, the models alone, training steps."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else torch.device(args.device)
    cuda = device.type == "cuda"
    # the naive loop (the original) needs 2T-1 frames or more; a GPU needs more to reach its pace
    num_frames = args.frames or ((128 if args.quick else 256) if cuda else 2 * CLIP_LENGTH)
    modes = benchmark_modes(cuda, args.quick)
    torch.manual_seed(0)
    report = {"machine": machine_description(device), "frames": num_frames, "frame_size": [360, 640],
              "command": "python benchmark.py " + " ".join(sys.argv[1:])}
    print(json.dumps(report["machine"]))
    precisions = sorted({m[1] for m in modes} | {"fp32"})
    rates = {p: matmul_rate(device, PRECISIONS[p]) for p in precisions}
    report["matmul_tflops"] = {p: r / 1e12 for p, r in rates.items()}
    repeats = 20 if cuda else 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frame_dir = write_workload(tmp / "data", num_frames, 360, 640)
        models = benchmark_models(measured_models(args), frame_dir, device)
        flops = {name: window_flops(model, inputs) for name, (_, model, inputs) in models.items()}
        report["gflop_per_window"] = {k: v / 1e9 for k, v in flops.items()}
        _, vinet, vinet_inputs = models["vinet"]
        report["naive_thread_variation"] = thread_variation(vinet, vinet_inputs, (360, 640))
        print(f"naive loop, 1 thread vs {torch.get_num_threads()}: {report['naive_thread_variation']}", flush=True)
        report["generate"] = generate_rows(models, modes, frame_dir, tmp / "data" / "video.wav", tmp, device)
        report["model_only"] = model_only_rows(models, modes, rates, flops, device)
        if device.type == "cpu" and not args.quick:
            onnx_generate, onnx_alone = onnx_rows(models, frame_dir, tmp / "data" / "video.wav", tmp, repeats)
            report["generate"] += onnx_generate
            report["model_only"] += onnx_alone
        if args.steps:
            report["speedup_steps"] = speedup_steps(vinet, vinet_inputs[0], device, repeats)
        report["training_steps_per_s"] = {p: training_steps(vinet, vinet_inputs, p, device, repeats=repeats // 2 or 1)
                                          for p in precisions}
    print_report(report)
    return report


if __name__ == "__main__":
    sys.exit(main())
