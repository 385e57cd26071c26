"""The GPU's frame and map processing (vinet.engine.gpu_processing), run on CPU tensors: the same arithmetic as on
CUDA, checked against what the CPU path computes (PIL's resize, OpenCV's post-processing)."""
import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT
from PIL import Image

import vinet
import vinet.engine.predictor as predictor_module
import vinet.engine.run as run_module
from dataloader import frame_tensor
from media import probe_video
from synthetic import render_frames
from utils import IMAGENET_MEAN, IMAGENET_STD, postprocess_map, read_gray
from vinet.engine.gpu_processing import frames_to_inputs, gaussian_kernel, postprocess_batch
from vinet.engine.run import predict_all
from vinet.engine.sources import video_file
from vinet.engine.writers import MapWriter

MODEL_SIZES = [(224, 384), (64, 96)]          # (h, w) of ViNet's maps at its default size and a small one
FRAME_SIZES = [(1920, 1080), (54, 37), (640, 360), (192, 112), (96, 64), (7, 6), (5, 4)]   # (width, height)
SAMPLE = ROOT / "extras" / "sample.mp4"   # 20 frames of 180x320
LEVEL = 1 / (255 * min(IMAGENET_STD))   # one 8-bit level in normalised units, at its largest


def smooth_maps(rng: np.random.Generator, h: int, w: int, count: int = 2) -> np.ndarray:
    """Blurred noise in [0, 1], like a model's maps."""
    maps = np.stack([cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 6) for _ in range(count)])
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def spiky_maps(rng: np.random.Generator, h: int, w: int, count: int = 2) -> np.ndarray:
    """A few isolated peaks on zero: the hardest case for resize and blur edges."""
    maps = np.zeros((count, h, w), np.float32)
    for m in maps:
        m.flat[rng.integers(0, h * w, 20)] = rng.random(20)
    return maps


def test_blur_kernel_is_opencvs():
    np.testing.assert_allclose(gaussian_kernel(torch.device("cpu")).numpy(),
                               cv2.getGaussianKernel(11, 0)[:, 0], rtol=1e-6)


@pytest.mark.parametrize("model_size", MODEL_SIZES)
@pytest.mark.parametrize("make", [smooth_maps, spiky_maps])
@pytest.mark.parametrize("bits", [8, 16])
def test_postprocess_batch_matches_opencv(model_size, make, bits):
    """Up- and downscaled (odd sizes, tiny frames through OpenCV): within one gray level of utils.postprocess_map,
    and equal on nearly every pixel (8 bits: measured at most 0.011% of pixels differ; 16 bits at most 1 of 65535,
    far within 1/255 of the range)."""
    maps = make(np.random.default_rng(0), *model_size)
    for size in FRAME_SIZES:
        got = postprocess_batch(torch.from_numpy(maps), [size] * len(maps), bits)
        for saliency, gray in zip(maps, got):
            want = postprocess_map(saliency, size, bits)
            assert gray.dtype == want.dtype and gray.shape == want.shape
            diff = np.abs(gray.astype(np.int64) - want.astype(np.int64))
            assert diff.max() <= 1, (size, diff.max())
            if bits == 8:
                assert np.count_nonzero(diff) <= max(1, 1e-3 * diff.size), (size, np.count_nonzero(diff))


def test_postprocess_batch_mixes_sizes_in_order():
    maps = smooth_maps(np.random.default_rng(1), 64, 96, count=3)
    sizes = [(96, 54), (40, 30), (96, 54)]
    got = postprocess_batch(torch.from_numpy(maps), sizes)
    assert [g.shape for g in got] == [(54, 96), (30, 40), (54, 96)]
    for saliency, size, gray in zip(maps, sizes, got):
        assert np.abs(gray.astype(int) - postprocess_map(saliency, size).astype(int)).max() <= 1


