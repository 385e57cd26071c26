"""Damaged media (tests/damaged_media.py makes the corpus): every frame a player shows gets its map, numbered by
its place in the video, and its place in the cut; lost sound is silence; one warning line per damaged file, the
same counts in the manifest; --strict_media refuses; nothing hangs or ends in a traceback."""
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import SMALL_FLAGS, deterministic_weights
from damaged_media import FPS, FRAMES, decoded_frames, encode, flip, make_corpus, packet_spans, scene, sound_decodes

import generate_result
import generate_result_audio_visual
import reframe
import vinet
from damage import Damage
from media import decode_audio, held_frames, probe_video
from registry import MODELS
from utils import AUDIO_RATE, InputError
from vinet.backends.calibration import calibration_windows

ROOT = Path(__file__).resolve().parents[1]
VINET_S_FLAGS = ["--model", "vinet-s", *SMALL_FLAGS]
CUT = re.compile(r"cut short: (\d+) of (\d+) frames missing at the end")
UNDECODABLE = re.compile(r"(\d+) of (\d+) frames undecodable")
SILENCE = re.compile(r"(\d+\.\d) s of sound (undecodable|missing)")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def vinet_s(tmp_path_factory) -> Path:
    """ViNet-S (the fastest model: the corpus runs through it) at 32x64."""
    path = tmp_path_factory.mktemp("weights") / "vinet_s_small.pt"
    torch.save(deterministic_weights(MODELS["vinet-s"].configured((32, 64)).build()).state_dict(), path)
    return path


def records(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def check_picture_damage(path: Path, warning: str | None, manifest: Path) -> None:
    """The warning and the manifest give the frames the oracle finds lost: undecodable ones and a cut end."""
    shown, readable, listed = decoded_frames(path)
    lost, cut = sorted(set(range(readable)) - set(shown)), max(0, listed - readable)
    damage = json.loads(manifest.read_text()).get("damage")
    if not lost and not cut:
        assert damage is None or not damage["frames_without_map"] and not damage["frames_missing_at_end"]
        assert warning is None or "frames" not in warning
        return
    assert warning and warning.startswith(f"{path.name}: "), warning
    assert damage["frames_without_map"] == lost and damage["frames_missing_at_end"] == cut
    assert [tuple(map(int, m)) for m in UNDECODABLE.findall(warning)] == ([(len(lost), readable)] if lost else [])
    assert [tuple(map(int, m)) for m in CUT.findall(warning)] == ([(cut, listed)] if cut else [])


def check_maps(path: Path, folder: Path) -> None:
    """Maps for exactly the frames the oracle decodes, named by their place in the video."""
    shown, _, _ = decoded_frames(path)
    assert sorted(int(p.stem) - 1 for p in folder.iterdir() if not p.name.startswith(".")) == shown, path.name


def run(main, argv: list[str], caplog) -> tuple[int, list[str], list[str]]:
    """A script's exit status, its error lines and its warning lines."""
    caplog.clear()
    status = main(argv)
    return status, records(caplog, logging.ERROR), records(caplog, logging.WARNING)


# ----------------------------------------------------------------------------------------------
# The pieces


def test_the_warning_line_says_what_was_lost_how_much_and_what_was_done():
    damage = Damage(Path("/data/clip.mp4"), 480, frames={111, 112, 113}, sound=[(12.1, 12.5, "undecodable")])
    assert damage.line() == ("clip.mp4: 3 of 480 frames undecodable (frames 112-114: no maps), 0.4 s of sound "
                             "undecodable at 12.1 s (silence)")
    cut = Damage(Path("clip.mp4"), 23, cut=17, sound=[(2.3, 4.0, "missing")])
    assert cut.line() == ("clip.mp4: cut short: 17 of 40 frames missing at the end (no maps), 1.7 s of sound "
                          "missing at the end, from 2.3 s (silence)")
    assert not Damage(Path("clip.mp4"), 10)
    with pytest.raises(InputError, match=r"^clip.mp4: 3 of 480 frames .*--strict_media refuses damaged files"):
        damage.make_strict()


def test_a_missing_frame_is_held_or_takes_the_nearest():
    frames = [None, "a", None, None, None, "b", None, None]
    assert list(held_frames(frames, Path("v.mp4"))) == ["a", "a", "a", "a", "a", "b", "b", "b"]
    assert list(held_frames(frames, Path("v.mp4"), nearest=True)) == ["a", "a", "a", "a", "b", "b", "b", "b"]
    with pytest.raises(InputError, match="v.mp4: no frame could be decoded"):
        list(held_frames([None, None], Path("v.mp4")))


def test_sound_that_does_not_decode_is_silence_in_its_place(tmp_path):
    clean = encode(tmp_path / "clean.mp4", scene(), FRAMES / FPS)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clean.read_bytes())
    spans = packet_spans(clean, "audio")[30:40]
    data = bytearray(broken.read_bytes())
    for a, b in spans:
        data[a:b] = bytes(b - a)
    broken.write_bytes(bytes(data))
    good, bad = decode_audio(clean, AUDIO_RATE), decode_audio(broken, AUDIO_RATE)
    assert good.gaps == [] and abs(len(bad.samples) - len(good.samples)) <= 1024
    [(start, end)] = bad.gaps
    assert end - start == pytest.approx(10 * 1024 / AUDIO_RATE, abs=2e-3)   # ten AAC packets of 1024 samples
    inside = slice(round((start - bad.start_time) * AUDIO_RATE) + 64, round((end - bad.start_time) * AUDIO_RATE) - 64)
    assert not bad.samples[inside].any() and good.samples[inside].std() > 10
    before = slice(0, round((start - bad.start_time) * AUDIO_RATE) - 2048)
    np.testing.assert_array_equal(bad.samples[before], good.samples[before])
    after = round((end - bad.start_time) * AUDIO_RATE) + 4096   # the decoder settles within a packet or two
    assert np.corrcoef(bad.samples[after:after + 8000], good.samples[after:after + 8000])[0, 1] > 0.99


