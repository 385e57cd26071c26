"""The demo page's jobs without the page (vinet.demo_jobs; no gradio needed): the checks of an upload before any
model time, the models' labels and licences, the estimates, and a job's outputs on the bundled sample, with the
maps kept for the next job."""
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import ROOT

from model import VideoSaliencyModel
from registry import MODELS, VINET_PP_LICENCE
from utils import InputError
from vinet import demo_jobs
from vinet.engine.predictor import Predictor
from vinet.loading import RunOptions, make_settings

SAMPLE = ROOT / "extras" / "sample.mp4"
SAMPLE_FRAMES = 20
ON_CPU = RunOptions(device="cpu")


def write_silent_video(path: Path, frames: int = 5) -> Path:
    """A short mp4 with no audio track."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        for _ in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 64, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode())
    return path


def test_bad_input_is_refused_before_any_model_time(tmp_path):
    # an identity "model": were it run, the engine would fail, so each refusal comes from the probe alone
    predictor = Predictor(MODELS["avinet"], torch.nn.Identity(), make_settings(ON_CPU))
    jobs = demo_jobs.DemoJobs({"avinet": demo_jobs.Choice(predictor, trained=True)}, 60.0, tmp_path)
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("not a video")
    cases = [(None, "Upload a video first"), (str(not_a_video), "Cannot use this file"),
             (str(write_silent_video(tmp_path / "silent.mp4")), "no audio track")]
    for video, message in cases:
        with pytest.raises(InputError, match=message):
            jobs.job(video, "avinet", list(demo_jobs.OUTPUTS), "9:16")
    with pytest.raises(InputError, match="Choose a model, at least one output"):
        jobs.job(str(SAMPLE), "avinet", [], "9:16")
    jobs.max_seconds = 1.0
    with pytest.raises(InputError, match=r"lasts 2\.0 s.*--max_seconds"):
        jobs.job(str(SAMPLE), "avinet", list(demo_jobs.OUTPUTS), "9:16")
    assert list(tmp_path.glob("job.*")) == []


@pytest.mark.slow
def test_models_are_labelled_with_their_licence_and_jobs_estimated(avinet_small, tmp_path):
    vinet_s = tmp_path / "vinet_s_small.pt"
    torch.save(VideoSaliencyModel(grouped_conv=True).state_dict(), vinet_s)
    choices = demo_jobs.load_choices([str(avinet_small), str(vinet_s)], (32, 64), ON_CPU)
    assert list(choices) == [f"avinet: {avinet_small.name} (released weights: MIT)",
                             f"vinet-s: {vinet_s.name} (released weights: {VINET_PP_LICENCE})"]
    assert all(0 < choice.window_seconds < 30 for choice in choices.values())
    assert all(choice.predictor.settings.device.type == "cpu" for choice in choices.values())
    jobs = demo_jobs.DemoJobs(choices, 60.0, tmp_path)
    label = next(iter(choices))
    assert "10 model windows" in jobs.describe(str(SAMPLE), label, [demo_jobs.REFRAMED])   # 5 of the sample's 10 fps
    assert "20 model windows" in jobs.describe(str(SAMPLE), label, [demo_jobs.REFRAMED, demo_jobs.OVERLAY])


def test_untrained_models_are_labelled_as_such():
    choices = demo_jobs.load_choices(None, (32, 64), ON_CPU)
    assert list(choices) == [f"{name} ({demo_jobs.UNTRAINED_NOTE})" for name in demo_jobs.UNTRAINED_MODELS]
    assert not any(choice.trained for choice in choices.values())


@pytest.mark.slow
def test_a_job_makes_its_outputs_and_keeps_the_maps_for_the_next(avinet_small, tmp_path):
    choices = demo_jobs.load_choices([str(avinet_small)], (32, 64), ON_CPU)
    jobs, label = demo_jobs.DemoJobs(choices, 60.0, tmp_path), next(iter(choices))
    steps = []
    first = jobs.job(str(SAMPLE), label, list(demo_jobs.OUTPUTS), "9:16")
    overlay, maps_zip, cut, path_json, debug, projects, status = jobs.run(first,
                                                                          lambda fraction, desc: steps.append(desc))
    assert all(Path(path).is_file() for path in (overlay, maps_zip, cut, path_json, debug))
    assert [Path(path).name for path in projects] == ["sample_9x16.mlt", "sample_9x16.fcpxml"]
    assert ET.parse(projects[1]).getroot().get("version") == "1.10"
    with zipfile.ZipFile(maps_zip) as archive:
        assert len([name for name in archive.namelist() if name.endswith(".png")]) == SAMPLE_FRAMES
    assert "20 model windows run" in status and "9:16 (crop)" in status
    assert [step.split(" ")[0] for step in steps] == ["scenes", "saliency", "overlay", "reframing"]
    second = jobs.job(str(SAMPLE), label, [demo_jobs.REFRAMED], "16:9", "pad")
    assert jobs.windows_to_run(second) == 0
    *files, status = jobs.run(second, lambda fraction, desc: None)
    assert files[:2] == [None, None] and Path(files[2]).is_file() and files[3:] == [None, None, None]
    assert "16:9 (pad); 0 model windows run" in status
    assert len(list(tmp_path.glob("job.*"))) == 1   # the last job's folder only


@pytest.mark.parametrize(("seconds", "text"), [(40.4, "40 s"), (125, "2 min 05 s"), (0, "0 s")])
def test_duration(seconds, text):
    assert demo_jobs.duration(seconds) == text
