"""The training loop: optimizer steps over accumulated batches, validation, the best model, and the guards that stop
a diverging run before it saves."""
import contextlib
import logging
import math
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

import loss
from utils import InputError, atomic_write_bytes, autocast, blur_map, remove_stale_temporaries, resize_map
from vinet.training.checkpoints import Progress, resume, save_atomic, save_last
from vinet.training.config import OptimConfig, TrainConfig
from vinet.training.data import train_loader
from vinet.training.logs import RunLog
from vinet.training.network import distribute, predict, set_train_mode
from vinet.training.process import Process, reduce_mean

log = logging.getLogger("train")

VALIDATION_METRICS = ("loss", "cc", "sim", "kld", "nss")   # what validate() reports, --best_metric's choices
LOWER_IS_BETTER = ("loss", "kld")


def check_finite(model: nn.Module, batch_loss: torch.Tensor, epoch: int, step: int) -> None:
    """InputError, before the optimizer step, when the loss or a gradient is NaN or inf: the weights on disk stay
    those of the last finished epoch, instead of a run that goes on training NaN."""
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    if torch.isfinite(batch_loss) and all(torch.isfinite(g).all() for g in gradients):
        return
    raise InputError(f"epoch {epoch}, step {step + 1}: the loss or the gradients are not finite (NaN or inf); the "
                     "checkpoints on disk are from before it. Lower --lr, or check the data")


def check_validation(metrics: dict[str, float], epoch: int) -> None:
    """InputError when validation finds the weights diverged (a NaN loss): they are not saved."""
    if not math.isfinite(metrics["loss"]):
        raise InputError(f"epoch {epoch}: the validation loss is {metrics['loss']}: the weights diverged and "
                         "are not saved; the checkpoints on disk are from before it. Lower --lr")


def train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                optim: OptimConfig, process: Process, epoch: int, step: int, run_log: RunLog | None,
                log_interval: int) -> tuple[float, int]:
    """One epoch of optimizer steps over accum_steps batches each; the mean step loss and the step count."""
    set_train_mode(model, optim.freeze_bn)
    accum, num_batches = optim.accum_steps, len(loader)
    full_groups = num_batches - num_batches % accum
    group_loss, step_losses, clips, tic = 0.0, [], 0, time.perf_counter()
    with tqdm(total=math.ceil(num_batches / accum), desc=f"epoch {epoch}", disable=not process.is_main,
              dynamic_ncols=True) as bar:   # closed before an error line, not after it
        for index, batch in enumerate(loader):
            group_size = accum if index < full_groups else num_batches - full_groups
            steps_now = (index + 1) % accum == 0 or index + 1 == num_batches
            with contextlib.nullcontext() if steps_now or not process.distributed else model.no_sync():
                with autocast(process.device.type, optim.precision):
                    prediction = predict(model, batch, process.device)
                fixations = batch["fixations"].to(process.device) if "nss" in optim.loss_weights else None
                batch_loss = loss.saliency_loss(prediction.float(), batch["map"].to(process.device), fixations,
                                                optim.loss_weights)
                scaler.scale(batch_loss / group_size).backward()
            group_loss += batch_loss.detach() / group_size
            clips += len(batch["clip"]) * process.world_size
            if not steps_now:
                continue
            if not scaler.is_enabled():   # fp16's scaler skips a step whose gradients overflowed, and rescales
                check_finite(model, batch_loss, epoch, step)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            value = reduce_mean(torch.as_tensor(group_loss, dtype=torch.float64), process).item()
            step_losses.append(value)
            group_loss, speed = 0.0, clips / (time.perf_counter() - tic)
            bar.update()
            bar.set_postfix(loss=f"{value:.4f}", clips_s=f"{speed:.1f}")
            if run_log is not None:
                run_log.write("train_step", epoch, step, lr=optimizer.param_groups[0]["lr"], loss=value,
                              clips_per_s=speed)
            if step % log_interval == 0:
                log.info("epoch %d step %d loss %.5f (%.1f clips/s)", epoch, step, value, speed)
    return float(np.mean(step_losses)) if step_losses else float("nan"), step


