"""loss.py's metrics (all that evaluate.py reports) against hand-worked cases and loop transliterations of MATLAB's.

pysaliency is not used: version 0.2.22 installs but fails to import with setuptools >= 81 (it needs pkg_resources).
The references below are written from the .m files of cvzoya/saliency (code_forMetrics), not from the code under test.
"""
import math

import numpy as np
import pytest
import torch

import loss

MATLAB_EPS = 2.220446049250313e-16  # eps in MATLAB


# -----------------------------------------------------------------------------
# Independent references: plain loops over the MATLAB statements

def reference_cc(prediction: np.ndarray, target: np.ndarray) -> float:
    """CC.m: standardise both maps (std with N-1), then corr2."""
    a = (prediction - prediction.mean()) / prediction.std(ddof=1)
    b = (target - target.mean()) / target.std(ddof=1)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def reference_similarity(prediction: np.ndarray, target: np.ndarray) -> float:
    """similarity.m: min-max normalise, divide by the sum, sum the element-wise minima."""
    maps = []
    for saliency in (prediction, target):
        saliency = (saliency - saliency.min()) / (saliency.max() - saliency.min())
        maps.append(saliency / saliency.sum())
    return float(np.minimum(*maps).sum())


def reference_kldiv(prediction: np.ndarray, target: np.ndarray) -> float:
    """KLdiv.m: divide by the sums, sum target * log(eps + target / (prediction + eps))."""
    p, q = prediction / prediction.sum(), target / target.sum()
    return float(sum(qi * math.log(MATLAB_EPS + qi / (pi + MATLAB_EPS)) for pi, qi in zip(p.ravel(), q.ravel())))


def reference_nss(prediction: np.ndarray, fixations: np.ndarray) -> float:
    """NSS.m: standardise with std (N-1), mean over fixated pixels."""
    standardised = (prediction - prediction.mean()) / prediction.std(ddof=1)
    return float(standardised[fixations > 0].mean())


