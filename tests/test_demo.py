"""The demo page (demo.py): its flags, and bad input shown on the page before any model time, in-process (the jobs'
logic without the page: test_demo_jobs.py); and the page itself in headless Chromium against a real server with
small deterministic AViNet weights (32x64 input): upload the bundled sample, run with every output, play the
overlay, the cut and the debug video, download the maps, compare with generate_result_audio_visual.py's output;
then another aspect ratio without a model run.

SAVE_SCREENSHOT=1 writes the page with its result to extras/demo_screenshot.png (else to the test's tmp dir);
DEMO_WEIGHTS=W serves the checkpoint W (for 32x64 frames) instead.
Needs requirements-demo.txt in the venv and Debian's chromium: extras/install_demo.sh installs both.
"""
import importlib.util
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import ROOT, deterministic_weights
from PIL import Image
from test_demo_jobs import write_silent_video

from model import VideoAudioSaliencyModel
from registry import MODELS
from utils import atomic_path

pytestmark = pytest.mark.slow   # trains, exports, kills processes or drives a browser: the full suite's

SAMPLE = ROOT / "extras" / "sample.mp4"
SAMPLE_FRAMES, SAMPLE_SECONDS = 20, 2.0
SMALL = ("32", "64")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",  # headless: playwright's flag
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL_HINT = "run extras/install_demo.sh (Debian's chromium, and requirements-demo.txt into ./.venv)"
ENCODER_NOISE_DB = 35.0   # two libx264 encodes of the same frames through PyAV differ, by more than 40 dB PSNR here

needs_gradio = pytest.mark.skipif(importlib.util.find_spec("gradio") is None, reason=f"no gradio: {INSTALL_HINT}")
needs_browser = pytest.mark.skipif(
    importlib.util.find_spec("gradio") is None or importlib.util.find_spec("playwright") is None
    or not CHROMIUM.is_file(), reason=f"gradio, playwright or {CHROMIUM} missing: {INSTALL_HINT}")


@needs_gradio
def test_bad_input_gets_a_message_before_any_model_time(tmp_path):
    import gradio as gr

    import demo
    from vinet.demo_jobs import OUTPUTS, Choice, DemoJobs
    from vinet.engine.predictor import Predictor
    from vinet.loading import RunOptions, make_settings
    # an identity "model": were it run, the engine would fail, so each message comes from the probe alone
    choice = Choice(Predictor(MODELS["avinet"], torch.nn.Identity(), make_settings(RunOptions(device="cpu"))),
                    trained=True)
    jobs = DemoJobs({"avinet": choice}, 60.0, tmp_path)
    page = demo.PageJobs(jobs)
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("not a video")
    cases = [(None, "Upload a video first"), (str(not_a_video), "Cannot use this file"),
             (str(write_silent_video(tmp_path / "silent.mp4")), "no audio track")]
    for video, message in cases:
        with pytest.raises(gr.Error, match=message):
            page.run(video, "avinet", list(OUTPUTS), "9:16")
    jobs.max_seconds = 1.0
    with pytest.raises(gr.Error, match=r"lasts 2\.0 s.*--max_seconds"):
        page.run(str(SAMPLE), "avinet", list(OUTPUTS), "9:16")
    assert list(tmp_path.glob("job.*")) == []


@needs_gradio
def test_bad_flags_exit_2_with_one_line(tmp_path, caplog):
    import demo
    assert demo.main(["--max_seconds", "0"]) == 2
    assert demo.main(["--port", "70000"]) == 2
    assert demo.main(["--file_weight", str(tmp_path / "missing.pt")]) == 2
    errors = [record.getMessage() for record in caplog.records if record.name == "demo"]
    assert len(errors) == 3 and all("\n" not in line for line in errors)
    assert "missing.pt" in errors[2]


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory) -> Path:
    """The page's checkpoint, for 32x64 frames: $DEMO_WEIGHTS when set (the README's screenshot shows the ViNet
    that `python -m extras.learning_evidence visual --work W` trains, W/vinet.pt), else deterministic AViNet
    weights."""
    if os.environ.get("DEMO_WEIGHTS"):
        return Path(os.environ["DEMO_WEIGHTS"])
    path = tmp_path_factory.mktemp("weights") / "small_avinet.pt"
    torch.save(deterministic_weights(VideoAudioSaliencyModel(frame_size=(32, 64))).state_dict(), path)
    return path


