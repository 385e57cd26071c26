"""vinet/reframing/camera.py: a scene's camera, still (snapped to the centre when near it) or moving along a smooth,
speed-limited path; one jump at a cut; a vertical camera in a vertical source."""
from pathlib import Path

import numpy as np
import pytest
from reframing_cases import (
    CENTRED_X,
    HEIGHT,
    TALL,
    WIDE,
    WIDTH,
    WINDOW,
    decoded,
    disc_maps,
    inside_share,
    make_clip,
    make_video,
    reframed_path,
    write_maps,
    xs,
)

from vinet.reframing.camera import limit_speed, smooth_path


def test_jittering_subject_and_a_flickering_region_get_a_still_camera(tmp_path: Path) -> None:
    """A disc jittering about column 40 by 2 pixels; in 3 frames of 50 a second region at 0.8 of its peak (the
    union of the half-peak spans would not fit in the window), in 1 frame one brighter than the disc (its target
    jumps there): one still position holding the disc."""
    rng = np.random.default_rng(4)
    centres = np.stack([TALL / 2 + rng.normal(0, 2, 50), 40 + rng.normal(0, 2, 50)], axis=1)[:, None]
    video = make_video(tmp_path, centres, TALL, WIDE, sound=False)
    densities, other = disc_maps(centres, TALL, WIDE), disc_maps(np.full((1, 1, 2), [48, 135]), TALL, WIDE)[0]
    densities[[10, 25, 40]] = np.maximum(densities[[10, 25, 40]], 0.8 * other)
    densities[30] = np.maximum(0.4 * densities[30], other)
    document = reframed_path(video, write_maps(tmp_path / "maps", densities), tmp_path)
    assert {f["mode"] for f in document["frames"]} == {"still"} and len(set(xs(document))) == 1
    assert xs(document)[0] + 10 <= 40 <= xs(document)[0] + WINDOW - 10 and xs(document)[0] != CENTRED_X


@pytest.mark.parametrize("column, snapped", [(WIDE / 2 + 10, True), (WIDE / 2 + 24, False)])
def test_a_still_camera_near_the_centre_snaps_to_it(tmp_path: Path, column: float, snapped: bool) -> None:
    """AutoFlip's snapping: a still subject 10 pixels (6%) off the centre gets the centred crop; 24 (15%) not."""
    centres = np.tile([TALL / 2, column], (30, 1))
    video, maps = make_clip(tmp_path, centres, TALL, WIDE, sound=False)
    document = reframed_path(video, maps, tmp_path)
    assert {f["mode"] for f in document["frames"]} == {"still"} and len(set(xs(document))) == 1
    assert (xs(document)[0] == CENTRED_X) == snapped and xs(document)[0] < column < xs(document)[0] + WINDOW


@pytest.mark.parametrize("sampled", [False, True])
def test_cut_gives_one_jump_between_smooth_scenes(tmp_path: Path, sampled: bool) -> None:
    """Every frame's maps, or only those of the analysed frames: the targets are never interpolated across
    the cut."""
    left = np.tile([HEIGHT / 2, 20.0], (25, 1))  # scene 0: still on the left
    right = np.stack([np.full(25, HEIGHT / 2), np.linspace(118, 84, 25)], axis=1)  # scene 1: drifting, right
    centres = np.concatenate([left, right])
    gaze = centres + np.random.default_rng(2).normal(0, 3, centres.shape)  # noisy maps: jumpy targets
    video, maps = make_clip(tmp_path, centres, backgrounds=[(0, (20, 30, 90)), (25, (240, 200, 60))], gaze=gaze)
    if sampled:
        picked = [2, 7, 12, 17, 22, 27, 32, 37, 42, 47]
        maps = write_maps(tmp_path / "sampled", disc_maps(gaze[:, None], HEIGHT, WIDTH), picked)
    document = reframed_path(video, maps, tmp_path)
    assert [(s["first"], s["last"]) for s in document["scenes"]] == [(0, 24), (25, 49)]
    assert len(document["analysed"]) == (10 if sampled else 50)
    steps = np.abs(np.diff(xs(document)))
    assert np.flatnonzero(steps > 8).tolist() == [24] and steps[24] >= 40  # the jump, at the cut
    assert steps.max(initial=0, where=np.arange(49) != 24) <= 4            # smooth elsewhere
    assert [document["frames"][i]["mode"] for i in (0, 49)] == ["still", "moving"]
    assert inside_share(centres, document, axis=0) >= 0.95


def test_vertical_source_to_landscape_moves_vertically(tmp_path: Path) -> None:
    centres = np.stack([np.linspace(8, WIDTH - 8, 40), np.full(40, HEIGHT / 2)], axis=1)  # top to bottom
    video, maps = make_clip(tmp_path, centres, height=WIDTH, width=HEIGHT, sound=False)
    document = reframed_path(video, maps, tmp_path, aspect="16:9")
    assert document["output"] == {"width": HEIGHT, "height": 40}
    assert {f["x"] for f in document["frames"]} == {0} and len({f["y"] for f in document["frames"]}) > 10
    assert inside_share(centres, document, axis=1) >= 0.95
    assert decoded(tmp_path / f"{maps.name}.mp4")[:1] == (40,)


def test_smooth_path_keeps_steady_pans_and_bounded_speed() -> None:
    ramp = np.linspace(0, 90, 40)
    assert np.abs(smooth_path(ramp, 4.0) - ramp).max() < 1  # the acceleration penalty ignores a pan
    smoothed = smooth_path(ramp + np.random.default_rng(0).normal(0, 3, 40), 4.0)
    assert np.abs(np.diff(smoothed, 2)).max() < 0.5
    limited = limit_speed(np.r_[np.zeros(10), np.full(10, 50.0)], 5.0)
    assert np.abs(np.diff(limited)).max() <= 5.0 + 1e-9 and limited.min() >= 0 and limited.max() <= 50
