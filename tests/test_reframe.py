"""reframe.py on synthetic videos: a disc the saliency maps follow (a Gaussian at its centre), with sound."""
import json
import logging
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from conftest import deterministic_weights

import reframe
from model import VideoAudioSaliencyModel
from synthetic import gaze_density, render_frames, soundtrack, write_video

FPS = 25
HEIGHT, WIDTH = 72, 128


def make_clip(folder: Path, centres: np.ndarray, height: int = HEIGHT, width: int = WIDTH,
              backgrounds: list[tuple[int, tuple[int, int, int]]] = (), name: str = "clip.mp4",
              sound: bool = True, gaze: np.ndarray | None = None) -> tuple[Path, Path]:
    """A video of one disc at centres (N, 2) = (row, column) and its maps folder (a Gaussian at the disc, or
    at `gaze`); `backgrounds` paints frames from a given index on in one colour (a hard cut)."""
    paths = centres[:, None, :]
    frames = render_frames(paths, height, width, seed=5)
    for first, colour in backgrounds:
        disc = np.all(frames[first:] == (230, 60, 40), axis=-1)
        frames[first:] = np.where(disc[..., None], frames[first:], np.array(colour, np.uint8))
    video = folder / name
    write_video(str(video), frames, FPS, soundtrack(paths, FPS) if sound else None)
    maps = folder / f"{video.stem}_maps"
    maps.mkdir()
    for index, density in enumerate(gaze_density(paths if gaze is None else gaze[:, None, :], height, width)):
        cv2.imwrite(str(maps / f"{index + 1:05d}.png"), np.round(density * 255).astype(np.uint8))
    return video, maps


def run(video: Path, maps: Path, out: Path, *extra: str, aspect: str = "9:16") -> int:
    return reframe.main(["--video", str(video), "--aspect", aspect, "--output", str(out), "--maps", str(maps),
                         *extra])


def inside_share(centres: np.ndarray, document: dict, axis: int) -> float:
    """Share of frames whose disc centre lies in the crop (axis 0: columns, 1: rows)."""
    key, size = ("x", "width") if axis == 0 else ("y", "height")
    starts = np.array([frame[key] for frame in document["frames"]])
    coordinate = centres[:, 1 - axis]
    return float(np.mean((coordinate >= starts) & (coordinate < starts + document["crop"][size])))


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
    return {"status": status, "video": video, "out": out, "debug": debug, "centres": centres,
            "document": json.loads(path_json.read_text()) if path_json.exists() else None}


