"""ONNX export: each kind of registry model exported, passed by onnx.checker, described in its metadata and run by
onnxruntime within 1e-4 of PyTorch; dynamic and fixed batch, fp16, bad input, atomic writes, and the numpy
example of export.py's docstring."""
import ast
import json
import logging
import stat
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import ON_CPU
from onnx_cases import CASES, SMALL, UMASK, Exported, inputs_of, pytorch_maps
from PIL import Image

import export
import generate_result
import reframe
from backends import OnnxBackend, input_names
from dataloader import frame_tensor
from registry import MODELS, WindowRule
from synthetic import disc_paths, render_frames, write_video
from utils import InputError

ONNX_REASON = "ONNX export needs onnx, onnxscript and onnxruntime: pip install -r requirements-onnx.txt"
onnx = pytest.importorskip("onnx", reason=ONNX_REASON)
pytest.importorskip("onnxscript", reason=ONNX_REASON)
pytest.importorskip("onnxruntime", reason=ONNX_REASON)

ROOT = Path(__file__).resolve().parents[1]


def largest_difference(result: Exported, inputs: list[torch.Tensor], expected: np.ndarray | None = None) -> float:
    """max |onnxruntime - PyTorch|, onnxruntime running the whole batch through the file's session."""
    names = input_names(result.entry)
    maps = result.onnx_model.session.run(["saliency"], {name: x.numpy() for name, x in zip(names, inputs)})[0]
    expected = pytorch_maps(result, inputs) if expected is None else expected
    assert maps.shape == expected.shape
    return float(np.abs(maps - expected).max())


# ---- every kind of model --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_export_is_checked_described_and_matches_pytorch(exported, name):
    result, (frame_size, batch, flags) = exported(name), CASES[name]
    entry = result.entry
    onnx.checker.check_model(str(result.path))
    meta = result.onnx_model.metadata
    checkpoints = " ".join(f"{part.name}.pt" for part in entry.parts)
    assert (meta["model"], meta["label"], meta["checkpoint"]) == (name, entry.label, checkpoints)
    assert json.loads(meta["frame_size"]) == list(frame_size) and meta["clip_length"] == str(entry.clip_length)
    assert tuple(json.loads(meta["mean"])) == entry.mean and tuple(json.loads(meta["std"])) == entry.std
    assert WindowRule(**json.loads(meta["window"])) == entry.window and "reverse_start" in meta["window_rule"]
    assert json.loads(meta["model_kwargs"]) == dict(entry.kwargs)
    assert (meta["precision"], meta["batch"]) == ("fp32", batch)
    assert ("audio_samples" in meta) == entry.takes_audio
    session = result.onnx_model.session
    assert [node.name for node in session.get_inputs()] == {"vinet-e": ["clip_vinet_s", "clip_vinet_a"]}.get(
        name, ["clip", "audio"] if entry.takes_audio else ["clip"])
    assert ("members" in meta) == bool(entry.members)
    assert session.get_outputs()[0].name == "saliency"
    assert largest_difference(result, inputs_of(entry, int(batch) if batch.isdigit() else 1)) < 1e-4
    assert result.onnx_model.entry == entry
    assert result.messages[-1].startswith(f"wrote {result.path}")
    verified = [float(line.split()[-1]) for line in result.messages if "max |difference|" in line]   # --verify
    assert len(verified) == ("--verify" in flags) and all(value < 1e-4 for value in verified)


def test_an_ensembles_file_describes_each_members_clip(exported):
    meta = exported("vinet-e").onnx_model.metadata
    members = json.loads(meta["members"])
    assert [(m["model"], m["input"], m["frame_size"], m["clip_length"]) for m in members] == [
        ("vinet-s", "clip_vinet_s", list(SMALL), 32), ("vinet-a", "clip_vinet_a", list(SMALL), 32)]
    assert [WindowRule(**m["window"]) for m in members] == [MODELS["vinet-s"].window, MODELS["vinet-a"].window]
    assert members[1]["window"] == {"length": 32, "stride": 2, "centred": True, "reverse_start": True}
    assert (members[1]["mean"], members[1]["std"]) == ([0.45] * 3, [0.225] * 3)
    assert "one clip input per member" in meta["clip"]