@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader, loss_weights: dict[str, float], precision: str,
             process: Process) -> dict[str, float]:
    """Mean loss, CC, SIM, KLD and NSS over the validation clips, each prediction resized to its ground
    truth's size and blurred first (the original's validation)."""
    model.eval()
    sums = torch.zeros(len(VALIDATION_METRICS) + 1, dtype=torch.float64)
    for batch in tqdm(loader, desc="validation", disable=not process.is_main, dynamic_ncols=True, leave=False):
        with autocast(process.device.type, precision):
            predictions = predict(model, batch, process.device).float().cpu().numpy()
        for prediction, density, fixations in zip(predictions, batch["map"], batch["fixations"]):
            height, width = density.shape
            smoothed = torch.from_numpy(blur_map(resize_map(prediction, (width, height))))[None]
            density, fixations = density[None], fixations[None]
            values = [loss.saliency_loss(smoothed, density, fixations, loss_weights), loss.cc(smoothed, density),
                      loss.similarity(smoothed, density), loss.kldiv(smoothed, density), loss.nss(smoothed, fixations)]
            sums += torch.tensor([float(v) for v in values] + [1.0], dtype=torch.float64)
    if process.distributed:
        sums = sums.to(process.device)
        dist.all_reduce(sums)
        sums = sums.cpu()
    return {name: (sums[i] / sums[-1]).item() for i, name in enumerate(VALIDATION_METRICS)}


def improved(value: float, best: float | None, metric: str) -> bool:
    """Whether a validation value is at least as good as the best so far (lower loss / KLD, higher others)."""
    if best is None:
        return True
    return value <= best if metric in LOWER_IS_BETTER else value >= best


def build_optimizer(model: nn.Module, optim: OptimConfig) \
        -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None, torch.amp.GradScaler]:
    """The optimizer, the per-epoch LR scheduler (or None) and the gradient scaler (fp16 on CUDA only)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if optim.name == "adam":
        optimizer = torch.optim.Adam(params, lr=optim.lr, weight_decay=optim.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    scheduler = None
    if optim.schedule == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, optim.step_size, optim.gamma)
    elif optim.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, optim.epochs))
    scaler = torch.amp.GradScaler("cuda", enabled=optim.precision == "fp16")
    return optimizer, scheduler, scaler


def open_run_files(config: TrainConfig, process: Process, progress: Progress) -> RunLog | None:
    """On rank 0: clear what a killed run left, write <stem>_args.json and open the log; None elsewhere."""
    if not process.is_main:
        return None
    for path in (config.files.best, config.files.last, config.files.args, config.files.log):
        remove_stale_temporaries(path)   # left by a run killed while writing
    atomic_write_bytes(config.files.args, config.args_json())
    return RunLog(config.files, keep_before_epoch=progress.epoch)


def fit(config: TrainConfig, process: Process, model: nn.Module, train_set: Dataset, val_loader: DataLoader,
        resumed: dict | None) -> dict[str, float]:
    """The epochs of a run from where it stands (resumed: its last checkpoint); the last validation metrics."""
    bare_model, model = model, distribute(model, config.optim, process, config.model.takes_audio)
    optimizer, scheduler, scaler = build_optimizer(model, config.optim)
    progress = Progress()
    if resumed is not None:
        progress = resume(resumed, config.files.last, config.model, bare_model, optimizer, scheduler, scaler)
    run_log = open_run_files(config, process, progress)
    log.info("%s: %d training clips per epoch, %d validation clips, %d process(es) on %s", config.model.label,
             len(train_set), len(val_loader.dataset), process.world_size, process.device)
    metrics = {}
    with logging_redirect_tqdm():
        for epoch in range(progress.epoch, config.optim.epochs):
            loader = train_loader(train_set, config.data, process, epoch)
            train_loss, progress.step = train_epoch(model, loader, optimizer, scaler, config.optim, process, epoch,
                                                    progress.step, run_log, config.log_interval)
            metrics = validate(model, val_loader, config.optim.loss_weights, config.optim.precision, process)
            check_validation(metrics, epoch)
            lr = optimizer.param_groups[0]["lr"]
            if scheduler is not None:
                scheduler.step()
            is_best = improved(metrics[config.best_metric], progress.best, config.best_metric)
            progress.best = metrics[config.best_metric] if is_best else progress.best
            progress.epoch = epoch + 1
            log.info("epoch %d: train loss %.5f | validation %s%s", epoch, train_loss,
                     " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), " (best)" if is_best else "")
            if process.is_main:
                run_log.write("train_epoch", epoch, progress.step, lr=lr, loss=train_loss)
                run_log.write("val", epoch, progress.step, **metrics)
                if is_best:
                    save_atomic(bare_model.state_dict(), config.files.best)
                save_last(config.files.last, config.model, bare_model, optimizer, scheduler, scaler, progress,
                          config.best_metric)
            if process.distributed:
                dist.barrier()
    if run_log is not None:
        run_log.close()
    return metrics
