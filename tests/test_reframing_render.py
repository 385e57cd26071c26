"""vinet/reframing/render.py: crops taken exactly in 4:2:0, padding (the region whole over a darkened blurred copy)
and the debug video's heatmap of the nearest analysed frame."""
from pathlib import Path

import av
import cv2
import numpy as np

from vinet.reframing.options import PAD_BRIGHTNESS
from vinet.reframing.render import crop_frame, nearest_maps, padded_picture, plane


def test_crop_frame_cuts_every_plane_exactly() -> None:
    rng = np.random.default_rng(3)
    frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (48 * 3 // 2, 64), np.uint8), format="yuv420p")
    cropped = crop_frame(frame, (4, 2, 10, 6))
    assert (cropped.width, cropped.height, cropped.format.name) == (10, 6, "yuv420p")
    assert np.array_equal(plane(cropped, 0)[:6, :10], plane(frame, 0)[2:8, 4:14])
    for index in (1, 2):
        assert np.array_equal(plane(cropped, index)[:3, :5], plane(frame, index)[1:4, 2:7])
    rgb = av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64, 3), np.uint8), format="rgb24")
    expected = crop_frame(rgb.reformat(format="yuv420p"), (4, 2, 10, 6)).to_ndarray()
    assert np.array_equal(crop_frame(rgb, (4, 2, 10, 6)).to_ndarray(), expected)   # converted first


def test_padded_picture_shows_the_region_whole_over_a_darkened_copy() -> None:
    rgb = np.random.default_rng(4).integers(100, 201, (50, 100, 3), np.uint8)
    picture = padded_picture(rgb, (0, 0, 100, 50), (20, 40))
    assert picture.shape == (40, 20, 3) and picture.dtype == np.uint8
    assert np.array_equal(picture[15:25], cv2.resize(rgb, (20, 10), interpolation=cv2.INTER_AREA))
    assert picture[:15].max() <= 200 * PAD_BRIGHTNESS and picture[25:].max() <= 200 * PAD_BRIGHTNESS


def test_each_frame_gets_the_map_of_the_nearest_analysed_frame() -> None:
    first, second = Path("00003.png"), Path("00007.png")
    assert nearest_maps({2: first, 6: second}, 9) == [first] * 5 + [second] * 4   # a tie goes to the earlier