def free_port() -> int:
    """A localhost port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, server: subprocess.Popen, log_path: Path, timeout: float = 120.0) -> None:
    """Return once url answers; fail with the server's log if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"demo.py exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"demo.py did not answer at {url} in {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server_url(small_weights, tmp_path_factory):
    """demo.py serving the small weights on a free localhost port, as a subprocess."""
    folder = tmp_path_factory.mktemp("server")
    port, log_path = free_port(), folder / "demo.log"
    environment = {**os.environ, "GRADIO_TEMP_DIR": str(folder / "gradio")}   # uploads and results stay in tmp
    command = [sys.executable, str(ROOT / "demo.py"), "--port", str(port), "--file_weight", str(small_weights),
               "--frame_size", *SMALL, "--device", "cpu"]
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, server, log_path)
        yield url
    finally:
        server.send_signal(signal.SIGINT)   # Ctrl+C stops it, even when this run inherited SIGINT ignored
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            raise AssertionError("demo.py was still serving 15 s after SIGINT") from None


@dataclass
class PageRun:
    """What the browser saw and fetched on one run of the sample."""

    empty_run_message: str
    estimates: list[str]    # with the default outputs, then with every output
    model_label: str
    overlay: dict           # the <video> element: duration, readyState, videoWidth, videoHeight, src
    reframed: dict
    debug: dict
    status: str
    maps_zip: Path
    overlay_file: Path
    crop_path: dict
    projects: list[str]     # the editor projects' downloads, by file name
    screenshot: Path
    second_status: str      # after choosing 16:9 and running again
    second_reframed: dict


VIDEO_FACTS = """selector => new Promise(resolve => {
    const video = document.querySelector(selector);
    const facts = () => resolve({duration: video.duration, readyState: video.readyState, src: video.currentSrc,
                                 videoWidth: video.videoWidth, videoHeight: video.videoHeight});
    if (video.readyState >= 2) facts(); else video.addEventListener("loadeddata", facts, {once: true});
})"""


def video_facts(page, selector: str) -> dict:
    """Duration, readiness, size and source of a <video> once it has decoded its first frame."""
    page.wait_for_selector(selector, timeout=120_000)
    return page.evaluate(VIDEO_FACTS, selector)


def screenshot_path(tmp: Path) -> Path:
    """extras/demo_screenshot.png with SAVE_SCREENSHOT=1 (the README's picture), else one in tmp."""
    return ROOT / "extras" / "demo_screenshot.png" if os.environ.get("SAVE_SCREENSHOT") == "1" else tmp / "page.png"


def save_screenshot(png: bytes, path: Path) -> None:
    """The screenshot in 256 colours (a third of the bytes, no visible change), written atomically."""
    with atomic_path(path) as target:
        Image.open(io.BytesIO(png)).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(target, optimize=True)


def estimate_text(page, words: str) -> str:
    """The estimate shown above the results, once it says `words`."""
    paragraph = page.locator("#estimate").get_by_text(words)
    paragraph.wait_for(timeout=60_000)
    return paragraph.inner_text()


def run_again_at(page, aspect: str) -> tuple[str, dict]:
    """Choose another aspect ratio, run, and return the status and the new cut's facts."""
    page.locator("#aspect label", has_text=aspect).click()
    page.click("#run")
    page.locator("#status").get_by_text(f"{aspect} (").wait_for(timeout=120_000)
    return page.inner_text("#status"), video_facts(page, "#reframed video")


def drive_page(page, url: str, tmp: Path) -> PageRun:
    """Run with no video (a message), then upload the sample, ask for every output, run, collect what the page
    shows; then run again at 16:9."""
    page.goto(url)
    page.click("#run")
    empty_run_message = page.get_by_text("Upload a video first").first.inner_text(timeout=30_000)
    page.click("[data-testid=toast-close]")
    page.locator("#source input[type=file]").set_input_files(str(SAMPLE))
    page.wait_for_selector("#source video", timeout=30_000)
    estimates = [estimate_text(page, "10 model windows")]
    for output in ("heatmap overlay", "maps (zip)", "editor projects"):
        page.locator("#outputs label", has_text=output).click()
    estimates.append(estimate_text(page, "20 model windows"))
    page.click("#run")
    overlay, reframed = video_facts(page, "#overlay video"), video_facts(page, "#reframed video")
    debug = video_facts(page, "#debug video")
    with page.expect_download() as download:
        page.click("#maps a[download]")
    download.value.save_as(tmp / "maps.zip")
    (tmp / "overlay.mp4").write_bytes(page.request.get(overlay["src"]).body())
    crop_path = page.request.get(page.get_attribute("#path a[download]", "href")).json()
    projects = [link.get_attribute("download") for link in page.locator("#editors a[download]").all()]
    status = page.inner_text("#status")
    page.evaluate("window.scrollTo(0, 0)")
    save_screenshot(page.screenshot(), screenshot_path(tmp))
    second_status, second_reframed = run_again_at(page, "16:9")
    return PageRun(empty_run_message, estimates, page.input_value("#model input"), overlay, reframed, debug, status,
                   tmp / "maps.zip", tmp / "overlay.mp4", crop_path, projects, screenshot_path(tmp), second_status,
                   second_reframed)


