"""Training datasets on synthetic data in every layout: clips, targets, padding, seeded starts, empty maps,
audio as inference makes it, ablations, start-up errors; and the generator's sounding scenes."""
import shutil

import numpy as np
import pytest
import scipy.io
import scipy.io.wavfile
import torch

from dataloader import (
    AudioVisualDataset,
    DHF1KDataset,
    HollywoodUCFDataset,
    SoundDataset,
    clip_audio,
    collate_clips,
    frame_audio_windows,
    frame_tensor,
    read_image,
    resize_fixations,
)
from extras.make_datasets import PITCHES, write_audio_visual, write_dhf1k, write_hollywood
from layouts import TRAIN, VALIDATION, read_fixations
from media import load_wav
from utils import InputError, audio_buffer_length

SIZE = (32, 64)
DATA_SIZE = (36, 64)
T = 8


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    write_dhf1k(root / "dhf1k", num_videos=2, num_frames=40, size=DATA_SIZE, empty_frames=12)
    write_hollywood(root / "hollywood", num_frames=[5, 12, 20], size=DATA_SIZE)
    write_audio_visual(root / "av", datasets=("AVAD", "DIEM"), videos_per_dataset=3, num_frames=40, size=DATA_SIZE)
    write_audio_visual(root / "sounding", datasets=("DIEM",), videos_per_dataset=4, num_frames=40, size=DATA_SIZE,
                       sound_decides=True)
    return root


def test_dhf1k_training_clip_is_frames_and_last_frames_targets_at_frame_size(data):
    dataset = DHF1KDataset(data / "dhf1k", TRAIN, T, SIZE)
    sample = dataset[0]
    video = dataset.videos[0]
    start = next(s for s in range(40) if torch.equal(sample["clip"][:, 0], frame_tensor(read_image(video.frames[s]),
                                                                                         SIZE)))
    assert sample["clip"].shape == (3, T, *SIZE)
    assert torch.equal(sample["clip"][:, -1], frame_tensor(read_image(video.frames[start + T - 1]), SIZE))
    assert sample["map"].shape == SIZE and 0.9 < sample["map"].max() <= 1
    native = read_fixations(video.fixations[start + T - 1])
    assert sample["fixations"].shape == SIZE and set(sample["fixations"].unique().tolist()) == {0.0, 1.0}
    assert sample["fixations"].sum() == resize_fixations(native, SIZE).sum() > 0


def test_validation_keeps_the_ground_truths_size_and_the_originals_starts(data):
    # clips of 4 start at range(0, 40 - 4, 16) = [0, 16, 32]; the first ends in the 12 empty leading maps
    short = DHF1KDataset(data / "dhf1k", VALIDATION, 4, SIZE)
    assert short.items == [(0, 16), (0, 32), (1, 16), (1, 32)]
    sample = short[0]
    assert sample["map"].shape == DATA_SIZE and sample["fixations"].shape == DATA_SIZE


def test_a_validation_set_without_usable_clips_fails_at_start_up(data):
    with pytest.raises(InputError, match="no validation clips"):
        DHF1KDataset(data / "dhf1k", VALIDATION, T, SIZE)  # range(0, 32, 32) = [0] ends on an empty map


def test_training_starts_are_seeded_by_seed_epoch_and_index_and_skip_empty_maps(data):
    dataset = DHF1KDataset(data / "dhf1k", TRAIN, T, SIZE, clips_per_video=8)
    starts = [dataset.draw_start(i % 2, i)[0] for i in range(16)]
    assert min(starts) >= 12 - T + 1   # the first 12 maps are empty: no target among them
    assert len(set(starts)) > 3
    again = DHF1KDataset(data / "dhf1k", TRAIN, T, SIZE, clips_per_video=8)
    assert [again.draw_start(i % 2, i)[0] for i in reversed(range(16))] == starts[::-1]  # order-independent
    again.set_epoch(1)
    assert [again.draw_start(i % 2, i)[0] for i in range(16)] != starts
    other_seed = DHF1KDataset(data / "dhf1k", TRAIN, T, SIZE, seed=1, clips_per_video=8)
    assert [other_seed.draw_start(i % 2, i)[0] for i in range(16)] != starts


