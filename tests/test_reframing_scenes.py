"""vinet/reframing/scenes.py: the frames analysed per scene, and the bars (letterbox, pillarbox) found in luma and
left out of the saliency and the crop; cuts are the camera's tests (test_reframing_camera.py)."""
from pathlib import Path

import numpy as np
import pytest
from reframing_cases import TALL, WIDE, WINDOW, disc_maps, first_frame, make_video, reframed_path, write_maps

from vinet.reframing.options import DEFAULT_ANALYSIS_FPS
from vinet.reframing.scenes import Scene, analysed_frames, dark_borders, scene_picture


def test_analysed_frames_are_a_quarter_at_most() -> None:
    one_minute = [Scene(0, 1499, (0, 0, 2, 2))]
    assert len(analysed_frames(one_minute, 25.0, DEFAULT_ANALYSIS_FPS)) == 300
    assert analysed_frames(one_minute, 25.0, 0) == list(range(1500))
    cuts = [Scene(first, first + length - 1, (0, 0, 2, 2)) for first, length in
            zip(np.cumsum([0, 15, 16, 17, 18, 19]), (15, 16, 17, 18, 19, 23))]   # scenes of the shortest length
    picked = analysed_frames(cuts, 25.0, DEFAULT_ANALYSIS_FPS)
    assert len(picked) <= 108 / 4 and all(any(s.first <= i <= s.last for i in picked) for s in cuts)


@pytest.mark.parametrize("bars, picture", [((12, 12, 0, 0), (0, 12, WIDE, 72)), ((0, 0, 20, 20), (20, 0, 120, TALL))])
def test_bars_are_left_out_of_the_saliency_and_the_crop(tmp_path: Path, bars: tuple, picture: tuple) -> None:
    """Letterbox (12 rows above and below) and pillarbox (20 columns left and right) bars: maps brighter in a bar
    than at the disc (column 30) do not draw the crop into it, and the output shows no bar."""
    centres = np.tile([TALL / 2, 30.0], (30, 1, 1))
    video = make_video(tmp_path, centres, TALL, WIDE, sound=False, bars=bars)
    densities = 0.5 * disc_maps(centres, TALL, WIDE)
    densities[:, :8, :8] = densities[:, -8:, -8:] = densities[:, :, :8] = 1.0   # saliency in the bars' corners
    document = reframed_path(video, write_maps(tmp_path / "maps", densities), tmp_path)
    x0, y0, width, height = picture
    assert document["scenes"][0]["picture"] == {"x": x0, "y": y0, "width": width, "height": height}
    for frame in document["frames"]:
        assert frame["y"] == y0 and frame["height"] == height and x0 <= frame["x"] <= frame["x"] + frame["width"] \
            <= x0 + width and frame["x"] < 30 < frame["x"] + frame["width"]
    output = first_frame(tmp_path / "maps.mp4").astype(int)
    assert output.shape[:2] == (TALL, WINDOW) and output[:4].mean() > 60 and output[:, :4].mean() > 60


def test_bars_are_found_in_luma() -> None:
    gray = np.full((100, 200), 16, np.uint8)
    gray[10:90, 30:170] = 120
    assert dark_borders(gray).tolist() == [10, 10, 30, 30]
    assert scene_picture(np.array([[10, 10, 30, 30], [11, 10, 0, 30]]), (200, 100)) == (0, 10, 170, 80)
    assert scene_picture(np.array([[1, 1, 1, 1]]), (200, 100)) == (0, 0, 200, 100)       # too thin
    assert scene_picture(np.array([[100, 100, 200, 200]]), (200, 100)) == (0, 0, 200, 100)  # all dark
