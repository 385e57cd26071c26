"""OpenVINO in the command lines: export.py --int8 (its CC in the metadata, printed by the engine), --backend
openvino in the engine on files and on a checkpoint converted in memory; bad input in one line (the library:
test_backends_openvino.py, test_backends_int8.py, and test_bench_runtimes.py for benchmark.py's runs)."""
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ON_CPU
from onnx_cases import SMALL, mean_cc, openvino_has_bf16
from PIL import Image

import export
import generate_result
import reframe
from synthetic import disc_paths, render_frames, write_video
from vinet.engine.manifest import file_identity

pytestmark = pytest.mark.slow   # trains, exports, kills processes or drives a browser: the full suite's

REASON = "OpenVINO's tests need onnx, onnxscript, onnxruntime, openvino and nncf: pip install -r " \
         "requirements-onnx.txt -r requirements-openvino.txt"
for module in ("onnx", "onnxscript", "onnxruntime", "openvino", "nncf"):
    pytest.importorskip(module, reason=REASON)

ROOT = Path(__file__).resolve().parents[1]
HAS_BF16 = openvino_has_bf16()


# ---- export.py --int8 and the engine ------------------------------------------------------------


def run_generate(caplog, *flags: str) -> list[str]:
    """generate_result.py's messages (on the CPU); it must succeed."""
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert generate_result.main([*flags, *ON_CPU]) == 0, caplog.text
    return [record.getMessage() for record in caplog.records]


def read_maps(folder) -> np.ndarray:
    return np.stack([np.asarray(Image.open(path), np.float32) for path in sorted(folder.iterdir())])


def test_export_int8_writes_its_cc_and_the_engine_prints_it(exported, tmp_path, caplog):
    """export.py --int8 on its default videos; the file run by OpenVINO and by onnxruntime in the engine, its CC
    printed, the maps close to the fp32 file's."""
    fp32, int8 = exported("vinet"), exported("vinet", "int8")
    meta = int8.onnx_model.metadata
    assert meta["precision"] == "int8" and meta["checkpoint"] == "vinet.pt"
    assert "6 windows of scene.mkv" in meta["int8_calibration"]
    assert min(json.loads(meta["int8_cc_vs_fp32"]).values()) >= 0.99
    assert any(line.startswith("int8: CC {") for line in int8.messages)
    assert int8.messages[-1].startswith(f"wrote {int8.path} (vinet, int8, batch dynamic")
    # the fp32 weights are kept beside their quantization (the float path runs check against): about fp32's size
    assert fp32.path.stat().st_size < int8.path.stat().st_size < 1.1 * fp32.path.stat().st_size
    write_video(str(tmp_path / "v.mkv"), render_frames(disc_paths(8, 72, 128, seed=2), 72, 128, seed=2), 10.0)
    video = ["--video", str(tmp_path / "v.mkv")]
    run_generate(caplog, *video, "--onnx", str(fp32.path), "--backend", "openvino", "--save_path",
                 str(tmp_path / "fp32"))
    expected = read_maps(tmp_path / "fp32" / "v")
    precision = "bf16" if HAS_BF16 else "fp32"
    for backend, flags in (("openvino", ["--precision", precision]), ("onnxruntime", [])):
        lines = run_generate(caplog, *video, "--onnx", str(int8.path), "--backend", backend, *flags,
                             "--save_path", str(tmp_path / backend))
        assert f"vinet (ONNX file {int8.path}, from vinet.pt, int8, by {backend})" in lines[0]
        score = json.loads(meta["int8_cc_vs_fp32"])[flags[1] if flags else "fp32"]
        assert lines[1].startswith(f"int8 file: CC {score} with fp32's maps on 2 held-out windows"), lines
        assert mean_cc(read_maps(tmp_path / backend / "v"), expected) >= 0.99
    manifest = json.loads((tmp_path / "openvino" / "v.manifest.json").read_text())
    assert (manifest["backend"], manifest["file_precision"], manifest["precision"]) == ("openvino", "int8", precision)
    assert manifest["weights"] == [file_identity(int8.path)]
    caplog.clear()
    rerun = [*video, *ON_CPU, "--onnx", str(int8.path), "--save_path", str(tmp_path / "openvino")]
    assert generate_result.main(rerun) == 2     # onnxruntime, the default, in OpenVINO's folder
    assert "made with another backend (openvino there, onnxruntime now)" in caplog.text


