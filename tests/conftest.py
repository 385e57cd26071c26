"""Shared test fixtures: the repository on sys.path, the original's golden reference data, small inputs."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path[:0] = [str(ROOT), str(GOLDEN)]

import detweights  # noqa: E402  (the original's deterministic weights, from ../shared/golden)

from model import VideoAudioSaliencyModel, VideoSaliencyModel  # noqa: E402
from synthetic import disc_paths, render_frames, soundtrack  # noqa: E402

torch.set_num_threads(2)

# Maps and weights compared byte for byte are computed on the CPU: on a GPU, cuDNN's choice of convolution
# kernel (TF32 by default) depends on the batch, so equal settings agree only to a gray level or so.
ON_CPU = ["--device", "cpu"]
SMALL_FLAGS = ["--frame_size", "32", "64"]   # the scripts' tests run their models at 32x64


def golden_state_dict(variant: str) -> dict[str, torch.Tensor]:
    """Deterministic weights in the original's layout for one variant (spec_<variant>.json)."""
    return detweights.state_dict_from_spec(detweights.load_spec(GOLDEN / f"spec_{variant}.json"))


def deterministic_weights(model: torch.nn.Module) -> torch.nn.Module:
    """Give any model the golden generator's weights for its own layout (equal to golden_state_dict
    where the shapes agree: at other frame sizes only the fusion grid's tensors differ)."""
    state = {key: torch.from_numpy(detweights.tensor_for(key, tuple(value.shape)))
             for key, value in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture(scope="session", autouse=True)
def vinet_cache(tmp_path_factory) -> Path:
    """int8's cache (quantized checkpoints, int8 files' float graphs) in the session's folder, not the home's."""
    folder = tmp_path_factory.mktemp("vinet_cache")
    os.environ["VINET_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def vinet8(tmp_path_factory) -> Path:
    """A ViNet checkpoint (8-frame clips) with the golden generator's weights."""
    path = tmp_path_factory.mktemp("weights") / "vinet8.pt"
    torch.save(deterministic_weights(VideoSaliencyModel(num_clips=8)).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def avinet_small(tmp_path_factory) -> Path:
    """An AViNet checkpoint for 32x64 frames (SMALL_FLAGS) with the golden generator's weights."""
    path = tmp_path_factory.mktemp("weights") / "avinet_small.pt"
    torch.save(deterministic_weights(VideoAudioSaliencyModel(frame_size=(32, 64))).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """exported(name, precision="fp32"): that ONNX export case of tests/onnx_cases.py, made once per session
    (test_export.py and test_openvino.py run the same files)."""
    from onnx_cases import export_case  # imports export.py, which the other tests do not need

    cache = {}

    def get(name: str, precision: str = "fp32"):
        if (name, precision) not in cache:
            cache[name, precision] = export_case(tmp_path_factory.mktemp(f"{name}_{precision}"), name, precision)
        return cache[name, precision]

    return get


def scene(num_frames: int, height: int = 37, width: int = 53, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames and mono audio (10 fps) of two moving discs."""
    paths = disc_paths(num_frames, height, width, seed=seed)
    return render_frames(paths, height, width, seed=seed), soundtrack(paths, 10.0)


def save_frames(frames: np.ndarray, folder: Path, pattern: str = "{:04d}.png") -> None:
    """Write frames as numbered image files."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / pattern.format(i))
