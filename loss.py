"""Every saliency metric, as the MIT saliency benchmark's MATLAB code defines it (cvzoya/saliency,
code_forMetrics/*.m), and the training loss built from them. evaluate.py and train.py only call these.

CC, SIM, KLD and NSS are batched torch functions (training losses and evaluation): each takes maps of shape
(B, H, W) (any (B, ...) works), computes in the inputs' dtype (float64 in, float64 out) and returns the (B,)
per-sample values. Where MATLAB would divide by zero (a flat or all-zero map, a frame without fixations) a tiny
epsilon keeps values and gradients finite instead of NaN: CC, SIM and NSS of a flat prediction are 0.

AUC-Judd, shuffled AUC and AUC-Borji are numpy functions of one frame. AUC-Judd sweeps thresholds at the jittered
prediction's values on fixated pixels against all pixels; shuffled AUC and AUC-Borji sweep MATLAB's 0:0.1:max
thresholds over 100 splits of sampled negatives: pixels fixated in another map (s-AUC) or uniformly random pixels.

The benchmark_* functions are the 2026 benchmarks' (CrowdSAL, NTIRE 2026) own definitions of CC, SIM, NSS and an
event-weighted AUC-Judd, numpy in float32 on min-max normalised 16-bit maps (docs/evaluation.md says how they differ).
"""
import math
from collections.abc import Mapping

import numpy as np
import torch

# MATLAB's eps: KLdiv.m uses it inside the logarithm and the quotient, the other metrics only to avoid 0 / 0.
EPS = 2.220446049250313e-16
NUM_SPLITS = 100  # AUC_shuffled.m and AUC_Borji.m defaults
STEP_SIZE = 0.1
JITTER = 1e-7  # AUC_Judd.m adds rand / 10000000 to break ties


def _centre(saliency: torch.Tensor) -> torch.Tensor:
    """Subtract each row's mean; shifting by the minimum first makes a constant row exactly zero, not rounding noise."""
    shifted = saliency - saliency.amin(dim=1, keepdim=True)
    return shifted - shifted.mean(dim=1, keepdim=True)


