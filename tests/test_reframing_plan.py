"""vinet/reframing/plan.py: how each scene is shown: a scene without saliency keeps the previous position; --fit pad
and auto show whole, over a blurred copy, what a crop cannot hold."""
from pathlib import Path

import numpy as np
import pytest
from reframing_cases import (
    CENTRED_X,
    TALL,
    WHITE,
    WIDE,
    WINDOW,
    disc_maps,
    first_frame,
    make_video,
    reframed_path,
    write_maps,
    xs,
)


def test_an_empty_scene_keeps_the_previous_position(tmp_path: Path) -> None:
    """Three scenes of 20 frames: no saliency (the centre: no scene before), a disc at column 30, no saliency
    again (the second scene's position)."""
    centres = np.tile([TALL / 2, 30.0], (60, 1))
    video = make_video(tmp_path, centres[:, None], TALL, WIDE, sound=False,
                       backgrounds=[(0, (20, 30, 90)), (20, (240, 200, 60)), (40, (60, 160, 60))])
    densities = disc_maps(centres[:, None], TALL, WIDE)
    densities[:20], densities[40:] = 0, 0
    document = reframed_path(video, write_maps(tmp_path / "maps", densities), tmp_path)
    assert [(s["first"], s["last"], s["mode"]) for s in document["scenes"]] == \
        [(0, 19, "still"), (20, 39, "still"), (40, 59, "still")]
    x = xs(document)
    assert set(x[:20]) == {CENTRED_X} and set(x[40:]) == {x[39]} and x[39] < 30 < x[39] + WINDOW


@pytest.fixture(scope="module")
def two_at_the_edges(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two white discs at both edges of a 16:9 frame, both salient: no 9:16 crop holds both."""
    folder = tmp_path_factory.mktemp("edges")
    centres = np.tile([[TALL / 2, 16.0], [TALL / 2, WIDE - 16.0]], (30, 1, 1))
    video = make_video(folder, centres, TALL, WIDE, sound=False, colours=WHITE)
    return video, write_maps(folder / "maps", disc_maps(centres, TALL, WIDE)), folder


def test_two_subjects_at_both_edges_are_padded_under_auto(two_at_the_edges: tuple[Path, Path, Path],
                                                           tmp_path: Path) -> None:
    video, maps, _ = two_at_the_edges
    document = reframed_path(video, maps, tmp_path, fit="auto")
    regions = {(f["x"], f["y"], f["width"], f["height"], f["fit"], f["mode"]) for f in document["frames"]}
    [(x, y, width, height, fit, mode)] = regions
    assert (fit, mode, y, height) == ("pad", "still", 0, TALL) and x <= 16 - 9 and x + width >= WIDE - 16 + 9
    assert document["scenes"][0]["kept"] > 0.9 and document["output"] == {"width": WINDOW, "height": TALL}
    picture = first_frame(tmp_path / "maps.mp4").astype(int)
    strip = round(TALL / 2 - TALL * WINDOW / width / 2), round(TALL / 2 + TALL * WINDOW / width / 2)
    bright = picture[strip[0]:strip[1]].min(axis=2) > 170               # the two white discs, both in the picture
    assert bright[:, :WINDOW // 3].any() and bright[:, -WINDOW // 3:].any()
    assert picture[:strip[0] - 2].mean() < 0.7 * picture[strip[0]:strip[1]].mean()   # over a darkened copy


def test_a_crop_keeps_one_of_them_and_auto_crops_a_single_subject(two_at_the_edges: tuple[Path, Path, Path],
                                                                 tmp_path: Path) -> None:
    video, maps, folder = two_at_the_edges
    cropped = reframed_path(video, maps, tmp_path, fit="crop")
    assert {f["fit"] for f in cropped["frames"]} == {"crop"} and cropped["scenes"][0]["kept"] < 0.6
    single = write_maps(tmp_path / "single", disc_maps(np.tile([[TALL / 2, 16.0]], (30, 1, 1)), TALL, WIDE))
    alone = reframed_path(video, single, tmp_path, fit="auto")
    assert {(f["fit"], f["x"]) for f in alone["frames"]} == {("crop", 0)}
    assert reframed_path(video, single, tmp_path, fit="pad")["frames"][0]["fit"] == "crop"   # it fits: no padding
