"""The network a run trains: built from its entry, its starting weights, batch norm's mode, and DDP's wrapper."""
import logging

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from model import SlowFastR50
from utils import InputError
from vinet.training.config import OptimConfig, TrainConfig
from vinet.training.process import Process
from weights import (
    load_s3d_weights,
    load_slowfast_weights,
    load_soundnet_weights,
    load_state_dict_checked,
    read_weights,
    unwrap_state_dict,
)

log = logging.getLogger("train")


def build_model(config: TrainConfig) -> nn.Module:
    """The run's model with its starting weights (none when resuming: resume() restores them)."""
    model = config.model.build()
    if not config.resume or config.eval_only:
        initialise_weights(model, config)
    if config.optim.bn_momentum is not None:
        for module in batch_norms(model):
            module.momentum = config.optim.bn_momentum
    return model


def initialise_weights(model: nn.Module, config: TrainConfig) -> None:
    """--load_weight (a ViNet checkpoint into ViNet or into AViNet's visual model, an AViNet one into the whole
    AViNet), and the encoder's (S3D or SlowFast) and SoundNet's weights for the parts it does not cover; strict,
    errors naming the variant a file holds."""
    entry, covered = config.model, "nothing"
    if config.load_weight:
        state = unwrap_state_dict(read_weights(config.load_weight, "checkpoint"))
        whole = not entry.takes_audio or any(key.startswith("visual_model.") for key in state)
        covered = "the model" if whole else "AViNet's visual model"
        load_state_dict_checked(model if whole else model.visual_model, state,
                                config.load_weight if whole else f"{config.load_weight} (for {covered})")
        log.info("loaded %s into %s", config.load_weight, covered)
    backbone = (model.visual_model if entry.takes_audio else model).backbone
    encoder_flag, encoder_weights = (("--slowfast_weights", config.slowfast_weights)
                                     if isinstance(backbone, SlowFastR50) else ("--s3d_weights", config.s3d_weights))
    for flag in {"--s3d_weights", "--slowfast_weights"} - {encoder_flag}:
        if getattr(config, flag.removeprefix("--")):
            raise InputError(f"{flag} does not fit {entry.label}'s encoder: give it {encoder_flag}")
    if encoder_weights and covered == "nothing":
        (load_slowfast_weights if encoder_flag == "--slowfast_weights" else load_s3d_weights)(backbone, encoder_weights)
    if entry.takes_audio and config.soundnet_weights and covered != "the model":
        load_soundnet_weights(model.audionet, config.soundnet_weights)
    for flag, given, skipped in ((encoder_flag, encoder_weights, covered != "nothing"),
                                 ("--soundnet_weights", config.soundnet_weights, covered == "the model")):
        if given and skipped:
            log.warning("%s not loaded: --load_weight already fills %s", flag, covered)
    if covered == "nothing" and not encoder_weights:
        log.warning("no %s or --load_weight: the visual model starts from random weights", encoder_flag)


def batch_norms(model: nn.Module) -> list[nn.Module]:
    """Every batch-norm layer of a model."""
    return [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]


def set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    """Training mode, with batch norm on its running statistics when frozen."""
    model.train()
    if freeze_bn:
        for module in batch_norms(model):
            module.eval()


def predict(model: nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
    """The model's (B, H, W) maps for a batch, with its audio when the batch has one."""
    clip = batch["clip"].to(device, non_blocking=True)
    if "audio" in batch:
        return model(clip, batch["audio"].to(device, non_blocking=True))
    return model(clip)


def distribute(model: nn.Module, optim: OptimConfig, process: Process, unused_parameters: bool) -> nn.Module:
    """The model wrapped for DDP under torchrun (SyncBatchNorm on GPUs unless frozen); itself otherwise."""
    if not process.distributed:
        return model
    if process.device.type == "cuda" and optim.sync_bn and not optim.freeze_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    elif not optim.freeze_bn:
        log.warning("batch-norm statistics are per process here (SyncBatchNorm needs GPUs); "
                    "--freeze_bn True makes N processes train as one")
    return DistributedDataParallel(model, device_ids=[process.device] if process.device.type == "cuda" else None,
                                   find_unused_parameters=unused_parameters)
