"""media.py: probing, decoding frames (upright, placed by timestamp) and sound, the refusals that name the file."""
import numpy as np
import pytest
from conftest import scene

from media import decode_audio, display_geometry, frames_by_index, probe_video
from synthetic import write_video
from utils import AUDIO_RATE, AUDIO_SCALE, InputError


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames, audio = scene(15, 48, 64)
    path = tmp_path_factory.mktemp("media") / "clip.mkv"   # lossless: decoded frames equal the written ones
    write_video(str(path), frames, 10.0, audio)
    return path, frames, audio


def test_probe_reads_the_count_rate_size_timestamps_and_sound(clip):
    path, frames, _ = clip
    info = probe_video(path)
    assert (info.num_frames, info.fps, info.size, info.has_audio) == (15, 10.0, (64, 48), True)
    np.testing.assert_allclose(info.frame_times, np.arange(15) / 10.0, atol=1e-3)


def test_frames_come_in_order_and_equal_what_was_written(clip):
    path, frames, _ = clip
    decoded = [frame.to_ndarray(format="rgb24") for frame in frames_by_index(probe_video(path))]
    assert len(decoded) == 15 and all(np.array_equal(a, b) for a, b in zip(decoded, frames))


def test_sound_is_mono_at_the_asked_rate_and_soundnets_scale(clip):
    path, _, audio = clip
    sound = decode_audio(path, rate=AUDIO_RATE)
    assert sound.rate == AUDIO_RATE and sound.samples.ndim == 1
    assert abs(len(sound.samples) - len(audio)) <= 2048   # whole encoded frames of sound
    assert 0.5 * AUDIO_SCALE < np.abs(sound.samples).max() <= AUDIO_SCALE


def test_display_geometry_applies_pixel_aspect_and_rotation():
    from fractions import Fraction

    assert display_geometry((64, 48), None, 0) == ((64, 48), None)
    assert display_geometry((64, 48), None, 90)[0] == (48, 64)
    size, scaled = display_geometry((64, 48), Fraction(2, 1), 0)
    assert size == scaled == (128, 48)


def test_missing_unsupported_and_silent_files_are_named(tmp_path, clip):
    with pytest.raises(InputError, match=f"video not found: {tmp_path / 'none.mp4'}"):
        probe_video(tmp_path / "none.mp4")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="unsupported video file .*notes.txt"):
        probe_video(tmp_path / "notes.txt")
    frames, _ = scene(3, 48, 64)
    write_video(str(tmp_path / "silent.mkv"), frames, 10.0)
    assert decode_audio(tmp_path / "silent.mkv") is None and not probe_video(tmp_path / "silent.mkv").has_audio
