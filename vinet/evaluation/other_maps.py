"""s_auc's "other" map of each frame: the pixels whose predicted saliency the shuffled AUC takes as negatives.

Each kind is built in the main process for one video and called, frame by frame, in the worker that scores it.
"""
from collections.abc import Sequence

import cv2
import numpy as np

from vinet.evaluation.folders import GroundTruthVideo
from vinet.evaluation.frame_scores import EVALUATION_METRICS, frame_seed
from vinet.evaluation.maps import Fixations, fixation_union

SHUFFLE_FRAMES = 10  # dhf1k protocol: other frames whose fixations make s_auc's negatives
SHUFFLE_STREAM = len(EVALUATION_METRICS)  # random stream index of the dhf1k protocol's frame draw, after the metrics'


class OtherMaps:
    """The other map of each frame of one video, by its index and its own fixation map."""

    def __call__(self, index: int, fixation_map: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class FixedOtherMap(OtherMaps):
    """--shuffle_map: one fixed binary map for every frame, resized (nearest) to the frame's size."""

    def __init__(self, shuffle_map: np.ndarray):
        self.shuffle_map = shuffle_map
        self.resized: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, index: int, fixation_map: np.ndarray) -> np.ndarray:
        height, width = shape = fixation_map.shape
        if shape not in self.resized:
            self.resized[shape] = cv2.resize(self.shuffle_map.astype(np.uint8), (width, height),
                                             interpolation=cv2.INTER_NEAREST) > 0
        return self.resized[shape]


class DrawnFramesOtherMaps(OtherMaps):
    """dhf1k: the union of the fixations of the frames drawn for each frame from the whole set (draw_other_frames)."""

    def __init__(self, drawn: Sequence[Sequence[Fixations]]):
        self.drawn = drawn

    def __call__(self, index: int, fixation_map: np.ndarray) -> np.ndarray:
        return fixation_union(self.drawn[index], fixation_map.shape)


class SameVideoOtherMaps(OtherMaps):
    """av: the union of the fixations of the same video's other frames."""

    def __init__(self, fixations: Sequence[Fixations | None]):
        self.fixations = fixations
        self.counts: dict[tuple[int, int], np.ndarray] = {}  # per map size: how many frames fixate each pixel

    def __call__(self, index: int, fixation_map: np.ndarray) -> np.ndarray:
        shape = fixation_map.shape
        if shape not in self.counts:
            counts = np.zeros(shape, dtype=np.int32)
            for frame_fixations in self.fixations:
                if frame_fixations is not None:
                    counts[frame_fixations.scaled(shape)] += 1
            self.counts[shape] = counts
        return (self.counts[shape] - fixation_map) > 0  # the frame's own fixations count once: take them out


def draw_other_frames(videos: Sequence[GroundTruthVideo], fixations: Sequence[Sequence[Fixations | None]],
                      seed: int) -> list[tuple[tuple[Fixations, ...], ...]]:
    """dhf1k protocol: for every frame, the fixations of SHUFFLE_FRAMES other frames of the set (seeded per frame)."""
    pool = [(v, f) for v, video_fixations in enumerate(fixations) for f, frame_fixations in enumerate(video_fixations)
            if frame_fixations is not None and frame_fixations.rows.size]
    position = {key: i for i, key in enumerate(pool)}
    sources = []
    for v, video in enumerate(videos):
        per_frame = []
        for f, frame in enumerate(video.frames):
            own = position.get((v, f))
            num_candidates = len(pool) - (own is not None)
            rng = np.random.default_rng([*frame_seed(video.name, frame.name, seed), SHUFFLE_STREAM])
            picks = rng.choice(num_candidates, size=min(SHUFFLE_FRAMES, num_candidates), replace=False)
            if own is not None:
                picks = picks + (picks >= own)  # skip the frame itself
            per_frame.append(tuple(fixations[pool[p][0]][pool[p][1]] for p in picks))
        sources.append(tuple(per_frame))
    return sources