def test_the_file_is_written_atomically_with_the_umasks_permissions(exported):
    result = exported("vinet")
    assert sorted(p.name for p in result.path.parent.iterdir()) == ["vinet.onnx"]   # no temporary file left
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o666 & ~UMASK


# ---- batch and precision ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vinet", "avinet-transformer"])
def test_a_dynamic_batch_file_runs_any_batch_and_serves_the_engine(exported, name):
    result = exported(name)
    inputs = inputs_of(result.entry, batch=2)
    expected = pytorch_maps(result, inputs)
    assert result.onnx_model.batch is None and largest_difference(result, inputs, expected) < 1e-4
    maps = result.onnx_model([x.contiguous(memory_format=torch.channels_last_3d) if x.dim() == 5 else x
                              for x in inputs])   # as the engine's inputs may be laid out
    assert maps.dtype == np.float32 and np.abs(maps - expected).max() < 1e-4


def test_a_fixed_batch_file_has_that_batch_and_onnx_model_splits_and_pads_to_it(exported):
    result = exported("avinet-tokens")
    onnx_model, (clip, audio) = result.onnx_model, inputs_of(result.entry, batch=3)
    assert onnx_model.batch == 2 and [node.shape[0] for node in onnx_model.session.get_inputs()] == [2, 2]
    first_two = onnx_model.session.run(["saliency"], {"clip": clip[:2].numpy(), "audio": audio[:2].numpy()})[0]
    last_twice = onnx_model.session.run(["saliency"], {"clip": clip[[2, 2]].numpy(), "audio": audio[[2, 2]].numpy()})[0]
    maps = onnx_model([clip, audio])
    np.testing.assert_allclose(maps, np.concatenate([first_two, last_twice[:1]]), rtol=0, atol=1e-6)


def test_fp16_export_takes_float32_and_stays_close_to_fp32(exported):
    result = exported("vinet", "fp16")
    proto = onnx.load(str(result.path))
    weights = [t for t in proto.graph.initializer if len(t.dims) == 5]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    assert result.onnx_model.metadata["precision"] == "fp16"
    assert largest_difference(result, inputs_of(result.entry)) < 2e-2


# ---- bad input ----------------------------------------------------------------------------------


def error_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("case", ["no_weights", "frame_size", "unwritable", "weights_and_untrained"])
def test_bad_input_gets_one_line_and_exit_2(tmp_path, caplog, case):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    output = blocker / "model.onnx" if case == "unwritable" else tmp_path / "model.onnx"
    flags = {"no_weights": ["--model", "vinet"],
             "frame_size": ["--model", "vinet-a", "--untrained", "--frame_size", "30", "64"],
             "unwritable": ["--model", "vinet", "--untrained", "--frame_size", "32", "32"],
             "weights_and_untrained": ["--file_weight", str(blocker), "--untrained"]}[case]
    assert export.main([*flags, "--output", str(output)]) == 2
    lines = error_lines(caplog)
    assert len(lines) == 1 and "\n" not in lines[0], lines
    expected = {"no_weights": "--untrained", "frame_size": "vinet-a takes heights and widths that are multiples of 4",
                "unwritable": "cannot write --output", "weights_and_untrained": "not both"}[case]
    assert expected in lines[0]
    assert not output.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_the_engine_runs_an_exported_file_as_the_checkpoint(exported, tmp_path):
    """generate_result.py --onnx on a video, with its overlay, and reframe.py --onnx: the maps within one gray
    level of the PyTorch path's."""
    result = exported("vinet")
    torch.save(result.model.state_dict(), tmp_path / "vinet.pt")
    frames = render_frames(disc_paths(12, 72, 128, seed=2), 72, 128, seed=2)
    write_video(str(tmp_path / "v.mkv"), frames, 10.0)
    common = ["--video", str(tmp_path / "v.mkv"), *ON_CPU]
    assert generate_result.main([*common, "--onnx", str(result.path), "--save_path", str(tmp_path / "onnx"),
                                 "--overlay", str(tmp_path / "overlay.mp4")]) == 0
    assert generate_result.main([*common, "--file_weight", str(tmp_path / "vinet.pt"), "--frame_size",
                                 *map(str, SMALL), "--save_path", str(tmp_path / "torch")]) == 0
    for name in sorted(p.name for p in (tmp_path / "torch" / "v").iterdir()):
        a, b = (np.asarray(Image.open(tmp_path / run / "v" / name), np.int16) for run in ("onnx", "torch"))
        assert np.abs(a - b).max() <= 1, name
    with av.open(str(tmp_path / "overlay.mp4")) as overlay:
        assert overlay.streams.video[0].frames == 12
    assert reframe.main([*common, "--aspect", "9:16", "--onnx", str(result.path), "--output",
                         str(tmp_path / "cut.mp4"), "--save_path", str(tmp_path / "reframe_maps")]) == 0
    assert len(list((tmp_path / "reframe_maps" / "v").iterdir())) == 6   # the analysed frames: 5 a second of 10


