"""The machine the benchmark runs on: its description, its measured matmul rate (the roof of the FLOP-bound
limit), a model's FLOPs per window, and the peak memory of a block of work."""
import contextlib
import os
import platform
import threading
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode


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
    """Wait for the device's queued work (a GPU runs asynchronously: a timing must not stop before it does)."""
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
