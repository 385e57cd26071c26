"""Trust: output folders record what made their maps (a rerun with other settings never mixes them), inputs with
the same name get folders of their own, rotated and non-square-pixel videos come out as a player shows them, and
every bad flag of every script is one line and exit 2 before any work, leaving what is on disk untouched."""
import hashlib
import json
import logging
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import ON_CPU, SMALL_FLAGS, scene
from PIL import Image

import benchmark
import evaluate
import export
import generate_result
import generate_result_audio_visual
import reframe
import train
from extras.make_datasets import write_dhf1k
from media import frames_by_index, probe_video
from synthetic import write_video
from utils import heatmap_blend
from vinet.engine.sources import output_names

ROOT = Path(__file__).resolve().parents[1]


def tree(folder: Path) -> dict[str, str]:
    """Every file under a folder with the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def error_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def generate(video: Path, out: Path, weights: Path, *extra: str) -> int:
    return generate_result.main(["--video", str(video), "--file_weight", str(weights), "--clip_size", "8",
                                 "--save_path", str(out), *SMALL_FLAGS, *ON_CPU, *extra])


# ---- manifests: what made the maps ------------------------------------------------------------------------------


def test_a_rerun_resumes_only_with_the_settings_that_made_the_maps(tmp_path, vinet8, caplog):
    frames, _ = scene(6)
    alone = ("--batch_size", "1")   # a window computes alike alone or in a batch only where the CPU's kernels do
    write_video(str(tmp_path / "v.mkv"), frames, 10.0)
    out = tmp_path / "out"
    assert generate(tmp_path / "v.mkv", out, vinet8, *alone) == 0
    manifest = json.loads((out / "v.manifest.json").read_text())
    assert manifest["model"] == "vinet-clip8" and manifest["precision"] == "fp32" and manifest["backend"] == "torch"
    assert manifest["weights"] == [{"file": "vinet8.pt", "sha256": hashlib.sha256(vinet8.read_bytes()).hexdigest()}]
    assert manifest["frame_size"] == [[32, 64]] and manifest["window"][0]["length"] == 8
    assert manifest["source"] == {"path": str((tmp_path / "v.mkv").resolve()), "frames": 6}
    assert sorted(p.name for p in (out / "v").iterdir()) == [f"{i:05d}.png" for i in range(1, 7)]   # maps only
    made = tree(out)

    (out / "v" / "00004.png").unlink()                        # interrupted: the same settings resume
    assert generate(tmp_path / "v.mkv", out, vinet8, *alone) == 0
    assert tree(out) == made

    caplog.clear()
    assert generate(tmp_path / "v.mkv", out, vinet8, *alone, "--frame_size", "64", "96") == 2
    assert error_lines(caplog) == [f"error: {out / 'v'} holds 6 maps made with another frame_size ([[32, 64]] there, "
                                   "[[64, 96]] now): rerun with the settings that made them to resume, pass "
                                   "--overwrite to redo them, or choose another --save_path"]
    assert tree(out) == made                                  # refused before any work: nothing changed

    assert generate(tmp_path / "v.mkv", out, vinet8, *alone, "--frame_size", "64", "96", "--overwrite") == 0
    assert json.loads((out / "v.manifest.json").read_text())["frame_size"] == [[64, 96]]
    assert len(list((out / "v").iterdir())) == 6 and tree(out) != made


def test_maps_of_unknown_origin_are_not_resumed(tmp_path, vinet8, caplog):
    frames, _ = scene(4)
    write_video(str(tmp_path / "v.mkv"), frames, 10.0)
    (tmp_path / "out" / "v").mkdir(parents=True)
    Image.fromarray(np.zeros((37, 53), np.uint8)).save(tmp_path / "out" / "v" / "00001.png")   # an older run's
    before = tree(tmp_path / "out")
    assert generate(tmp_path / "v.mkv", tmp_path / "out", vinet8) == 2
    assert error_lines(caplog)[0].startswith(f"error: {tmp_path / 'out' / 'v'} holds 1 maps of unknown origin (no "
                                             "readable v.manifest.json")
    assert tree(tmp_path / "out") == before


# ---- inputs with the same name ------------------------------------------------------------------------------------


def test_videos_with_the_same_name_get_folders_and_overlays_of_their_own(tmp_path, vinet8, caplog):
    for folder, seed in (("a", 1), ("b", 2)):
        (tmp_path / folder).mkdir()
        write_video(str(tmp_path / folder / "clip.mkv"), scene(5, seed=seed)[0], 10.0)
    out = tmp_path / "out"
    assert generate_result.main(["--video", str(tmp_path / "a" / "clip.mkv"), str(tmp_path / "b" / "clip.mkv"),
                                 "--file_weight", str(vinet8), "--clip_size", "8", *SMALL_FLAGS, "--save_path",
                                 str(out), "--overlay", str(tmp_path / "o.mp4")]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_clip", "a_clip.manifest.json", "b_clip", "b_clip.manifest.json"]
    a, b = (np.asarray(Image.open(out / name / "00003.png"), np.int16) for name in ("a_clip", "b_clip"))
    assert np.abs(a - b).max() > 10                            # each its own video's maps
    assert (tmp_path / "o_a_clip.mp4").is_file() and (tmp_path / "o_b_clip.mp4").is_file()
    # another run into the same folder with another file of that name is refused, not mixed
    caplog.clear()
    (tmp_path / "c").mkdir()
    write_video(str(tmp_path / "c" / "a_clip.mkv"), scene(5, seed=3)[0], 10.0)
    assert generate(tmp_path / "c" / "a_clip.mkv", out, vinet8) == 2
    assert f"{out / 'a_clip'} holds 5 maps of another input ({(tmp_path / 'a' / 'clip.mkv').resolve()})" \
        in error_lines(caplog)[0]


def test_output_names_of_colliding_inputs():
    assert output_names(["x/a/clip.mp4", "x/b/clip.mp4", "x/c.mp4"]) == ["a_clip", "b_clip", "c"]
    assert output_names(["clip.mp4", "clip.mkv"]) == ["clip_mp4", "clip_mkv"]
    assert output_names(["x/d/e/clip.mp4", "x/clip.mp4"]) == ["d_e_clip", "clip"]


# ---- rotation and pixel aspect -------------------------------------------------------------------------------------


def write_marked_mp4(path: Path, size: tuple[int, int], rotation: int = 0, sample_aspect: Fraction | None = None,
                     frames: int = 6) -> None:
    """An H.264 mp4 of gray frames with a white block in the coded picture's top-left corner, its display matrix
    rotated (counter-clockwise) and its pixels `sample_aspect` wide."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if sample_aspect:
            stream.codec_context.sample_aspect_ratio = sample_aspect
        if rotation:
            stream.set_display_rotation(rotation)
        for _ in range(frames):
            picture = np.full((height, width, 3), 60, np.uint8)
            picture[:height // 4, :width // 4] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode())


def first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def test_a_rotated_phone_video_gives_upright_maps_overlays_and_cuts(tmp_path, vinet8):
    write_marked_mp4(tmp_path / "phone.mp4", (96, 64), rotation=90)   # shot sideways; players turn it upright
    out = tmp_path / "out"
    assert generate(tmp_path / "phone.mp4", out, vinet8, "--overlay", str(tmp_path / "o.mp4")) == 0
    assert np.asarray(Image.open(out / "phone" / "00001.png")).shape == (96, 64)   # upright: 64 wide, 96 tall
    upright = next(frames_by_index(probe_video(tmp_path / "phone.mp4"))).to_ndarray(format="rgb24")
    block = np.argwhere(upright.min(axis=2) > 200)
    assert upright.shape == (96, 64, 3) and block[:, 0].min() >= 72 and block[:, 1].max() < 16   # coded top-left:
    gray = np.asarray(Image.open(out / "phone" / "00001.png"))                                  # now bottom-left
    overlay = first_frame(tmp_path / "o.mp4").astype(int)
    right, wrong = (np.abs(overlay - heatmap_blend(np.ascontiguousarray(picture), gray)).mean()
                    for picture in (upright, np.rot90(upright, 2)))
    assert right < 4 < wrong                                   # the overlay is the upright frame under its map
    assert reframe.main(["--video", str(tmp_path / "phone.mp4"), "--aspect", "1:1", "--maps", str(out / "phone"),
                         "--output", str(tmp_path / "cut.mp4")]) == 0
    assert first_frame(tmp_path / "cut.mp4").shape == (64, 64, 3)   # a square cut of the 64x96 upright picture


def test_non_square_pixels_are_made_square(tmp_path, vinet8):
    write_marked_mp4(tmp_path / "anamorphic.mp4", (64, 64), sample_aspect=Fraction(2, 1))
    assert generate(tmp_path / "anamorphic.mp4", tmp_path / "out", vinet8, "--overlay", str(tmp_path / "o.mp4")) == 0
    assert np.asarray(Image.open(tmp_path / "out" / "anamorphic" / "00001.png")).shape == (64, 128)
    square = next(frames_by_index(probe_video(tmp_path / "anamorphic.mp4"))).to_ndarray(format="rgb24")
    block = np.argwhere(square.min(axis=2) > 200)
    assert square.shape == (64, 128, 3) and 28 <= block[:, 1].max() <= 33 and block[:, 0].max() < 17   # 16 -> 32 wide
    assert first_frame(tmp_path / "o.mp4").shape == (64, 128, 3)


# ---- a failing run exits 2, every time ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_failing_run_exits_2_every_time(tmp_path, vinet8):
    frames, _ = scene(24, height=64, width=96)
    folder = tmp_path / "data" / "mixed" / "images"
    folder.mkdir(parents=True)
    for index, frame in enumerate(frames, start=1):   # frames of two sizes: the video fails while being decoded
        Image.fromarray(frame if index < 16 else frame[:32]).save(folder / f"{index:04d}.png")
    command = [sys.executable, "generate_result.py", "--path_indata", str(tmp_path / "data"), "--file_weight",
               str(vinet8), "--clip_size", "8", *SMALL_FLAGS, "--save_path", str(tmp_path / "out")]
    for _ in range(4):
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2 and "Traceback" not in result.stderr and "terminate" not in result.stderr
        assert "the frames of a video share one size" in result.stderr


# ---- every script: a bad flag is one line and exit 2, before any work ------------------------------------------------

GPUS = torch.cuda.device_count()
G, GA, R, E, T, V, B = (generate_result, generate_result_audio_visual, reframe, export, train, evaluate, benchmark)
BAD_FLAGS = [   # (script, flags after the common ones, the one line contains)
    (G, ["--workers", "0"], "argument --workers: expected a whole number of at least 1, got '0'"),
    (G, ["--batch_size", "-1"], "argument --batch_size: expected a whole number of at least 1, got '-1'"),
    (G, ["--precision", "fp16", "--device", "cpu"], "--precision fp16 runs on CUDA devices only"),
    (G, ["--frame_size", "100", "100"], "--frame_size 100 100: vinet takes heights and widths that are multiples of "
                                        "32"),
    (G, ["--device", "gpu"], "argument --device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
    (G, ["--device", "cuda:3"], f"--device cuda:3: this machine has {GPUS} CUDA devices"),
    (G, ["--num_parts", "0"], "argument --num_parts: expected a whole number of at least 1, got '0'"),
    (G, ["--model", "vinet9"], "argument --model: invalid choice: 'vinet9'"),
    (G, ["--clip_size", "0"], "argument --clip_size: expected a whole number of at least 1, got '0'"),
    (G, ["--nhead", "4"], "vinet has no --nhead: drop it or choose another --model"),
    (G, ["--exact", "--precision", "bf16"], "--exact computes as the original: fp32, not compiled"),
    (G, ["--num_hier", "5"], "argument --num_hier: expected a whole number from 0 to 3, got '5'"),
    (G, ["--frame_size", "32"], "argument --frame_size: expected 2 arguments"),
    (G, ["--bogus"], "unrecognized arguments: --bogus"),
    (G, ["--backend", "tensorrt"], "argument --backend: invalid choice: 'tensorrt'"),
    (G, ["--backend", "openvino", "--exact"], "--backend openvino runs an ONNX graph: --exact and --compile are "
                                              "PyTorch's"),
    (G, ["--backend", "onnxruntime", "--precision", "bf16"], "--backend onnxruntime runs a file in the precision it "
                                                             "was exported in"),
    (G, ["--min_cc", "0.99"], "--min_cc 0.99 refuses the videos whose int8 maps fall below it against the float path: "
                              "this run has no int8 model it can check"),
    (G, ["--min_cc", "2"], "argument --min_cc: expected a number from 0 to 1, got '2'"),
    (G, ["--check_every", "-1"], "argument --check_every: expected a whole number of at least 0, got '-1'"),
    (G, ["--precision", "int8", "--backend", "torch"], "--precision int8 runs by OpenVINO on the CPU: drop --backend "
                                                       "torch"),
    (G, ["--precision", "int8", "--onnx", "m.onnx"], "--precision int8 quantizes a checkpoint: run an int8 file from "
                                                     "export.py --int8"),
    (GA, ["--split", "0"], "argument --split: expected a whole number from 1 to 3, got '0'"),
    (GA, ["--model", "vinet", "--audio_ablation", "silence"], "--audio_ablation silence changes what an audio-visual"),
    (GA, ["--transformer_in_channel", "x"], "argument --transformer_in_channel: expected a whole number"),
    (R, ["--aspect", "9:16"], "no saliency given: pass --maps DIR"),
    (R, ["--aspect", "9:16", "--untrained", "--maps", "M"], "--untrained runs a model without weights: drop it"),
    (R, ["--aspect", "9:16", "--maps", "M", "--crf", "60"], "argument --crf: expected a whole number from 0 to 51"),
    (R, ["--aspect", "9:16", "--maps", "M", "--max_speed", "0"], "argument --max_speed: expected a number above 0"),
    (R, ["--aspect", "9:16", "--maps", "M", "--smoothing", "-1"], "argument --smoothing: expected a number of at "
                                                                  "least"),
    (R, ["--aspect", "0:1", "--maps", "M"], "--aspect must be W:H with positive numbers"),
    (R, ["--aspect", "9:16", "--untrained", "--backend", "openvino", "--device", "cuda"], "--backend openvino runs on "
                                                                                         "the CPU here"),
    (R, ["--aspect", "9:16", "--maps", "M", "--backend", "tvm"], "argument --backend: invalid choice: 'tvm'"),
    (R, ["--aspect", "9:16", "--maps", "M", "--min_scene_len", "nan"], "argument --min_scene_len: expected a number"),
    (R, ["--aspect", "9:16", "--maps", "M", "--analysis_fps", "-1"], "argument --analysis_fps: expected a number of "
                                                                     "at least 0, got '-1'"),
    (R, ["--aspect", "9:16", "--maps", "M", "--fit", "zoom"], "argument --fit: invalid choice: 'zoom'"),
    (R, ["--aspect", "9:16", "--maps", "M", "--pad_below", "0"], "argument --pad_below: expected a number above 0 and "
                                                                 "at most 1, got '0'"),
    (R, ["--maps", "M", "--width", "0"], "argument --width: expected a whole number of at least 2, got '0'"),
    (R, ["--maps", "M", "--width", "321", "--height", "180"], "--width 321: give an even number of pixels"),
    (R, ["--maps", "M", "--width", "320", "--height", "180", "--aspect", "9:16"], "--width 320 --height 180 is not "
                                                                                  "--aspect 9:16"),
    (R, ["--maps", "M"], "give --aspect W:H (9:16, 4:5, 1:1, 16:9), or --width and --height"),
    (E, ["--model", "vinet", "--untrained", "--opset", "5"], "argument --opset: expected a whole number of at least "
                                                             "14"),
    (E, ["--model", "vinet-a", "--untrained", "--frame_size", "30", "64"], "vinet-a takes heights and widths that are "
                                                                            "multiples of 4"),
    (E, ["--model", "vinet", "--untrained", "--batch", "0"], "argument --batch: expected 'dynamic' or a batch size"),
    (E, ["--model", "vinet", "--untrained", "--int8", "--calibration_windows", "3"], "argument --calibration_windows: "
                                                                                  "expected a whole number of at "
                                                                                  "least 4, got '3'"),
    (E, ["--model", "vinet", "--untrained", "--calibrate", "a.mp4"], "--calibrate gives --int8 its videos: add --int8"),
    (T, ["--lr", "0"], "argument --lr: expected a number above 0, got '0'"),
    (T, ["--momentum", "2"], "argument --momentum: expected a number from 0 to 1, got '2'"),
    (T, ["--split", "4"], "argument --split: expected a whole number from 1 to 3, got '4'"),
    (T, ["--no_workers", "-1"], "argument --no_workers: expected a whole number of at least 0, got '-1'"),
    (T, ["--audio_ablation", "silence"], "--audio_ablation silence acts on what an audio-visual model hears"),
    (T, ["--device", "tpu"], "argument --device: expected auto, cpu, cuda or cuda:N, got 'tpu'"),
    (V, ["--workers", "0"], "argument --workers: expected a whole number of at least 1, got '0'"),
    (V, ["--split", "9"], "argument --split: expected a whole number from 1 to 3, got '9'"),
    (V, ["--metrics", "foo"], "argument --metrics: unknown metric(s) ['foo']"),
    (V, [], "predictions missing in "),
    (B, ["--rounds", "0"], "argument --rounds: expected a whole number of at least 1, got '0'"),
    (B, ["--process_frames", "0"], "argument --process_frames: expected a whole number of at least 63, got '0'"),
    (B, ["--processes", "--backend", "tvm"], "argument --backend: invalid choice: 'tvm'"),
    (B, ["--backend", "openvino"], "--backend and --precision choose the runs --processes times: add --processes"),
    (B, ["--precision", "int8"], "--backend and --precision choose the runs --processes times: add --processes"),
    (B, ["--processes", "--precision", "int4"], "argument --precision: invalid choice"),
    (B, ["--device", "cuda:9"], f"--device cuda:9: this machine has {GPUS} CUDA devices"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, vinet8) -> Path:
    """A folder with a video, the maps of an earlier run, a ground truth with a prediction missing, and a train
    run's files: what a bad flag must leave as it is."""
    root = tmp_path_factory.mktemp("workspace")
    write_video(str(root / "v.mkv"), scene(4)[0], 10.0, scene(4)[1])
    assert generate(root / "v.mkv", root / "out", vinet8) == 0
    write_dhf1k(root / "gt", num_videos=1, num_frames=3, size=(36, 64))
    (root / "pred" / "video_000").mkdir(parents=True)
    Image.fromarray(np.full((36, 64), 128, np.uint8)).save(root / "pred" / "video_000" / "0001.png")
    (root / "runs").mkdir()
    (root / "runs" / "best.pt").write_bytes(vinet8.read_bytes())
    return root


def common_flags(script, root: Path) -> list[str]:
    """The flags of a sound run of each script, into the workspace's outputs."""
    if script in (G, GA):
        return ["--video", str(root / "v.mkv"), "--save_path", str(root / "out")]
    if script is R:
        return ["--video", str(root / "v.mkv"), "--output", str(root / "cut.mp4")]
    if script is E:
        return ["--output", str(root / "model.onnx")]
    if script is T:
        return ["--train_path_data", str(root / "gt"), "--val_path_data", str(root / "gt"), "--model_val_path",
                str(root / "runs" / "best.pt")]
    if script is V:
        return ["--gt_path", str(root / "gt"), "--pred_path", str(root / "pred"), "--output", str(root / "e.json")]
    return ["--json", str(root / "b.json")]


@pytest.mark.parametrize("script,flags,message", BAD_FLAGS,
                         ids=[f"{s.__name__}:{' '.join(f)}" for s, f, _ in BAD_FLAGS])
def test_a_bad_flag_is_one_line_and_exit_2_before_any_work(workspace, caplog, capsys, script, flags, message):
    before = tree(workspace)
    flags = [str(workspace / "out" / "v") if flag == "M" else flag for flag in flags]
    with caplog.at_level(logging.INFO):
        assert script.main([*common_flags(script, workspace), *flags]) == 2
    captured = capsys.readouterr()
    lines = error_lines(caplog) + [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], lines
    assert "Traceback" not in captured.err + captured.out
    assert tree(workspace) == before


@pytest.mark.slow
def test_demo_refuses_bad_flags_in_one_line(caplog):
    pytest.importorskip("gradio", reason="the demo's packages: extras/install_demo.sh")
    import demo
    for flags, message in ((["--port", "0"], "argument --port: expected a whole number from 1 to 65535"),
                           ([], "give --file_weight W (one model per checkpoint) or --untrained"),
                           (["--untrained", "--max_seconds", "-1"], "argument --max_seconds: expected a number "
                                                                    "above 0")):
        caplog.clear()
        assert demo.main(flags) == 2
        assert len(error_lines(caplog)) == 1 and message in error_lines(caplog)[0]
