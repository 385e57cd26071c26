"""Training on CrowdSAL and NTIRE 2026 (dataloader.BenchmarkDataset, video_clips): clips decoded straight from the
mp4s, targets from the 10-bit saliency videos, fixations from the JSON, the mp4's sound, the frame cache, the splits,
train.py end to end, and bad layouts refused at start-up in one line."""
import json
import os
import shutil

import numpy as np
import pytest
import torch
from conftest import ON_CPU

import train
from dataloader import BenchmarkDataset, clip_audio, frame_audio_windows, pixels_tensor, resize_fixations
from layouts import CROWDSAL, NTIRE2026, TRAIN, VALIDATION, read_fixation_events
from media import decode_audio, decode_video_frames, gray16_frames, probe_video
from synthetic import disc_paths, gaze_density
from utils import AUDIO_RATE, InputError, audio_buffer_length, map_to_uint16, resize_map
from video_clips import cache_key

SIZE = (32, 64)
DATA_SIZE = (72, 128)
T = 8
FRAMES = 40


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from synthetic import write_benchmark_set

    root = tmp_path_factory.mktemp("benchmarks")
    write_benchmark_set(root / "crowdsal", CROWDSAL, ("0001", "0002"), ("3001",), num_frames=FRAMES, size=DATA_SIZE)
    write_benchmark_set(root / "ntire", NTIRE2026, ("a1",), ("b1", "b2"), num_frames=24, size=DATA_SIZE)
    write_benchmark_set(root / "ntire_nested", NTIRE2026, ("a1",), ("b1",), num_frames=24, size=DATA_SIZE, nested=True)
    write_benchmark_set(root / "crowdsal_nested", CROWDSAL, ("x",), ("y",), num_frames=24, size=DATA_SIZE,
                        nested=True)
    return root


def decoded_frames(path, size=SIZE) -> list[np.ndarray]:
    """Every frame of a video, decoded in order and scaled as the dataset scales them."""
    return [frame.reformat(width=size[1], height=size[0], format="rgb24", interpolation="BILINEAR").to_ndarray()
            for frame in decode_video_frames(path)]


def test_training_clip_is_the_videos_frames_with_the_saliency_videos_target(data):
    dataset = BenchmarkDataset(data / "crowdsal", CROWDSAL, TRAIN, T, SIZE)
    assert [video.name for video in dataset.videos] == ["0001", "0002"] and len(dataset) == 2
    start, _ = dataset.draw_start(1, 1)
    sample = dataset[1]
    video = dataset.videos[1]
    frames = decoded_frames(video.video)
    expected = torch.stack([pixels_tensor(frames[i]) for i in range(start, start + T)], dim=1)
    assert sample["clip"].shape == (3, T, *SIZE) and torch.equal(sample["clip"], expected)
    native = list(gray16_frames(video.saliency))[start + T - 1].astype(np.float32) / 65535
    assert sample["map"].shape == SIZE and np.array_equal(sample["map"].numpy(), resize_map(native, SIZE[::-1]))
    events = read_fixation_events(video.fixations, video.name)[start + T - 1]
    binary = np.zeros(DATA_SIZE, bool)
    binary[events[:, 0], events[:, 1]] = True
    assert sample["fixations"].shape == SIZE and sample["fixations"].sum() == resize_fixations(binary, SIZE).sum()


def test_validation_targets_are_the_10_bit_maps_and_the_jsons_points_at_their_own_size(data):
    dataset = BenchmarkDataset(data / "crowdsal", CROWDSAL, VALIDATION, T, SIZE)
    assert [video.name for video in dataset.videos] == ["3001"]
    assert dataset.items == [(0, 0)]   # every 4 clip lengths, as DHF1K: starts range(0, 40 - 8, 32)
    sample = dataset[0]
    video = dataset.videos[0]
    decoded = list(gray16_frames(video.saliency))[T - 1].astype(np.float32) / 65535
    assert sample["map"].shape == DATA_SIZE and np.array_equal(sample["map"].numpy(), decoded)
    written = map_to_uint16(gaze_density(disc_paths(FRAMES, *DATA_SIZE, seed=1000), *DATA_SIZE)[T - 1]) / 65535
    assert np.abs(sample["map"].numpy() - written).max() < 0.01   # the 10-bit limited-range round trip
    points = json.loads(video.fixations.read_text())[T - 1]
    assert {tuple(p) for p in np.argwhere(sample["fixations"].numpy() > 0).tolist()} == {tuple(p) for p in points}