def test_hollywood_pads_short_clips_with_their_first_frame_and_validates_every_clip_length(data):
    dataset = HollywoodUCFDataset(data / "hollywood", VALIDATION, T, SIZE)
    # lengths 5, 12, 20: range(0, n - 8, 8) plus (0) for a clip no longer than 8
    assert dataset.items == [(0, 0), (1, 0), (2, 0), (2, 8)]
    short = dataset[0]
    video = dataset.videos[0]
    first = frame_tensor(read_image(video.frames[0]), SIZE)
    for t in range(4):
        assert torch.equal(short["clip"][:, t], first)
    for t in range(5):
        assert torch.equal(short["clip"][:, 3 + t], frame_tensor(read_image(video.frames[t]), SIZE))
    train_sample = HollywoodUCFDataset(data / "hollywood", TRAIN, T, SIZE)[0]
    assert train_sample["clip"].shape == (3, T, *SIZE)


def test_audio_visual_clip_has_the_audio_inference_computes_and_the_originals_starts(data):
    dataset = AudioVisualDataset(data / "av", "AVAD", 1, VALIDATION, 32, SIZE)
    assert [start for _, start in dataset.items] == [0]          # range(0, 40 - 32, 64)
    assert [v.name for v in dataset.videos] == ["avad_001"]      # fold 1 tests every third video
    video = dataset.videos[0]
    audio = load_wav(video.audio)
    starts, ends = frame_audio_windows(np.arange(40) * (1.0 / 25), 25, audio)
    expected = clip_audio(audio, starts, ends, 0, 32, audio_buffer_length(32))
    sample = dataset[0]
    assert sample["audio"].shape == (1, 70560, 1)
    assert torch.equal(sample["audio"], expected) and sample["audio"].abs().max() > 10
    assert sample["fixations"].shape == DATA_SIZE and sample["fixations"].sum() > 0
    train_sample = AudioVisualDataset(data / "av", "AVAD", 1, TRAIN, 32, SIZE)[0]
    assert train_sample["map"].shape == SIZE and train_sample["audio"].shape == (1, 70560, 1)


def test_sound_dataset_concatenates_the_chosen_sets_and_batches_mixed_sizes(data):
    train_set = SoundDataset(data / "av", 2, TRAIN, datasets=("AVAD", "DIEM"), clip_length=32, frame_size=SIZE)
    assert len(train_set) == 2 + 2      # AVAD fold 2 trains on 2 of 3 videos; DIEM's one split as well
    train_set.set_epoch(3)
    assert all(d.epoch == 3 for d in train_set.datasets)
    no_sound = SoundDataset(data / "av", 1, TRAIN, datasets=("DIEM",), clip_length=32, frame_size=SIZE,
                            use_sound=False)
    assert "audio" not in no_sound[0]
    maps = [torch.zeros(4, 6), torch.zeros(5, 6)]
    batch = collate_clips([{"clip": torch.zeros(3, 2), "map": m} for m in maps])
    assert batch["clip"].shape == (2, 3, 2) and isinstance(batch["map"], list)


def test_audio_ablations_silence_or_swap_the_soundtrack(data):
    def validation(ablation):
        return AudioVisualDataset(data / "sounding", "DIEM", 1, VALIDATION, 32, SIZE, audio_ablation=ablation)
    recorded, silenced, shuffled = validation("none"), validation("silence"), validation("shuffle")
    assert [v.name for v in recorded.videos] == ["diem_001", "diem_004"] and recorded.items == [(0, 0), (1, 0)]
    assert torch.equal(silenced[0]["audio"], torch.zeros(1, 70560, 1))
    assert torch.equal(silenced[0]["clip"], recorded[0]["clip"])
    assert torch.equal(shuffled[0]["audio"], recorded[1]["audio"])
    assert torch.equal(shuffled[1]["audio"], recorded[0]["audio"])
    assert not torch.equal(recorded[0]["audio"], recorded[1]["audio"])
    with pytest.raises(InputError, match="needs two videos"):
        AudioVisualDataset(data / "av", "AVAD", 1, VALIDATION, 32, SIZE, audio_ablation="shuffle")


