"""Comparing the maps of two runs: read from their folders, and their correlation frame by frame."""
from pathlib import Path

import numpy as np
from PIL import Image


def read_maps(folder: Path) -> np.ndarray:
    """The maps of a folder, in file name order, as one (frames, height, width) float64 stack."""
    return np.stack([np.asarray(Image.open(p), dtype=np.float64) for p in sorted(folder.iterdir())])


def map_cc(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over frames of the Pearson correlation of two stacks of maps."""
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(1, keepdims=True)
    return float(np.mean((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1) + 1e-12)))