def test_frame_cache_gives_the_clips_of_direct_decoding_and_a_changed_video_another_file(data, tmp_path):
    direct = BenchmarkDataset(data / "crowdsal", CROWDSAL, TRAIN, T, SIZE, clips_per_video=2)
    cached = BenchmarkDataset(data / "crowdsal", CROWDSAL, TRAIN, T, SIZE, clips_per_video=2,
                              frame_cache=tmp_path / "cache")
    for index in range(4):
        assert all(torch.equal(a, b) for a, b in zip(direct[index].values(), cached[index].values()))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    again = BenchmarkDataset(data / "crowdsal", CROWDSAL, TRAIN, T, SIZE, frame_cache=tmp_path / "cache")
    assert torch.equal(again[0]["clip"], direct[0]["clip"]) and len(list((tmp_path / "cache").iterdir())) == 2
    copy = tmp_path / "0001.mp4"
    shutil.copy2(data / "crowdsal" / "Videos" / "0001.mp4", copy)
    key = cache_key(copy, SIZE)
    os.utime(copy, ns=(0, copy.stat().st_mtime_ns + 10**9))
    assert cache_key(copy, SIZE) != key != cache_key(copy, (64, 64))


def test_avinet_hears_the_mp4s_sound_windowed_as_the_audio_visual_sets(data):
    dataset = BenchmarkDataset(data / "crowdsal", CROWDSAL, TRAIN, T, SIZE, use_sound=True)
    start, _ = dataset.draw_start(0, 0)
    video = dataset.videos[0].video
    audio = decode_audio(video, rate=AUDIO_RATE)
    info = probe_video(video)
    expected = clip_audio(audio, *frame_audio_windows(info.frame_times, info.fps, audio), start, T,
                          audio_buffer_length(T))
    heard = dataset[0]["audio"]
    assert heard.shape == (1, audio_buffer_length(T), 1) and torch.equal(heard, expected) and heard.abs().max() > 1


@pytest.mark.parametrize("name,dataset,train_ids,test_ids", [
    ("ntire", NTIRE2026, ["a1"], ["b1", "b2"]),
    ("ntire_nested", NTIRE2026, ["a1"], ["b1"]),
    ("crowdsal_nested", CROWDSAL, ["x"], ["y"]),
])
def test_the_split_comes_from_the_ids_or_the_split_file(data, name, dataset, train_ids, test_ids):
    training = BenchmarkDataset(data / name, dataset, TRAIN, T, SIZE)
    validation = BenchmarkDataset(data / name, dataset, VALIDATION, T, SIZE)
    assert [v.name for v in training.videos] == train_ids and [v.name for v in validation.videos] == test_ids
    assert training[0]["clip"].shape == (3, T, *SIZE)


def test_a_layout_of_the_other_benchmark_is_named(data):
    with pytest.raises(InputError, match="holds the NTIRE2026 layout, not CrowdSAL's: pass --dataset NTIRE2026"):
        BenchmarkDataset(data / "ntire", CROWDSAL, TRAIN, T, SIZE)


def run_flags(root, dataset: str, out, *extra: str) -> list[str]:
    """A tiny ViNet run (8-frame 32x64 clips) on a benchmark folder, validated on its test split."""
    return ["--dataset", dataset, "--train_path_data", str(root), "--clip_size", "8", "--frame_size", "32", "64",
            "--no_workers", "0", "--batch_size", "2", "--model_val_path", str(out / "vinet.pt"), *ON_CPU, *extra]


@pytest.mark.slow
@pytest.mark.parametrize("name,dataset,extra", [
    ("crowdsal", CROWDSAL, ["--nss", "True"]),
    ("ntire", NTIRE2026, ["--frame_cache", "CACHE"]),
    ("ntire_nested", NTIRE2026, []),
])
def test_train_py_runs_two_epochs_on_a_benchmark_folder(data, tmp_path, name, dataset, extra):
    extra = [str(tmp_path / "cache") if flag == "CACHE" else flag for flag in extra]
    assert train.main(run_flags(data / name, dataset, tmp_path, "--no_epochs", "2", *extra)) == 0
    last = torch.load(tmp_path / "vinet_last.pt", weights_only=True)
    assert last["epoch"] == 2 and (tmp_path / "vinet.pt").is_file()
    assert not extra[:1] == ["--frame_cache"] or len(list((tmp_path / "cache").glob("*.npy"))) == 3


