"""--export: the camera handed to editors as keyframes (vinet/reframing/editors). The keyframe reduction against
every frame of the path; the FCPXML read back (xml.etree, and OpenTimelineIO when installed); the MLT project
rendered by melt against reframe.py's own cut (frame count, region, picture); padded scenes in both; refusals."""
import json
import logging
import shutil
import subprocess
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from reframing_cases import disc_maps, write_maps

import reframe
import vinet
from synthetic import render_frames, soundtrack, write_video
from vinet.reframing.editors.keyframes import key_rows
from vinet.reframing.editors.mlt import fitted
from vinet.reframing.options import KEYFRAME_TOLERANCE

FPS = 25
HEIGHT, WIDTH = 108, 192      # 1% of the width is 1.92 px: the keyframes keep every region within 2 px
TOLERANCE = KEYFRAME_TOLERANCE * WIDTH
CUT = 40                      # the two-scene clip's second scene starts here
MELT = shutil.which("melt")


def smooth_clip(folder: Path, centres: np.ndarray, gaze: np.ndarray, cut: int | None = None) -> tuple[Path, Path]:
    """A video of discs at centres (N, K, 2) on a blurred texture (a region one pixel off shows as such, a
    sub-pixel one barely), with sound, its maps of Gaussians at `gaze` (N, K, 2); `cut` inverts the colours from
    there on (a hard cut)."""
    frames = render_frames(centres, HEIGHT, WIDTH, seed=7)
    if cut is not None:
        frames[cut:] = 255 - frames[cut:]
    frames = np.stack([cv2.GaussianBlur(frame, (0, 0), 1.5) for frame in frames])
    video = folder / "clip.mp4"
    write_video(str(video), frames, FPS, soundtrack(centres, FPS))
    return video, write_maps(folder / "maps", disc_maps(gaze, HEIGHT, WIDTH))


def run_export(video: Path, maps: Path, folder: Path, *extra: str) -> dict:
    """reframe.py with --export of both formats and the path JSON (lossless, so the melt render is compared with
    the cut alone); what it wrote."""
    out = {"out": folder / "cut.mp4", "mlt": folder / "cut.mlt", "fcpxml": folder / "cut.fcpxml",
           "json": folder / "path.json", "video": video, "folder": folder}
    status = reframe.main(["--video", str(video), "--maps", str(maps), "--aspect", "9:16", "--output",
                           str(out["out"]), "--crf", "0", "--path_json", str(out["json"]), "--export",
                           str(out["mlt"]), str(out["fcpxml"]), *extra])
    assert status == 0
    return {**out, "document": json.loads(out["json"].read_text())}


