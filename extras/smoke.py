"""Build every model of the registry and run it on a synthetic sample clip: a quick check of an install.

Usage (from the repository root): python -m extras.smoke
"""
import time

import numpy as np
import torch

from registry import MODELS
from synthetic import disc_paths, render_frames, soundtrack
from utils import AUDIO_SCALE, audio_buffer_length

HEIGHT, WIDTH, FPS = 64, 96, 25


def sample_clip(clip_length: int, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """A (1, 3, T, H, W) clip of two moving discs, normalised with mean and std."""
    frames = torch.from_numpy(render_frames(disc_paths(clip_length, HEIGHT, WIDTH, seed=0), HEIGHT, WIDTH, seed=0))
    clip = (frames.float() / 255 - torch.tensor(mean)) / torch.tensor(std)
    return clip.permute(3, 0, 1, 2)[None]


def sample_audio(clip_length: int) -> torch.Tensor:
    """The (1, 1, L, 1) SoundNet input of that clip's soundtrack."""
    wave = soundtrack(disc_paths(clip_length, HEIGHT, WIDTH, seed=0), FPS) * AUDIO_SCALE
    audio = torch.zeros(audio_buffer_length(clip_length))
    start = (len(audio) - len(wave)) // 2
    audio[start:start + len(wave)] = torch.from_numpy(wave * np.hanning(len(wave)).astype(np.float32))
    return audio.view(1, 1, -1, 1)


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"{'model':20s} {'params':>8s} {'output':>14s} {'mean':>7s} {'min':>7s} {'max':>7s} {'ms':>6s}")
    for name, entry in MODELS.items():
        entry = entry.configured((HEIGHT, WIDTH))
        model = entry.build().eval()
        inputs = [sample_clip(part.clip_length, part.mean, part.std) for part in entry.parts]
        inputs += [sample_audio(entry.clip_length)] if entry.takes_audio else []
        start = time.perf_counter()
        with torch.no_grad():
            out = model(*inputs)
        ms = 1000 * (time.perf_counter() - start)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name:20s} {params:7.1f}M {str(tuple(out.shape)):>14s} {out.mean():7.4f} {out.min():7.4f} "
              f"{out.max():7.4f} {ms:6.0f}")
    print("every model built and ran (untrained weights: the maps are not meaningful)")


if __name__ == "__main__":
    main()
