"""Command-line booleans and atomic writes."""
import argparse

import pytest

from utils import atomic_write_bytes, audio_buffer_length, str2bool


@pytest.mark.parametrize("text,value", [("True", True), ("true", True), ("1", True), ("yes", True),
                                        ("False", False), ("false", False), ("0", False), ("no", False)])
def test_booleans_parse_as_written(text, value):
    assert str2bool(text) is value


def test_a_non_boolean_is_refused():
    with pytest.raises(argparse.ArgumentTypeError, match="expected a boolean"):
        str2bool("maybe")


def test_atomic_write_replaces_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "out" / "map.png"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["map.png"]


def test_audio_buffer_is_the_originals_70560_samples_for_32_frames():
    assert audio_buffer_length(32) == 70560
    assert audio_buffer_length(16) == 70560
    assert audio_buffer_length(48) == 105840