def blurred_frames(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Natural-ish frames: synthetic.render_frames' discs on texture, blurred; and one of pure noise."""
    paths = np.array([[[height / 3, width / 3], [height / 2, 2 * width / 3]]])
    scene = cv2.GaussianBlur(render_frames(paths, height, width, seed=0)[0], (0, 0), 2)
    return np.stack([scene, rng.integers(0, 256, (height, width, 3), dtype=np.uint8)])


@pytest.mark.parametrize("frame", [(1080, 1920), (180, 320), (37, 54), (360, 640), (224, 384)])
def test_frames_to_inputs_matches_pil(frame):
    """Within two 8-bit levels of PIL's resize, nearly always equal: each of PIL's two passes (rows, then columns)
    rounds to 8 bits from 22-bit fixed-point weights, so either pass can land a level apart from float weights.
    Measured: at most 2 levels (2 values in 258,048 of noise upscaled from 180x320), else 1; values off: at most
    4.1% on noise, 0.03% on a blurred 1080p scene; mean under 0.001 in normalised units. Equal when no resize is
    needed."""
    pixels = blurred_frames(np.random.default_rng(2), *frame)
    want = torch.stack([frame_tensor(Image.fromarray(p), (224, 384), IMAGENET_MEAN, IMAGENET_STD) for p in pixels])
    got = frames_to_inputs(torch.from_numpy(pixels), (224, 384), IMAGENET_MEAN, IMAGENET_STD)
    assert got.shape == want.shape == (2, 3, 224, 384)
    diff = (got - want).abs()
    assert diff.max() <= 2 * LEVEL + 1e-6
    assert diff.mean() < 1e-3
    assert (diff > LEVEL / 2).float().mean() < 0.05
    if frame == (224, 384):
        assert torch.equal(got, want)


@pytest.fixture(scope="module")
def small_predictor():
    """An untrained ViNet-S at 32x64 on the CPU, in batches of 4."""
    return vinet.load(model="vinet-s", untrained=True, frame_size=(32, 64), device="cpu", batch_size=4)


def take_gpu_branch(monkeypatch) -> None:
    """The engine's CUDA branch (frames resized and maps post-processed by gpu_processing) on CPU tensors."""
    monkeypatch.setattr(predictor_module, "on_gpu", lambda settings: True)
    monkeypatch.setattr(run_module, "on_gpu", lambda settings: True)   # PNGs then encoded by a process pool


def test_engine_gpu_branch_matches_cpu_path(small_predictor, monkeypatch):
    """predict()'s maps through the GPU branch: within one gray level of the CPU path's (at 64x96 7% of pixels
    differ, from the inputs' rounding through an untrained model), already uint8 at the frame's size."""
    cpu = dict(small_predictor.predict(SAMPLE))
    take_gpu_branch(monkeypatch)
    gpu = dict(small_predictor.predict(SAMPLE))
    assert gpu.keys() == cpu.keys() and gpu[0].dtype == np.uint8 and gpu[0].shape == cpu[0].shape
    assert max(np.abs(gpu[j].astype(int) - cpu[j].astype(int)).max() for j in cpu) <= 1


@pytest.mark.slow
def test_writers_take_gpu_maps(small_predictor, monkeypatch, tmp_path):
    """The GPU branch hands the writers finished maps: PNG files within one level of the CPU path's, and an mp4
    saliency video of every frame from uint16 maps."""
    predict_all(small_predictor, [video_file(SAMPLE)], tmp_path / "cpu")
    take_gpu_branch(monkeypatch)
    batches = predictor_module.video_maps(small_predictor, video_file(SAMPLE), [0, 1, 2, 3], bits=16)
    _, maps = next(batches)
    batches.close()
    assert [(j, gray.dtype, gray.shape) for j, gray, _ in maps] == [(j, np.uint16, (180, 320)) for j in range(4)]
    predict_all(small_predictor, [video_file(SAMPLE)], tmp_path / "gpu")
    predict_all(small_predictor, [video_file(SAMPLE)], tmp_path / "mp4", output_format="mp4")
    names = sorted(p.name for p in (tmp_path / "cpu" / "sample").glob("*.png"))
    assert names and names == sorted(p.name for p in (tmp_path / "gpu" / "sample").glob("*.png"))
    for name in names:
        got, want = (read_gray(tmp_path / side / "sample" / name) for side in ("gpu", "cpu"))
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert probe_video(tmp_path / "mp4" / "sample.mp4").num_frames == len(names)


def test_a_process_pool_writes_the_maps_threads_write(tmp_path):
    """A GPU run's PNGs are encoded by processes (MapWriter(processes=True)): the same files as the threads'."""
    rng = np.random.default_rng(0)
    maps = [(rng.random((24, 40)).astype(np.float32), (54, 37)), (rng.integers(0, 256, (37, 54), np.uint8), (54, 37))]
    for name, processes in (("threads", False), ("processes", True)):
        (tmp_path / name).mkdir()
        with MapWriter(1, limit=4, processes=processes) as writer:
            for index, (saliency, size) in enumerate(maps):
                writer.submit(saliency, size, tmp_path / name / f"{index}.png")
    for index in range(len(maps)):
        made = [(tmp_path / name / f"{index}.png").read_bytes() for name in ("processes", "threads")]
        assert made[0] == made[1]
