"""Score saliency predictions on video frames with the MIT saliency benchmark's metrics, as its MATLAB code does.

    python evaluate.py --pred_path results/dhf1k_val --gt_path data/DHF1K/annotation --output results/dhf1k_val.json
    python evaluate.py --pred_path results/Coutrot_db1_1 --gt_path data/AV --dataset Coutrot_db1 --split 1 \
        --output results/Coutrot_db1_1.json --csv results/Coutrot_db1_1.csv

Layouts. DHF1K: GT/<video>/maps/<frame>.png (8-bit density), GT/<video>/fixation/<frame>.png (binary) or
GT/<video>/fixation/maps/<frame>.mat (variable I); predictions PRED/<video>/<frame>.png (.jpg also read), any size.
Audio-visual (--dataset, --split): GT is the dataset root; the videos are the first words of the lines of
GT/fold_lists/<dataset>_list_test_<split>_fps.txt (DIEM: DIEM_list_test_fps.txt; the repository's fold_lists/ if GT
has none), the frames GT/annotations/<dataset>/<video>/maps/eyeMap_%05d.jpg with fixations in
.../<video>/fixMap_%05d.mat (variable eyeMap); predictions PRED/<video>/img_%05d.png or .jpg with eyeMap's index.

Metrics (cvzoya/saliency, code_forMetrics/*.m) are all defined in loss.py; vinet/evaluation/ walks folders, reads maps
and aggregates. s_auc's negatives are pixels fixated in the "other" map (the protocols below). Predictions are
resized to the ground truth's size bilinearly (MATLAB's imresize defaults to bicubic). Random draws (AUC-Judd's
jitter, the splits) come from a generator seeded per video, frame and metric, so results do not depend on the
worker count; they are the same distributions as MATLAB's, but not its random streams, so s_auc and auc_b differ
from a MATLAB run by sampling noise (sd ~3e-3 per frame of 30 fixations, shrinking in means over frames).

Protocol crowdsal (the CrowdSAL / NTIRE 2026 benchmark, as its bench.py scores; docs/evaluation.md):
    python evaluate.py --protocol crowdsal --pred_path PRED --gt_path ROOT [--subset train|test] --output scores.json
PRED/<id>.mp4 saliency videos of the ground truth's size and frame count (never resized) against a CrowdSAL or NTIRE
2026 folder (layouts.py); CC, SIM, NSS and event-weighted AUC-Judd per frame (loss.benchmark_*), means per video,
frame_weighted and video_weighted. A missing, stray or mismatched video or a bad fixation file stops the run before
any score (exit code 2, naming the video); --allow_missing scores what exists and lists missing_predictions.

MIT protocols (s_auc's other map). dhf1k: the union of the fixations of 10 random other frames of the evaluated set;
av (the default with --dataset): the union of the fixations of the same video's other frames; --shuffle_map replaces
either with one fixed binary map. "mean" is the mean of per-video means (the audio-visual papers), "frame_mean" pools
all frames (DHF1K).

Per-frame rules. No fixations: nss, auc_j, s_auc and auc_b are NaN (counted in nan_frames, left out of the means).
A flat or all-zero prediction is logged and scored at chance (cc = sim = nss = 0, s_auc = auc_b = 0.5, auc_j ~ 0.5),
so blank frames cannot improve a score. A flat ground-truth map gives NaN cc, sim and kld. A prediction missing
for any annotated frame stops the run before scoring (exit code 2, naming the videos and their missing frame
counts) unless --allow_missing, which scores what exists. Missing or unreadable files are then logged one line
each, counted under "problems" in the output and skipped; unreadable ones (not an image,
a .mat without eyeMap or I) are also listed under "unreadable_files", repeated in a closing line, and the run exits
with 2 after writing its JSON. A missing ground-truth folder or fold list, or a ground truth without a single
fixation map when fixation metrics are asked for, stops the run at start-up (exit code 2); a run that scores no
frame writes its JSON and exits with 1.

Output JSON: mean, frame_mean, per_video (<video>: means over its frames), frames_per_video, num_videos, num_frames,
frames_scored of frames_annotated, missing_predictions (<video>: frames without one),
nan_frames (frames with any NaN metric), nan_counts (per metric), problems (counts by kind) and the run's settings;
NaN is written as null. --csv writes one row per frame.

pysaliency differs: its NSS divides by the population std (ddof=0), its SIM skips the min-max step, its AUCs (Judd
and shuffled) are exact over all thresholds and all negatives instead of MATLAB's coarse, sampled ROC, and its KLD
uses eps = 2.2204e-16 rounded (MATLAB's is 2^-52), which shows at ~1e-9 on maps with values near 1e-15 of their sum.
"""
import argparse
import logging
import sys
from collections.abc import Sequence

