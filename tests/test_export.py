"""export.py: each kind of registry model exported, passed by onnx.checker, described in its metadata and run by
onnxruntime within 1e-4 of PyTorch; fp16, bad input, atomic writes, --untrained seeded as the engine seeds it, the
files run by the engine, and the numpy example of export.py's docstring (the library: test_backends_onnx.py)."""
import ast
import json
import logging
import stat
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import ON_CPU
from onnx_cases import CASES, SMALL, UMASK, inputs_of, onnxruntime_difference
from PIL import Image

import export
import generate_result
import reframe
from dataloader import frame_tensor
from registry import WindowRule
from synthetic import disc_paths, render_frames, write_video
from vinet.backends import Settings
from vinet.backends.onnx import UNTRAINED
from vinet.backends.pytorch import TorchBackend
from vinet.loading import ModelOptions, RunOptions, load_predictor

pytestmark = pytest.mark.slow   # trains, exports, kills processes or drives a browser: the full suite's

ONNX_REASON = "ONNX export needs onnx, onnxscript and onnxruntime: pip install -r requirements-onnx.txt"
onnx = pytest.importorskip("onnx", reason=ONNX_REASON)
pytest.importorskip("onnxscript", reason=ONNX_REASON)
pytest.importorskip("onnxruntime", reason=ONNX_REASON)

ROOT = Path(__file__).resolve().parents[1]


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
    assert onnxruntime_difference(result, inputs_of(entry, int(batch) if batch.isdigit() else 1)) < 1e-4
    assert result.onnx_model.entry == entry
    assert result.messages[-1].startswith(f"wrote {result.path}")
    verified = [float(line.split()[-1]) for line in result.messages if "max |difference|" in line]   # --verify
    assert len(verified) == ("--verify" in flags) and all(value < 1e-4 for value in verified)


def test_the_file_is_written_atomically_with_the_umasks_permissions(exported):
    result = exported("vinet")
    assert sorted(p.name for p in result.path.parent.iterdir()) == ["vinet.onnx"]   # no temporary file left
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o666 & ~UMASK


# ---- precision --------------------------------------------------------------------------------------


def test_fp16_export_takes_float32_and_stays_close_to_fp32(exported):
    result = exported("vinet", "fp16")
    proto = onnx.load(str(result.path))
    weights = [t for t in proto.graph.initializer if len(t.dims) == 5]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    assert result.onnx_model.metadata["precision"] == "fp16"
    assert onnxruntime_difference(result, inputs_of(result.entry)) < 2e-2


# ---- --untrained -------------------------------------------------------------------------------


def test_untrained_weights_are_the_engines():
    """--untrained exports the model generate_result.py runs without --file_weight (seeded alike), and leaves the
    random state as it was."""
    args = export.parse_args(["--model", "vinet-s", "--untrained", "--frame_size", *map(str, SMALL), "--output",
                              "m.onnx"])
    state = torch.random.get_rng_state()
    entry, model, checkpoint = export.chosen_model(args)
    assert torch.equal(torch.random.get_rng_state(), state) and checkpoint == UNTRAINED
    engine = load_predictor(ModelOptions(model="vinet-s", untrained=True, frame_size=SMALL), RunOptions(device="cpu"))
    inputs = inputs_of(entry)
    np.testing.assert_array_equal(TorchBackend(model, Settings())(inputs), engine.backend(inputs))


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
