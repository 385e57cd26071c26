"""Inference: the original's maps from frame folders, video files with their sound, any length, resuming,
and one clear line for every bad input."""
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import ON_CPU, SMALL_FLAGS, deterministic_weights, save_frames, scene
from PIL import Image

import generate_result
import generate_result_audio_visual
from dataloader import frame_tensor
from media import decode_audio
from model import VideoSaliencyModel, ViNetA, ViNetE
from registry import WindowRule
from synthetic import write_video
from utils import IMAGENET_MEAN, IMAGENET_STD, VINET_A_MEAN, VINET_A_STD, InputError, postprocess_map
from vinet.loading import RunOptions, make_settings
from vinet.reference import original_loop
from vinet.training.process import setup_process

ROOT = Path(__file__).resolve().parents[1]
SMALL = (32, 64)


def read_maps(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(folder.iterdir())]


def test_frame_folders_give_the_originals_maps(tmp_path, vinet8):
    frames, _ = scene(17)
    save_frames(frames, tmp_path / "data" / "v1" / "images")
    save_frames(frames[:3], tmp_path / "data" / "v0" / "images", "{:04d}.jpg")
    common = ["--path_indata", str(tmp_path / "data"), "--file_weight", str(vinet8), "--clip_size", "8",
              *SMALL_FLAGS, *ON_CPU]
    assert generate_result.main([*common, "--save_path", str(tmp_path / "out"), "--exact"]) == 0
    assert generate_result.main([*common, "--save_path", str(tmp_path / "fast"), "--batch_size", "4"]) == 0

    model = VideoSaliencyModel(num_clips=8)
    model.load_state_dict(torch.load(vinet8, weights_only=True))
    want = original_loop(model.eval(), sorted((tmp_path / "data" / "v1" / "images").iterdir()), 8, SMALL)
    got = sorted((tmp_path / "out" / "v1").iterdir())
    assert [p.name for p in got] == sorted(want) == [f"{i:04d}.png" for i in range(1, 18)]
    for path in got:
        gray = np.asarray(Image.open(path))
        assert gray.shape == (37, 53) and gray.dtype == np.uint8
        assert np.array_equal(gray, want[path.name]), path.name
    # the default engine (batch norm folded, channels-last, batched) sums in another order:
    # at most one gray level apart, in a few pixels
    fast = np.stack(read_maps(tmp_path / "fast" / "v1")).astype(int)
    exact = np.stack([want[p.name] for p in got])
    assert np.abs(fast - exact).max() <= 1 and np.mean(fast != exact) < 2e-3
    # the 3-frame video, shorter than a clip, still gets a JPEG map per frame
    short = sorted((tmp_path / "out" / "v0").iterdir())
    assert [p.name for p in short] == ["0001.jpg", "0002.jpg", "0003.jpg"]
    assert Image.open(short[0]).format == "JPEG"


@pytest.mark.slow
def test_vinet_e_runs_from_its_two_checkpoints_given_in_any_order(tmp_path, caplog):
    paths = {"s": tmp_path / "vinet_s.pt", "a": tmp_path / "vinet_a.pt"}
    members = {"s": deterministic_weights(VideoSaliencyModel(grouped_conv=True)), "a": deterministic_weights(ViNetA())}
    for key, member in members.items():
        torch.save(member.state_dict(), paths[key])
    frames, _ = scene(3, seed=2)
    save_frames(frames, tmp_path / "data" / "v" / "images")
    flags = ["--path_indata", str(tmp_path / "data"), "--frame_size", "64", "96", "--exact", *ON_CPU]
    with caplog.at_level(logging.INFO):
        assert generate_result.main([*flags, "--save_path", str(tmp_path / "e"), "--file_weight",
                                     str(paths["a"]), str(paths["s"])]) == 0
    assert "vinet-e" in caplog.text
    # the reference: ViNet-S's causal window (clamped) and ViNet-A's centred one at stride 2, each normalised
    # its own way, the two maps combined by ViNet-E, saved as ViNet's
    ensemble = ViNetE()
    ensemble.vinet_s, ensemble.vinet_a = members["s"], members["a"]
    images = [Image.open(p).convert("RGB") for p in sorted((tmp_path / "data" / "v" / "images").iterdir())]
    rules = {"s": (WindowRule(32, reverse_start=False), IMAGENET_MEAN, IMAGENET_STD),
             "a": (WindowRule(32, stride=2, centred=True), VINET_A_MEAN, VINET_A_STD)}
    got = sorted((tmp_path / "e" / "v").iterdir())
    assert len(got) == 3
    for i, path in enumerate(got):
        clips = [torch.stack([frame_tensor(images[j], (64, 96), mean, std) for j in rule.frames(i, 3)], 1)[None]
                 for rule, mean, std in rules.values()]
        with torch.no_grad():
            want = postprocess_map(ensemble(*clips).numpy()[0], images[i].size)
        assert np.array_equal(np.asarray(Image.open(path)), want), path.name
    caplog.clear()
    assert generate_result.main([*flags, "--save_path", str(tmp_path / "one"), "--model", "vinet-e",
                                 "--file_weight", str(paths["a"])]) == 2
    assert "vinet-e takes one checkpoint of each of vinet-s, vinet-a" in caplog.text


