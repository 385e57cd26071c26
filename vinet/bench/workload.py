"""What the benchmark measures on: synthetic videos (or a video file's first frames) as frame folders, the inputs of
the workload's windows as the engine cuts them, and untrained models given a trained model's contrast."""
from pathlib import Path

import cv2
import numpy as np
import scipy.io.wavfile
import torch

from dataloader import read_image
from layouts import list_frames
from media import frames_by_index, probe_video
from registry import MODELS, ModelEntry
from synthetic import disc_paths, render_frames, soundtrack
from utils import AUDIO_RATE, audio_buffer_length
from vinet.engine.stream import clip_windows, model_inputs
from vinet.reference import FPS

MODEL_ALONE_WINDOWS = 4     # --processes: windows each model alone is timed on (after one untimed batch)


def write_workload(root: Path, num_frames: int, height: int, width: int, suffix: str = ".png") -> Path:
    """A synthetic video as ROOT/video/images/00001.png (or .jpg) ... and ROOT/video.wav; the frame folder."""
    paths = disc_paths(num_frames, height, width, seed=3)
    folder = root / "video" / "images"
    folder.mkdir(parents=True)
    for i, frame in enumerate(render_frames(paths, height, width, seed=3), start=1):
        cv2.imwrite(str(folder / f"{i:05d}{suffix}"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    scipy.io.wavfile.write(root / "video.wav", AUDIO_RATE, (soundtrack(paths, FPS) * 32767).astype(np.int16))
    return folder


def video_workload(video: str, root: Path, num_frames: int) -> Path:
    """The first num_frames frames of a video file as JPEG frames ROOT/video/images/00001.jpg ...; the folder."""
    info = probe_video(video)
    folder = root / "video" / "images"
    folder.mkdir(parents=True)
    for index, frame in zip(range(num_frames), frames_by_index(info)):
        if frame is not None:
            frame.to_image().save(folder / f"{index + 1:05d}.jpg", quality=95)
    return folder


def give_contrast(model: torch.nn.Module, inputs: list[torch.Tensor]) -> None:
    """Rescale the output layer (the convolution with one output channel; one per member of an ensemble) so the
    logits have unit spread over the map, as a trained model's do.

    Untrained weights give maps that vary by ~1e-4 around 0.5, below bf16's resolution, which would
    make the precision comparison meaningless; this keeps every feature and only stretches the map.
    """
    output_convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d) and m.out_channels == 1]
    logits = {}   # an ensemble has one output layer per member
    handles = [conv.register_forward_hook(lambda module, args, out: logits.setdefault(module, out))
               for conv in output_convs]
    with torch.inference_mode():
        model(*inputs)
    for handle in handles:
        handle.remove()
    with torch.no_grad():
        for conv in output_convs:
            mean, spread = logits[conv].mean(), logits[conv].std()
            conv.weight /= spread
            conv.bias.sub_(mean).div_(spread)


def benchmark_models(names: tuple[str, ...], frame_dir: Path,
                     device: torch.device) -> dict[str, tuple[ModelEntry, torch.nn.Module, list]]:
    """The measured models with untrained weights given a trained model's contrast, and the inputs of one
    window (each model's clips from the workload's frames, as it sees them)."""
    frames = [read_image(p) for p in list_frames(frame_dir)]
    models = {}
    for name in names:
        entry = MODELS[name]
        clips = [torch.stack([model_inputs(entry, frames[i])[part] for i in window], 1)[None].to(device)
                 for part, window in enumerate(clip_windows(entry, len(frames) // 2, len(frames)))]
        sound = [torch.randn(1, 1, audio_buffer_length(), 1, device=device) * 50] if entry.takes_audio else []
        model = entry.build().eval().to(device)
        give_contrast(model, clips + sound)
        models[name] = (entry, model, clips + sound)
    return models


def window_batches(frame_dir: Path, entry: ModelEntry, batch: int) -> list[list[torch.Tensor]]:
    """MODEL_ALONE_WINDOWS windows from the middle of the workload in batches of `batch`, as the engine feeds them."""
    paths = list_frames(frame_dir)
    inputs = [model_inputs(entry, read_image(path)) for path in paths]
    centres = range(len(paths) // 2, len(paths) // 2 + MODEL_ALONE_WINDOWS)
    clips = [[torch.stack([inputs[i][part] for i in window], 1) for part, window in
              enumerate(clip_windows(entry, j, len(paths)))] for j in centres]
    return [[torch.stack(parts) for parts in zip(*clips[k:k + batch])] for k in range(0, len(clips), batch)]


def contrasted_weights(tmp: Path, frame_dir: Path, names: tuple[str, ...]) -> dict[str, Path]:
    """Weight files of the models `names`, untrained, with a trained model's contrast (give_contrast on a window of
    the workload), so that the maps of the runs can be compared."""
    weights = {}
    for name in names:
        model = MODELS[name].build().eval()
        give_contrast(model, window_batches(frame_dir, MODELS[name], 1)[0])
        weights[name] = tmp / f"{name}.pt"
        torch.save(model.state_dict(), weights[name])
    return weights
