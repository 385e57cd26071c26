"""The crowdsal protocol's test data: a tiny CrowdSAL test split with three kinds of prediction videos, stored in
tests/data/crowdsal/ with the numbers CrowdSAL's own bench.py gives them (bench_reference.json).

`PYTHONPATH=. python tests/crowdsal_cases.py` rewrites the stored videos; bench_reference.json then needs bench.py
rerun on them (its "command" says how)."""
import shutil
from pathlib import Path

import cv2
import numpy as np

from media import VideoWriter, gray16_frames
from synthetic import write_benchmark_set, write_benchmark_video, write_saliency_video

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "data" / "crowdsal"
TEST_IDS = ("3001", "3002", "3003")
NUM_FRAMES, LONGER, SIZE, FPS = 10, 14, (48, 64), 30.0  # SIZE is (height, width)


def _ground_truth(root: Path, name: str) -> np.ndarray:
    """A stored ground-truth saliency video as (N, H, W) float32 maps in [0, 1]."""
    return np.stack(list(gray16_frames(root / "Saliency" / f"{name}.mp4"))).astype(np.float32) / 65535


def write_predictions(root: Path, predictions: Path) -> None:
    """One prediction per test video: shifted and blurred (10-bit), a wider blur as an 8-bit H.264 video, and a
    10-bit one whose first frame is flat (the benchmark's normalisation must keep it finite)."""
    predictions.mkdir(parents=True, exist_ok=True)
    shifted = np.roll(_ground_truth(root, "3001"), (3, -4), axis=(1, 2))
    write_saliency_video(predictions / "3001.mp4", np.stack([cv2.GaussianBlur(m, (0, 0), 3) for m in shifted]), FPS)
    height, width = SIZE
    with VideoWriter(predictions / "3002.mp4", (width, height), fps=FPS) as writer:
        for index, saliency in enumerate(_ground_truth(root, "3002")):
            gray = np.rint(cv2.GaussianBlur(saliency, (0, 0), 6) * 255).astype(np.uint8)
            writer.write(np.repeat(gray[:, :, None], 3, axis=2), index)
    flat_first = np.stack([cv2.GaussianBlur(m, (0, 0), 2) for m in _ground_truth(root, "3003")[::-1]])
    flat_first[0] = 0.25
    write_saliency_video(predictions / "3003.mp4", flat_first, FPS)


def write_reference_set(root: Path) -> Path:
    """The stored set: CrowdSAL's flat layout (Saliency/, Fixations/; no Videos/, the protocol reads no sound or
    pictures) and predictions/<id>.mp4; the last video is longer, so frame- and video-weighted means differ."""
    write_benchmark_set(root, "CrowdSAL", (), TEST_IDS, num_frames=NUM_FRAMES, size=SIZE, fps=FPS)
    write_benchmark_video(root, "CrowdSAL", "test", TEST_IDS[-1], 1002, LONGER, SIZE, FPS, nested=False)
    shutil.rmtree(root / "Videos")
    write_predictions(root, root / "predictions")
    return root


if __name__ == "__main__":
    write_reference_set(REFERENCE)
