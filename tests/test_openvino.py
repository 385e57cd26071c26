"""OpenVINO: every exported kind of model run within 1e-4 of PyTorch in fp32 and at CC >= 0.99 in bf16 and int8
(NNCF, export.py --int8: its CC in the metadata, printed by the engine, a refusal below 0.99); --backend in the
engine on files and on a checkpoint converted in memory; bad input in one line."""
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ON_CPU, deterministic_weights
from onnx_cases import CASES, SMALL, pytorch_maps
from PIL import Image

import benchmark
import export
import generate_result
import reframe
from backends import OPENVINO_PRECISIONS, OpenVinoBackend, openvino_core, traced_proto
from loss import cc
from registry import MODELS
from synthetic import disc_paths, render_frames, soundtrack, write_video
from utils import InputError
from vinet.engine.manifest import file_identity

REASON = "OpenVINO's tests need onnx, onnxscript, onnxruntime, openvino and nncf: pip install -r " \
         "requirements-onnx.txt -r requirements-openvino.txt"
for module in ("onnx", "onnxscript", "onnxruntime", "openvino", "nncf"):
    pytest.importorskip(module, reason=REASON)
import onnx  # noqa: E402  (installed: checked above)

ROOT = Path(__file__).resolve().parents[1]
HAS_BF16 = OPENVINO_PRECISIONS["bf16"][1] in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def mean_cc(maps: np.ndarray, expected: np.ndarray) -> float:
    return float(cc(torch.from_numpy(maps), torch.from_numpy(expected)).mean())


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory) -> Path:
    """A lossless 3 s scene of moving discs with their sound (10 fps, 72x128): the test clips, and windows to
    calibrate int8 on."""
    path = tmp_path_factory.mktemp("scene") / "scene.mkv"
    discs = disc_paths(30, 72, 128, seed=5)
    write_video(str(path), render_frames(discs, 72, 128, seed=5), 10.0, soundtrack(discs, 10.0))
    return path


def scene_clips(entry, scene_video: Path, count: int) -> list[torch.Tensor]:
    """`count` windows of the scene as one batch, as the engine feeds them."""
    windows = export.calibration_windows(entry, [scene_video], count)
    return [torch.cat(inputs) for inputs in zip(*windows)]


# ---- every kind of model --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_openvino_runs_every_exported_model_as_pytorch_does(exported, scene_video, name):
    """fp32 within 1e-4 of PyTorch, bf16 at CC >= 0.99 (or refused in one line on a CPU without bf16), on windows
    of the scene: two run in parallel, or three for a fixed batch of two (split and padded)."""
    result = exported(name)
    inputs = scene_clips(result.entry, scene_video, 3 if CASES[name][1] == "2" else 2)
    expected = pytorch_maps(result, inputs)
    fp32 = OpenVinoBackend(result.path, "fp32")
    assert fp32.entry == result.entry and fp32.batch == result.onnx_model.batch
    maps = fp32(inputs)
    assert maps.dtype == np.float32 and maps.shape == expected.shape
    assert np.abs(maps - expected).max() < 1e-4
    if HAS_BF16:
        bf16 = OpenVinoBackend(result.path, "bf16")(inputs)
        assert 0.99 <= mean_cc(bf16, expected) < 1 and np.abs(bf16 - expected).max() > 1e-4   # bf16 really
    else:
        with pytest.raises(InputError, match="no BF16"):
            OpenVinoBackend(result.path, "bf16")


def quantize(model, entry, proto, batch: int | None, scene_video: Path):
    """An fp32 graph quantized by NNCF on 3 windows of the scene, checked on a fourth."""
    return export.quantized_proto(model, entry, proto, export.Calibration([scene_video], windows=4), batch)


def small_graph(exported, name: str):
    """The case's model, entry, fp32 graph and fixed batch at 64x96: its exported file, or (ViNet-S and AViNet,
    exported at their real size) a graph of batch 1 traced here, which quantizes in a third of the time."""
    if CASES[name][0] == SMALL:
        result = exported(name)
        return result.model, result.entry, onnx.load(str(result.path)), result.onnx_model.batch
    entry = MODELS[name].configured(SMALL)
    model = deterministic_weights(entry.build())
    return model, entry, traced_proto(model, entry, 1), 1


