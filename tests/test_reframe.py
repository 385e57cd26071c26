"""reframe.py on synthetic videos: discs the saliency maps follow (a Gaussian at each centre), with sound; the
path JSON's regions are checked against where the discs are."""
import json
import logging
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from conftest import deterministic_weights

import generate_result_audio_visual
import reframe
from model import VideoAudioSaliencyModel
from synthetic import gaze_density, render_frames, soundtrack, write_video

FPS = 25
HEIGHT, WIDTH = 72, 128
TALL, WIDE = 96, 160          # the camera tests' frames: a 9:16 window of 54 x 96
WINDOW = 54
CENTRED_X = 52                # (160 - 54) / 2 = 53, rounded to even pixels
WHITE = ((255, 255, 255), (255, 255, 255))


def write_maps(folder: Path, densities: np.ndarray, frames: list[int] | None = None) -> Path:
    """Maps as the generate scripts name them (00001.png, ...), of `frames` only when given."""
    folder.mkdir()
    for index in range(len(densities)) if frames is None else frames:
        cv2.imwrite(str(folder / f"{index + 1:05d}.png"), np.round(densities[index] * 255).astype(np.uint8))
    return folder


def disc_maps(centres: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, H, W) maps of discs at centres (N, K, 2) = (row, column): a Gaussian at each, peak 1."""
    densities = np.stack([gaze_density(centres[:, [k]], height, width) for k in range(centres.shape[1])])
    return densities.max(axis=0)


def make_video(folder: Path, centres: np.ndarray, height: int = HEIGHT, width: int = WIDTH,
               backgrounds: list[tuple[int, tuple[int, int, int]]] = (), name: str = "clip.mp4",
               sound: bool = True, bars: tuple[int, int, int, int] | None = None, colours: tuple | None = None) -> Path:
    """A video of discs at centres (N, K, 2); `backgrounds` paints frames from a given index on in one colour (a
    hard cut); `bars` (top, bottom, left, right) blacks out the borders (letterbox, pillarbox)."""
    frames = render_frames(centres, height, width, seed=5, **({"colours": colours} if colours else {}))
    for first, colour in backgrounds:
        disc = np.all(frames[first:] == (230, 60, 40), axis=-1)
        frames[first:] = np.where(disc[..., None], frames[first:], np.array(colour, np.uint8))
    if bars:
        top, bottom, left, right = bars
        frames[:, :top], frames[:, height - bottom:], frames[:, :, :left], frames[:, :, width - right:] = 0, 0, 0, 0
    video = folder / name
    write_video(str(video), frames, FPS, soundtrack(centres, FPS) if sound else None)
    return video


def make_clip(folder: Path, centres: np.ndarray, height: int = HEIGHT, width: int = WIDTH,
              backgrounds: list[tuple[int, tuple[int, int, int]]] = (), name: str = "clip.mp4",
              sound: bool = True, gaze: np.ndarray | None = None) -> tuple[Path, Path]:
    """A video of one disc at centres (N, 2) = (row, column) and its maps folder (a Gaussian at the disc, or
    at `gaze`)."""
    video = make_video(folder, centres[:, None, :], height, width, backgrounds, name, sound)
    maps = write_maps(folder / f"{video.stem}_maps", disc_maps((centres if gaze is None else gaze)[:, None, :],
                                                                height, width))
    return video, maps


def run(video: Path, maps: Path, out: Path, *extra: str, aspect: str | None = "9:16") -> int:
    return reframe.main(["--video", str(video), "--output", str(out), "--maps", str(maps),
                         *(["--aspect", aspect] if aspect else []), *extra])


def path_of(video: Path, maps: Path, folder: Path, *extra: str, aspect: str | None = "9:16") -> dict:
    """The path JSON of a run that must succeed."""
    assert run(video, maps, folder / f"{maps.name}.mp4", "--path_json", str(folder / "p.json"), *extra,
               aspect=aspect) == 0
    return json.loads((folder / "p.json").read_text())


def xs(document: dict) -> np.ndarray:
    return np.array([frame["x"] for frame in document["frames"]])


def inside_share(centres: np.ndarray, document: dict, axis: int) -> float:
    """Share of frames whose disc centre lies in the region shown (axis 0: columns, 1: rows)."""
    key, size = ("x", "width") if axis == 0 else ("y", "height")
    starts = np.array([frame[key] for frame in document["frames"]])
    ends = starts + np.array([frame[size] for frame in document["frames"]])
    coordinate = centres[:, 1 - axis]
    return float(np.mean((coordinate >= starts) & (coordinate < ends)))


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "reframe" and r.levelno >= logging.ERROR]


# ----------------------------------------------------------------------------------------------
# A disc crossing the frame: one run, several checks


@pytest.fixture(scope="module")
def crossing(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("crossing")
    centres = np.stack([np.full(50, HEIGHT / 2), np.linspace(8, WIDTH - 8, 50)], axis=1)
    video, maps = make_clip(folder, centres)
    out, path_json, debug = folder / "out" / "vertical.mp4", folder / "path.json", folder / "debug.mp4"
    status = run(video, maps, out, "--path_json", str(path_json), "--debug", str(debug))
    return {"status": status, "video": video, "maps": maps, "out": out, "debug": debug, "centres": centres,
            "folder": folder, "document": json.loads(path_json.read_text()) if path_json.exists() else None}


def test_crossing_disc_stays_in_the_crop(crossing: dict) -> None:
    assert crossing["status"] == 0
    document = crossing["document"]
    assert document["output"] == {"width": 40, "height": 72}
    assert {(f["width"], f["height"], f["y"], f["fit"]) for f in document["frames"]} == {(40, 72, 0, "crop")}
    assert inside_share(crossing["centres"], document, axis=0) >= 0.95
    centre_crop = {"frames": [{"x": (WIDTH - 40) // 2, "width": 40}] * 50}
    assert inside_share(crossing["centres"], centre_crop, axis=0) < 0.5
    assert {frame["mode"] for frame in document["frames"]} == {"moving"}


def test_path_json_schema(crossing: dict) -> None:
    document = crossing["document"]
    assert document["source"] == {"width": WIDTH, "height": HEIGHT, "fps": FPS, "frames": 50}
    assert document["analysed"] == list(range(50))   # every frame has a map: every map is used
    [scene] = document["scenes"]
    assert {k: scene[k] for k in ("first", "last", "mode", "fit")} == {"first": 0, "last": 49, "mode": "moving",
                                                                         "fit": "crop"}
    assert scene["picture"] == {"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT} and 0.9 < scene["kept"] <= 1
    assert [frame["index"] for frame in document["frames"]] == list(range(50))
    for frame in document["frames"]:
        assert set(frame) == {"index", "x", "y", "width", "height", "scene", "mode", "fit"}
        assert all(type(frame[k]) is int for k in ("index", "x", "y", "width", "height", "scene"))
        assert 0 <= frame["x"] <= WIDTH - 40 and frame["x"] % 2 == 0 and frame["scene"] == 0


def test_sampled_maps_give_the_full_rate_path(crossing: dict, tmp_path: Path) -> None:
    """The maps of the frames --analysis_fps picks (a quarter of the frames or fewer at 25 fps) give the path of
    every frame's maps within 2% of the width in at least 95% of the frames."""
    document = crossing["document"]
    scenes = [reframe.Scene(s["first"], s["last"], (0, 0, WIDTH, HEIGHT)) for s in document["scenes"]]
    picked = reframe.analysed_frames(scenes, FPS, reframe.DEFAULT_ANALYSIS_FPS)
    assert picked == [2, 7, 12, 17, 22, 27, 32, 37, 42, 47]
    sampled = tmp_path / "sampled"
    sampled.mkdir()
    for index in picked:
        shutil.copy(crossing["maps"] / f"{index + 1:05d}.png", sampled)
    thinned = path_of(crossing["video"], sampled, tmp_path)
    assert thinned["analysed"] == picked and {f["mode"] for f in thinned["frames"]} == {"moving"}
    assert np.mean(np.abs(xs(thinned) - xs(document)) <= 0.02 * WIDTH) >= 0.95