@pytest.fixture(scope="module")
def moving(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One moving scene: a disc crossing the frame and back, 60 frames."""
    folder = tmp_path_factory.mktemp("moving")
    columns = np.concatenate([np.linspace(16, WIDTH - 16, 40), np.linspace(WIDTH - 16, WIDTH / 2, 20)])
    centres = np.stack([np.full(60, HEIGHT / 2), columns], axis=1)[:, None, :]
    return run_export(*smooth_clip(folder, centres, centres), folder)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two scenes: a still disc on the left (a still crop), then two discs watched at both ends (padded)."""
    folder = tmp_path_factory.mktemp("scenes")
    left, right = np.tile([HEIGHT / 2, 40.0], (70, 1)), np.tile([HEIGHT / 2, WIDTH - 30.0], (70, 1))
    centres = np.stack([left, right], axis=1)
    gaze = centres.copy()
    gaze[:CUT, 1] = gaze[:CUT, 0]    # the first scene: the left disc alone is watched
    return run_export(*smooth_clip(folder, centres, gaze, cut=CUT), folder, "--fit", "pad")


def boxes(document: dict) -> np.ndarray:
    return np.array([[frame[k] for k in ("x", "y", "width", "height")] for frame in document["frames"]], float)

# ----------------------------------------------------------------------------------------------
# Keyframes: few, and every frame within the tolerance


def test_key_rows_of_simple_paths() -> None:
    ramp = np.stack([np.arange(50.0), np.zeros(50)], axis=1)
    assert key_rows(np.tile([4.0, 0.0], (30, 1)), 1.0) == [0]       # a still camera: one keyframe
    assert key_rows(ramp, 0.5) == [0, 49]                            # a pan at constant speed: its ends
    assert key_rows(np.concatenate([ramp, ramp[-2::-1]]), 0.5) == [0, 49, 98]   # there and back: the turn too


def test_key_rows_keep_every_row_within_the_tolerance() -> None:
    walk = np.cumsum(np.random.default_rng(3).normal(0, 1, (400, 2)), axis=0)
    keys = key_rows(walk, 2.0)
    between = np.stack([np.interp(np.arange(400), keys, walk[keys, k]) for k in range(2)], axis=1)
    assert np.abs(between - walk).max() <= 2.0 and 10 < len(keys) < 200


def test_exported_keyframes_are_few_and_keep_the_path(moving: dict, caplog: pytest.LogCaptureFixture) -> None:
    """The FCPXML's keyframes, interpolated as the editors do, give every frame's region of the path within 1% of
    the width; the log line counts them."""
    regions, keyed = fcpxml_regions(moving["fcpxml"], moving["video"])
    path = boxes(moving["document"])
    assert np.abs(regions - path).max() <= TOLERANCE + 1e-6
    assert 2 < keyed <= 60 // 3, keyed


def test_the_log_line_names_the_exports_and_counts_the_keyframes(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    centres = np.tile([HEIGHT / 2, 60.0], (20, 1))[:, None, :]
    video, maps = smooth_clip(tmp_path, centres, centres)
    caplog.set_level(logging.INFO)
    run_export(video, maps, tmp_path)
    assert "export: cut.mlt, cut.fcpxml (1 keyframe for 20 frames)" in caplog.messages   # still: one

# ----------------------------------------------------------------------------------------------
# FCPXML read back


def fraction(text: str) -> Fraction:
    """An FCPXML time ('3/25s', '2s') as seconds."""
    return Fraction(text.removesuffix("s"))


def clip_regions(clip: ET.Element, times: np.ndarray, source: tuple[int, int],
                 size: tuple[int, int]) -> tuple[np.ndarray, int]:
    """The regions (x, y, width, height in source pixels) an asset-clip's transform shows at `times` (its
    keyframes' positions interpolated linearly), and its keyframe count."""
    transform = clip.find("adjust-transform")
    across, down = (float(v) for v in transform.get("scale").split())
    keys = transform.findall("param[@name='position']/keyframeAnimation/keyframe")
    key_times = [float(fraction(key.get("time"))) for key in keys]
    positions = np.array([[float(v) for v in key.get("value").split()] for key in keys]) * size[1] / 100
    right, up = (np.interp(times, key_times, positions[:, k]) for k in range(2))
    width, height = size[0] / across, size[1] / down
    x = source[0] / 2 - right / across - width / 2
    y = source[1] / 2 + up / down - height / 2
    return np.stack([x, y, np.full_like(x, width), np.full_like(x, height)], axis=1), len(keys)


def fcpxml_regions(path: Path, video: Path) -> tuple[np.ndarray, int]:
    """Every frame's region as the FCPXML shows it (its clips in order, covering the source), and its keyframe
    count; the document's structure checked on the way."""
    root = ET.parse(path).getroot()
    assert root.tag == "fcpxml" and root.get("version") == "1.10"
    output, source = root.find("resources/format[@id='r1']"), root.find("resources/format[@id='r2']")
    size = (int(output.get("width")), int(output.get("height")))
    assert fraction(output.get("frameDuration")) == Fraction(1, FPS) == fraction(source.get("frameDuration"))
    asset = root.find("resources/asset[@id='r3']")
    assert asset.get("hasAudio") == "1" and asset.get("audioSources") == "1"
    assert asset.find("media-rep").get("src") == video.resolve().as_uri()
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        times = np.array([float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None])
    times.sort()
    regions, keyed = [], 0
    clips = root.findall("library/event/project/sequence/spine/asset-clip")
    for clip in clips:
        assert clip.find("adjust-conform").get("type") == "none"
        start = float(fraction(clip.get("start")))
        inside = times[(times >= start - 1e-9) & (times < start + float(fraction(clip.get("duration"))) - 1e-9)]
        found, count = clip_regions(clip, inside, (int(source.get("width")), int(source.get("height"))), size)
        regions.append(found)
        keyed += count
    return np.concatenate(regions), keyed


def test_fcpxml_padded_scene_fits_its_keep_region(scenes: dict) -> None:
    """A still crop (one keyframe), then a padded scene: its whole keep region fitted (its width fills the
    output's), marked as padded; every frame's region of the path."""
    document = scenes["document"]
    assert [(s["mode"], s["fit"]) for s in document["scenes"]] == [("still", "crop"), ("still", "pad")]
    regions, keyed = fcpxml_regions(scenes["fcpxml"], scenes["video"])
    path = boxes(document)
    crop = np.array([f["fit"] == "crop" for f in document["frames"]])
    assert keyed == 2 and np.abs(regions[crop] - path[crop]).max() < 1e-3
    centres = path[~crop, :2] + path[~crop, 2:] / 2
    assert np.abs(regions[~crop, :2] + regions[~crop, 2:] / 2 - centres).max() < 1e-3   # the same centre
    assert np.allclose(regions[~crop, 2], path[~crop, 2], atol=1e-3)                      # its width fills
    assert (regions[~crop, 3] >= path[~crop, 3]).all()                                    # its height fits
    markers = ET.parse(scenes["fcpxml"]).getroot().findall(".//asset-clip/marker")
    assert len(markers) == 1 and markers[0].get("value").startswith("padded")


def test_opentimelineio_reads_the_fcpxml(moving: dict) -> None:
    otio = pytest.importorskip("opentimelineio", reason="OpenTimelineIO is optional (requirements-editors.txt)")
    try:
        library = otio.adapters.read_from_file(str(moving["fcpxml"]), adapter_name="fcpx_xml")
    except ValueError as error:   # the adapter is a plugin of its own
        pytest.skip(f"OpenTimelineIO's FCPXML adapter is not installed (otio-fcpx-xml-adapter): {error}")
    [timeline] = library.find_children(descended_from_type=otio.schema.Timeline)
    assert timeline.name == "clip 60x108"
    clips = list(timeline.find_clips())   # its media reference is missing: it reads the `src` FCPXML 1.9 dropped
    assert len(clips) == 1 and clips[0].name == "clip scene 0-59"
    assert timeline.duration().to_frames(FPS) == 60 == clips[0].duration().to_frames(FPS)

# ----------------------------------------------------------------------------------------------
# The MLT project rendered by melt against reframe.py's cut


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def psnr(first: np.ndarray, second: np.ndarray) -> float:
    error = np.mean((first.astype(np.float64) - second) ** 2)
    return float(10 * np.log10(255 ** 2 / max(error, 1e-10)))


def found_corner(source: np.ndarray, shown: np.ndarray, size: tuple[int, int]) -> tuple[int, int]:
    """Where in the source frame a rendered picture of a region of `size` lies (template matching)."""
    back = cv2.resize(shown, size, interpolation=cv2.INTER_AREA)
    return cv2.minMaxLoc(cv2.matchTemplate(source, back, cv2.TM_SQDIFF))[2]


def melt_render(exported: dict) -> dict:
    """melt's render of the .mlt (lossless H.264, as the cut), compared with the cut frame by frame: the frame
    counts, each frame's region error (pixels, the rendered region found in the source) and PSNR."""
    if MELT is None:
        pytest.skip("melt (MLT) is not installed: apt-get install melt renders the .mlt in this test")
    render = exported["folder"] / "melt.mp4"
    subprocess.run([MELT, "-silent", str(exported["mlt"]), "-consumer", f"avformat:{render}", "vcodec=libx264",
                    "crf=0", "acodec=aac"], check=True, capture_output=True, timeout=300)
    rendered, cut, source = (frames_of(path) for path in (render, exported["out"], exported["video"]))
    errors, ratios = [], []
    for shown, made, picture, frame in zip(rendered, cut, source, exported["document"]["frames"]):
        inner = fitted((frame["x"], frame["y"], frame["width"], frame["height"]), shown.shape[1::-1]) \
            if frame["fit"] == "pad" else (0, 0, *shown.shape[1::-1])
        left, top, width, height = inner
        corner = found_corner(picture, shown[top:top + height, left:left + width], (frame["width"], frame["height"]))
        errors.append(max(abs(corner[0] - frame["x"]), abs(corner[1] - frame["y"])))
        ratios.append(psnr(shown, made))
    with av.open(str(render)) as container:
        sound = bool(container.streams.audio)
    return {"counts": (len(rendered), len(cut)), "errors": np.array(errors), "psnr": np.array(ratios),
            "sound": sound}


def test_melt_renders_the_cut(moving: dict) -> None:
    """Frame for frame: every frame shows reframe.py's region within 2 pixels (its keyframes keep it within 1% of
    the width), with the same picture."""
    result = melt_render(moving)
    assert result["counts"] == (60, 60) and result["sound"]
    assert result["errors"].max() <= 2, result["errors"]
    assert result["psnr"].mean() >= 35, result["psnr"]


def test_melt_renders_a_padded_scene(scenes: dict) -> None:
    """A still crop, then a padded scene: its keep region fitted over a blurred, darkened fill."""
    result = melt_render(scenes)
    crop = np.array([frame["fit"] == "crop" for frame in scenes["document"]["frames"]])
    assert result["counts"] == (70, 70) and result["errors"].max() <= 2, result["errors"]
    assert result["psnr"][crop].min() >= 40, result["psnr"]
    assert result["psnr"][~crop].mean() >= 35, result["psnr"]   # the blur differs a little

# ----------------------------------------------------------------------------------------------
# Bad --export: one line, status 2, before any work, nothing written


@pytest.mark.parametrize("name, named", [("cut.edl", "must end in .mlt or .fcpxml"),
                                         ("a_file/cut.mlt", "cannot write there"),
                                         ("a_folder.fcpxml", "cannot write there")])
def test_bad_exports_are_refused_before_any_work(tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str,
                                                 named: str) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "a_folder.fcpxml").mkdir()
    out, good = tmp_path / "o.mp4", tmp_path / "good.mlt"
    status = reframe.main(["--video", str(tmp_path / "absent.mp4"), "--maps", str(tmp_path), "--aspect", "9:16",
                           "--output", str(out), "--export", str(good), str(tmp_path / name)])
    lines = [r.getMessage() for r in caplog.records if r.name == "reframe" and r.levelno >= logging.ERROR]
    assert status == 2 and len(lines) == 1 and named in lines[0] and name in lines[0], lines
    assert not out.exists() and not good.exists()   # refused before the video is even looked at


def test_the_library_exports(tmp_path: Path) -> None:
    centres = np.tile([HEIGHT / 2, 60.0], (12, 1))[:, None, :]
    video, maps = smooth_clip(tmp_path, centres, centres)
    vinet.reframe(video, tmp_path / "o.mp4", maps=maps, aspect="1:1", export=[tmp_path / "o.fcpxml"])
    root = ET.parse(tmp_path / "o.fcpxml").getroot()
    assert root.find("resources/format[@id='r1']").get("width") == str(HEIGHT)
    assert not list(tmp_path.glob(".*"))   # no temporary file left
