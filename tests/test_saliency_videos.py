"""--output_format mp4: one 10-bit saliency video per input, as the 2026 benchmarks take them (vinet/engine/writers.py),
and the generate script's CrowdSAL / NTIRE 2026 splits."""
import errno
import json
import logging
import os

import av
import cv2
import numpy as np
import pytest
from conftest import ON_CPU, SMALL_FLAGS, save_frames, scene

import generate_result
import generate_result_audio_visual
import vinet
from layouts import CROWDSAL, NTIRE2026
from media import VideoWriter, gray16_frames, probe_video
from synthetic import write_benchmark_set, write_video
from utils import map_to_uint16, read_gray


def run_av(tmp_path, weights, *flags) -> int:
    return generate_result_audio_visual.main(["--file_weight", str(weights), *SMALL_FLAGS, *ON_CPU, *flags])


def error_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture
def clip(tmp_path):
    """A 13-frame 24 fps video with sound, of odd height (4:2:0 cannot hold it: the saliency video is 4:4:4)."""
    frames, sound = scene(13, height=37, width=54)
    write_video(str(tmp_path / "clip.mkv"), frames, 24.0, sound)
    return tmp_path / "clip.mkv"


@pytest.mark.slow
def test_a_saliency_video_has_the_sources_frames_and_the_png_maps(tmp_path, clip, avinet_small):
    assert run_av(tmp_path, avinet_small, "--video", str(clip), "--save_path", str(tmp_path / "png")) == 0
    assert run_av(tmp_path, avinet_small, "--video", str(clip), "--save_path", str(tmp_path / "mp4"),
                  "--output_format", "mp4") == 0
    assert sorted(p.name for p in (tmp_path / "mp4").iterdir()) == ["clip.manifest.json", "clip.mp4"]
    source, saliency = probe_video(clip), probe_video(tmp_path / "mp4" / "clip.mp4")
    assert (saliency.num_frames, saliency.size, saliency.has_audio) == (13, (54, 37), False)
    assert np.allclose(saliency.frame_times, source.frame_times)
    with av.open(str(tmp_path / "mp4" / "clip.mp4")) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv444p10le"
    pngs = sorted((tmp_path / "png" / "clip").iterdir())
    gaps = [np.abs(np.rint(frame / 257) - read_gray(png)).max() for frame, png in
            zip(gray16_frames(tmp_path / "mp4" / "clip.mp4"), pngs, strict=True)]
    assert max(gaps) <= 1
    assert json.loads((tmp_path / "mp4" / "clip.manifest.json").read_text())["output_format"] == "mp4"


@pytest.mark.slow
def test_a_rerun_resumes_and_maps_of_the_other_format_are_refused(tmp_path, clip, avinet_small, caplog):
    common = ["--video", str(clip), "--save_path", str(tmp_path / "out")]
    assert run_av(tmp_path, avinet_small, *common, "--output_format", "mp4") == 0
    made = tmp_path / "out" / "clip.mp4"
    stamp = made.stat().st_mtime_ns
    stale = tmp_path / "out" / ".clip.x1y2.tmp.mp4"   # what a killed encoder leaves
    stale.write_bytes(b"half a video")
    assert run_av(tmp_path, avinet_small, *common, "--output_format", "mp4") == 0
    assert made.stat().st_mtime_ns == stamp and not stale.exists()
    caplog.clear()
    assert run_av(tmp_path, avinet_small, *common) == 2
    assert error_lines(caplog) == [f"error: {tmp_path / 'out' / 'clip'} holds 1 maps made with another output_format "
                                   "(mp4 there, png now): rerun with the settings that made them to resume, pass "
                                   "--overwrite to redo them, or choose another --save_path"]
    assert run_av(tmp_path, avinet_small, *common, "--overwrite") == 0
    assert not made.exists() and len(list((tmp_path / "out" / "clip").iterdir())) == 13


def test_a_full_disk_is_one_line_and_leaves_no_video(tmp_path, clip, avinet_small, monkeypatch, caplog):
    real_write, frames = VideoWriter.write, []

    def fill_up(writer, picture, index):
        frames.append(index)
        if len(frames) > 3:   # the encoder has started a temporary file
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(writer, picture, index)
    monkeypatch.setattr(VideoWriter, "write", fill_up)
    assert run_av(tmp_path, avinet_small, "--video", str(clip), "--save_path", str(tmp_path / "out"),
                  "--output_format", "mp4") == 2
    assert error_lines(caplog)[0].startswith(f"cannot write saliency video {tmp_path / 'out' / 'clip.mp4'}: No "
                                             "space left on device; free some space")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["clip.manifest.json"]