def test_analysed_frames_are_a_quarter_at_most() -> None:
    one_minute = [reframe.Scene(0, 1499, (0, 0, 2, 2))]
    assert len(reframe.analysed_frames(one_minute, 25.0, reframe.DEFAULT_ANALYSIS_FPS)) == 300
    assert reframe.analysed_frames(one_minute, 25.0, 0) == list(range(1500))
    cuts = [reframe.Scene(first, first + length - 1, (0, 0, 2, 2)) for first, length in
            zip(np.cumsum([0, 15, 16, 17, 18, 19]), (15, 16, 17, 18, 19, 23))]   # scenes of the shortest length
    picked = reframe.analysed_frames(cuts, 25.0, reframe.DEFAULT_ANALYSIS_FPS)
    assert len(picked) <= 108 / 4 and all(any(s.first <= i <= s.last for i in picked) for s in cuts)


def decoded(path: Path) -> tuple[int, float, tuple[int, int], np.ndarray | None]:
    """Frame count, duration (s), frame size and decoded audio samples of a file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        size = (stream.codec_context.width, stream.codec_context.height)
        duration = container.duration / av.time_base
    with av.open(str(path)) as container:
        sound = [f.to_ndarray() for f in container.decode(audio=0)] if container.streams.audio else None
    return count, duration, size, None if sound is None else np.concatenate(sound, axis=1)


def first_frame(path: Path) -> np.ndarray:
    """The first frame of a video, RGB."""
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def test_output_keeps_frames_duration_and_sound(crossing: dict) -> None:
    count, duration, size, sound = decoded(crossing["video"])
    out_count, out_duration, out_size, out_sound = decoded(crossing["out"])
    assert out_count == count == 50 and out_size == (40, 72)
    assert abs(out_duration - duration) < 1 / FPS
    assert out_sound.dtype == sound.dtype and np.array_equal(out_sound, sound)  # remuxed, not re-encoded


def test_debug_video_has_every_frame(crossing: dict) -> None:
    count, _, size, _ = decoded(crossing["debug"])
    assert count == 50 and size == (WIDTH, HEIGHT)
    assert not [p.name for p in crossing["out"].parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_output_size_is_chosen_and_kept_even(crossing: dict, tmp_path: Path) -> None:
    document = path_of(crossing["video"], crossing["maps"], tmp_path, "--width", "36", "--height", "64", aspect=None)
    assert document["output"] == {"width": 36, "height": 64} and document["frames"][0]["width"] == 40
    assert decoded(tmp_path / f"{crossing['maps'].name}.mp4")[2] == (36, 64)
    assert path_of(crossing["video"], crossing["maps"], tmp_path, "--height", "50")["output"] == \
        {"width": 28, "height": 50}   # 50 * 9 / 16 = 28.1, even


def test_the_sources_own_shape_is_a_copy(crossing: dict, tmp_path: Path) -> None:
    document = path_of(crossing["video"], crossing["maps"], tmp_path, aspect="16:9")
    assert {(f["x"], f["y"], f["width"], f["height"], f["mode"]) for f in document["frames"]} == \
        {(0, 0, WIDTH, HEIGHT, "still")}
    assert decoded(tmp_path / f"{crossing['maps'].name}.mp4")[:3:2] == (50, (WIDTH, HEIGHT))


# ----------------------------------------------------------------------------------------------
# The camera of a scene: still (with snapping), moving, empty; cuts; vertical sources


def test_jittering_subject_and_a_flickering_region_get_a_still_camera(tmp_path: Path) -> None:
    """A disc jittering about column 40 by 2 pixels; in 3 frames of 50 a second region at 0.8 of its peak (the
    union of the half-peak spans would not fit in the window), in 1 frame one brighter than the disc (its target
    jumps there): one still position holding the disc."""
    rng = np.random.default_rng(4)
    centres = np.stack([TALL / 2 + rng.normal(0, 2, 50), 40 + rng.normal(0, 2, 50)], axis=1)[:, None]
    video = make_video(tmp_path, centres, TALL, WIDE, sound=False)
    densities, other = disc_maps(centres, TALL, WIDE), disc_maps(np.full((1, 1, 2), [48, 135]), TALL, WIDE)[0]
    densities[[10, 25, 40]] = np.maximum(densities[[10, 25, 40]], 0.8 * other)
    densities[30] = np.maximum(0.4 * densities[30], other)
    document = path_of(video, write_maps(tmp_path / "maps", densities), tmp_path)
    assert {f["mode"] for f in document["frames"]} == {"still"} and len(set(xs(document))) == 1
    assert xs(document)[0] + 10 <= 40 <= xs(document)[0] + WINDOW - 10 and xs(document)[0] != CENTRED_X


@pytest.mark.parametrize("column, snapped", [(WIDE / 2 + 10, True), (WIDE / 2 + 24, False)])
def test_a_still_camera_near_the_centre_snaps_to_it(tmp_path: Path, column: float, snapped: bool) -> None:
    """AutoFlip's snapping: a still subject 10 pixels (6%) off the centre gets the centred crop; 24 (15%) not."""
    centres = np.tile([TALL / 2, column], (30, 1))
    video, maps = make_clip(tmp_path, centres, TALL, WIDE, sound=False)
    document = path_of(video, maps, tmp_path)
    assert {f["mode"] for f in document["frames"]} == {"still"} and len(set(xs(document))) == 1
    assert (xs(document)[0] == CENTRED_X) == snapped and xs(document)[0] < column < xs(document)[0] + WINDOW