@pytest.mark.parametrize("name", ["vinet-a", "vinet-e"])
def test_the_engine_runs_vinet_plus_plus_files_as_their_checkpoints(exported, tmp_path, name):
    """generate_result.py --onnx with ViNet-A's (looking ahead) and ViNet-E's (two clips) files: the maps within one
    gray level of the checkpoints'."""
    result = exported(name)
    checkpoints = []
    for part in result.entry.parts:
        checkpoints.append(tmp_path / f"{part.name}.pt")
        member = getattr(result.model, part.name.replace("-", "_")) if result.entry.members else result.model
        torch.save(member.state_dict(), checkpoints[-1])
    write_video(str(tmp_path / "v.mkv"), render_frames(disc_paths(6, 72, 128, seed=3), 72, 128, seed=3), 10.0)
    common = ["--video", str(tmp_path / "v.mkv"), *ON_CPU]
    assert generate_result.main([*common, "--onnx", str(result.path), "--save_path", str(tmp_path / "onnx")]) == 0
    assert generate_result.main([*common, "--file_weight", *map(str, checkpoints), "--frame_size", *map(str, SMALL),
                                 "--save_path", str(tmp_path / "torch")]) == 0
    names = sorted(p.name for p in (tmp_path / "torch" / "v").iterdir())
    assert len(names) == 6
    for file_name in names:
        a, b = (np.asarray(Image.open(tmp_path / run / "v" / file_name), np.int16) for run in ("onnx", "torch"))
        assert np.abs(a - b).max() <= 1 and a.std() > 1, file_name


def test_onnx_model_without_onnxruntime_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(InputError, match=r"pip install -r requirements-onnx.txt"):
        OnnxBackend(tmp_path / "model.onnx")


# ---- the docstring's example, which needs nothing of this project --------------------------------


def docstring_example() -> str:
    """The usage example at the end of export.py's docstring, read from the file (the project is not imported)."""
    docstring = ast.get_docstring(ast.parse((ROOT / "export.py").read_text()), clean=False)
    return textwrap.dedent(docstring[docstring.index("    import json"):])


def test_the_docstring_example_feeds_the_file_without_the_project(exported):
    result = exported("vinet")
    frames = list(np.random.default_rng(0).integers(0, 256, (result.entry.clip_length, *SMALL, 3), dtype=np.uint8))
    namespace = {"path": str(result.path), "frames": frames}
    exec(docstring_example(), namespace)
    entry = result.entry
    clip = torch.stack([frame_tensor(Image.fromarray(f), entry.frame_size, entry.mean, entry.std)
                        for f in frames], 1)[None]
    with torch.inference_mode():
        expected = result.model(clip)[0].numpy()
    assert namespace["saliency"].shape == SMALL and np.abs(namespace["saliency"] - expected).max() < 1e-4
