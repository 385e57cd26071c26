"""The per-frame work around the model done on the GPU in batches when the device is CUDA: frames resized and
normalised as dataloader.frame_tensor does with PIL, maps post-processed as utils.postprocess_map does with OpenCV
(resize, 11x11 Gaussian, min-max). On a CPU the engine keeps PIL and OpenCV (`on_gpu`); these functions take
tensors on any device, so the CPU tests check their arithmetic against PIL's and OpenCV's."""
import numpy as np
import torch
import torch.nn.functional as F

from utils import BLUR_KERNEL, postprocess_map
from vinet.backends import Settings

MIN_BLUR_SIDE = BLUR_KERNEL // 2 + 1   # reflect-101 padding of the blur needs a side longer than its radius


def on_gpu(settings: Settings) -> bool:
    """The one decision: frames and maps are processed on the device (this module) when it is a CUDA GPU, by
    PIL and OpenCV on the CPU otherwise."""
    return settings.device.type == "cuda"


def finished_map(saliency: np.ndarray, size: tuple[int, int], bits: int = 8) -> np.ndarray:
    """A map as it is written: as given when the GPU already post-processed it (integer pixels, postprocess_batch),
    else the model's float output through utils.postprocess_map."""
    return saliency if saliency.dtype.kind == "u" else postprocess_map(saliency, size, bits)


def frames_to_inputs(pixels: torch.Tensor, size: tuple[int, int], mean: tuple[float, ...],
                     std: tuple[float, ...]) -> torch.Tensor:
    """Frames (N, H, W, 3) uint8 -> model inputs (N, 3, h, w) float at size (h, w), on their device: PIL's BILINEAR
    resize (a triangle filter widened when shrinking) in its order, rows then columns, each pass rounded to 8 bits
    as PIL stores it; then ToTensor and Normalize as dataloader.pixels_tensor computes them."""
    x = pixels.permute(0, 3, 1, 2).float()
    if tuple(x.shape[-2:]) != tuple(size):
        for target in ((x.shape[-2], size[1]), tuple(size)):   # PIL resizes horizontally first
            x = F.interpolate(x, size=target, mode="bilinear", antialias=True, align_corners=False)
            x = x.add_(0.5).floor_().clamp_(0, 255)   # PIL rounds half up to uint8
    shape = (1, 3, 1, 1)
    mean_t = torch.tensor(mean, device=x.device).view(shape)
    std_t = torch.tensor(std, device=x.device).view(shape)
    return x.div_(255).sub_(mean_t).div_(std_t)


def gaussian_kernel(device: torch.device) -> torch.Tensor:
    """OpenCV's 1-D Gaussian for an 11-tap kernel with sigma 0: sigma = 0.3 * ((11 - 1) / 2 - 1) + 0.8 = 2.0, the
    weights computed in double and normalised, then float32."""
    radius = BLUR_KERNEL // 2
    sigma = 0.3 * ((BLUR_KERNEL - 1) * 0.5 - 1) + 0.8
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-taps ** 2 / (2 * sigma ** 2))
    return (weights / weights.sum()).float().to(device)


def blur(maps: torch.Tensor) -> torch.Tensor:
    """(B, H, W) float maps smoothed as cv2.GaussianBlur(11x11, sigma 0): separable, reflect-101 borders."""
    kernel, radius = gaussian_kernel(maps.device), BLUR_KERNEL // 2
    x = F.pad(maps[:, None], (radius, radius, 0, 0), mode="reflect")   # torch's "reflect" is OpenCV's reflect-101
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(x, kernel.view(1, 1, -1, 1))[:, 0]


def to_gray(maps: torch.Tensor, bits: int) -> torch.Tensor:
    """Each (H, W) map min-max normalised as utils.map_to_uint8 (bits 8) or map_to_uint16 (bits 16) compute it."""
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    scaled = (maps - low) / (high - low).clamp(min=1e-5)
    if bits == 16:
        return scaled.clamp(0, 1).mul(65535).round().to(torch.int32)   # uint16 arithmetic is not on every device
    return scaled.mul(255).add(0.5).clamp(0, 255).round().to(torch.uint8)


def postprocess_batch(maps: torch.Tensor, sizes: list[tuple[int, int]], bits: int = 8) -> list[np.ndarray]:
    """Model outputs (B, h, w) float in [0, 1], on any device, as utils.postprocess_map makes them for frames of
    `sizes` (width, height): bilinear resize (OpenCV's INTER_LINEAR: half-pixel centres, no antialiasing), the
    11x11 Gaussian, min-max to 8 or 16 bits; computed on the maps' device a size at a time, returned as numpy.
    A frame with a side under MIN_BLUR_SIDE pixels goes through OpenCV."""
    grays: list[np.ndarray | None] = [None] * len(sizes)
    dtype = np.uint16 if bits == 16 else np.uint8
    for size in dict.fromkeys(sizes):
        chosen = [i for i, s in enumerate(sizes) if s == size]
        if min(size) < MIN_BLUR_SIDE:
            for i in chosen:
                grays[i] = postprocess_map(maps[i].float().cpu().numpy(), size, bits)
            continue
        resized = F.interpolate(maps[chosen].float()[:, None], size=(size[1], size[0]), mode="bilinear",
                                align_corners=False)[:, 0]
        for i, gray in zip(chosen, to_gray(blur(resized), bits).cpu().numpy()):
            grays[i] = gray.astype(dtype, copy=False)
    return grays

