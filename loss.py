"""Saliency metrics CC, SIM, KLD and NSS as batched torch functions, used both as training losses and by evaluate.py.

Each takes maps of shape (B, H, W) (any (B, ...) works), computes in the inputs' dtype (float64 in, float64 out) and
returns the (B,) per-sample values. On ordinary maps the values equal the MIT saliency benchmark's MATLAB code
(cvzoya/saliency, code_forMetrics/CC.m, similarity.m, KLdiv.m, NSS.m). Where MATLAB would divide by zero (a flat or
all-zero map, a frame without fixations) a tiny epsilon keeps values and gradients finite instead of NaN:
CC, SIM and NSS of a flat prediction are 0.
"""
import torch

# MATLAB's eps: KLdiv.m uses it inside the logarithm and the quotient, the other metrics only to avoid 0 / 0.
EPS = 2.220446049250313e-16


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