def test_the_sounding_scene_pitch_names_the_watched_disc(data):
    for index, watched in ((1, 0), (2, 1)):
        video = data / "sounding"
        rate, wave = scipy.io.wavfile.read(video / "video_audio" / "DIEM" / f"diem_{index:03d}" /
                                           f"diem_{index:03d}.wav")
        spectrum = np.abs(np.fft.rfft(wave.astype(np.float64)))
        assert np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()] == pytest.approx(PITCHES[watched], abs=2)
        annotations = video / "annotations" / "DIEM" / f"diem_{index:03d}"
        fixations = scipy.io.loadmat(annotations / "fixMap_00010.mat")["eyeMap"]
        frame = np.asarray(read_image(video / "video_frames" / "DIEM" / f"diem_{index:03d}" / "img_00010.jpg"))
        rows, cols = np.nonzero(fixations)
        colour = frame[int(np.median(rows)), int(np.median(cols))].astype(int)
        assert colour[0] - colour[2] > 80 if watched == 0 else colour[2] - colour[0] > 80


def test_missing_or_malformed_folders_fail_at_construction_naming_them(data, tmp_path):
    with pytest.raises(InputError, match="dataset folder not found"):
        DHF1KDataset(tmp_path / "nowhere", TRAIN, T, SIZE)
    broken = tmp_path / "dhf1k"
    shutil.copytree(data / "dhf1k", broken)
    (broken / "0002" / "maps" / "0005.png").unlink()
    with pytest.raises(InputError, match="0002 has 40 frames in images/ but 39 maps"):
        DHF1KDataset(broken, TRAIN, T, SIZE)
    shutil.rmtree(broken / "0002" / "fixation")
    shutil.copy(broken / "0001" / "maps" / "0005.png", broken / "0002" / "maps")
    with pytest.raises(InputError, match="fixation maps missing in .*0002/fixation"):
        DHF1KDataset(broken, TRAIN, T, SIZE)
    DHF1KDataset(broken, TRAIN, T, SIZE, fixations=False)   # not needed, not checked

    av = tmp_path / "av"
    shutil.copytree(data / "av", av)
    (av / "video_audio" / "AVAD" / "avad_002" / "avad_002.wav").unlink()
    with pytest.raises(InputError, match="audio file not found: .*avad_002.wav"):
        AudioVisualDataset(av, "AVAD", 1, TRAIN, 32, SIZE)
    AudioVisualDataset(av, "AVAD", 1, TRAIN, 32, SIZE, use_sound=False)
    (av / "annotations" / "AVAD" / "avad_003" / "fixMap_00007.mat").unlink()
    with pytest.raises(InputError, match="lacks 1 fixation maps, e.g. fixMap_00007.mat"):
        AudioVisualDataset(av, "AVAD", 1, TRAIN, 32, SIZE, use_sound=False)
    with pytest.raises(InputError, match="folder not found: .*video_frames/Coutrot_db1/clip1 "):
        # AVAD is there; Coutrot_db1 is not, and its fold list falls back to the shipped one
        SoundDataset(av, 1, TRAIN, clip_length=32, frame_size=SIZE, use_sound=False, fixations=False)


def test_fixation_maps_read_from_mat_and_png_and_resize_without_losing_points(tmp_path):
    binary = np.zeros((36, 64), np.uint8)
    binary[[0, 10, 35], [0, 40, 63]] = 1
    scipy.io.savemat(tmp_path / "fixMap_00001.mat", {"eyeMap": binary})
    scipy.io.savemat(tmp_path / "dhf1k.mat", {"I": binary})
    assert np.array_equal(read_fixations(tmp_path / "fixMap_00001.mat"), binary)
    assert np.array_equal(read_fixations(tmp_path / "dhf1k.mat"), binary)
    resized = resize_fixations(binary.astype(np.float32), (32, 64))
    assert resized.sum() == 3 and resized[0, 0] == resized[31, 63] == 1
    scipy.io.savemat(tmp_path / "other.mat", {"x": binary})
    with pytest.raises(InputError, match="holds no fixation map"):
        read_fixations(tmp_path / "other.mat")