def test_the_engine_runs_files_and_checkpoints_with_openvino(exported, tmp_path, caplog):
    """--backend openvino on an exported file (generate and reframe) and on the checkpoint, converted in memory: the
    same maps (the file's are PyTorch's within 1e-4, above)."""
    result = exported("vinet-a")
    torch.save(result.model.state_dict(), tmp_path / "vinet_a.pt")
    write_video(str(tmp_path / "v.mkv"), render_frames(disc_paths(6, 72, 128, seed=3), 72, 128, seed=3), 10.0)
    video = ["--video", str(tmp_path / "v.mkv")]
    run_generate(caplog, *video, "--onnx", str(result.path), "--backend", "openvino", "--save_path",
                 str(tmp_path / "file"))
    lines = run_generate(caplog, *video, "--file_weight", str(tmp_path / "vinet_a.pt"), "--frame_size",
                         *map(str, SMALL), "--backend", "openvino", "--save_path", str(tmp_path / "memory"))
    assert "converting vinet-a to ONNX for openvino" in " ".join(lines)
    from_file, from_memory = read_maps(tmp_path / "file" / "v"), read_maps(tmp_path / "memory" / "v")
    assert from_file.shape == (6, 72, 128) and from_file.std() > 1 and np.abs(from_file - from_memory).max() <= 1
    assert reframe.main([*video, "--aspect", "9:16", "--onnx", str(result.path), "--backend", "openvino",
                         "--precision", "fp32", "--output", str(tmp_path / "cut.mp4"), "--save_path",
                         str(tmp_path / "reframe_maps")]) == 0
    sampled = tmp_path / "reframe_maps" / "v"   # --analysis_fps 5 of a 10 fps video: every other frame's map
    assert sorted(p.name for p in sampled.iterdir()) == ["00002.png", "00004.png", "00006.png"]
    assert np.abs(read_maps(sampled) - from_file[1::2]).max() <= 1


# ---- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["torch_file", "onnxruntime_bf16", "openvino_cuda", "openvino_exact"])
def test_backend_flags_that_cannot_work_get_one_line(exported, tmp_path, caplog, case):
    path = str(exported("vinet").path)
    flags = {"torch_file": ["--backend", "torch"],
             "onnxruntime_bf16": ["--backend", "onnxruntime", "--precision", "bf16"],
             "openvino_cuda": ["--backend", "openvino", "--device", "cuda"],
             "openvino_exact": ["--backend", "openvino", "--exact"]}[case]
    expected = {"torch_file": "--backend torch runs checkpoints (--file_weight): drop --onnx",
                "onnxruntime_bf16": "--backend onnxruntime runs a file in the precision it was exported in",
                "openvino_cuda": "--backend openvino runs on the CPU here: use --device cpu",
                "openvino_exact": "--backend openvino runs an ONNX graph: --exact and --compile are PyTorch's"}[case]
    assert generate_result.main(["--video", "x.mp4", "--onnx", path, *flags, "--save_path", str(tmp_path)]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and expected in errors[0], errors


@pytest.mark.parametrize("flags, expected", [
    (["--int8", "--calibrate", "missing.mp4"], "--calibrate missing.mp4: no such file"),
    (["--int8", "--precision", "fp16"], "--int8 quantizes the fp32 graph: drop --precision"),
    (["--calibrate", "a.mp4"], "--calibrate gives --int8 its videos: add --int8"),
])
def test_int8_flags_that_cannot_work_get_one_line(tmp_path, caplog, flags, expected):
    assert export.main(["--model", "vinet", "--untrained", "--output", str(tmp_path / "m.onnx"), *flags]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and expected in errors[0], errors
    assert not (tmp_path / "m.onnx").exists()


def test_benchmark_backend_without_processes_gets_one_line():
    result = subprocess.run([sys.executable, "benchmark.py", "--backend", "openvino", "--json", "never.json"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and not (ROOT / "never.json").exists()
    assert result.stderr.strip() == \
        "error: --backend and --precision choose the runs --processes times: add --processes"
