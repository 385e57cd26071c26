"""The original's generate loop re-created from its description: the reference the tests compare the engine's maps
with, and the benchmark's speed and maps are measured against."""
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

from dataloader import clip_audio, frame_audio_windows
from layouts import list_frames
from media import load_wav
from registry import MODELS
from utils import CLIP_LENGTH, FRAME_SIZE, IMAGENET_MEAN, IMAGENET_STD, audio_buffer_length

FPS = 25.0   # frames per second of a frame folder, which has none of its own (the benchmark writes its videos at it)


def original_gray(saliency: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The seed's saving of a map for a frame of size (width, height): cv2 resize, 11x11 Gaussian blur,
    torchvision's make_grid(normalize=True), round(x * 255 + 0.5)."""
    blurred = torch.from_numpy(cv2.GaussianBlur(cv2.resize(saliency, size), (11, 11), 0))
    grid = torchvision.utils.make_grid(blurred, normalize=True)
    return torch.round(grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0)).to(torch.uint8).numpy()[:, :, 0]


def original_loop(model: torch.nn.Module, frames: list[Path], clip_size: int = CLIP_LENGTH,
                  frame_size: tuple[int, int] = FRAME_SIZE, wav: Path | None = None, fps: float = FPS,
                  out_dir: Path | None = None) -> dict[str, np.ndarray]:
    """The original's generate loop, re-created from its description (the reference for speed and maps):
    frame by frame, the map of frame i from frames i-T+1..i (the first T-1 from the time-reversed first
    clips), one window per forward in fp32 on the model's device, PIL resize + ToTensor + Normalize, the
    seed's saving (original_gray); each map written to out_dir (PIL's defaults) as soon as it is made.
    The maps by frame file name."""
    transform = transforms.Compose([transforms.Resize(frame_size), transforms.ToTensor(),
                                    transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    device = next(model.parameters()).device
    audio = load_wav(wav) if wav else None
    windows = frame_audio_windows(np.arange(len(frames)) * (1.0 / fps), fps, audio) if audio else None
    maps = {}

    def save(clip: torch.Tensor, index: int, size: tuple[int, int], sound: torch.Tensor | None) -> None:
        with torch.no_grad():
            inputs = (clip.to(device),) if sound is None else (clip.to(device), sound[None].to(device))
            maps[frames[index].name] = original_gray(model(*inputs).cpu().numpy()[0], size)
        if out_dir:
            Image.fromarray(maps[frames[index].name]).save(out_dir / frames[index].name, quality=100)

    snippet = []
    for i, path in enumerate(frames):
        image = Image.open(path).convert("RGB")
        snippet.append(transform(image))
        if i < clip_size - 1:
            continue
        clip = torch.stack(snippet, 1)[None]
        first = i - clip_size + 1
        sound = clip_audio(audio, *windows, first, clip_size, audio_buffer_length(clip_size)) if audio else None
        save(clip, i, image.size, sound)
        if i < 2 * clip_size - 2:
            save(clip.flip(2), first, image.size, None if sound is None else sound.flip(1))
        del snippet[0]
    return maps


def naive_process(frame_dir: str, out_dir: str, weights: str) -> None:
    """The original's generate_result.py re-created as a process: build ViNet, load the file, the naive loop; the
    maps in out_dir/<video>/, as generate_result.py writes them."""
    model = MODELS["vinet"].build()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    maps = Path(out_dir) / Path(frame_dir).parent.name
    maps.mkdir(parents=True, exist_ok=True)
    original_loop(model.eval(), list_frames(frame_dir), out_dir=maps)