def test_a_damaged_header_string_is_read_as_far_as_it_goes(corpus):
    info = probe_video(corpus["header_bad_utf8"])
    assert info.num_frames == FRAMES and not info.damage


# ----------------------------------------------------------------------------------------------
# The scripts on damaged files


def test_generate_maps_what_decodes_says_so_once_and_strict_media_refuses(tmp_path, corpus, vinet_s, caplog):
    caplog.set_level(logging.INFO)
    path = corpus["video_keyframe_zeroed"]
    common = ["--video", str(path), "--file_weight", str(vinet_s), *VINET_S_FLAGS]
    status, errors, warnings = run(generate_result.main, [*common, "--save_path", str(tmp_path / "out")], caplog)
    assert status == 0 and not errors
    assert warnings == ["video_keyframe_zeroed.mp4: 7 of 40 frames undecodable (frames 9-15: no maps)"]
    check_maps(path, tmp_path / "out" / path.stem)
    check_picture_damage(path, warnings[0], tmp_path / "out" / f"{path.stem}.manifest.json")
    status, errors, _ = run(generate_result.main, [*common, "--save_path", str(tmp_path / "strict"),
                                                   "--strict_media", "True"], caplog)
    assert status == 2 and "--strict_media refuses damaged files" in errors[0]


@pytest.mark.slow
def test_avinet_hears_silence_where_the_sound_is_lost_and_refuses_no_sound(tmp_path, corpus, avinet_small, caplog):
    caplog.set_level(logging.INFO)
    out = tmp_path / "out"
    common = ["--file_weight", str(avinet_small), *SMALL_FLAGS, "--save_path", str(out)]
    status, errors, warnings = run(generate_result_audio_visual.main,
                                   ["--video", str(corpus["sound_ends_early"]), *common], caplog)
    assert status == 0 and warnings == ["sound_ends_early.mp4: 2.0 s of sound missing at the end, from 2.0 s "
                                        "(silence)"]
    damage = json.loads((out / "sound_ends_early.manifest.json").read_text())["damage"]
    [span] = damage["silent_sound"]
    assert span["why"] == "missing" and span["to_s"] == pytest.approx(4.0)
    assert span["from_s"] == pytest.approx(2.0, abs=0.05)
    assert len(list((out / "sound_ends_early").iterdir())) == FRAMES and damage["frames_hearing_silence"]
    status, errors, _ = run(generate_result_audio_visual.main, ["--video", str(corpus["no_sound"]), *common], caplog)
    assert status == 2 and "no_sound.mp4 has no audio track" in errors[0]


