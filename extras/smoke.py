"""Build every model of the registry and run it on a synthetic sample clip: a quick check of an install.

Usage (from the repository root): python -m extras.smoke
"""
import time

import numpy as np
import torch

from model import MODELS
from synthetic import disc_paths, render_frames, soundtrack
from utils import AUDIO_SCALE, IMAGENET_MEAN, IMAGENET_STD, audio_buffer_length

HEIGHT, WIDTH, FPS = 64, 96, 25


def sample_inputs(clip_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A (1, 3, T, H, W) normalised clip of two moving discs and its (1, 1, L, 1) soundtrack."""
    paths = disc_paths(clip_length, HEIGHT, WIDTH, seed=0)
    frames = torch.from_numpy(render_frames(paths, HEIGHT, WIDTH, seed=0)).float() / 255
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    clip = ((frames - mean) / std).permute(3, 0, 1, 2)[None]
    wave = soundtrack(paths, FPS) * AUDIO_SCALE
    audio = torch.zeros(audio_buffer_length(clip_length))
    start = (len(audio) - len(wave)) // 2
    audio[start:start + len(wave)] = torch.from_numpy(wave * np.hanning(len(wave)).astype(np.float32))
    return clip, audio.view(1, 1, -1, 1)


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"{'model':20s} {'params':>8s} {'output':>14s} {'mean':>7s} {'min':>7s} {'max':>7s} {'ms':>6s}")
    for name, entry in MODELS.items():
        model = entry.configured((HEIGHT, WIDTH)).build().eval()
        clip, audio = sample_inputs(entry.clip_length)
        start = time.perf_counter()
        with torch.no_grad():
            out = model(clip, audio) if entry.takes_audio else model(clip)
        ms = 1000 * (time.perf_counter() - start)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name:20s} {params:7.1f}M {str(tuple(out.shape)):>14s} {out.mean():7.4f} {out.min():7.4f} "
              f"{out.max():7.4f} {ms:6.0f}")
    print("every model built and ran (untrained weights: the maps are not meaningful)")


if __name__ == "__main__":
    main()
