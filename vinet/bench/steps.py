"""--steps: ViNet's model-only seconds per window, adding one change at a time to the original's computation."""
import copy
import functools
import time
from collections.abc import Callable

import torch

from vinet.backends import Settings
from vinet.backends.pytorch import prepare_model, run_model
from vinet.bench.machine import synchronize


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