@pytest.mark.slow
def test_reframe_keeps_the_sources_timing_over_a_lost_keyframe(tmp_path, corpus, caplog):
    caplog.set_level(logging.INFO)
    path = corpus["video_keyframe_zeroed"]
    status, errors, warnings = run(reframe.main, ["--video", str(path), "--untrained", "--model", "vinet-s",
                                                  *SMALL_FLAGS, "--aspect", "9:16", "--output",
                                                  str(tmp_path / "cut.mp4")], caplog)
    assert status == 0 and not errors
    assert [w for w in warnings if w.startswith(path.name)] == \
        ["video_keyframe_zeroed.mp4: 7 of 40 frames undecodable (frames 9-15: no maps)"]
    assert_same_timing(path, tmp_path / "cut.mp4")


def assert_same_timing(source: Path, cut: Path) -> None:
    """The cut has a frame at each readable frame's time of the source (a lost one shows the last good one)."""
    times = probe_video(source).frame_times
    with av.open(str(cut)) as container:
        stream = container.streams.video[0]
        shown = sorted(float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None)
    np.testing.assert_allclose(shown, times, atol=1e-3)


# ----------------------------------------------------------------------------------------------
# The corpus: 30 and more damaged copies through each script


@pytest.mark.slow
def test_every_damaged_copy_through_generate_and_reframe(tmp_path, corpus, vinet_s, caplog):
    caplog.set_level(logging.INFO)
    assert len(corpus) >= 30
    for name, path in corpus.items():
        shown, readable, _ = decoded_frames(path)
        out = tmp_path / "maps"
        status, errors, warnings = run(generate_result.main, ["--video", str(path), "--file_weight", str(vinet_s),
                                                              *VINET_S_FLAGS, "--save_path", str(out)], caplog)
        if not shown:
            assert status == 2 and len(errors) in (1, 2) and path.name in errors[0], (name, errors)
            assert not re.search(r"\[Errno|: *$", errors[0]), errors[0]
            continue
        assert status == 0 and not errors and len(warnings) <= 1, (name, errors, warnings)
        check_maps(path, out / path.stem)
        check_picture_damage(path, warnings[0] if warnings else None, out / f"{path.stem}.manifest.json")
        cut = tmp_path / f"{name}_cut.mp4"
        status, errors, again = run(reframe.main, ["--video", str(path), "--maps", str(out / path.stem),
                                                   "--aspect", "9:16", "--output", str(cut)], caplog)
        assert status == 0 and not errors, (name, errors)
        assert again == warnings, (name, again, warnings)
        assert_same_timing(path, cut)
        assert readable == probe_video(path).num_frames


