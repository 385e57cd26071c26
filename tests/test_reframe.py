"""reframe.py end to end, on synthetic videos (tests/reframing_cases.py): its flags, its outputs (the cut with its
sound, the path JSON, the debug video), its one-line refusals and its model run; each stage's own tests are in
tests/test_reframing_<stage>.py."""
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
from reframing_cases import FPS, HEIGHT, WIDTH, crossing_centres, decoded, inside_share, make_clip, xs

import generate_result_audio_visual
import reframe
from model import VideoAudioSaliencyModel
from utils import atomic_path
from vinet.reframing.options import DEFAULT_ANALYSIS_FPS, ReframeOptions
from vinet.reframing.scenes import Scene, analysed_frames


def run(video: Path, maps: Path, out: Path, *extra: str, aspect: str | None = "9:16") -> int:
    return reframe.main(["--video", str(video), "--output", str(out), "--maps", str(maps),
                         *(["--aspect", aspect] if aspect else []), *extra])


def path_of(video: Path, maps: Path, folder: Path, *extra: str, aspect: str | None = "9:16") -> dict:
    """The path JSON of a run that must succeed."""
    assert run(video, maps, folder / f"{maps.name}.mp4", "--path_json", str(folder / "p.json"), *extra,
               aspect=aspect) == 0
    return json.loads((folder / "p.json").read_text())


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "reframe" and r.levelno >= logging.ERROR]

# ----------------------------------------------------------------------------------------------
# A disc crossing the frame: one run, several checks


@pytest.fixture(scope="module")
def crossing(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("crossing")
    centres = crossing_centres()
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
    scenes = [Scene(s["first"], s["last"], (0, 0, WIDTH, HEIGHT)) for s in document["scenes"]]
    picked = analysed_frames(scenes, FPS, DEFAULT_ANALYSIS_FPS)
    assert picked == [2, 7, 12, 17, 22, 27, 32, 37, 42, 47]
    sampled = tmp_path / "sampled"
    sampled.mkdir()
    for index in picked:
        shutil.copy(crossing["maps"] / f"{index + 1:05d}.png", sampled)
    thinned = path_of(crossing["video"], sampled, tmp_path)
    assert thinned["analysed"] == picked and {f["mode"] for f in thinned["frames"]} == {"moving"}
    assert np.mean(np.abs(xs(thinned) - xs(document)) <= 0.02 * WIDTH) >= 0.95


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
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "o.mp4") as temporary:
        temporary.write_bytes(b"partial")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []

# ----------------------------------------------------------------------------------------------
# Saliency from a model, run by the engine


@pytest.mark.slow
def test_model_path_runs_the_checkpoints_model_with_the_sound(tmp_path: Path, caplog) -> None:
    """The model runs on the windows of the analysed frames alone (2 of 10 at 25 fps) and writes their maps, which
    the manifest names; a full-rate run there says it reuses them and makes the others."""
    centres = np.tile([HEIGHT / 2, 100.0], (10, 1))
    video, _ = make_clip(tmp_path, centres)
    weights = tmp_path / "avinet_small.pt"
    torch.save(deterministic_weights(VideoAudioSaliencyModel(frame_size=(32, 64))).state_dict(), weights)
    caplog.set_level(logging.INFO)
    status = reframe.main(["--video", str(video), "--aspect", "1:1", "--output", str(tmp_path / "o.mp4"),
                           "--file_weight", str(weights), "--frame_size", "32", "64", "--precision", "fp32",
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


def test_flags_default_to_the_options_defaults() -> None:
    """argparse reads its defaults from ReframeOptions: no flag given, the options are the dataclass's own."""
    assert reframe.options_of(reframe.parse_args(["--video", "v.mp4", "--output", "o.mp4"])) == ReframeOptions()
