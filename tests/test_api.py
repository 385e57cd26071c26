"""The Python API: vinet.load(...) builds the predictor the scripts build, and Predictor.predict yields the maps
generate_result.py writes, for video files and frame folders."""
import numpy as np
import pytest
import torch
from conftest import ON_CPU, ROOT, SMALL_FLAGS, deterministic_weights, save_frames, scene
from PIL import Image

import generate_result
import vinet
from model import VideoSaliencyModel
from synthetic import write_video
from utils import InputError


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    frames, audio = scene(12)
    write_video(folder / "clip.mp4", frames, 10.0, audio)
    save_frames(frames, folder / "frames")
    weights = folder / "vinet8.pt"
    torch.save(deterministic_weights(VideoSaliencyModel(num_clips=8)).state_dict(), weights)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("source", ["clip.mp4", "frames"])
def test_predict_yields_the_maps_the_script_writes(clip, tmp_path, source):
    flags = ["--file_weight", str(clip / "vinet8.pt"), *SMALL_FLAGS, *ON_CPU, "--save_path", str(tmp_path)]
    inputs = ["--video", str(clip / source)] if source.endswith(".mp4") else ["--path_indata", str(tmp_path / "in")]
    if not source.endswith(".mp4"):
        (tmp_path / "in" / "frames").mkdir(parents=True)
        (tmp_path / "in" / "frames" / "images").symlink_to(clip / source)
    assert generate_result.main(flags + inputs) == 0
    written = sorted((tmp_path / ("clip" if source.endswith(".mp4") else "frames")).glob("*.png"))
    predictor = vinet.load(clip / "vinet8.pt", frame_size=(32, 64), device="cpu")
    maps = list(predictor.predict(clip / source))
    assert [index for index, _ in maps] == list(range(12)) and len(written) == 12
    for (_, saliency), path in zip(maps, written):
        assert saliency.dtype == np.uint8 and saliency.ndim == 2
        assert np.array_equal(saliency, np.asarray(Image.open(path)))   # the frame's size, the written map


def test_load_takes_the_flags_as_keywords_and_refuses_what_the_scripts_refuse():
    predictor = vinet.load(model="vinet-s", untrained=True, frame_size=(64, 96), device="cpu", precision="bf16")
    assert (predictor.entry.name, predictor.entry.frame_size, predictor.settings.precision) == \
        ("vinet-s", (64, 96), "bf16")
    with pytest.raises(InputError, match="give weights"):
        vinet.load(model="vinet")
    with pytest.raises(InputError, match="--precision fp16 runs on CUDA devices only"):
        vinet.load(untrained=True, device="cpu", precision="fp16")
    with pytest.raises(TypeError, match="unknown setting.*precison"):
        vinet.load(untrained=True, precison="bf16")


@pytest.mark.slow
def test_reframe_does_what_reframe_py_does(tmp_path, caplog):
    import reframe

    sample = ROOT / "extras" / "sample.mp4"
    flags = {"model": "vinet-s", "frame_size": (64, 96), "device": "cpu", "aspect": "9:16", "fit": "auto"}
    caplog.set_level("INFO")
    line = vinet.reframe(sample, tmp_path / "api.mp4", untrained=True, path_json=tmp_path / "api.json", **flags)
    assert reframe.main(["--video", str(sample), "--output", str(tmp_path / "cli.mp4"), "--untrained",
                         "--model", "vinet-s", "--frame_size", "64", "96", "--device", "cpu", "--aspect", "9:16",
                         "--fit", "auto", "--path_json", str(tmp_path / "cli.json")]) == 0
    assert caplog.records[-1].getMessage() == line   # the script's closing line: the same summary
    assert (tmp_path / "api.json").read_text() == (tmp_path / "cli.json").read_text()
    with pytest.raises(InputError, match="give maps, weights, or untrained=True"):
        vinet.reframe(sample, tmp_path / "none.mp4", aspect="9:16")


def test_the_docstring_examples_run(monkeypatch):
    import doctest

    import vinet.engine.predictor

    monkeypatch.chdir(ROOT)   # the examples read extras/sample.mp4
    for module in (vinet, vinet.engine.predictor):
        failed, attempted = doctest.testmod(module)
        assert attempted >= 2 and failed == 0, module.__name__