def test_an_empty_scene_keeps_the_previous_position(tmp_path: Path) -> None:
    """Three scenes of 20 frames: no saliency (the centre: no scene before), a disc at column 30, no saliency
    again (the second scene's position)."""
    centres = np.tile([TALL / 2, 30.0], (60, 1))
    video = make_video(tmp_path, centres[:, None], TALL, WIDE, sound=False,
                       backgrounds=[(0, (20, 30, 90)), (20, (240, 200, 60)), (40, (60, 160, 60))])
    densities = disc_maps(centres[:, None], TALL, WIDE)
    densities[:20], densities[40:] = 0, 0
    document = path_of(video, write_maps(tmp_path / "maps", densities), tmp_path)
    assert [(s["first"], s["last"], s["mode"]) for s in document["scenes"]] == \
        [(0, 19, "still"), (20, 39, "still"), (40, 59, "still")]
    x = xs(document)
    assert set(x[:20]) == {CENTRED_X} and set(x[40:]) == {x[39]} and x[39] < 30 < x[39] + WINDOW


@pytest.mark.parametrize("sampled", [False, True])
def test_cut_gives_one_jump_between_smooth_scenes(tmp_path: Path, sampled: bool) -> None:
    """Every frame's maps, or only those of the analysed frames: the targets are never interpolated across
    the cut."""
    left = np.tile([HEIGHT / 2, 20.0], (25, 1))  # scene 0: still on the left
    right = np.stack([np.full(25, HEIGHT / 2), np.linspace(118, 84, 25)], axis=1)  # scene 1: drifting, right
    centres = np.concatenate([left, right])
    gaze = centres + np.random.default_rng(2).normal(0, 3, centres.shape)  # noisy maps: jumpy targets
    video, maps = make_clip(tmp_path, centres, backgrounds=[(0, (20, 30, 90)), (25, (240, 200, 60))], gaze=gaze)
    if sampled:
        picked = [2, 7, 12, 17, 22, 27, 32, 37, 42, 47]
        maps = write_maps(tmp_path / "sampled", disc_maps(gaze[:, None], HEIGHT, WIDTH), picked)
    document = path_of(video, maps, tmp_path)
    assert [(s["first"], s["last"]) for s in document["scenes"]] == [(0, 24), (25, 49)]
    assert len(document["analysed"]) == (10 if sampled else 50)
    steps = np.abs(np.diff(xs(document)))
    assert np.flatnonzero(steps > 8).tolist() == [24] and steps[24] >= 40  # the jump, at the cut
    assert steps.max(initial=0, where=np.arange(49) != 24) <= 4            # smooth elsewhere
    assert [document["frames"][i]["mode"] for i in (0, 49)] == ["still", "moving"]
    assert inside_share(centres, document, axis=0) >= 0.95


