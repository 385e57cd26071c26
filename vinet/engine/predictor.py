"""A model ready to run (its registry entry, the backend that runs it, the engine's settings) and its maps of a
video's frames, batch by batch, in memory."""
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from registry import ModelEntry
from vinet.backends import Backend, Settings
from vinet.engine.gpu_processing import finished_map, on_gpu, postprocess_batch
from vinet.engine.selfcheck import SelfCheck, VideoCheck
from vinet.engine.sources import Video, open_source
from vinet.engine.stream import (
    FrameStream,
    SoundWindows,
    clip_windows,
    device_inputs,
    frame_pixels,
    model_inputs,
)

log = logging.getLogger("vinet")


@dataclass
class Predictor:
    """A model ready to run: its registry entry (what it sees), the backend that runs it, the engine's settings,
    and where its weights come from (the files and their hashes: the output folders' manifests record it). An int8
    model checks itself against its float path (`check`) and may need the videos first (`calibrate`: quantizing a
    checkpoint on windows of them).

    >>> import vinet
    >>> predictor = vinet.load(model="vinet-s", untrained=True, frame_size=(64, 96), device="cpu")
    >>> index, saliency = next(iter(predictor.predict("extras/sample.mp4")))
    >>> index, saliency.dtype, saliency.shape
    (0, dtype('uint8'), (180, 320))
    """

    entry: ModelEntry
    backend: Backend
    settings: Settings = field(default_factory=Settings)
    origin: dict = field(default_factory=dict)
    check: SelfCheck | None = None
    calibrate: Callable[[list[Video]], None] | None = None

    def prepare(self, videos: list[Video]) -> None:
        """Ready the model for these videos (an int8 model from a checkpoint is quantized on them, once)."""
        if self.calibrate is not None:
            self.calibrate(videos)

    def predict(self, source: str | Path) -> Iterator[tuple[int, np.ndarray]]:
        """Each frame's map of a video file (with its sound for a model that hears) or a folder of frames, in
        order: (index from 0, the 2-D uint8 map at the frame's size, as the scripts write it). A frame that cannot
        be decoded yields no map; a damaged file ends with one warning line saying what was lost."""
        video = open_source(source, self.entry.takes_audio)
        self.prepare([video])
        for _, maps in video_maps(self, video, video.wanted_frames, bits=8):
            for index, saliency, size in maps:
                yield index, finished_map(saliency, size)
        for line in video_warnings(video):
            log.warning("%s", line)


def video_warnings(video: Video) -> list[str]:
    """What a run found wrong with a video it mapped: its damage, its int8 maps far from the float path's."""
    return [line for line in (video.damage and video.damage.line(), video.check and video.check.warning()) if line]


def video_maps(predictor: Predictor, video: Video, todo: list[int], bits: int | None = None
               ) -> Iterator[tuple[list[int], list[tuple[int, np.ndarray, tuple[int, int]]]]]:
    """The model's outputs for frames `todo` of a video, a batch at a time: the batch's frames, and for those
    that could be decoded (index, saliency (h, w) float in [0, 1], the frame's (width, height)). Only
    the frames the windows of `todo` need are converted; decoding stops when the generator is closed. With the
    settings' strict_media, damage in the video raises InputError instead. On a GPU (gpu_processing.on_gpu)
    frames are resized there, and with `bits` each saliency comes post-processed there as well: the uint8 or
    uint16 map at the frame's size (gpu_processing.finished_map passes it on)."""
    n, entry, settings = video.num_frames, predictor.entry, predictor.settings
    needed = None if len(todo) == n else {i for j in todo for window in clip_windows(entry, j, n) for i in window}
    video.damage.make_strict(settings.strict_media)   # a caller may have asked it already (reframing)
    sound = SoundWindows(video, entry, settings.audio_ablation) if entry.takes_audio else None
    gpu = on_gpu(settings)
    frames = (FrameStream(video, functools.partial(frame_pixels, pin=settings.device.type == "cuda"), needed,
                          settings, functools.partial(device_inputs, entry)) if gpu
              else FrameStream(video, functools.partial(model_inputs, entry), needed, settings))
    video.check = predictor.check.start(video.damage.path.name, todo) if predictor.check else None
    try:
        for batch, maps in run_batches(predictor, todo, n, frames, sound, video.check):
            lost = video.damage.frames
            kept = [(j, saliency, frames.sizes[j]) for j, saliency in zip(batch, maps) if j not in lost]
            yield batch, postprocess_on_device(kept, bits, settings.device) if gpu and bits and kept else kept
    finally:
        frames.close()


def postprocess_on_device(maps: list[tuple[int, np.ndarray, tuple[int, int]]], bits: int,
                          device: torch.device) -> list[tuple[int, np.ndarray, tuple[int, int]]]:
    """A batch's (index, float map, size) with each map post-processed on `device` to `bits`."""
    floats = torch.from_numpy(np.stack([saliency for _, saliency, _ in maps])).to(device)
    grays = postprocess_batch(floats, [size for _, _, size in maps], bits)
    return [(j, gray, size) for (j, _, size), gray in zip(maps, grays)]


def run_batches(predictor: Predictor, todo: list[int], num_frames: int, frames: FrameStream,
                sound: SoundWindows | None, check: VideoCheck | None) -> Iterator[tuple[list[int], np.ndarray]]:
    """The maps of frames `todo`, batch by batch (the sampled ones checked), releasing each frame once no later
    window needs it."""
    # the first frame any window from the k-th on still needs (a suffix minimum: windows are not monotonic)
    firsts = np.array([min(min(window) for window in clip_windows(predictor.entry, j, num_frames)) for j in todo])
    still_needed = [*np.minimum.accumulate(firsts[::-1])[::-1].tolist(), num_frames]
    batch_size, device = predictor.settings.batch_size, predictor.settings.device
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        inputs = frames.clips([clip_windows(predictor.entry, j, num_frames) for j in batch])
        if sound is not None:
            inputs.append(sound.batch(batch).to(device))
        maps = predictor.backend(inputs)
        if check is not None:
            check.compare(batch, inputs, maps)
        yield batch, maps
        frames.release_before(still_needed[start + len(batch)])