def test_frame_folders_and_the_python_api_write_through_the_same_writer(tmp_path, vinet8):
    frames, _ = scene(10, height=32, width=48)
    save_frames(frames, tmp_path / "in" / "v" / "images")
    assert generate_result.main(["--path_indata", str(tmp_path / "in"), "--save_path", str(tmp_path / "cli"),
                                 "--file_weight", str(vinet8), "--clip_size", "8", "--output_format", "mp4",
                                 *SMALL_FLAGS, *ON_CPU]) == 0
    predictor = vinet.load(vinet8, clip_size=8, frame_size=(32, 64), device="cpu")
    written = vinet.save_maps(predictor, [tmp_path / "in" / "v" / "images"], tmp_path / "api", output_format="mp4")
    assert written == [tmp_path / "api" / "images.mp4"]
    from_cli, from_api = list(gray16_frames(tmp_path / "cli" / "v.mp4")), list(gray16_frames(written[0]))
    assert len(from_cli) == 10 and all(np.array_equal(a, b) for a, b in zip(from_cli, from_api))
    assert probe_video(written[0]).fps == 30.0   # frame folders carry no timestamps: the benchmarks' rate


def test_overlays_need_map_files(tmp_path, clip, avinet_small, caplog):
    assert run_av(tmp_path, avinet_small, "--video", str(clip), "--save_path", str(tmp_path / "out"),
                  "--output_format", "mp4", "--overlay", str(tmp_path / "o.mp4")) == 2
    assert error_lines(caplog) == ["error: --overlay is drawn from the map files: drop --overlay or --output_format "
                                   "mp4"]


@pytest.mark.parametrize("dataset, nested", [(CROWDSAL, False), pytest.param(CROWDSAL, True, marks=pytest.mark.slow),
                                             pytest.param(NTIRE2026, True, marks=pytest.mark.slow)])
def test_a_submission_maps_every_video_of_the_split(tmp_path, avinet_small, dataset, nested):
    root = write_benchmark_set(tmp_path / "set", dataset, ("0001",), ("3001", "3002", "3003"), num_frames=6,
                               size=(32, 48), nested=nested)
    assert run_av(tmp_path, avinet_small, "--path_indata", str(root), "--dataset", dataset, "--save_path",
                  str(tmp_path / "out"), "--output_format", "mp4") == 0
    # NTIRE's private test (3003 here) has no ground truth but is part of a submission
    assert sorted(p.name for p in (tmp_path / "out").glob("*.mp4")) == ["3001.mp4", "3002.mp4", "3003.mp4"]
    assert run_av(tmp_path, avinet_small, "--path_indata", str(root), "--dataset", dataset, "--subset", "train",
                  "--save_path", str(tmp_path / "train")) == 0
    assert os.listdir(tmp_path / "train" / "0001") and not (tmp_path / "train" / "3001").exists()


def test_bad_benchmark_folders_are_named(tmp_path, avinet_small, caplog):
    root = write_benchmark_set(tmp_path / "set", NTIRE2026, ("0001",), ("3001",), num_frames=4, size=(32, 48))
    args = ["--path_indata", str(root), "--save_path", str(tmp_path / "out")]
    assert run_av(tmp_path, avinet_small, *args, "--dataset", CROWDSAL) == 2
    assert error_lines(caplog)[-1] == f"error: {root} holds the NTIRE2026 layout, not CrowdSAL's: pass --dataset " \
                                      "NTIRE2026"
    assert run_av(tmp_path, avinet_small, *args, "--dataset", "AVAD", "--subset", "test") == 2
    assert "--subset chooses CrowdSAL's or NTIRE2026's split" in error_lines(caplog)[-1]
    (root / "TrainTestSplit.json").unlink()
    assert run_av(tmp_path, avinet_small, *args, "--dataset", NTIRE2026) == 2
    assert error_lines(caplog)[-1].startswith(f"error: {root / 'TrainTestSplit.json'} not found")


def test_maps_written_and_read_at_16_bits_are_the_same_every_time(tmp_path):
    # FFmpeg 8.1's threaded swscale garbles a run of 8 pixels of a 16-bit row now and then (about 1 frame in 200)
    rng = np.random.default_rng(0)
    maps = [map_to_uint16(cv2.GaussianBlur(rng.random((37, 54)).astype(np.float32), (11, 11), 0)) for _ in range(40)]
    write_saliency_frames(tmp_path / "maps.mp4", maps)
    first = list(gray16_frames(tmp_path / "maps.mp4"))
    assert max(np.abs(frame.astype(int) - written).max() for frame, written in zip(first, maps)) <= 110
    for _ in range(20):
        assert all(np.array_equal(a, b) for a, b in zip(gray16_frames(tmp_path / "maps.mp4"), first, strict=True))
    again = tmp_path / "again.mp4"
    write_saliency_frames(again, maps)
    assert again.read_bytes() == (tmp_path / "maps.mp4").read_bytes()


def write_saliency_frames(path, maps) -> None:
    with VideoWriter(path, (maps[0].shape[1], maps[0].shape[0]), fps=30.0, saliency=True) as writer:
        for index, gray in enumerate(maps):
            writer.write(gray, index)
