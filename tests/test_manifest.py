"""vinet/engine/manifest.py: what made a folder's maps, and when a run may resume them."""
import json
from dataclasses import replace

import pytest
from conftest import save_frames, scene

from registry import MODELS
from utils import InputError
from vinet.backends import Settings
from vinet.engine.manifest import (
    check_output_folders,
    claim_output_folder,
    maps_provenance,
    provenance_conflict,
    recorded_frames,
)
from vinet.engine.predictor import Predictor
from vinet.engine.sources import frame_folder_video


@pytest.fixture
def made(tmp_path):
    """A frame folder video, a predictor, and an output folder holding two maps claimed by that predictor."""
    frames, _ = scene(4)
    save_frames(frames, tmp_path / "in" / "v")
    video = frame_folder_video("v", sorted((tmp_path / "in" / "v").iterdir()))
    predictor = Predictor(MODELS["vinet"].configured((32, 64)), None, Settings(), {"weights": "untrained (seed 0)"})
    out = tmp_path / "out" / "v"
    claim_output_folder(out, maps_provenance(predictor, video))
    out.mkdir()   # the map writer's to make (an mp4 run makes none)
    for name in video.frame_names[:2]:
        (out / name).write_bytes(b"png")
    return video, predictor, out


def test_the_manifest_records_every_setting_that_decides_the_maps(made):
    video, predictor, out = made
    recorded = json.loads(out.with_name("v.manifest.json").read_text())
    assert recorded["frames"] == "all" and recorded["weights"] == "untrained (seed 0)"
    assert recorded["output_format"] == "png"
    assert (recorded["model"], recorded["precision"], recorded["device"], recorded["frame_size"]) == \
        ("vinet", "fp32", "cpu", [[32, 64]])
    assert recorded["source"] == {"path": str(video.source.resolve()), "frames": 4}


def test_maps_resume_only_with_the_settings_and_input_that_made_them(made, tmp_path):
    video, predictor, out = made
    assert provenance_conflict(out, maps_provenance(predictor, video)) is None
    bf16 = replace(predictor, settings=replace(predictor.settings, precision="bf16"))
    assert provenance_conflict(out, maps_provenance(bf16, video)) == \
        f"{out} holds 2 maps made with another precision (fp32 there, bf16 now)"
    with pytest.raises(InputError, match="pass --overwrite to redo them"):
        check_output_folders(bf16, [video], out.parent, overwrite=False)
    check_output_folders(bf16, [video], out.parent, overwrite=True)   # redone when the video's turn comes
    other = replace(video, source=tmp_path / "elsewhere")
    assert "maps of another input" in provenance_conflict(out, maps_provenance(predictor, other))
    out.with_name("v.manifest.json").unlink()
    assert "2 maps of unknown origin" in provenance_conflict(out, maps_provenance(predictor, video))


def test_claiming_for_other_settings_removes_the_old_maps_and_sampled_runs_add_up(made):
    video, predictor, out = made
    bf16 = replace(predictor, settings=replace(predictor.settings, precision="bf16"))
    claim_output_folder(out, maps_provenance(bf16, video), wanted={1})
    assert not list(out.glob("*.png")) and recorded_frames(out) == [1]
    (out / video.frame_names[1]).write_bytes(b"png")
    claim_output_folder(out, maps_provenance(bf16, video), wanted={3})
    assert recorded_frames(out) == [1, 3]
    claim_output_folder(out, maps_provenance(bf16, video))
    assert recorded_frames(out) is None   # "all"