@pytest.mark.slow
def test_batches_give_the_same_maps_and_a_rerun_resumes(tmp_path, vinet8):
    frames, _ = scene(12, seed=1)
    save_frames(frames, tmp_path / "data" / "clip" / "images")
    common = ["--path_indata", str(tmp_path / "data"), "--file_weight", str(vinet8), "--clip_size", "8",
              *SMALL_FLAGS, *ON_CPU]
    assert generate_result.main([*common, "--save_path", str(tmp_path / "one")]) == 0
    assert generate_result.main([*common, "--save_path", str(tmp_path / "three"), "--batch_size", "3"]) == 0
    one, three = np.stack(read_maps(tmp_path / "one" / "clip")), np.stack(read_maps(tmp_path / "three" / "clip"))
    assert one.shape == three.shape == (12, 37, 53)
    # batched kernels may sum in another order: a few pixels one gray level apart, never more
    assert np.abs(one.astype(int) - three).max() <= 1 and np.mean(one != three) < 1e-3
    assert generate_result.main([*common, "--save_path", str(tmp_path / "exact3"), "--batch_size", "3",
                                 "--exact"]) == 0
    assert generate_result.main([*common, "--save_path", str(tmp_path / "exact1"), "--exact"]) == 0
    assert np.array_equal(np.stack(read_maps(tmp_path / "exact3" / "clip")),
                          np.stack(read_maps(tmp_path / "exact1" / "clip")))

    out = tmp_path / "exact3" / "clip"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    kept = read_maps(out)
    (out / "0002.png").unlink()
    (out / "0011.png").unlink()
    assert generate_result.main([*common, "--save_path", str(tmp_path / "exact3"), "--batch_size", "3",
                                 "--exact"]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert sorted(name for name in after if after[name] != before[name]) == ["0002.png", "0011.png"]
    assert all(np.array_equal(a, b) for a, b in zip(kept, read_maps(out), strict=True))
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temporary files are left"


def test_bf16_maps_correlate_with_fp32_above_0_99(tmp_path, vinet8):
    frames, _ = scene(12, seed=2)
    save_frames(frames, tmp_path / "data" / "clip" / "images")
    common = ["--path_indata", str(tmp_path / "data"), "--file_weight", str(vinet8), "--clip_size", "8",
              *SMALL_FLAGS]
    assert generate_result.main([*common, "--save_path", str(tmp_path / "fp32"), "--exact"]) == 0
    assert generate_result.main([*common, "--save_path", str(tmp_path / "bf16"), "--precision", "bf16"]) == 0
    full = np.stack(read_maps(tmp_path / "fp32" / "clip")).reshape(12, -1).astype(float)
    half = np.stack(read_maps(tmp_path / "bf16" / "clip")).reshape(12, -1).astype(float)
    assert full.std(1).min() > 10, "the maps have contrast to compare"
    assert not np.array_equal(full, half), "bf16 computes in another precision"
    assert min(np.corrcoef(a, b)[0, 1] for a, b in zip(full, half)) >= 0.99


@pytest.mark.parametrize("num_frames,suffix", [(1, ".avi"), (5, ".mkv"),
                                               pytest.param(40, ".mkv", marks=pytest.mark.slow)])
def test_videos_of_any_length_give_a_map_per_frame_equal_to_their_frame_folder(tmp_path, vinet8,
                                                                               num_frames, suffix):
    frames, _ = scene(num_frames, seed=num_frames)
    write_video(str(tmp_path / f"walk{suffix}"), frames, 10.0)
    save_frames(frames, tmp_path / "folders" / "walk" / "images", "{:05d}.png")
    common = ["--file_weight", str(vinet8), "--clip_size", "8", *SMALL_FLAGS]
    assert generate_result.main(["--video", str(tmp_path / f"walk{suffix}"), "--save_path", str(tmp_path / "v"),
                                 *common]) == 0
    assert generate_result.main(["--path_indata", str(tmp_path / "folders"), "--save_path", str(tmp_path / "f"),
                                 *common]) == 0
    from_video, from_folder = sorted((tmp_path / "v" / "walk").iterdir()), sorted((tmp_path / "f" / "walk").iterdir())
    assert [p.name for p in from_video] == [f"{i:05d}.png" for i in range(1, num_frames + 1)]
    for a, b in zip(from_video, from_folder, strict=True):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
        assert np.asarray(Image.open(a)).shape == (37, 53)


def test_torchrun_processes_share_a_gpu_to_predict_and_are_refused_one_to_train(monkeypatch):
    """Two processes on a one-GPU machine: generate's second process takes cuda:0 too; train's NCCL needs a GPU
    per process, so it says so in one line before joining a process group."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert make_settings(RunOptions(device="auto")).device == torch.device("cuda", 0)
    with pytest.raises(InputError, match=r"more processes on this machine than its 1 CUDA devices.*"
                                         r"use --nproc_per_node 1 \(or --device cpu\)"):
        setup_process("auto", deterministic=False)


@pytest.mark.slow
def test_torchrun_shares_the_videos_and_gives_the_maps_of_one_process(tmp_path, vinet8):
    for seed, name in enumerate("abc"):
        save_frames(scene(5 + seed, seed=seed)[0], tmp_path / "data" / name / "images")
    command = ["generate_result.py", "--path_indata", str(tmp_path / "data"), "--file_weight", str(vinet8),
               *SMALL_FLAGS, "--exact", "--workers", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}   # as torchrun sets it: the same kernels in both runs
    one = subprocess.run([sys.executable, *command, "--save_path", str(tmp_path / "one")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          *command, "--save_path", str(tmp_path / "two")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    assert two.stderr.count("maps: ") == 3, "each video is done by one of the two processes"
    maps = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    assert len(maps) == 5 + 6 + 7
    assert maps == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*.png"))
    assert all((tmp_path / "one" / m).read_bytes() == (tmp_path / "two" / m).read_bytes() for m in maps)


def write_audio_visual_root(root: Path, name: str, frames: np.ndarray, wave: np.ndarray, fps: float = 10.0) -> None:
    """The STAViS layout for one AVAD video in fold 1, the wav as float samples at 22,050 Hz."""
    save_frames(frames, root / "video_frames" / "AVAD" / name, "img_{:05d}.png")
    wav = root / "video_audio" / "AVAD" / name / f"{name}.wav"
    wav.parent.mkdir(parents=True)
    with av.open(str(wav), "w") as container:
        stream = container.add_stream("pcm_f32le", rate=22050, layout="mono")
        if len(wave):
            frame = av.AudioFrame.from_ndarray(wave[None].astype(np.float32), format="flt", layout="mono")
            frame.rate = 22050
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    (root / "fold_lists").mkdir()
    (root / "fold_lists" / "AVAD_list_test_1_fps.txt").write_text(f"{name} {len(frames)} {fps}\n")


@pytest.mark.slow
def test_six_channel_video_equals_its_audio_visual_dataset_layout(tmp_path, avinet_small):
    frames, wave = scene(34, seed=6)
    write_video(str(tmp_path / "talk.mkv"), frames, 10.0, wave, channels=6)
    decoded = decode_audio(tmp_path / "talk.mkv", rate=22050)
    write_audio_visual_root(tmp_path / "root", "talk", frames, decoded.samples / 256)

    common = ["--file_weight", str(avinet_small), *SMALL_FLAGS, "--batch_size", "2"]
    assert generate_result_audio_visual.main(["--video", str(tmp_path / "talk.mkv"), "--save_path",
                                              str(tmp_path / "v"), "--overlay", str(tmp_path / "o.mp4"), *common]) == 0
    assert generate_result_audio_visual.main(["--path_indata", str(tmp_path / "root"), "--dataset", "AVAD",
                                              "--split", "1", "--use_sound", "True", "--save_path",
                                              str(tmp_path / "f"), *common]) == 0
    from_video, from_folder = read_maps(tmp_path / "v" / "talk"), read_maps(tmp_path / "f" / "talk")
    assert len(from_video) == len(from_folder) == 34
    assert all(np.array_equal(a, b) for a, b in zip(from_video, from_folder, strict=True))

    with av.open(str(tmp_path / "o.mp4")) as overlay:
        assert overlay.streams.video[0].frames == 34
        assert overlay.streams.video[0].average_rate == 10
        assert overlay.streams.audio[0].rate == 22050
        assert overlay.streams.audio[0].duration * overlay.streams.audio[0].time_base > 3.3


@pytest.mark.slow
def test_silenced_sound_changes_avinets_maps(tmp_path, avinet_small):
    frames, wave = scene(33, seed=3)
    write_video(str(tmp_path / "s.mkv"), frames, 10.0, wave)  # mono
    common = ["--video", str(tmp_path / "s.mkv"), "--file_weight", str(avinet_small), *SMALL_FLAGS]
    assert generate_result_audio_visual.main([*common, "--save_path", str(tmp_path / "a")]) == 0
    assert generate_result_audio_visual.main([*common, "--save_path", str(tmp_path / "b"),
                                              "--audio_ablation", "silence"]) == 0
    differing = sum(not np.array_equal(a, b) for a, b in zip(read_maps(tmp_path / "a" / "s"),
                                                             read_maps(tmp_path / "b" / "s"), strict=True))
    assert differing >= 30


def error_line(caplog) -> str:
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    return errors[0]


def test_bad_inputs_give_one_line_naming_the_file(tmp_path, vinet8, avinet_small, caplog):
    frames, _ = scene(6)
    write_video(str(tmp_path / "mute.mkv"), frames, 10.0)
    caplog.set_level(logging.INFO)

    assert generate_result_audio_visual.main(["--video", str(tmp_path / "mute.mkv"), "--file_weight",
                                              str(avinet_small), *SMALL_FLAGS]) == 2
    assert "mute.mkv has no audio track" in error_line(caplog) and "--use_sound False" in error_line(caplog)

    caplog.clear()
    assert generate_result.main(["--path_indata", str(tmp_path / "missing"), "--file_weight", str(vinet8)]) == 2
    assert "input folder not found" in error_line(caplog) and "missing" in error_line(caplog)

    caplog.clear()
    assert generate_result.main(["--video", str(tmp_path / "mute.mkv"), "--batch_size", "0"]) == 2
    assert "argument --batch_size: expected a whole number of at least 1, got '0'" in error_line(caplog)
    caplog.clear()
    assert generate_result.main(["--video", str(tmp_path / "mute.mkv"), "--exact", "--precision", "bf16"]) == 2
    assert "--exact computes as the original: fp32" in error_line(caplog)

    caplog.clear()
    (tmp_path / "notes.txt").write_text("hello")
    assert generate_result.main(["--video", str(tmp_path / "notes.txt")]) == 2
    assert "unsupported video file" in error_line(caplog) and "notes.txt" in error_line(caplog)

    caplog.clear()
    assert generate_result.main(["--video", str(tmp_path / "mute.mkv"), "--file_weight", str(avinet_small)]) == 2
    assert "'avinet' layout" in error_line(caplog) or "'avinet'" in error_line(caplog)
    assert "avinet_small.pt" in error_line(caplog)

    caplog.clear()
    save_frames(frames, tmp_path / "data" / "good" / "images")
    save_frames(frames, tmp_path / "data" / "broken" / "images")
    (tmp_path / "data" / "broken" / "images" / "0004.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert generate_result.main(["--path_indata", str(tmp_path / "data"), "--save_path", str(out), "--file_weight",
                                 str(vinet8), "--clip_size", "8", *SMALL_FLAGS]) == 2
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("cannot read frame" in m and "0004.png" in m for m in messages)
    assert messages[-1].startswith("1 of 2 videos failed: broken (cannot read frame ") and "0004.png" in messages[-1]
    assert len(list((out / "good").iterdir())) == 6, "the other videos are still processed"


def test_an_empty_wav_and_a_bad_split_are_named(tmp_path, avinet_small, caplog):
    frames, _ = scene(4)
    write_audio_visual_root(tmp_path / "root", "quiet", frames, np.zeros(0, np.float32))
    caplog.set_level(logging.INFO)
    args = ["--path_indata", str(tmp_path / "root"), "--dataset", "AVAD", "--file_weight", str(avinet_small),
            *SMALL_FLAGS]
    assert generate_result_audio_visual.main(args) == 2
    assert "quiet.wav" in error_line(caplog)

    caplog.clear()
    shutil.rmtree(tmp_path / "root" / "fold_lists")
    assert generate_result_audio_visual.main([*args, "--split", "7"]) == 2   # refused before any fold list is read
    assert error_line(caplog) == ("error: argument --split: expected a whole number from 1 to 3, got '7' "
                                  "(--help lists the flags)")