@pytest.mark.slow
def test_train_py_trains_avinet_on_the_videos_sound(data, tmp_path):
    flags = run_flags(data / "crowdsal", CROWDSAL, tmp_path, "--use_sound", "True", "--clip_size", "32",
                      "--no_epochs", "1")
    assert train.main(flags) == 0 and (tmp_path / "vinet.pt").is_file()


def broken(data, tmp_path, name: str, remove: str):
    """A copy of a benchmark folder without one of its folders or files."""
    root = tmp_path / name
    shutil.copytree(data / name, root)
    target = root / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    return root


@pytest.mark.parametrize("name,dataset,remove,message", [
    ("crowdsal", CROWDSAL, "Fixations", "error: folder not found: {root}/Fixations"),
    ("ntire", NTIRE2026, "Videos/b2.mp4", "error: b2: video not found: {root}/Videos/b2.mp4"),
    ("ntire_nested", NTIRE2026, "FixationsTrain", "error: folder not found: {root}/FixationsTrain"),
    ("ntire", CROWDSAL, "", "error: {root} holds the NTIRE2026 layout, not CrowdSAL's: pass --dataset NTIRE2026"),
])
def test_bad_layouts_are_one_line_at_start_up_and_exit_status_2(data, tmp_path, capsys, name, dataset, remove,
                                                                  message):
    root = broken(data, tmp_path, name, remove) if remove else data / name
    assert train.main(run_flags(root, dataset, tmp_path, "--no_epochs", "1")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == message.format(root=root) and "Traceback" not in "\n".join(err)


def test_frame_cache_and_ablations_are_refused_where_they_do_not_apply(data, tmp_path, capsys):
    dhf1k = ["--train_path_data", str(data), "--val_path_data", str(data), "--frame_cache", str(tmp_path)]
    assert train.main(dhf1k) == 2
    assert capsys.readouterr().err.startswith("error: --frame_cache holds frames decoded from videos")
    flags = run_flags(data / "crowdsal", CROWDSAL, tmp_path, "--use_sound", "True", "--audio_ablation", "silence")
    assert train.main(flags) == 2
    assert capsys.readouterr().err.startswith("error: --audio_ablation is studied on the audio-visual sets")


def test_clips_across_keyframes_and_b_frames_are_the_frames_decoding_in_order_gives(tmp_path):
    from media import VideoWriter
    from synthetic import render_frames
    from video_clips import ClipReader

    frames = render_frames(disc_paths(30, *DATA_SIZE, seed=3), *DATA_SIZE, seed=3)
    writer = VideoWriter(tmp_path / "gop.mp4", DATA_SIZE[::-1], fps=30)
    writer.x264 = {**writer.x264, "x264-params": "keyint=5:min-keyint=5:scenecut=0:bframes=3:open-gop=1"}
    with writer:
        for index, picture in enumerate(frames):
            writer.write(picture, index)
    expected = decoded_frames(tmp_path / "gop.mp4")
    reader = ClipReader(SIZE)
    for start in range(0, 30 - 4):
        clip = reader.rgb(tmp_path / "gop.mp4", list(range(start, start + 4)))
        assert all(np.array_equal(clip[i], expected[start + i]) for i in range(4)), start


def test_a_centred_window_rule_reads_its_frames_and_targets_its_middle_frame(data):
    from registry import WindowRule

    window = WindowRule(length=T, stride=2, centred=True, reverse_start=True)
    dataset = BenchmarkDataset(data / "crowdsal", CROWDSAL, VALIDATION, T, SIZE, window=window)
    target = (2 * (T - 1)) // 2   # the middle of the 15 frames the window spans from frame 0
    sample, video = dataset[0], dataset.videos[0]
    frames = decoded_frames(video.video)
    expected = torch.stack([pixels_tensor(frames[i]) for i in window.frames(target, FRAMES)], dim=1)
    assert torch.equal(sample["clip"], expected)
    assert np.array_equal(sample["map"].numpy(), list(gray16_frames(video.saliency))[target] / np.float32(65535))


def test_the_loader_benchmark_runs_alone(capsys):
    import benchmark

    assert benchmark.main(["--loader", "--steps", "--json", "never.json"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --loader times training's loader alone: run it without "
                                               "--steps, --processes, --reframe or --memory")