def _flatten_pair(prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check that both maps have one shape (B, ...) and flatten them to (B, pixels) in a common floating dtype."""
    if prediction.shape != target.shape or prediction.dim() < 2:
        raise ValueError(f"expected two maps of one shape (B, H, W), got {tuple(prediction.shape)} "
                         f"and {tuple(target.shape)}")
    dtype = torch.promote_types(torch.promote_types(prediction.dtype, target.dtype), torch.float32)
    return prediction.flatten(start_dim=1).to(dtype), target.flatten(start_dim=1).to(dtype)


def cc(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson correlation coefficient of each prediction with its target density map, as CC.m; shape (B,)."""
    prediction, target = _flatten_pair(prediction, target)
    prediction, target = _centre(prediction), _centre(target)
    covariance = (prediction * target).sum(dim=1)
    # EPS**2 under the root keeps a flat map's value (0) and gradient finite; it is ~1e-32 against the real product.
    return covariance / torch.sqrt(prediction.square().sum(dim=1) * target.square().sum(dim=1) + EPS**2)


def similarity(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Histogram intersection of the min-max normalised, sum-normalised maps, as similarity.m; shape (B,)."""
    prediction, target = _flatten_pair(prediction, target)

    def to_distribution(saliency: torch.Tensor) -> torch.Tensor:
        # similarity.m divides by (max - min), then by the sum; the first division cancels in the second, so one
        # division by the sum of (map - min) gives the same distribution and stays finite (all zeros) for a flat map.
        shifted = saliency - saliency.amin(dim=1, keepdim=True)
        return shifted / (shifted.sum(dim=1, keepdim=True) + EPS)

    return torch.minimum(to_distribution(prediction), to_distribution(target)).sum(dim=1)


def kldiv(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """KL divergence of the prediction from the target, both divided by their sums, with KLdiv.m's eps; shape (B,)."""
    prediction, target = _flatten_pair(prediction, target)
    prediction = prediction / (prediction.sum(dim=1, keepdim=True) + EPS)
    target = target / (target.sum(dim=1, keepdim=True) + EPS)
    return (target * torch.log(EPS + target / (prediction + EPS))).sum(dim=1)


def nss(prediction: torch.Tensor, fixations: torch.Tensor) -> torch.Tensor:
    """Mean of the prediction standardised with the sample std (N-1) over fixated pixels, as NSS.m; shape (B,).

    `fixations` is a binary fixation map (nonzero = fixated). A map without fixations gives 0 here (MATLAB: NaN);
    evaluate.py reports such frames as NaN itself.
    """
    prediction, fixations = _flatten_pair(prediction, fixations)
    fixated = (fixations > 0).to(prediction.dtype)
    centred = _centre(prediction)
    variance = centred.square().sum(dim=1, keepdim=True) / max(prediction.shape[1] - 1, 1)
    standardised = centred / torch.sqrt(variance + EPS**2)
    return (standardised * fixated).sum(dim=1) / fixated.sum(dim=1).clamp_min(1)


sim = similarity
kld = kldiv


# ----------------------------------------------------------------------------------------------
# AUC family (numpy, vectorised over thresholds and splits)

def _min_max(saliency_map: np.ndarray) -> np.ndarray:
    """Scale a map to [0, 1] as the AUC .m files do; a flat map becomes all zeros instead of NaN."""
    low, high = saliency_map.min(), saliency_map.max()
    return (saliency_map - low) / (high - low) if high > low else np.zeros_like(saliency_map, dtype=np.float64)


def _trapezoid(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """MATLAB's trapz(x, y) along the last axis."""
    return (np.diff(x, axis=-1) * (y[..., 1:] + y[..., :-1])).sum(axis=-1) / 2


def matlab_colon(stops: np.ndarray, step: float) -> np.ndarray:
    """Rows of MATLAB's 0:step:stop for each stop >= 0, with its rounding, padded on the right with +inf.

    MATLAB snaps the last element to the stop and builds the second half down from it, so e.g. 0:0.1:1 holds exactly
    0.6 (= 1 - 0.4) where 6 * 0.1 = 0.6000000000000001; thresholds equal to 8-bit map values depend on it.
    """
    stops = np.asarray(stops, dtype=np.float64)
    tolerance = 2 * np.finfo(np.float64).eps * stops
    count = np.floor(stops / step + 0.5)  # MATLAB's round() for non-negative values
    count = np.where(count * step - stops > tolerance, count - 1, count)
    last = count * step
    last = np.where(last - stops > -tolerance, stops, last)
    k = np.arange(int(count.max()) + 1, dtype=np.float64)
    count, last = count[:, None], last[:, None]
    values = np.where(k < count / 2, k * step, last - (count - k) * step)
    values = np.where(k == count / 2, last / 2, values)
    return np.where(k > count, np.inf, values)


def _sampled_auc(positives: np.ndarray, negatives: np.ndarray, step_size: float) -> float:
    """Mean over splits of the ROC area with thresholds 0:step:max, as AUC_shuffled.m and AUC_Borji.m compute it.

    `positives` (P,) are the map's values at fixations, `negatives` (splits, Q) the sampled values of each split.
    """
    thresholds = matlab_colon(np.maximum(positives.max(), negatives.max(axis=1)), step_size)  # (splits, K), ascending
    true_positive = (positives.size - np.searchsorted(np.sort(positives), thresholds, side="left")) / positives.size
    false_positive = (negatives[:, None, :] >= thresholds[:, :, None]).sum(axis=2) / negatives.shape[1]
    # MATLAB sweeps the thresholds from high to low between (0, 0) and (1, 1); the +inf padding adds (0, 0) repeats.
    zeros, ones = np.zeros((len(thresholds), 1)), np.ones((len(thresholds), 1))
    true_positive = np.hstack([zeros, true_positive[:, ::-1], ones])
    false_positive = np.hstack([zeros, false_positive[:, ::-1], ones])
    return float(_trapezoid(false_positive, true_positive).mean())


def auc_judd(saliency_map: np.ndarray, fixation_map: np.ndarray, rng: np.random.Generator) -> float:
    """AUC_Judd.m: thresholds at the jittered map's values on fixated pixels, false positives over all other pixels."""
    fixated = fixation_map > 0
    num_fixations, num_pixels = int(fixated.sum()), fixated.size
    if num_fixations == 0 or num_fixations == num_pixels:
        return math.nan
    saliency = _min_max(saliency_map + rng.random(saliency_map.shape) * JITTER)
    thresholds = np.sort(saliency[fixated])
    # Pixels at or above each threshold: count how many thresholds every pixel reaches, then sum from the top.
    reached = np.searchsorted(thresholds, saliency.ravel(), side="right")
    at_or_above = np.cumsum(np.bincount(reached, minlength=num_fixations + 1)[::-1])[::-1][1:]
    rank = np.arange(1, num_fixations + 1)  # MATLAB's i: thresholds taken from the highest down
    true_positive = np.concatenate([[0.0], rank / num_fixations, [1.0]])
    false_positive = np.concatenate([[0.0], (at_or_above[::-1] - rank) / (num_pixels - num_fixations), [1.0]])
    return float(_trapezoid(false_positive, true_positive))


def auc_shuffled(saliency_map: np.ndarray, fixation_map: np.ndarray, other_map: np.ndarray, rng: np.random.Generator,
                 num_splits: int = NUM_SPLITS, step_size: float = STEP_SIZE) -> float:
    """AUC_shuffled.m: negatives drawn without replacement from pixels fixated in `other_map`, as many as fixations."""
    fixated = fixation_map > 0
    saliency = _min_max(saliency_map)
    positives, candidates = saliency[fixated], saliency[other_map > 0]
    if positives.size == 0 or candidates.size == 0:
        return math.nan
    num_negatives = min(positives.size, candidates.size)
    picks = np.stack([rng.choice(candidates.size, size=num_negatives, replace=False) for _ in range(num_splits)])
    return _sampled_auc(positives, candidates[picks], step_size)


def auc_borji(saliency_map: np.ndarray, fixation_map: np.ndarray, rng: np.random.Generator,
              num_splits: int = NUM_SPLITS, step_size: float = STEP_SIZE) -> float:
    """AUC_Borji.m: negatives drawn uniformly (with replacement) from all pixels, as many as fixations."""
    fixated = fixation_map > 0
    saliency = _min_max(saliency_map)
    positives = saliency[fixated]
    if positives.size == 0:
        return math.nan
    picks = rng.integers(0, saliency.size, size=(num_splits, positives.size))
    return _sampled_auc(positives, saliency.ravel()[picks], step_size)


# ----------------------------------------------------------------------------------------------
# The 2026 benchmarks' metrics (CrowdSAL and NTIRE 2026, as their bench.py computes them), numpy, one frame

BENCHMARK_METRICS = ("cc", "sim", "nss", "auc_judd")  # the names of the benchmarks' overall.json
BENCHMARK_EPS = np.finfo(np.float32).eps  # a float32 scalar: every step stays in float32, as the benchmarks' does
UINT16_TOP = 65535.0


def benchmark_normalise(saliency: np.ndarray) -> np.ndarray:
    """A decoded map in float32 scaled by (x - min) / (max - min + eps); a flat map becomes all zeros."""
    values = saliency.astype(np.float32)
    low = values.min()
    return (values - low) / (values.max() - low + BENCHMARK_EPS)


def _benchmark_standardise(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit population std (ddof 0), eps added to the std."""
    return (values - values.mean()) / (values.std() + BENCHMARK_EPS)


def benchmark_cc(prediction: np.ndarray, target: np.ndarray) -> float:
    """Correlation of two normalised maps, eps under the root of the product of the sums of squares."""
    p, t = _benchmark_standardise(prediction), _benchmark_standardise(target)
    return float(np.sum(p * t) / np.sqrt(np.sum(np.square(p)) * np.sum(np.square(t)) + BENCHMARK_EPS))


def benchmark_sim(prediction: np.ndarray, target: np.ndarray) -> float:
    """Histogram intersection of two normalised maps, each divided by its sum + eps."""
    return float(np.sum(np.minimum(prediction / (prediction.sum() + BENCHMARK_EPS),
                                   target / (target.sum() + BENCHMARK_EPS))))


def benchmark_nss(prediction: np.ndarray, events: np.ndarray) -> float:
    """Mean of the standardised normalised map over the (N, 2) [y, x] events, a repeated point counted each time."""
    return float(_benchmark_standardise(prediction)[events[:, 0], events[:, 1]].mean())


def benchmark_auc_judd(prediction: np.ndarray, events: np.ndarray) -> float:
    """Event-weighted AUC-Judd of a normalised map: every event (repeats too) is a positive, every pixel no event
    falls on a negative, thresholds are the events' levels once the map is quantised to 16 bits."""
    levels = np.rint(np.clip(prediction, 0.0, 1.0) * UINT16_TOP).astype(np.uint16)
    fixated = np.zeros(levels.shape, dtype=bool)
    fixated[events[:, 0], events[:, 1]] = True
    negatives = levels[~fixated]
    if negatives.size == 0:
        return 1.0
    positives = np.sort(levels[events[:, 0], events[:, 1]])
    thresholds = np.unique(positives)[::-1]
    # Counting at or above each of at most 65536 levels from a histogram avoids sorting the whole map.
    negatives_above = np.cumsum(np.bincount(negatives, minlength=int(UINT16_TOP) + 1)[::-1])[::-1][thresholds]
    positives_above = positives.size - np.searchsorted(positives, thresholds, side="left")
    true_positive = np.concatenate([[0.0], positives_above / positives.size, [1.0]])
    false_positive = np.concatenate([[0.0], negatives_above / negatives.size, [1.0]])
    return float(_trapezoid(false_positive, true_positive))


def benchmark_frame_scores(prediction: np.ndarray, target: np.ndarray, events: np.ndarray) -> dict[str, float]:
    """BENCHMARK_METRICS of one decoded prediction against its ground-truth map (same shape) and [y, x] events."""
    prediction, target = benchmark_normalise(prediction), benchmark_normalise(target)
    return {"cc": benchmark_cc(prediction, target), "sim": benchmark_sim(prediction, target),
            "nss": benchmark_nss(prediction, events), "auc_judd": benchmark_auc_judd(prediction, events)}


# ----------------------------------------------------------------------------------------------
# The training loss

LOSS_TERMS = {"kldiv": kldiv, "cc": cc, "sim": similarity, "nss": nss}


def saliency_loss(prediction: torch.Tensor, density: torch.Tensor, fixations: torch.Tensor | None,
                  weights: Mapping[str, float]) -> torch.Tensor:
    """The original's loss: the sum over the chosen terms (LOSS_TERMS names) of weight x batch mean of the
    metric, NSS against the fixations and the others against the density map."""
    total = prediction.new_zeros((), dtype=torch.float32)
    for name, weight in weights.items():
        total = total + weight * LOSS_TERMS[name](prediction, fixations if name == "nss" else density).mean()
    return total
