"""Scoring saliency predictions on video frames with the MIT saliency benchmark's metrics (evaluate.py's library).

options (EvaluationOptions) -> run.evaluate -> a protocol (protocols: dhf1k, av) -> folders (the ground truth's
videos, the predictions' files) -> scoring (videos over processes; frame_scores for each frame, other_maps for
s_auc's negatives, maps for reading files) -> aggregation (means, the JSON's counts, the CSV).
crowdsal: the 2026 benchmarks' videos (CrowdSAL, NTIRE 2026), checked, then scored over the same process pool.
"""
