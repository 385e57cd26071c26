"""The README's reframing picture: a frame of the bundled sample with its 9:16 crop box, and the reframed frame.

    python -m extras.reframe_figure [OUT.png]      # default extras/reframe_sample.png

The sample's maps here are its known gaze (a Gaussian on the red disc, the one heard: synthetic.gaze_density),
written as the generate scripts write maps, so the picture shows what reframe.py does with good maps; a trained
AViNet's maps of the sample would take their place (reframe.py --file_weight).
"""
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from media import frames_by_index, probe_video
from synthetic import SAMPLE, gaze_density, sample_paths
from utils import atomic_write_bytes, encode_map
from vinet.reframing.options import ReframeOptions
from vinet.reframing.pipeline import reframe_video

FRAME = 12          # the frame shown
SCALE = 2           # the picture's pixels per source pixel
GAP = 12            # pixels between the two halves


def write_gaze_maps(folder: Path) -> None:
    """The sample's known gaze, one PNG per frame (00001.png, ...)."""
    for index, density in enumerate(gaze_density(sample_paths(), SAMPLE.height, SAMPLE.width), start=1):
        atomic_write_bytes(folder / f"{index:05d}.png", encode_map(np.round(density * 255).astype(np.uint8), ".png"))


def frame_at(path: Path, index: int) -> np.ndarray:
    """Frame `index` of a video as RGB."""
    for number, frame in enumerate(frames_by_index(probe_video(path))):
        if number == index and frame is not None:
            return frame.to_ndarray(format="rgb24")
    raise ValueError(f"{path} has no frame {index}")


def side_by_side(source: np.ndarray, box: tuple[int, int, int, int], reframed: np.ndarray) -> np.ndarray:
    """The source with the crop box drawn, the gap, the reframed frame; scaled up by SCALE."""
    x, y, width, height = box
    framed = cv2.rectangle(source.copy(), (x, y), (x + width - 1, y + height - 1), (255, 255, 255), 1)
    gap = np.full((source.shape[0], GAP // SCALE, 3), 255, np.uint8)
    picture = np.hstack([framed, gap, reframed])
    return cv2.resize(picture, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or [Path(__file__).with_name("reframe_sample.png")])[0])
    sample = Path(__file__).with_name("sample.mp4")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_gaze_maps(tmp / "maps")
        reframe_video(sample, tmp / "maps", tmp / "reframed.mp4", ReframeOptions("9:16"),
                              tmp / "path.json")
        document = json.loads((tmp / "path.json").read_text())
        region = document["frames"][FRAME]
        box = (region["x"], region["y"], region["width"], region["height"])
        picture = side_by_side(frame_at(sample, FRAME), box, frame_at(tmp / "reframed.mp4", FRAME))
    atomic_write_bytes(out, cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))[1].tobytes())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
