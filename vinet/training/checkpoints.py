"""A run's checkpoints: the best model (a plain state dict, as the original's) and <stem>_last.pt, all --resume needs;
written atomically."""
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from registry import MODELS, ModelEntry, get_entry
from utils import InputError, atomic_write_bytes
from vinet.training.process import restore_rng_states, rng_states
from weights import load_state_dict_checked, read_weights

log = logging.getLogger("train")

LAST_FORMAT = 2  # version of <stem>_last.pt: 2 records the model entry


def save_atomic(obj, path: Path) -> None:
    """torch.save, atomically: a full disk or a kill leaves the previous file as it was."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror or error}; free some space and rerun with --resume "
                         "(the previous checkpoint is intact)") from error


@dataclass
class Progress:
    """Where a run stands: the next epoch, optimizer steps taken and the best validation value so far."""

    epoch: int = 0
    step: int = 0
    best: float | None = None


def save_last(path: Path, entry: ModelEntry, model: nn.Module, optimizer, scheduler, scaler, progress: Progress,
              best_metric: str) -> None:
    """<stem>_last.pt: all --resume needs, and the model entry and arguments that rebuild the model alone."""
    save_atomic({"format": LAST_FORMAT, "model_entry": entry.name, "model_args": dict(entry.kwargs),
                 "frame_size": list(entry.frame_size), "model": model.state_dict(),
                 "optimizer": optimizer.state_dict(),
                 "scheduler": None if scheduler is None else scheduler.state_dict(), "scaler": scaler.state_dict(),
                 "epoch": progress.epoch, "step": progress.step, "best_value": progress.best,
                 "best_metric": best_metric, "rng": rng_states()}, path)


def read_last(path: Path) -> dict:
    """A <stem>_last.pt file (weights_only); InputError when missing, unreadable, of a newer format or of a
    model this project does not know."""
    if not path.is_file():
        raise InputError(f"nothing to resume: {path} not found (run without --resume to start)")
    state = read_weights(path, "checkpoint")
    if state.get("format", 1) > LAST_FORMAT:
        raise InputError(f"{path} was written by a newer train.py (format {state['format']}, this one reads "
                         f"{LAST_FORMAT}); update this project to resume it")
    if state.get("model_entry") not in (None, *MODELS):
        raise InputError(f"{path} records an unknown model {state['model_entry']!r}; update this project to resume it")
    return state


def recorded_entry(state: dict) -> ModelEntry:
    """The model entry a last checkpoint recorded (format 1 files record none: ViNet's)."""
    entry = get_entry(state.get("model_entry", "vinet"))
    return entry.configured(tuple(state.get("frame_size", entry.frame_size)), **state.get("model_args", {}))


def resume(state: dict, path: Path, entry: ModelEntry, model: nn.Module, optimizer, scheduler, scaler) -> Progress:
    """Restore a run from its last checkpoint (read_last): model, optimizer, scheduler, scaler, RNG states and
    counters."""
    if "model_entry" in state and recorded_entry(state).label != entry.label:
        raise InputError(f"{path} is a run of {recorded_entry(state).label}, not {entry.label}: drop the "
                         "model flags to resume it, or give another --model_val_path")
    load_state_dict_checked(model, state["model"], str(path))
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    restore_rng_states(state["rng"])
    log.info("resumed from %s after epoch %d (step %d)", path, state["epoch"] - 1, state["step"])
    return Progress(state["epoch"], state["step"], state["best_value"])
