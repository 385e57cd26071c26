"""Reading the maps evaluation compares: saliency images as float maps in [0, 1], fixation files as pixel lists."""
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from layouts import read_fixations
from utils import InputError


@dataclass(frozen=True)
class Fixations:
    """Fixated pixels of one frame: row and column indices in a map of `shape`."""
    rows: np.ndarray
    cols: np.ndarray
    shape: tuple[int, int]

    def scaled(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices in a map of `shape` (pixel centres mapped to the nearest pixel)."""
        if shape == self.shape:
            return self.rows, self.cols
        return ((2 * self.rows + 1) * shape[0] // (2 * self.shape[0]),
                (2 * self.cols + 1) * shape[1] // (2 * self.shape[1]))


def fixation_union(fixations: Iterable[Fixations], shape: tuple[int, int]) -> np.ndarray:
    """Binary map of `shape` fixated in any of `fixations`."""
    union = np.zeros(shape, dtype=bool)
    for frame_fixations in fixations:
        union[frame_fixations.scaled(shape)] = True
    return union


def read_map(path: Path) -> np.ndarray | None:
    """An image (8/16-bit, grey or colour) as a float64 grey map in [0, 1]; None if missing, empty or unreadable."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        return None
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    scale = np.iinfo(image.dtype).max if np.issubdtype(image.dtype, np.integer) else 1.0
    return image.astype(np.float64) / scale


def fixations_of(path: Path) -> Fixations:
    """Fixated pixels of a fixation map file (layouts.read_fixations: InputError if it is unreadable)."""
    binary = read_fixations(path)
    rows, cols = np.nonzero(binary)
    return Fixations(rows.astype(np.int32), cols.astype(np.int32), binary.shape)


def read_shuffle_map(path: str | None) -> np.ndarray | None:
    """--shuffle_map as a binary map (None without one)."""
    if not path:
        return None
    shuffle_image = read_map(Path(path))
    if shuffle_image is None:
        raise InputError(f"shuffle map missing or unreadable: {path}; pass --shuffle_map a binary image file")
    return shuffle_image > 0
