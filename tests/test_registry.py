"""registry.py: the window rules (the original's, ViNet++'s), the frame sizes each entry accepts, and the entry the
seed's flags select."""
import pytest

from registry import FUSIONS, MODELS, WindowRule, entry_from_flags
from utils import InputError


def window_frames(index: int, num_frames: int, clip_size: int) -> list[int]:
    return WindowRule(clip_size).frames(index, num_frames)


def test_window_frames_follow_the_original_and_pad_short_videos():
    assert window_frames(31, 40, 32) == list(range(32))
    assert window_frames(39, 40, 32) == list(range(8, 40))
    assert window_frames(0, 40, 32) == list(range(31, -1, -1))
    assert window_frames(2, 40, 32) == list(range(33, 1, -1))
    assert window_frames(0, 5, 8) == [4, 4, 4, 4, 3, 2, 1, 0]   # past the end: the last frame repeats
    assert window_frames(3, 5, 8) == [4] * 7 + [3]
    assert window_frames(0, 1, 8) == [0] * 8


def test_vinet_plus_plus_windows_clamp_and_look_ahead():
    causal = WindowRule(32, reverse_start=False)                   # ViNet-S: i-31..i, clamped at frame 0
    assert causal.frames(40, 100) == list(range(9, 41))
    assert causal.frames(5, 100) == [0] * 27 + [1, 2, 3, 4, 5]
    assert not causal.reversed(0)
    centred = WindowRule(32, stride=2, centred=True)               # ViNet-A: i-31, i-29, ..., i+31
    assert centred.frames(40, 100) == list(range(9, 72, 2))
    assert centred.frames(0, 100) == [0] * 16 + list(range(1, 32, 2))
    assert centred.frames(98, 100) == list(range(67, 98, 2)) + [99] * 16
    assert centred.frames(2, 5) == [0] * 15 + [1, 3] + [4] * 15   # a video shorter than the window


@pytest.mark.parametrize("name", list(MODELS))
def test_every_entry_says_which_frame_sizes_it_accepts(name):
    entry = MODELS[name]
    assert entry.configured().frame_size == entry.frame_size        # its own size
    multiple = max(part.size_multiple for part in entry.parts)
    assert entry.configured((2 * multiple, 3 * multiple)).frame_size == (2 * multiple, 3 * multiple)
    for bad in ((multiple + 2, 2 * multiple), (2 * multiple, 0)):
        with pytest.raises(InputError, match=rf"^--frame_size {bad[0]} {bad[1]}: {name} takes heights and widths "
                                             rf"that are multiples of {multiple} "):
            entry.configured(bad)


def test_the_seeds_flags_select_the_registry_entry():
    assert entry_from_flags(use_sound=True).name == "avinet"
    assert entry_from_flags(use_sound=True, use_transformer=True).name == "avinet-transformer"
    assert {entry_from_flags(use_sound=True, fusion=f).name for f in FUSIONS} == set(FUSIONS.values())
    assert entry_from_flags(clip_size=16).kwargs == MODELS["vinet-clip16"].kwargs
    with pytest.raises(InputError, match="--model vinet-s does not take sound"):
        entry_from_flags("vinet-s", use_sound=True)