def test_vertical_source_to_landscape_moves_vertically(tmp_path: Path) -> None:
    centres = np.stack([np.linspace(8, WIDTH - 8, 40), np.full(40, HEIGHT / 2)], axis=1)  # top to bottom
    video, maps = make_clip(tmp_path, centres, height=WIDTH, width=HEIGHT, sound=False)
    document = path_of(video, maps, tmp_path, aspect="16:9")
    assert document["output"] == {"width": HEIGHT, "height": 40}
    assert {f["x"] for f in document["frames"]} == {0} and len({f["y"] for f in document["frames"]}) > 10
    assert inside_share(centres, document, axis=1) >= 0.95
    assert decoded(tmp_path / f"{maps.name}.mp4")[:1] == (40,)


# ----------------------------------------------------------------------------------------------
# Padding, and bars


@pytest.fixture(scope="module")
def two_at_the_edges(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two white discs at both edges of a 16:9 frame, both salient: no 9:16 crop holds both."""
    folder = tmp_path_factory.mktemp("edges")
    centres = np.tile([[TALL / 2, 16.0], [TALL / 2, WIDE - 16.0]], (30, 1, 1))
    video = make_video(folder, centres, TALL, WIDE, sound=False, colours=WHITE)
    return video, write_maps(folder / "maps", disc_maps(centres, TALL, WIDE)), folder


def test_two_subjects_at_both_edges_are_padded_under_auto(two_at_the_edges: tuple[Path, Path, Path],
                                                           tmp_path: Path) -> None:
    video, maps, _ = two_at_the_edges
    document = path_of(video, maps, tmp_path, "--fit", "auto")
    regions = {(f["x"], f["y"], f["width"], f["height"], f["fit"], f["mode"]) for f in document["frames"]}
    [(x, y, width, height, fit, mode)] = regions
    assert (fit, mode, y, height) == ("pad", "still", 0, TALL) and x <= 16 - 9 and x + width >= WIDE - 16 + 9
    assert document["scenes"][0]["kept"] > 0.9 and document["output"] == {"width": WINDOW, "height": TALL}
    picture = first_frame(tmp_path / "maps.mp4").astype(int)
    strip = round(TALL / 2 - TALL * WINDOW / width / 2), round(TALL / 2 + TALL * WINDOW / width / 2)
    bright = picture[strip[0]:strip[1]].min(axis=2) > 170               # the two white discs, both in the picture
    assert bright[:, :WINDOW // 3].any() and bright[:, -WINDOW // 3:].any()
    assert picture[:strip[0] - 2].mean() < 0.7 * picture[strip[0]:strip[1]].mean()   # over a darkened copy


def test_a_crop_keeps_one_of_them_and_auto_crops_a_single_subject(two_at_the_edges: tuple[Path, Path, Path],
                                                                 tmp_path: Path) -> None:
    video, maps, folder = two_at_the_edges
    cropped = path_of(video, maps, tmp_path, "--fit", "crop")
    assert {f["fit"] for f in cropped["frames"]} == {"crop"} and cropped["scenes"][0]["kept"] < 0.6
    single = write_maps(tmp_path / "single", disc_maps(np.tile([[TALL / 2, 16.0]], (30, 1, 1)), TALL, WIDE))
    alone = path_of(video, single, tmp_path, "--fit", "auto")
    assert {(f["fit"], f["x"]) for f in alone["frames"]} == {("crop", 0)}
    assert path_of(video, single, tmp_path, "--fit", "pad")["frames"][0]["fit"] == "crop"   # it fits: no padding


@pytest.mark.parametrize("bars, picture", [((12, 12, 0, 0), (0, 12, WIDE, 72)), ((0, 0, 20, 20), (20, 0, 120, TALL))])
def test_bars_are_left_out_of_the_saliency_and_the_crop(tmp_path: Path, bars: tuple, picture: tuple) -> None:
    """Letterbox (12 rows above and below) and pillarbox (20 columns left and right) bars: maps brighter in a bar
    than at the disc (column 30) do not draw the crop into it, and the output shows no bar."""
    centres = np.tile([TALL / 2, 30.0], (30, 1, 1))
    video = make_video(tmp_path, centres, TALL, WIDE, sound=False, bars=bars)
    densities = 0.5 * disc_maps(centres, TALL, WIDE)
    densities[:, :8, :8] = densities[:, -8:, -8:] = densities[:, :, :8] = 1.0   # saliency in the bars' corners
    document = path_of(video, write_maps(tmp_path / "maps", densities), tmp_path)
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
    assert reframe.dark_borders(gray).tolist() == [10, 10, 30, 30]
    assert reframe.scene_picture(np.array([[10, 10, 30, 30], [11, 10, 0, 30]]), (200, 100)) == (0, 10, 170, 80)
    assert reframe.scene_picture(np.array([[1, 1, 1, 1]]), (200, 100)) == (0, 0, 200, 100)       # too thin
    assert reframe.scene_picture(np.array([[100, 100, 200, 200]]), (200, 100)) == (0, 0, 200, 100)  # all dark


# ----------------------------------------------------------------------------------------------
# Bad input: one line naming the flag or file, status 2, no output


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("small")
    return make_clip(folder, np.tile([HEIGHT / 2, 40.0], (12, 1)))


def spoil_count(maps: Path) -> None:
    """One map too few, under names that say no frame number (a sampled run's would)."""
    for number, item in enumerate(sorted(maps.iterdir())[:-1]):
        item.rename(maps / f"map_{number}.png")
    sorted(maps.iterdir())[-1].unlink()


def spoil_size(maps: Path) -> None:
    cv2.imwrite(str(sorted(maps.iterdir())[3]), np.zeros((50, 50), np.uint8))


@pytest.mark.parametrize("flags, spoil, named", [   # bad flags: tests/test_trust.py's BAD_FLAGS
    (["--aspect", "9:16"], spoil_count, "holds 11 maps"),
    (["--aspect", "9:16"], spoil_size, "00004.png"),
])
def test_bad_maps_are_one_line(small_clip: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture,
                               flags: list[str], spoil, named: str) -> None:
    video, maps = small_clip
    if spoil:
        copy = tmp_path / "maps"
        copy.mkdir()
        for item in maps.iterdir():
            (copy / item.name).write_bytes(item.read_bytes())
        spoil(copy)
        maps = copy
    out = tmp_path / "out" / "o.mp4"
    assert run(video, maps, out, "--path_json", str(tmp_path / "p.json"), *flags, aspect=None) == 2
    lines = error_lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0] and "\n" not in lines[0]
    assert not out.exists() and not (tmp_path / "p.json").exists()


def test_file_without_video_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sound_only = tmp_path / "sound.mp4"
    with av.open(str(sound_only), "w") as container:
        stream = container.add_stream("aac", rate=22050, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.rate, frame.pts = 22050, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert run(sound_only, tmp_path, tmp_path / "o.mp4") == 2
    assert error_lines(caplog) == [f"error: {sound_only} has no video track"]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), reframe.atomic_path(tmp_path / "o.mp4") as temporary:
        temporary.write_bytes(b"partial")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# The pieces


def test_best_position_centres_a_small_subject() -> None:
    profiles = np.zeros((2, 100))
    profiles[0, 60:64] = 1    # a subject narrower than the 20-pixel window: a plateau of best positions
    profiles[1, 10:12] = 1
    assert reframe.best_positions(profiles, 20).tolist() == [52.0, 1.0]  # centred, then clamped at the edge
    assert np.isnan(reframe.best_positions(np.zeros((1, 100)), 20)[0])


def test_smooth_path_keeps_steady_pans_and_bounded_speed() -> None:
    ramp = np.linspace(0, 90, 40)
    assert np.abs(reframe.smooth_path(ramp, 4.0) - ramp).max() < 1  # the acceleration penalty ignores a pan
    smoothed = reframe.smooth_path(ramp + np.random.default_rng(0).normal(0, 3, 40), 4.0)
    assert np.abs(np.diff(smoothed, 2)).max() < 0.5
    limited = reframe.limit_speed(np.r_[np.zeros(10), np.full(10, 50.0)], 5.0)
    assert np.abs(np.diff(limited)).max() <= 5.0 + 1e-9 and limited.min() >= 0 and limited.max() <= 50


def test_resampled_profiles_keep_their_mass() -> None:
    profiles = np.random.default_rng(1).random((3, 37))
    resampled = reframe.resample_profiles(profiles, 128)
    assert resampled.shape == (3, 128) and np.allclose(resampled.sum(axis=1), profiles.sum(axis=1))


# ----------------------------------------------------------------------------------------------
# Saliency from a model, run by the engine


def test_model_path_runs_the_checkpoints_model_with_the_sound(tmp_path: Path, caplog) -> None:
    """The model runs on the windows of the analysed frames alone (2 of 10 at 25 fps) and writes their maps, which
    the manifest names; a full-rate run there says it reuses them and makes the others."""
    centres = np.tile([HEIGHT / 2, 100.0], (10, 1))
    video, _ = make_clip(tmp_path, centres)
    weights = tmp_path / "avinet_small.pt"
    torch.save(deterministic_weights(VideoAudioSaliencyModel(frame_size=(32, 64))).state_dict(), weights)
    caplog.set_level(logging.INFO)
    status = reframe.main(["--video", str(video), "--aspect", "1:1", "--output", str(tmp_path / "o.mp4"),
                           "--file_weight", str(weights), "--frame_size", "32", "64",
                           "--save_path", str(tmp_path / "maps_out"), "--path_json", str(tmp_path / "p.json")])
    assert status == 0
    assert f"model: avinet (identified from {weights})" in caplog.messages
    assert "model: 2 of 10 frames analysed" in caplog.text
    maps = sorted((tmp_path / "maps_out" / video.stem).iterdir())
    assert [m.name for m in maps] == ["00003.png", "00008.png"]
    assert json.loads((tmp_path / "p.json").read_text())["analysed"] == [2, 7]
    assert cv2.imread(str(maps[0]), cv2.IMREAD_GRAYSCALE).shape == (HEIGHT, WIDTH)
    with av.open(str(tmp_path / "o.mp4")) as output:
        assert output.streams.video[0].frames == 10 and output.streams.video[0].codec_context.width == HEIGHT
    manifest = tmp_path / "maps_out" / f"{video.stem}.manifest.json"
    assert json.loads(manifest.read_text())["frames"] == [2, 7]   # a sampled run says so
    caplog.clear()
    assert generate_result_audio_visual.main(["--video", str(video), "--file_weight", str(weights), "--frame_size",
                                              "32", "64", "--save_path", str(tmp_path / "maps_out")]) == 0
    assert "holds the maps of 2 sampled frames (its manifest): the other frames' maps are made now" in caplog.text
    assert json.loads(manifest.read_text())["frames"] == "all"
    assert len(list((tmp_path / "maps_out" / video.stem).iterdir())) == 10
    caplog.clear()   # maps of other settings are refused before the scene pass, and kept
    status = reframe.main(["--video", str(video), "--aspect", "1:1", "--output", str(tmp_path / "o2.mp4"),
                           "--file_weight", str(weights), "--frame_size", "32", "64", "--precision", "bf16",
                           "--save_path", str(tmp_path / "maps_out")])
    assert status == 2 and "made with another precision (fp32 there, bf16 now)" in caplog.text
    assert not any(message.startswith("scenes:") for message in caplog.messages)
    assert len(list((tmp_path / "maps_out" / video.stem).iterdir())) == 10 and not (tmp_path / "o2.mp4").exists()