@pytest.mark.slow
def test_every_damaged_copy_through_the_audio_visual_generate(tmp_path, corpus, avinet_small, caplog):
    caplog.set_level(logging.INFO)
    for name, path in corpus.items():
        shown, _, _ = decoded_frames(path)
        out = tmp_path / "maps"
        status, errors, warnings = run(generate_result_audio_visual.main,
                                       ["--video", str(path), "--file_weight", str(avinet_small), *SMALL_FLAGS,
                                        "--save_path", str(out)], caplog)
        if not shown or not sound_decodes(path):
            assert status == 2 and len(errors) in (1, 2) and path.name in errors[0], (name, errors)
            assert not re.search(r"\[Errno|: *$", errors[0]), errors[0]
            continue
        assert status == 0 and not errors and len(warnings) <= 1, (name, errors, warnings)
        check_maps(path, out / path.stem)
        manifest = out / f"{path.stem}.manifest.json"
        check_picture_damage(path, warnings[0] if warnings else None, manifest)
        damage = json.loads(manifest.read_text()).get("damage") or {"silent_sound": []}
        for why in ("undecodable", "missing"):
            seconds = sum(s["to_s"] - s["from_s"] for s in damage["silent_sound"] if s["why"] == why)
            told = [float(s) for s, cause in SILENCE.findall(warnings[0] if warnings else "") if cause == why]
            assert told == ([pytest.approx(seconds, abs=0.051)] if seconds else []), (name, warnings, damage)


def mutate(data: bytearray, rng: np.random.Generator) -> None:
    """One random damage: bytes flipped at a random rate, a block zeroed or inserted, a cut, the header scrambled."""
    kind, at = rng.integers(5), int(rng.integers(len(data)))
    if kind == 0:
        flip(data, 0, len(data), float(10 ** rng.uniform(-5, -2.5)), int(rng.integers(1 << 30)))
    elif kind == 1:
        length = int(rng.integers(16, 8192))
        data[at:at + length] = bytes(len(data[at:at + length]))
    elif kind == 2:
        data[at:at] = rng.integers(0, 256, int(rng.integers(1, 512)), dtype=np.uint8).tobytes()
    elif kind == 3:
        del data[int(len(data) * rng.uniform(0.05, 0.99)):]
    else:
        flip(data, 0, min(len(data), 4096), 0.002, int(rng.integers(1 << 30)))


@pytest.mark.slow
def test_fifty_random_mutations_end_by_themselves_with_the_maps_a_player_shows(tmp_path, corpus, vinet_s):
    rng = np.random.default_rng(2026)
    folder = next(iter(corpus.values())).parent
    sources = [folder / "plain.mp4", folder / "fast.mp4", folder / "plain.mkv"]
    for trial in range(50):
        source = sources[trial % 3]
        data = bytearray(source.read_bytes())
        for _ in range(int(rng.integers(1, 4))):
            mutate(data, rng)
        path = tmp_path / f"fuzz{trial:02d}{source.suffix}"
        path.write_bytes(bytes(data))
        result = subprocess.run([sys.executable, str(ROOT / "generate_result.py"), "--video", str(path),
                                 "--file_weight", str(vinet_s), *VINET_S_FLAGS, "--save_path", str(tmp_path / "out")],
                                capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert "Traceback" not in result.stderr, (trial, result.stderr[-2000:])
        shown, _, _ = decoded_frames(path)
        assert result.returncode == (0 if shown else 2), (trial, result.stderr[-2000:])
        if shown:
            check_maps(path, tmp_path / "out" / path.stem)
        else:
            assert path.name in result.stderr.strip().splitlines()[-1], (trial, result.stderr[-2000:])


def test_the_api_and_the_calibration_read_a_damaged_file_as_the_scripts_do(corpus, caplog):
    caplog.set_level(logging.INFO)
    path = corpus["video_keyframe_zeroed"]
    predictor = vinet.load(model="vinet-s", untrained=True, frame_size=(32, 64), device="cpu")
    assert [index for index, _ in predictor.predict(path)] == decoded_frames(path)[0]
    line = "video_keyframe_zeroed.mp4: 7 of 40 frames undecodable (frames 9-15: no maps)"
    assert records(caplog, logging.WARNING)[-1] == line
    caplog.clear()
    windows = calibration_windows(MODELS["vinet-s"].configured((32, 64)), [path], 4)
    assert len(windows) == 4 and records(caplog, logging.WARNING) == [line]
