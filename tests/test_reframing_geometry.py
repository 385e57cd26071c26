"""vinet/reframing/geometry.py: the crop window (the largest of the output's shape, even sides, sliding along one
axis) and the output size from --aspect, --width and --height."""
from fractions import Fraction
from pathlib import Path

import pytest
from reframing_cases import HEIGHT, WIDTH, crossing_centres, decoded, make_clip, reframed_path

from utils import InputError
from vinet.reframing.geometry import Crop, crop_geometry, output_size, parse_aspect


@pytest.fixture(scope="module")
def crossing_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A disc crossing the frame and its maps."""
    return make_clip(tmp_path_factory.mktemp("crossing"), crossing_centres())


def test_the_sources_own_shape_is_a_copy(crossing_clip: tuple[Path, Path], tmp_path: Path) -> None:
    video, maps = crossing_clip
    document = reframed_path(video, maps, tmp_path, aspect="16:9")
    assert {(f["x"], f["y"], f["width"], f["height"], f["mode"]) for f in document["frames"]} == \
        {(0, 0, WIDTH, HEIGHT, "still")}
    assert decoded(tmp_path / f"{maps.name}.mp4")[:3:2] == (50, (WIDTH, HEIGHT))


def test_the_crop_is_the_largest_window_of_the_aspect_with_even_sides() -> None:
    assert crop_geometry((0, 0, 128, 72), Fraction(9, 16)) == Crop((0, 0, 128, 72), (40, 72), axis=0)
    assert crop_geometry((20, 0, 120, 96), Fraction(9, 16)) == Crop((20, 0, 120, 96), (54, 96), axis=0)
    assert crop_geometry((0, 0, 72, 128), Fraction(16, 9)) == Crop((0, 0, 72, 128), (72, 40), axis=1)
    assert crop_geometry((0, 0, 128, 72), Fraction(16, 9)).size == (128, 72)   # its own shape: the whole picture


def test_a_crop_slides_along_its_free_axis_inside_the_picture() -> None:
    crop = Crop((20, 0, 120, 96), (54, 96), axis=0)
    assert (crop.extent, crop.window, crop.last_position) == (120, 54, 66)
    assert crop.corner(10) == (30, 0) and crop.box(10) == (30, 0, 54, 96)
    vertical = Crop((0, 12, 160, 72), (160, 90), axis=1)
    assert vertical.box(4) == (0, 16, 160, 90)
    assert Crop((0, 0, 101, 50), (40, 50), axis=0).last_position == 60   # even: 4:2:0 chroma crops exactly


def test_output_size_from_the_flags() -> None:
    assert output_size((128, 72), "9:16", None, None) == (40, 72)
    assert output_size((128, 72), None, 36, 64) == (36, 64)
    assert output_size((128, 72), "9:16", None, 50) == (28, 50)   # 50 * 9 / 16 = 28.1, even
    assert output_size((128, 72), "9:16", 36, None) == (36, 64)
    assert parse_aspect(" 9 : 16 ") == Fraction(9, 16) and parse_aspect("2.39:1") == Fraction("2.39")


@pytest.mark.parametrize("aspect, width, height, message", [
    ("9:16", 35, None, "--width 35: give an even number of pixels"),
    ("9:16", 320, 180, "--width 320 --height 180 is not --aspect 9:16"),
    (None, 36, None, "give --aspect W:H"),
    ("0:1", None, None, "--aspect must be W:H with positive numbers"),
])
def test_output_size_refuses_odd_sides_and_flags_that_disagree(aspect: str | None, width: int | None,
                                                               height: int | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        output_size((128, 72), aspect, width, height)
