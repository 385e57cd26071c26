"""An int8 run checking itself on the footage it runs: a sample of its windows (1 in `every`, at least 2 a video,
spread over it) also runs in the float path (the same graph without its quantization, its layers in the run's
float precision: fp32, or bf16 whose maps keep CC 0.9999 with fp32's at a third of the cost); each video's CC with
it goes to the manifest and the closing line, a figure under MIN_INT8_CC to a warning, and one under --min_cc
refuses the video."""
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from loss import cc
from utils import InputError
from vinet.backends import Backend
from vinet.backends.base import MIN_INT8_CC

log = logging.getLogger("vinet")
CHECK_EVERY = 32            # windows per checked window, by default
CHECK_AT_LEAST = 2          # checked windows a video, at the least (when it has them)
FIX = "calibrate on footage like it (export.py --int8 --calibrate VIDEO ..., or --precision int8 with the checkpoint)"


class BelowMinCC(InputError):
    """A video whose int8 maps fell below --min_cc on a checked window: refused, its maps removed."""


@dataclass
class SelfCheck:
    """How an int8 run checks itself: the float path (built when first needed) and its layers' precision, 1 window
    in `every`, and the CC under which a video is refused (None: warned about only)."""

    float_path: Callable[[], Backend]
    precision: str = "fp32"
    every: int = CHECK_EVERY
    min_cc: float | None = None
    _reference: Backend | None = field(default=None, init=False, repr=False)

    def sampled(self, todo: list[int]) -> list[int]:
        """The frames whose windows are checked: 1 in `every` of `todo`, at least CHECK_AT_LEAST, evenly spread."""
        count = min(len(todo), max(CHECK_AT_LEAST, round(len(todo) / self.every)))
        return sorted({todo[i] for i in np.linspace(0, len(todo) - 1, count).round().astype(int)}) if count else []

    def start(self, name: str, todo: list[int]) -> "VideoCheck":
        """The check of one video's frames `todo`."""
        return VideoCheck(self, name, set(self.sampled(todo)))

    def reference(self, inputs: list[torch.Tensor]) -> np.ndarray:
        """The float path's maps of a batch's inputs."""
        if self._reference is None:
            self._reference = self.float_path()
        return self._reference(inputs)


@dataclass
class VideoCheck:
    """One video's checked windows: frame -> CC of the int8 map with the float path's."""

    check: SelfCheck
    name: str
    sampled: set[int]
    scores: dict[int, float] = field(default_factory=dict)

    def compare(self, batch: list[int], inputs: list[torch.Tensor], maps: np.ndarray) -> None:
        """Run the batch's sampled windows in the float path and keep their CC; BelowMinCC under --min_cc."""
        rows = [k for k, j in enumerate(batch) if j in self.sampled]
        if not rows:
            return
        expected = self.check.reference([x[rows] for x in inputs])
        scores = cc(torch.from_numpy(maps[rows]).float(), torch.from_numpy(expected).float())
        self.scores.update({batch[k]: round(float(score), 5) for k, score in zip(rows, scores)})
        minimum = self.check.min_cc
        if minimum is not None and self.worst < minimum:
            raise BelowMinCC(f"{self.name}: int8 maps reach CC {self.worst:.4f} with the float path's on the window "
                             f"of frame {min(self.scores, key=self.scores.get) + 1}, below --min_cc {minimum}: its "
                             f"maps are removed; {FIX}")

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.scores.values())))

    @property
    def worst(self) -> float:
        return min(self.scores.values())

    def summary(self) -> str:
        """In words: 'int8 CC 0.9951 with the float path (fp32; worst 0.9902) on 3 checked windows'."""
        return (f"int8 CC {self.mean:.4f} with the float path ({self.check.precision}; worst {self.worst:.4f}) on "
                f"{len(self.scores)} checked windows")

    def warning(self) -> str | None:
        """One line when a checked window fell below MIN_INT8_CC, else None."""
        if not self.scores or self.worst >= MIN_INT8_CC:
            return None
        under = sum(score < MIN_INT8_CC for score in self.scores.values())
        return (f"{self.name}: int8 maps reach CC {self.worst:.4f} with the float path's on {under} of "
                f"{len(self.scores)} checked windows (mean {self.mean:.4f}, below {MIN_INT8_CC}): {FIX}")

    def record(self) -> dict:
        """What the manifest keeps: each checked frame (from 1, as the maps are named) and its CC."""
        return {"reference": f"the same graph without its quantization, its layers in {self.check.precision}, by "
                             "OpenVINO",
                "mean_cc": round(self.mean, 5), "worst_cc": self.worst,
                "frames": {str(j + 1): score for j, score in sorted(self.scores.items())}}