# ViNet-A's SlowFast with the tests' deterministic weights (no trained batch norm: activations grow into the
# thousands) loses its maps in int8, CC 0.2-0.9 whatever NNCF's preset; ViNet-E holds a ViNet-A: both refused
INT8_REFUSED = ("vinet-a", "vinet-e")
# AViNet's maps of a video's first window (its time-reversed first frames, the sound's start) reach only CC 0.90-0.92
# in int8, the later windows 0.99 and more: a known gap (README), pinned here
INT8_START_GAP = ("avinet",)


@pytest.mark.parametrize("name", [name for name in CASES if name != "vinet"])   # ViNet: export.py --int8 below
def test_int8_keeps_cc_0_99_with_fp32_or_is_refused(exported, scene_video, name):
    """Each exported model in int8, calibrated on 3 windows of the scene: the held-out CC in the metadata, and CC
    >= 0.99 with PyTorch's fp32 maps on the test clips (the scene's first and last windows), float layers in fp32 and
    bf16; or refused in one line."""
    model, entry, proto, batch = small_graph(exported, name)
    if name in INT8_REFUSED:
        with pytest.raises(InputError, match=r"int8 maps reach CC 0\.\d+ with fp32's on 1 held-out windows, below "
                                             r"0\.99: not written; calibrate on footage like yours"):
            quantize(model, entry, proto, batch, scene_video)
        return
    quantized, meta = quantize(model, entry, proto, batch, scene_video)
    assert meta["precision"] == "int8" and meta["int8_held_out_windows"] == "1"
    assert "3 windows of scene.mkv" in meta["int8_calibration"]
    scores = json.loads(meta["int8_cc_vs_fp32"])
    assert set(scores) == ({"fp32", "bf16"} if HAS_BF16 else {"fp32"}) and min(scores.values()) >= 0.99
    assert sum(node.op_type == "QuantizeLinear" for node in quantized.graph.node) >= 10
    inputs = scene_clips(entry, scene_video, 2)
    with torch.inference_mode():
        expected = torch.cat([model(*(x[i:i + 1] for x in inputs)) for i in range(2)]).numpy()
    for precision in scores:
        maps = OpenVinoBackend(quantized.SerializeToString(), precision, entry)(inputs)
        first, last = (mean_cc(maps[i:i + 1], expected[i:i + 1]) for i in (0, 1))
        assert 0.99 <= last < 1 and (0.85 < first < 0.99 if name in INT8_START_GAP else 0.99 <= first < 1), precision


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
    assert "6 windows of sample.mp4 and 3 synthetic scenes" in meta["int8_calibration"]
    assert min(json.loads(meta["int8_cc_vs_fp32"]).values()) >= 0.99
    assert any(line.startswith("int8: CC {") for line in int8.messages)
    assert int8.messages[-1].startswith(f"wrote {int8.path} (vinet, int8, batch dynamic")
    assert int8.path.stat().st_size < fp32.path.stat().st_size / 2
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
                         "--output", str(tmp_path / "cut.mp4"), "--save_path", str(tmp_path / "reframe_maps")]) == 0
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


def test_without_openvino_the_backend_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(InputError, match=r"openvino is not installed: pip install -r requirements-openvino.txt"):
        OpenVinoBackend(tmp_path / "model.onnx")


def test_benchmark_precision_keeps_only_its_runs_beside_the_fp32_reference():
    assert benchmark.process_runs(["torch", "openvino"], ["bf16", "int8"]) == [
        ("torch", "fp32"), ("torch", "bf16"), ("openvino", "bf16"), ("openvino", "int8")]
    assert benchmark.process_runs(["onnxruntime"], ["int8"]) == [("torch", "fp32")]
    assert len(benchmark.process_runs(["torch", "onnxruntime", "openvino"])) == 6
