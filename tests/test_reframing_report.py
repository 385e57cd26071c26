"""vinet/reframing/report.py: the path document of a plan, its mean speed (a cut is no camera motion) and the
summary line."""
from fractions import Fraction
from pathlib import Path

import numpy as np

from media import VideoInfo
from vinet.reframing.geometry import Crop
from vinet.reframing.plan import ScenePlan, VideoPlan
from vinet.reframing.report import mean_share, mean_speed, path_document, summary
from vinet.reframing.scenes import Scene

INFO = VideoInfo(Path("clip.mp4"), np.arange(6) / 25, 25.0, (100, 50), np.arange(6), Fraction(1, 25))


def two_scenes() -> VideoPlan:
    """A moving scene of frames 0-2 and a still one of frames 3-5 after a cut, the second without saliency."""
    crop = Crop((0, 0, 100, 50), (28, 50), axis=0)
    moving = ScenePlan(Scene(0, 2, (0, 0, 100, 50)), crop, np.array([0, 2, 6]), "moving",
                       shares=np.array([0.5, 1.0]), centre_shares=np.array([0.25, 0.25]))
    still = ScenePlan(Scene(3, 5, (0, 0, 100, 50)), crop, np.array([40, 40, 40]), "still")
    return VideoPlan([moving, still], np.array([0, 0, 0, 1, 1, 1]), (28, 50), list(range(6)))


def test_mean_speed_leaves_out_the_cut() -> None:
    assert mean_speed(two_scenes()) == 1.5   # steps 2, 4, then 0, 0: the jump of 34 at the cut is no motion


def test_path_document_has_each_frames_region_and_each_scenes_camera() -> None:
    document = path_document(INFO, two_scenes())
    assert document["source"] == {"width": 100, "height": 50, "fps": 25.0, "frames": 6}
    assert document["output"] == {"width": 28, "height": 50} and document["analysed"] == list(range(6))
    assert [(s["first"], s["last"], s["mode"], s["fit"], s["kept"]) for s in document["scenes"]] == \
        [(0, 2, "moving", "crop", 0.75), (3, 5, "still", "crop", None)]
    assert document["frames"][2] == {"index": 2, "x": 6, "y": 0, "width": 28, "height": 50, "scene": 0,
                                     "mode": "moving", "fit": "crop"}
    assert [frame["x"] for frame in document["frames"]] == [0, 2, 6, 40, 40, 40]


def test_summary_is_one_line() -> None:
    assert summary(INFO, two_scenes()) == (
        "clip.mp4: 28x50, 2 scenes (1 still, 0 padded, 0 with bars), 6 of 6 frames analysed, keeps 75.0% of the "
        "saliency (centre crop 25.0%), mean speed 1.50 px/frame")
    assert mean_share(np.zeros(0)) == "none"