def test_crossing_disc_stays_in_the_crop(crossing: dict) -> None:
    assert crossing["status"] == 0
    document = crossing["document"]
    assert (document["crop"]["width"], document["crop"]["height"]) == (40, 72)
    assert inside_share(crossing["centres"], document, axis=0) >= 0.95
    centre_crop = {"crop": document["crop"], "frames": [{"x": (WIDTH - 40) // 2}] * 50}
    assert inside_share(crossing["centres"], centre_crop, axis=0) < 0.5
    assert {frame["mode"] for frame in document["frames"]} == {"tracking"}


def test_path_json_schema(crossing: dict) -> None:
    document = crossing["document"]
    assert document["source"] == {"width": WIDTH, "height": HEIGHT, "fps": FPS, "frames": 50}
    assert document["scenes"] == [[0, 49]]
    assert [frame["index"] for frame in document["frames"]] == list(range(50))
    for frame in document["frames"]:
        assert set(frame) == {"index", "x", "y", "scene", "mode"}
        assert all(type(frame[k]) is int for k in ("index", "x", "y", "scene"))
        assert 0 <= frame["x"] <= WIDTH - 40 and frame["y"] == 0 and frame["scene"] == 0


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


# ----------------------------------------------------------------------------------------------
# Still subjects, cuts, vertical sources


def test_still_subject_gets_one_constant_position(tmp_path: Path) -> None:
    centres = np.tile([HEIGHT / 2, 100.0], (30, 1))
    video, maps = make_clip(tmp_path, centres, sound=False)
    assert run(video, maps, tmp_path / "out.mp4", "--path_json", str(tmp_path / "p.json")) == 0
    frames = json.loads((tmp_path / "p.json").read_text())["frames"]
    assert {f["mode"] for f in frames} == {"still"} and len({f["x"] for f in frames}) == 1
    assert frames[0]["x"] < 100 < frames[0]["x"] + 40 and frames[0]["x"] != (WIDTH - 40) // 2


def test_cut_gives_one_jump_between_smooth_scenes(tmp_path: Path) -> None:
    left = np.tile([HEIGHT / 2, 20.0], (25, 1))  # scene 0: still on the left
    right = np.stack([np.full(25, HEIGHT / 2), np.linspace(118, 84, 25)], axis=1)  # scene 1: drifting, right
    centres = np.concatenate([left, right])
    gaze = centres + np.random.default_rng(2).normal(0, 3, centres.shape)  # noisy maps: jumpy targets
    video, maps = make_clip(tmp_path, centres, backgrounds=[(0, (20, 30, 90)), (25, (240, 200, 60))], gaze=gaze)
    assert run(video, maps, tmp_path / "out.mp4", "--path_json", str(tmp_path / "p.json")) == 0
    document = json.loads((tmp_path / "p.json").read_text())
    assert document["scenes"] == [[0, 24], [25, 49]]
    steps = np.abs(np.diff([f["x"] for f in document["frames"]]))
    assert np.flatnonzero(steps > 8).tolist() == [24] and steps[24] >= 40  # the jump, at the cut
    assert steps.max(initial=0, where=np.arange(49) != 24) <= 4            # smooth elsewhere
    assert [document["frames"][i]["mode"] for i in (0, 49)] == ["still", "tracking"]
    assert inside_share(centres, document, axis=0) >= 0.95


def test_vertical_source_to_landscape_moves_vertically(tmp_path: Path) -> None:
    centres = np.stack([np.linspace(8, WIDTH - 8, 40), np.full(40, HEIGHT / 2)], axis=1)  # top to bottom
    video, maps = make_clip(tmp_path, centres, height=WIDTH, width=HEIGHT, sound=False)
    assert run(video, maps, tmp_path / "out.mp4", "--path_json", str(tmp_path / "p.json"), aspect="16:9") == 0
    document = json.loads((tmp_path / "p.json").read_text())
    assert document["crop"] == {"width": HEIGHT, "height": 40}
    assert {f["x"] for f in document["frames"]} == {0} and len({f["y"] for f in document["frames"]}) > 10
    assert inside_share(centres, document, axis=1) >= 0.95
    assert decoded(tmp_path / "out.mp4")[:1] == (40,)


# ----------------------------------------------------------------------------------------------
# Bad input: one line naming the flag or file, status 2, no output


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("small")
    return make_clip(folder, np.tile([HEIGHT / 2, 40.0], (12, 1)))


def spoil_count(maps: Path) -> None:
    sorted(maps.iterdir())[-1].unlink()


def spoil_size(maps: Path) -> None:
    cv2.imwrite(str(sorted(maps.iterdir())[3]), np.zeros((50, 50), np.uint8))


@pytest.mark.parametrize("aspect, spoil, named", [
    ("abc", None, "--aspect"),
    ("16:9", None, "--aspect 16:9"),
    ("9:16", spoil_count, "holds 11 maps"),
    ("9:16", spoil_size, "00004.png"),
])
def test_bad_input_is_one_line(small_clip: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture,
                               aspect: str, spoil, named: str) -> None:
    video, maps = small_clip
    if spoil:
        copy = tmp_path / "maps"
        copy.mkdir()
        for item in maps.iterdir():
            (copy / item.name).write_bytes(item.read_bytes())
        spoil(copy)
        maps = copy
    out = tmp_path / "out" / "o.mp4"
    assert run(video, maps, out, "--path_json", str(tmp_path / "p.json"), aspect=aspect) == 2
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
    centres = np.tile([HEIGHT / 2, 100.0], (10, 1))
    video, _ = make_clip(tmp_path, centres)
    weights = tmp_path / "avinet_small.pt"
    torch.save(deterministic_weights(VideoAudioSaliencyModel(frame_size=(32, 64))).state_dict(), weights)
    caplog.set_level(logging.INFO)
    status = reframe.main(["--video", str(video), "--aspect", "1:1", "--output", str(tmp_path / "o.mp4"),
                           "--file_weight", str(weights), "--frame_size", "32", "64",
                           "--save_path", str(tmp_path / "maps_out")])
    assert status == 0
    assert f"model: avinet (identified from {weights})" in caplog.messages
    maps = sorted((tmp_path / "maps_out" / video.stem).iterdir())
    assert len(maps) == 10 and cv2.imread(str(maps[0]), cv2.IMREAD_GRAYSCALE).shape == (HEIGHT, WIDTH)
    with av.open(str(tmp_path / "o.mp4")) as output:
        assert output.streams.video[0].frames == 10 and output.streams.video[0].codec_context.width == HEIGHT