def reference_colon(stop: float, step: float) -> list[float]:
    """MATLAB's 0:step:stop, following the published colonop.m algorithm statement by statement."""
    ratio = stop / step
    n = math.floor(ratio + 0.5)  # round half away from zero, stop >= 0
    tol = 2.0 * MATLAB_EPS * abs(stop)
    if n * step - stop > tol:
        n -= 1
    last = n * step
    if last - stop > -tol:
        last = stop
    out = [0.0] * (n + 1)
    for k in range(n // 2 + 1):
        out[k] = k * step
        out[n - k] = last - k * step
    if n % 2 == 0:
        out[n // 2] = last / 2
    return out


def reference_roc_area(true_positive: list[float], false_positive: list[float]) -> float:
    """trapz(fp, tp)."""
    return sum((false_positive[i + 1] - false_positive[i]) * (true_positive[i + 1] + true_positive[i]) / 2
               for i in range(len(true_positive) - 1))


def reference_auc_judd(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """AUC_Judd.m without jitter: a loop over the fixations' values as thresholds."""
    s = ((saliency - saliency.min()) / (saliency.max() - saliency.min())).ravel()
    f = fixations.ravel() > 0
    thresholds = sorted(s[f], reverse=True)
    n_fix, n_pix = len(thresholds), len(s)
    tp, fp = [0.0], [0.0]
    for i, threshold in enumerate(thresholds, start=1):
        above = int((s >= threshold).sum())
        tp.append(i / n_fix)
        fp.append((above - i) / (n_pix - n_fix))
    return reference_roc_area(tp + [1.0], fp + [1.0])


def reference_sampled_auc(positives: list[float], negative_splits: list[list[float]], step: float = 0.1) -> float:
    """The split loop of AUC_shuffled.m / AUC_Borji.m for given negatives."""
    areas = []
    for negatives in negative_splits:
        tp, fp = [0.0], [0.0]
        for threshold in reversed(reference_colon(max(positives + negatives), step)):
            tp.append(sum(value >= threshold for value in positives) / len(positives))
            fp.append(sum(value >= threshold for value in negatives) / len(negatives))
        areas.append(reference_roc_area(tp + [1.0], fp + [1.0]))
    return sum(areas) / len(areas)


def batch(*maps: np.ndarray) -> torch.Tensor:
    """Stack 2-D numpy maps into a float64 (B, H, W) tensor."""
    return torch.from_numpy(np.stack(maps).astype(np.float64))


# -----------------------------------------------------------------------------
# CC, SIM, KLD, NSS: hand-worked 2x2 cases

def test_cc_hand_computed():
    # p = [1 2; 3 4] centred: [-1.5 -0.5; 0.5 1.5], sum p^2 = 5. g = [0 0; 1 1] centred: [-.5 -.5; .5 .5], sum g^2 = 1.
    # sum p*g = 0.75 + 0.25 + 0.25 + 0.75 = 2, so CC = 2 / sqrt(5 * 1) = 0.894427191.
    # Second sample: g = [1 0; 0 1] centred [.5 -.5; -.5 .5], sum p*g = -0.75 + 0.25 - 0.25 + 0.75 = 0, CC = 0.
    prediction = np.array([[1.0, 2.0], [3.0, 4.0]])
    values = loss.cc(batch(prediction, prediction), batch(np.array([[0.0, 0.0], [1.0, 1.0]]), np.eye(2)))
    assert values.dtype == torch.float64 and values.shape == (2,)
    assert values[0].item() == pytest.approx(2 / math.sqrt(5), abs=1e-12)
    assert values[1].item() == pytest.approx(0.0, abs=1e-12)


def test_similarity_hand_computed():
    # p = [1 2; 3 4] -> min-max [0 1/3; 2/3 1], sum 2 -> [0 1/6; 1/3 1/2].
    # g = [4 3; 2 3] -> min-max [1 .5; 0 .5], sum 2 -> [1/2 1/4; 0 1/4].
    # minima [0 1/6; 0 1/4], SIM = 1/6 + 1/4 = 5/12.
    value = loss.similarity(batch(np.array([[1.0, 2.0], [3.0, 4.0]])), batch(np.array([[4.0, 3.0], [2.0, 3.0]])))
    assert value.item() == pytest.approx(5 / 12, abs=1e-12)
    assert loss.sim is loss.similarity


def test_kldiv_hand_computed():
    # p = [1 2; 3 4] / 10 = [.1 .2; .3 .4], g = [4 3; 2 1] / 10 = [.4 .3; .2 .1].
    # KLD = .4 ln 4 + .3 ln 1.5 + .2 ln(2/3) + .1 ln(1/4) = .3 ln 4 + .1 ln 1.5 = 0.456434819 (eps adds ~1e-15).
    # Second: p uniform 1/4, g = [.5 0; 0 .5]: 2 * .5 ln(.5 / .25) = ln 2; the zero cells add 0 * log(eps) = 0.
    values = loss.kldiv(batch(np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((2, 2))),
                        batch(np.array([[4.0, 3.0], [2.0, 1.0]]), np.eye(2)))
    assert values[0].item() == pytest.approx(0.3 * math.log(4) + 0.1 * math.log(1.5), abs=1e-12)
    assert values[1].item() == pytest.approx(math.log(2), abs=1e-12)
    assert loss.kld is loss.kldiv


def test_nss_hand_computed_uses_sample_std():
    # p = [1 2; 3 4]: mean 2.5, sample variance (2.25 + .25 + .25 + 2.25) / 3 = 5/3, std = 1.2909944.
    # Fixation on the 4: (4 - 2.5) / sqrt(5/3) = 1.161895. Fixations on 3 and 4: mean(.5, 1.5) / sqrt(5/3) = 0.774597.
    # (With the population std sqrt(5/4), as pysaliency, the first would be 1.341641: the test tells them apart.)
    prediction = np.array([[1.0, 2.0], [3.0, 4.0]])
    values = loss.nss(batch(prediction, prediction), batch(np.array([[0, 0], [0, 1]]), np.array([[0, 0], [1, 1]])))
    assert values[0].item() == pytest.approx(1.5 / math.sqrt(5 / 3), abs=1e-12)
    assert values[1].item() == pytest.approx(1.0 / math.sqrt(5 / 3), abs=1e-12)


def test_distribution_metrics_match_matlab_references_on_random_maps():
    rng = np.random.default_rng(0)
    predictions = [rng.random((9, 13)) ** 3 for _ in range(3)]
    targets = [rng.random((9, 13)) ** 2 for _ in range(3)]
    fixations = [rng.random((9, 13)) > 0.8 for _ in range(3)]
    p, g, f = batch(*predictions), batch(*targets), batch(*fixations)
    expected = {
        "cc": [reference_cc(a, b) for a, b in zip(predictions, targets)],
        "sim": [reference_similarity(a, b) for a, b in zip(predictions, targets)],
        "kld": [reference_kldiv(a, b) for a, b in zip(predictions, targets)],
        "nss": [reference_nss(a, b) for a, b in zip(predictions, fixations)],
    }
    got = {"cc": loss.cc(p, g), "sim": loss.sim(p, g), "kld": loss.kld(p, g), "nss": loss.nss(p, f)}
    for name in expected:
        np.testing.assert_allclose(got[name].numpy(), expected[name], rtol=1e-10, atol=1e-12, err_msg=name)
        # float32 in, float32 out, close to the float64 values
        got32 = {"cc": loss.cc, "sim": loss.sim, "kld": loss.kld}.get(name, loss.nss)(
            p.float(), (f if name == "nss" else g).float())
        assert got32.dtype == torch.float32
        np.testing.assert_allclose(got32.numpy(), expected[name], rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_losses_stay_finite_on_flat_and_zero_maps(dtype):
    rng = torch.Generator().manual_seed(0)
    target = torch.rand(2, 36, 64, generator=rng, dtype=dtype)
    fixations = (torch.rand(2, 36, 64, generator=rng) > 0.99).to(dtype)
    cases = {"zero": torch.zeros(2, 36, 64, dtype=dtype), "flat": torch.full((2, 36, 64), 0.3, dtype=dtype)}
    for name, prediction in cases.items():
        for function, reference in ((loss.cc, target), (loss.sim, target), (loss.kld, target), (loss.nss, fixations),
                                    (loss.cc, torch.zeros_like(target)), (loss.nss, torch.zeros_like(target))):
            leaf = prediction.clone().requires_grad_(True)
            value = function(leaf, reference)
            value.sum().backward()
            assert torch.isfinite(value).all(), (name, function.__name__)
            assert torch.isfinite(leaf.grad).all(), (name, function.__name__)
            if function is not loss.kld:
                # CC, SIM, NSS of a flat map are exactly 0, not +-1 from standardising the rounding noise of its mean
                assert value.abs().max().item() == 0.0, (name, function.__name__)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        loss.cc(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5))


# -----------------------------------------------------------------------------
# MATLAB's colon operator and the AUC family

def test_matlab_colon_matches_colonop_and_keeps_exact_tenths():
    stops = [0.0, 0.05, 0.25, 0.3, 0.55, 0.6, 0.95, 1.0, 0.7000000000000001, 0.1 * 3]
    rows = loss.matlab_colon(np.array(stops), 0.1)
    for stop, row in zip(stops, rows):
        assert row[np.isfinite(row)].tolist() == reference_colon(stop, 0.1), stop
    full = rows[stops.index(1.0)]
    assert full[6] == 0.6 and full[7] == 0.7  # built down from 1.0; 6 * 0.1 would be 0.6000000000000001
    assert full[3] == 3 * 0.1  # the first half is k * step, as in MATLAB
    assert rows[stops.index(0.6)][-1] == np.inf and rows[stops.index(0.6)][6] == 0.6  # snapped to the stop


def test_auc_judd_hand_computed():
    # Map [.1 .4; .3 .9] (no ties, so the 1e-7 jitter cannot reorder), fixations on .9 and .3; 4 pixels, 2 fixations.
    # Threshold .9: 1 pixel >= .9, tp = 1/2, fp = (1 - 1) / 2 = 0. Threshold .3: 3 pixels >= .3, tp = 1, fp = (3-2)/2.
    # ROC (0,0) (0,.5) (.5,1) (1,1): area 0 + .5 * 1.5 / 2 + .5 * 2 / 2 = .875 (the exact pairwise AUC would be .75).
    saliency = np.array([[0.1, 0.4], [0.3, 0.9]])
    fixations = np.array([[0, 0], [1, 1]])
    assert loss.auc_judd(saliency, fixations, np.random.default_rng(0)) == pytest.approx(0.875, abs=1e-12)
    assert math.isnan(loss.auc_judd(saliency, np.zeros((2, 2)), np.random.default_rng(0)))


def test_auc_judd_matches_loop_reference():
    rng = np.random.default_rng(1)
    for trial in range(10):
        saliency = rng.random((12, 15))  # gaps between values far above the jitter
        fixations = rng.random((12, 15)) > 0.8
        expected = reference_auc_judd(saliency, fixations)
        value = loss.auc_judd(saliency, fixations, np.random.default_rng(trial))
        assert value == pytest.approx(expected, abs=1e-12)


def test_auc_shuffled_hand_computed():
    # Map [0 .25; .5 1] is already min-max normalised. Fixations on 1 and .25; other map on 0 and .5: two candidates
    # for two fixations, so every split takes both. Thresholds 1, .9, ..., 0 (stop = max = 1):
    # t in (.5, 1]: tp 1/2, fp 0; t in (.25, .5]: tp 1/2, fp 1/2; t in (0, .25]: tp 1, fp 1/2; t = 0: tp 1, fp 1.
    # ROC (0,0) (0,.5) (.5,.5) (.5,1) (1,1): area .5 * .5 + .5 * 1 = .75.
    saliency = np.array([[0.0, 0.25], [0.5, 1.0]])
    value = loss.auc_shuffled(saliency, np.array([[0, 1], [0, 1]]), np.array([[1, 0], [1, 0]]),
                                  np.random.default_rng(0))
    assert value == pytest.approx(0.75, abs=1e-12)


def test_auc_shuffled_uses_matlab_thresholds_on_exact_tenths():
    # Map [0 .6; .55 1]: fixations on .6 and 1, other map on .55 and 0 (both taken every split). MATLAB's 0:0.1:1
    # holds exactly 0.6, so at t = .6: tp = 1 (.6 and 1), fp = 0; at t = .5: fp = 1/2 (.55); at t = 0: fp = 1.
    # ROC (0,0) (0,.5) (0,1) (.5,1) (1,1): area 1. With numpy's 6 * 0.1 = 0.6000000000000001 the .6 pixel would
    # miss that threshold: ROC (0,.5) -> (.5,1) -> (1,1), area .875.
    saliency = np.array([[0.0, 0.6], [0.55, 1.0]])
    value = loss.auc_shuffled(saliency, np.array([[0, 1], [0, 1]]), np.array([[1, 0], [1, 0]]),
                                  np.random.default_rng(0))
    assert value == pytest.approx(1.0, abs=1e-12)


def test_auc_shuffled_matches_loop_reference_when_all_candidates_are_taken():
    rng = np.random.default_rng(2)
    checked = 0
    for _ in range(40):
        saliency = np.round(rng.random((10, 12)) * 255) / 255  # 8-bit values: many exact ties with thresholds
        fixations = rng.random((10, 12)) > 0.7
        other = rng.random((10, 12)) > 0.85
        normalised = (saliency - saliency.min()) / (saliency.max() - saliency.min())
        positives, candidates = normalised[fixations].tolist(), normalised[other].tolist()
        if not candidates or len(candidates) > len(positives):
            continue
        expected = reference_sampled_auc(positives, [candidates])
        value = loss.auc_shuffled(saliency, fixations, other, np.random.default_rng(0))
        assert value == pytest.approx(expected, abs=1e-12)
        checked += 1
    assert checked >= 10


def test_auc_shuffled_samples_without_replacement():
    # 20 fixated pixels at 1; 40 candidates, 20 at 1 and 20 at 0; each split draws 20 of the 40. With h ones drawn,
    # the split's ROC is (0,0) (h/20, 1) (1,1): area 1 - h/40. Without replacement h is hypergeometric with mean 10,
    # so the expected area is .75 and its mean over 100 splits has sd ~.004; every split area is a multiple of 1/40.
    saliency = np.zeros((10, 10))
    saliency[:2] = 1.0
    fixations = saliency > 0
    other = np.zeros((10, 10), dtype=bool)
    other[:4] = True  # rows 0-1: the 20 ones, rows 2-3: 20 zeros
    value = loss.auc_shuffled(saliency, fixations, other, np.random.default_rng(5))
    assert value == pytest.approx(0.75, abs=0.02)
    assert value * 4000 == pytest.approx(round(value * 4000), abs=1e-6)
    assert value == loss.auc_shuffled(saliency, fixations, other, np.random.default_rng(5))
    assert value != loss.auc_shuffled(saliency, fixations, other, np.random.default_rng(6))


def test_auc_borji_expected_value():
    # Half of 400 pixels fixated at value 1, the rest 0. Negatives: 200 uniform pixels per split, h of them ones,
    # h ~ Binomial(200, 1/2); split area 1 - h/400 as above, expected .75, sd of the 100-split mean ~.0018.
    saliency = np.zeros((20, 20))
    saliency[:10] = 1.0
    value = loss.auc_borji(saliency, saliency > 0, np.random.default_rng(0))
    assert value == pytest.approx(0.75, abs=0.01)
    assert value != pytest.approx(0.75, abs=1e-9)  # sampled, not exact


def test_flat_prediction_scores_chance_in_sampled_aucs():
    # A flat map normalises to zeros: one threshold (0), tp = fp = 1, ROC (0,0) (1,1) (1,1): area .5.
    flat = np.full((6, 6), 0.4)
    fixations = np.eye(6)
    other = np.fliplr(np.eye(6))
    assert loss.auc_borji(flat, fixations, np.random.default_rng(0)) == 0.5
    assert loss.auc_shuffled(flat, fixations, other, np.random.default_rng(0)) == 0.5
    assert math.isnan(loss.auc_shuffled(flat, fixations, np.zeros((6, 6)), np.random.default_rng(0)))