@pytest.fixture(scope="module")
def page_run(server_url, tmp_path_factory) -> PageRun:
    """The sample run on the page in headless Chromium (a fresh profile), at 1280x900."""
    from playwright.sync_api import sync_playwright
    tmp = tmp_path_factory.mktemp("browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            return drive_page(page, server_url, tmp)
        finally:
            browser.close()


@needs_browser
def test_page_plays_the_overlay_of_the_sample(page_run, small_weights):
    overlay = page_run.overlay
    assert overlay["readyState"] >= 2 and (overlay["videoWidth"], overlay["videoHeight"]) == (320, 180)
    assert overlay["duration"] == pytest.approx(SAMPLE_SECONDS, abs=0.15)
    assert "Upload a video first" in page_run.empty_run_message
    assert "20 frames" in page_run.status and small_weights.name in page_run.status
    assert page_run.model_label.endswith(f": {small_weights.name} (released weights: MIT)")
    assert all(text.startswith("Estimated time: about") for text in page_run.estimates)
    assert page_run.screenshot.is_file() and page_run.screenshot.stat().st_size < 400_000


@needs_browser
def test_page_gives_the_maps_the_reframed_cut_and_its_path(page_run):
    with zipfile.ZipFile(page_run.maps_zip) as archive:
        names = [name for name in archive.namelist() if name.endswith(".png")]
    assert len(names) == SAMPLE_FRAMES and names[0] == "sample/00001.png"
    reframed = page_run.reframed
    assert reframed["readyState"] >= 2 and reframed["duration"] == pytest.approx(SAMPLE_SECONDS, abs=0.15)
    assert (reframed["videoWidth"], reframed["videoHeight"]) == (100, 180)   # 9:16 of 320x180, even sides
    assert len(page_run.crop_path["frames"]) == SAMPLE_FRAMES
    assert page_run.crop_path["output"] == {"width": 100, "height": 180}
    assert page_run.crop_path["analysed"] == list(range(SAMPLE_FRAMES))   # the overlay made every frame's map
    debug = page_run.debug
    assert (debug["videoWidth"], debug["videoHeight"]) == (320, 180)
    assert debug["duration"] == pytest.approx(SAMPLE_SECONDS, abs=0.15)
    assert "20 model windows run" in page_run.status and "keeps" in page_run.status   # reframe.py's summary
    assert sorted(page_run.projects) == ["sample_9x16.fcpxml", "sample_9x16.mlt"]


@needs_browser
def test_another_aspect_reuses_the_maps(page_run):
    """16:9 of the 16:9 sample: a copy of the frame, from the maps already made (no model run)."""
    reframed = page_run.second_reframed
    assert (reframed["videoWidth"], reframed["videoHeight"]) == (320, 180)
    assert reframed["duration"] == pytest.approx(SAMPLE_SECONDS, abs=0.15)
    assert "16:9 (crop); 0 model windows run" in page_run.second_status


def decoded(path: Path) -> tuple[list[np.ndarray], list[int], np.ndarray]:
    """A video's frames (RGB), their timestamps and its audio samples, decoded."""
    with av.open(str(path)) as container:
        frames = [(f.to_ndarray(format="rgb24"), f.pts) for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    return [f for f, _ in frames], [pts for _, pts in frames], audio


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two 8-bit images, in dB (inf when equal)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@needs_browser
def test_page_overlay_is_the_scripts(page_run, small_weights, tmp_path):
    """The script on the same file and weights: the same maps byte for byte, and the same overlay: the same
    timestamps and sound, the same frames up to libx264's run-to-run noise (two runs of the script differ
    as much: PyAV's x264 encodes are not repeatable byte for byte)."""
    import generate_result_audio_visual
    script_overlay = tmp_path / "script_overlay.mp4"
    assert generate_result_audio_visual.main(["--video", str(SAMPLE), "--save_path", str(tmp_path / "maps"),
                                              "--file_weight", str(small_weights), "--frame_size", *SMALL,
                                              "--device", "cpu", "--overlay", str(script_overlay)]) == 0
    with zipfile.ZipFile(page_run.maps_zip) as archive:
        for name in archive.namelist():
            assert archive.read(name) == (tmp_path / "maps" / name).read_bytes(), name
    page_frames, page_pts, page_audio = decoded(page_run.overlay_file)
    script_frames, script_pts, script_audio = decoded(script_overlay)
    assert page_pts == script_pts and len(page_frames) == SAMPLE_FRAMES
    assert np.array_equal(page_audio, script_audio)
    assert min(psnr(a, b) for a, b in zip(page_frames, script_frames)) > ENCODER_NOISE_DB


def test_install_script_is_there_for_ci():
    script = ROOT / "extras" / "install_demo.sh"
    assert os.access(script, os.X_OK) and "requirements-demo.txt" in script.read_text()
