"""What an evaluation scores and how: the settings evaluate.py's flags give, by the same names and defaults."""
import os
from dataclasses import dataclass

from layouts import TEST
from vinet.evaluation.frame_scores import EVALUATION_METRICS


@dataclass(frozen=True)
class EvaluationOptions:
    """Settings of one evaluation run (evaluate.py's flags; their help says what each one means)."""
    pred_path: str
    gt_path: str
    output: str  # the summary JSON
    protocol: str | None = None  # None: av with a dataset, dhf1k without (vinet.evaluation.run.protocol_of)
    shuffle_map: str | None = None
    dataset: str | None = None
    split: int | None = None
    metrics: tuple[str, ...] = EVALUATION_METRICS
    csv: str | None = None
    workers: int = os.cpu_count() or 1
    seed: int = 0
    allow_missing: bool = False
    subset: str = TEST  # the 2026 benchmarks' split (crowdsal): layouts.TRAIN or TEST
