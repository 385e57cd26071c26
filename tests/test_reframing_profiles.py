"""vinet/reframing/profiles.py: the saliency along the free axis, resampled to source pixels, and each frame's
target, the window position holding the most of it."""
import numpy as np

from vinet.reframing.profiles import best_positions, resample_profiles


def test_best_position_centres_a_small_subject() -> None:
    profiles = np.zeros((2, 100))
    profiles[0, 60:64] = 1    # a subject narrower than the 20-pixel window: a plateau of best positions
    profiles[1, 10:12] = 1
    assert best_positions(profiles, 20).tolist() == [52.0, 1.0]  # centred, then clamped at the edge
    assert np.isnan(best_positions(np.zeros((1, 100)), 20)[0])


def test_resampled_profiles_keep_their_mass() -> None:
    profiles = np.random.default_rng(1).random((3, 37))
    resampled = resample_profiles(profiles, 128)
    assert resampled.shape == (3, 128) and np.allclose(resampled.sum(axis=1), profiles.sum(axis=1))
