"""The metrics of one frame (all defined in loss.py), each drawing from its own seeded random stream."""
import math
import zlib
from collections.abc import Sequence

import cv2
import numpy as np
import torch

import loss

EVALUATION_METRICS = ("cc", "sim", "nss", "kld", "auc_j", "s_auc", "auc_b")
DISTRIBUTION_METRICS = {"cc": loss.cc, "sim": loss.similarity, "kld": loss.kldiv}


def frame_seed(video: str, frame: str, seed: int = 0) -> list[int]:
    """Seed words of one frame's random streams: stable across runs, processes and worker counts."""
    return [seed, zlib.crc32(f"{video}/{frame}".encode())]


def score_frame(prediction: np.ndarray, density_map: np.ndarray, fixation_map: np.ndarray, other_map: np.ndarray | None,
                seed: Sequence[int], metrics: Sequence[str] = EVALUATION_METRICS) -> dict[str, float]:
    """All requested metrics of one frame; the prediction is resized to the density map's size bilinearly first.

    Fixation metrics are NaN without fixations (s_auc also without an other map), distribution metrics NaN for a flat
    density map. Each metric draws from its own stream of `seed`, so a subset of metrics gives the same values.
    """
    height, width = density_map.shape
    if prediction.shape != density_map.shape:
        prediction = cv2.resize(prediction, (width, height), interpolation=cv2.INTER_LINEAR)
    prediction_batch = torch.from_numpy(prediction)[None]
    density_usable = density_map.max() > density_map.min()
    has_fixations = bool(fixation_map.any())
    scores = {}
    for name in metrics:
        rng = np.random.default_rng([*seed, EVALUATION_METRICS.index(name)])
        if name in DISTRIBUTION_METRICS:
            density_batch = torch.from_numpy(density_map)[None]
            value = DISTRIBUTION_METRICS[name](prediction_batch, density_batch).item() if density_usable else math.nan
        elif not has_fixations:
            value = math.nan
        elif name == "nss":
            value = loss.nss(prediction_batch, torch.from_numpy(fixation_map)[None]).item()
        elif name == "auc_j":
            value = loss.auc_judd(prediction, fixation_map, rng)
        elif name == "s_auc":
            value = loss.auc_shuffled(prediction, fixation_map, other_map, rng) if other_map is not None else math.nan
        else:
            value = loss.auc_borji(prediction, fixation_map, rng)
        scores[name] = float(value)
    return scores