from tqdm.contrib.logging import logging_redirect_tqdm

from layouts import TEST, TRAIN
from utils import ArgumentParser, InputError, number_flag
from vinet.evaluation.frame_scores import EVALUATION_METRICS
from vinet.evaluation.options import EvaluationOptions
from vinet.evaluation.run import PROTOCOLS, evaluate

log = logging.getLogger("evaluate")


def parse_metrics(text: str) -> tuple[str, ...]:
    """Comma-separated metric names, checked against EVALUATION_METRICS."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in EVALUATION_METRICS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown metric(s) {unknown or text!r}; choose from "
                                         f"{','.join(EVALUATION_METRICS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pred_path", required=True,
                        help="folder of predictions, <video>/<frame>.png (crowdsal: <id>.mp4 saliency videos)")
    parser.add_argument("--gt_path", required=True,
                        help="DHF1K annotation folder, the audio-visual dataset root, or (crowdsal) the CrowdSAL or "
                             "NTIRE 2026 root")
    parser.add_argument("--output", required=True, help="summary JSON to write")
    parser.add_argument("--protocol", choices=tuple(PROTOCOLS), default=EvaluationOptions.protocol,
                        help="s_auc's other map: 10 random frames of the set (dhf1k) or the video's other frames (av); "
                             "crowdsal: the CrowdSAL / NTIRE 2026 benchmark's videos and metrics; "
                             "default av with --dataset, else dhf1k")
    parser.add_argument("--subset", choices=(TRAIN, TEST), default=EvaluationOptions.subset,
                        help="crowdsal: the split scored")
    parser.add_argument("--shuffle_map", default=EvaluationOptions.shuffle_map,
                        help="one fixed binary map as s_auc's other map")
    parser.add_argument("--dataset", default=EvaluationOptions.dataset,
                        help="audio-visual dataset name (DIEM, Coutrot_db1, AVAD, ...)")
    parser.add_argument("--split", type=number_flag(int, 1, 3), default=EvaluationOptions.split,
                        help="fold number of the audio-visual dataset (not DIEM)")
    parser.add_argument("--metrics", type=parse_metrics, default=EvaluationOptions.metrics,
                        help=f"comma-separated subset of {','.join(EVALUATION_METRICS)}")
    parser.add_argument("--csv", default=EvaluationOptions.csv, help="also write per-frame scores to this CSV")
    parser.add_argument("--workers", type=number_flag(int, 1), default=EvaluationOptions.workers,
                        help="processes (videos in parallel)")
    parser.add_argument("--seed", type=number_flag(int, 0), default=EvaluationOptions.seed,
                        help="seed of the AUC jitter and splits")
    parser.add_argument("--allow_missing", action="store_true",
                        help="score the frames that have a prediction when some have none (the JSON records how "
                             "many were scored of how many annotated); without it a missing prediction is refused")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns 0; 2 after one error line when an input is missing, or after the closing line naming the
    files that could not be read (the JSON is written with the rest); 1 when no frame could be scored."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        args = build_parser().parse_args(argv)
        with logging_redirect_tqdm():
            summary = evaluate(EvaluationOptions(**vars(args)))
    except InputError as error:
        log.error("%s", error)
        return 2
    if summary["num_frames"] == 0:
        log.error("no frame was scored: check --pred_path (%s) against the problems above", args.pred_path)
        return 1
    unreadable = summary.get("unreadable_files", [])  # the crowdsal protocol refuses what it cannot read
    if unreadable:
        log.error("%s could not be read and %s left out of the scores: %s%s; replace %s and rerun",
                  "1 file" if len(unreadable) == 1 else f"{len(unreadable)} files",
                  "is" if len(unreadable) == 1 else "are", ", ".join(unreadable[:5]),
                  ", ..." if len(unreadable) > 5 else "", "it" if len(unreadable) == 1 else "them")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
