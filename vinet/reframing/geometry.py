"""The crop window: a region of the output's shape inside a scene's picture, sliding along one axis; the output's
size from the flags."""
import re
from dataclasses import dataclass
from fractions import Fraction

from utils import InputError
from vinet.reframing.options import SIZE_TOLERANCE

Box = tuple[int, int, int, int]   # x, y, width, height in source pixels


@dataclass(frozen=True)
class Crop:
    """A crop window inside a picture (the frame without its bars): its size and the axis it moves along
    (0: x, 1: y)."""

    picture: Box
    size: tuple[int, int]     # (width, height), both even
    axis: int

    @property
    def extent(self) -> int:
        """Picture pixels along the free axis."""
        return self.picture[2 + self.axis]

    @property
    def window(self) -> int:
        """Crop pixels along the free axis."""
        return self.size[self.axis]

    @property
    def last_position(self) -> int:
        """The largest even position that keeps the window inside the picture."""
        room = self.extent - self.window
        return room - room % 2

    def corner(self, position: int) -> tuple[int, int]:
        """(x, y) of the top-left corner in the source for a position along the free axis."""
        x, y = self.picture[:2]
        return (x + position, y) if self.axis == 0 else (x, y + position)

    def box(self, position: int) -> Box:
        """The window at a position, as (x, y, width, height) in the source."""
        return (*self.corner(position), *self.size)


def parse_aspect(text: str) -> Fraction:
    """'W:H' (positive numbers, e.g. 9:16 or 2.39:1) as the ratio width / height."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*", text)
    if not match or float(match[1]) == 0 or float(match[2]) == 0:
        raise InputError(f"--aspect must be W:H with positive numbers (9:16, 4:5, 1:1, 16:9), got {text!r}")
    return Fraction(match[1]) / Fraction(match[2])


def _even(pixels: int) -> int:
    """The even number at or just below `pixels` (at least 2)."""
    return max(2, pixels - pixels % 2)


def crop_geometry(picture: Box, aspect: Fraction) -> Crop:
    """The largest window of `aspect` inside the picture, with even sides (the whole picture when it has that
    shape: the camera then has no room to move)."""
    width, height = picture[2:]
    if aspect < Fraction(width, height):
        return Crop(picture, (_even(min(width, round(height * aspect))), _even(height)), axis=0)
    return Crop(picture, (_even(width), _even(min(height, round(width / aspect)))), axis=1)


def output_size(source: tuple[int, int], aspect: str | None, width: int | None, height: int | None) -> tuple[int, int]:
    """The output's (width, height): --width and --height, or one of them and --aspect, or the largest crop of
    --aspect in the source; InputError for odd sides or flags that disagree."""
    for name, value in (("width", width), ("height", height)):
        if value is not None and (value < 2 or value % 2):
            raise InputError(f"--{name} {value}: give an even number of pixels, 2 or more (H.264 in 4:2:0 needs it)")
    ratio = parse_aspect(aspect) if aspect else None
    if width and height:
        if ratio and abs(Fraction(width, height) / ratio - 1) > SIZE_TOLERANCE:
            raise InputError(f"--width {width} --height {height} is not --aspect {aspect}: drop --aspect or one side")
        return width, height
    if ratio is None:
        raise InputError("give --aspect W:H (9:16, 4:5, 1:1, 16:9), or --width and --height")
    if width:
        return width, _even(round(width / ratio))
    if height:
        return _even(round(height * ratio)), height
    return crop_geometry((0, 0, *source), ratio).size
