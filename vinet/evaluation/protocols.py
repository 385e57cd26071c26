"""Evaluation protocols: each one scores a set of predictions its own way, and vinet.evaluation.run.PROTOCOLS names
them for --protocol. The MIT benchmark's (dhf1k, av) share one pipeline and differ only in s_auc's other map; a
protocol with its own layout, metrics or summary subclasses Protocol directly, in a file of its own."""
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np

from utils import InputError, atomic_write_bytes
from vinet.evaluation.aggregation import format_scores, summarise, unreadable_files, write_csv
from vinet.evaluation.folders import (
    GroundTruthVideo,
    check_complete,
    check_prediction_root,
    list_videos,
    missing_predictions,
)
from vinet.evaluation.maps import Fixations, read_shuffle_map
from vinet.evaluation.options import EvaluationOptions
from vinet.evaluation.other_maps import (
    DrawnFramesOtherMaps,
    FixedOtherMap,
    OtherMaps,
    SameVideoOtherMaps,
    draw_other_frames,
)
from vinet.evaluation.scoring import score_videos

log = logging.getLogger("evaluate")  # evaluate.py's logger: its lines read as they always have


class Protocol(ABC):
    """A way of scoring predictions against a ground truth, named for --protocol."""
    name: ClassVar[str]
    foreign_options: ClassVar[tuple[str, ...]]  # the settings it has no use for: refused unless left at default

    @abstractmethod
    def evaluate(self, options: EvaluationOptions) -> dict:
        """Score the predictions `options` names, write the outputs it asks for and return the summary written."""

    def refuse_foreign_options(self, options: EvaluationOptions) -> None:
        """InputError naming the flags set that this protocol would ignore: a flag works or is refused."""
        defaults = {field.name: field.default for field in fields(EvaluationOptions)}
        given = [f"--{name}" for name in self.foreign_options if getattr(options, name) != defaults[name]]
        if given:
            raise InputError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to --protocol "
                             f"{self.name}; drop {'it' if len(given) == 1 else 'them'}")


class MITProtocol(Protocol):
    """The MIT saliency benchmark's scoring of frame folders (DHF1K or audio-visual layout); a subclass chooses the
    other maps of s_auc, which --shuffle_map overrides."""
    foreign_options = ("subset",)

    @abstractmethod
    def other_maps(self, videos: Sequence[GroundTruthVideo], fixations: Sequence[Sequence[Fixations | None]],
                   seed: int) -> list[OtherMaps]:
        """The s_auc other maps of each video, given every frame's fixations."""

    def choose_other_maps(self, videos: list[GroundTruthVideo], fixations: list[tuple[Fixations | None, ...]], *,
                          shuffle_map: np.ndarray | None, metrics: tuple[str, ...],
                          seed: int) -> list[OtherMaps | None]:
        """Each video's other maps: none without s_auc, the fixed map with --shuffle_map, else the protocol's."""
        if "s_auc" not in metrics:
            return [None] * len(videos)
        if shuffle_map is not None:
            return [FixedOtherMap(shuffle_map) for _ in videos]
        return self.other_maps(videos, fixations, seed)

    def evaluate(self, options: EvaluationOptions) -> dict:
        """Score every annotated frame, write the summary JSON (and the per-frame CSV) and return the summary."""
        gt_root, prediction_root = Path(options.gt_path), Path(options.pred_path)
        videos = list_videos(gt_root, options.dataset, options.split)
        check_prediction_root(prediction_root)
        missing = missing_predictions(videos, prediction_root)
        if not options.allow_missing:
            check_complete(missing, videos, prediction_root)
        shuffle_map = read_shuffle_map(options.shuffle_map)
        log.info("%d videos, %d frames, protocol %s, metrics %s", len(videos), sum(len(v.frames) for v in videos),
                 self.name, ",".join(options.metrics))
        metrics = tuple(options.metrics)
        choose = partial(self.choose_other_maps, shuffle_map=shuffle_map, metrics=metrics, seed=options.seed)
        results = score_videos(videos, prediction_root, choose, metrics, options.seed, options.workers)
        summary = summarise(results, options.metrics)
        summary["unreadable_files"] = unreadable_files(results)
        summary.update(frames_scored=summary["num_frames"], frames_annotated=sum(len(v.frames) for v in videos),
                       missing_predictions={name: absent for name, (absent, _) in missing.items()})
        summary.update(protocol=self.name, metrics=list(options.metrics), pred_path=str(prediction_root),
                       gt_path=str(gt_root), dataset=options.dataset, split=options.split,
                       shuffle_map=options.shuffle_map, seed=options.seed)
        atomic_write_bytes(options.output, json.dumps(summary, indent=2, allow_nan=False).encode())
        if options.csv:
            write_csv(Path(options.csv), results, options.metrics)
        log_summary(summary, options)
        return summary


class DHF1KProtocol(MITProtocol):
    """s_auc's other map: the union of the fixations of SHUFFLE_FRAMES random other frames of the evaluated set."""
    name = "dhf1k"

    def other_maps(self, videos: Sequence[GroundTruthVideo], fixations: Sequence[Sequence[Fixations | None]],
                   seed: int) -> list[OtherMaps]:
        return [DrawnFramesOtherMaps(drawn) for drawn in draw_other_frames(videos, fixations, seed)]


class AudioVisualProtocol(MITProtocol):
    """s_auc's other map: the union of the fixations of the same video's other frames (the audio-visual papers)."""
    name = "av"

    def other_maps(self, videos: Sequence[GroundTruthVideo], fixations: Sequence[Sequence[Fixations | None]],
                   seed: int) -> list[OtherMaps]:
        return [SameVideoOtherMaps(video_fixations) for video_fixations in fixations]


def log_summary(summary: dict, options: EvaluationOptions) -> None:
    """The closing lines of a run: counts and problems, both means, the files written."""
    log.info("%d of %d annotated frames of %d videos scored, %d with NaN metrics; problems: %s",
             summary["frames_scored"], summary["frames_annotated"], summary["num_videos"], summary["nan_frames"],
             ", ".join(f"{kind} {count}" for kind, count in summary["problems"].items()) or "none")
    log.info("mean of video means: %s", format_scores(summary["mean"]))
    log.info("mean over frames:    %s", format_scores(summary["frame_mean"]))
    log.info("wrote %s%s", options.output, f" and {options.csv}" if options.csv else "")
