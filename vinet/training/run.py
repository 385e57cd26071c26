"""A training run from its settings to its last validation metrics: train.py's main calls run_training."""
import logging

import torch

from utils import InputError
from vinet.training.checkpoints import read_last
from vinet.training.config import RunFiles, TrainConfig, TrainSettings, configure
from vinet.training.data import build_datasets, validation_loader
from vinet.training.kernels import cpu_bf16_backward_is_sound
from vinet.training.loop import fit, validate
from vinet.training.network import build_model
from vinet.training.process import Process, seed_everything, setup_process

log = logging.getLogger("train")


def start_process(config: TrainConfig) -> Process:
    """Join the run's processes and seed them."""
    process = setup_process(config.device, config.deterministic)
    if config.optim.precision == "fp16" and process.device.type != "cuda":
        raise InputError("--precision fp16 needs a CUDA device (its gradient scaler); use bf16 on CPUs")
    if (config.optim.precision == "bf16" and process.device.type == "cpu" and not config.eval_only
            and not cpu_bf16_backward_is_sound()):
        raise InputError(f"--precision bf16: this PyTorch ({torch.__version__}) computes bf16 convolution gradients "
                         "wrongly on this CPU (checked at start-up: NaN or garbage weight gradients); train in fp32, "
                         "or in bf16 on a CUDA device")
    if config.optim.loss_weights.get("nss", 0) > 0:
        log.warning("--nss_coeff %g > 0 penalises NSS (the original's default); pass --nss_coeff -1 to reward it",
                    config.optim.loss_weights["nss"])
    seed_everything(config.seed, config.deterministic)
    return process


def run_training(settings: TrainSettings) -> dict[str, float]:
    """Train (or with eval_only validate) as the settings say; the last validation metrics.

    Example: run_training(TrainSettings(train_path_data="DHF1K/annotation", val_path_data="DHF1K/val",
    s3d_weights="S3D_kinetics400.pt", model_val_path="runs/vinet_dhf1k.pt"))"""
    resumed = read_last(RunFiles.beside(settings.model_val_path).last) if settings.resume and not settings.eval_only \
        else None
    config = configure(settings, resumed)
    process = start_process(config)
    train_set, val_set = build_datasets(config.data, eval_only=config.eval_only)
    model = build_model(config).to(process.device)
    val_loader = validation_loader(val_set, config.data, process)
    if config.eval_only:
        metrics = validate(model, val_loader, config.optim.loss_weights, config.optim.precision, process)
        log.info("validation: %s", " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        return metrics
    return fit(config, process, model, train_set, val_loader, resumed)
