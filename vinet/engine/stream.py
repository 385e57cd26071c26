"""A video's model inputs, prepared ahead: frames decoded and converted by a thread pool, and the sound
of each window."""
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from dataloader import (
    clip_audio,
    frame_audio_windows,
    frame_tensor,
)
from registry import ModelEntry
from utils import (
    InputError,
    audio_buffer_length,
)
from vinet.backends import Settings
from vinet.engine.gpu_processing import frames_to_inputs
from vinet.engine.sources import Video

FrameInputs = tuple[torch.Tensor, ...]   # one frame's input per clip the model takes


def model_inputs(entry: ModelEntry, image: Image.Image) -> tuple[torch.Tensor, ...]:
    """One frame as the model sees it, per clip it takes: resized to that clip's input size and normalised."""
    return tuple(frame_tensor(image, part.frame_size, part.mean, part.std) for part in entry.parts)


def frame_pixels(image: Image.Image, pin: bool) -> tuple[torch.Tensor]:
    """One frame's uint8 pixels (H, W, 3), for the GPU to resize and normalise (device_inputs); in page-locked
    memory when `pin`, so that its copy to the GPU runs alongside the model."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8))
    return (pixels.pin_memory() if pin else pixels,)


def device_inputs(entry: ModelEntry, pixels: torch.Tensor) -> list[FrameInputs]:
    """model_inputs of a batch of frames (N, H, W, 3) uint8, computed on their device (gpu_processing)."""
    return list(zip(*(frames_to_inputs(pixels, part.frame_size, part.mean, part.std) for part in entry.parts)))


def clip_windows(entry: ModelEntry, index: int, num_frames: int) -> list[list[int]]:
    """The frames of frame `index`'s clips (one per clip the model takes), by each one's window rule."""
    return [part.window.frames(index, num_frames) for part in entry.parts]


def in_background(items: Iterator, depth: int = 8) -> Iterator:
    """Iterate `items` in a thread, `depth` ahead; exceptions surface in the consumer. Closing the returned
    generator (or dropping it) stops the thread, closes `items` and joins the thread: no thread is left running
    native code (decoding) when the interpreter exits."""
    channel: queue.Queue = queue.Queue(maxsize=depth)
    done, stop = object(), threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        channel.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            channel.put(done)
        except BaseException as error:  # handed to the consumer, which re-raises it
            channel.put(error)
        finally:
            getattr(items, "close", lambda: None)()

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := channel.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():   # take what the producer still puts, so that it reaches its end
            with contextlib.suppress(queue.Empty):
                channel.get(timeout=0.05)
        thread.join()


class FrameStream:
    """A video's frames, decoded and turned into model inputs ahead by a thread pool, kept on the device
    while windows still need them. Frames no window needs are decoded (for their size) but not converted.
    With `convert` (a CUDA run), `prepare` gives pixels only: they are copied to the device as they come and
    converted there, all the frames that arrived since the last batch at once."""

    def __init__(self, video: Video, prepare: Callable[[Image.Image], tuple[torch.Tensor, ...]],
                 needed: set[int] | None, settings: Settings,
                 convert: Callable[[torch.Tensor], list[FrameInputs]] | None = None):
        self.video, self.prepare, self.needed, self.settings = video, prepare, needed, settings
        self.convert = convert
        self.inputs: dict[int, FrameInputs] = {}
        self.pixels: dict[int, torch.Tensor] = {}    # with `convert`: frames on the device, not converted yet
        self.sizes: list[tuple[int, int]] = []    # (width, height) of every frame decoded so far
        self.stream = in_background(self._decoded())

    def _convert(self, index: int, load: Callable[[], Image.Image]) -> tuple[tuple | None, tuple[int, int]]:
        image = load()
        return (self.prepare(image) if self.needed is None or index in self.needed else None), image.size

    def _decoded(self) -> Iterator[tuple[tuple | None, tuple[int, int]]]:
        workers = self.settings.workers
        with ThreadPoolExecutor(workers) as pool:
            ahead: deque[Future] = deque()
            for index, load in enumerate(self.video.frame_loaders()):
                ahead.append(pool.submit(self._convert, index, load))
                if len(ahead) > 2 * workers:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()

    def read_through(self, last: int) -> None:
        """Decode frames up to index `last`; InputError when the video ends sooner."""
        while len(self.sizes) <= last:
            tensors, size = next(self.stream, (None, None))
            if size is None:
                raise InputError(f"{self.video.source}: decoded {len(self.sizes)} of "
                                 f"{self.video.num_frames} frames; the file may be truncated")
            if self.sizes and size != self.sizes[0]:
                raise InputError(f"{self.video.source}: frame {self.video.frame_names[len(self.sizes)]} is "
                                 f"{size[0]}x{size[1]} but the first is {self.sizes[0][0]}x{self.sizes[0][1]}; the "
                                 "frames of a video share one size: resize or remove it")
            if tensors is not None:
                moved = tuple(t.to(self.settings.device, non_blocking=True) for t in tensors)
                if self.convert is None:
                    self.inputs[len(self.sizes)] = moved
                else:
                    self.pixels[len(self.sizes)] = moved[0]
            self.sizes.append(size)
        self._convert_pixels()

    def _convert_pixels(self) -> None:
        """Convert the frames waiting on the device in one batch."""
        if self.pixels:
            indices, pixels = list(self.pixels), torch.stack(list(self.pixels.values()))
            self.inputs.update(zip(indices, self.convert(pixels)))
            self.pixels.clear()

    def clips(self, windows: list[list[list[int]]]) -> list[torch.Tensor]:
        """Per clip the model takes, (B, 3, T, H, W): the frames of each window stacked along time."""
        self.read_through(max(max(max(w) for w in frame_windows) for frame_windows in windows))
        return [torch.stack([torch.stack([self.inputs[i][part] for i in frame_windows[part]], 1)
                             for frame_windows in windows]) for part in range(len(windows[0]))]

    def release_before(self, first_needed: int) -> None:
        """Drop the inputs of frames before `first_needed`."""
        for index in [i for i in self.inputs if i < first_needed]:
            del self.inputs[index]

    def close(self) -> None:
        """Stop decoding (a video given up half-way leaves no thread behind)."""
        self.stream.close()
        self.inputs.clear()
        self.pixels.clear()


class SoundWindows:
    """The SoundNet input of each window of a video, after the audio ablation. Sound that did not decode, or that
    the track lacks at its end, is silence: noted in the video's damage with the frames whose windows hear it."""

    def __init__(self, video: Video, entry: ModelEntry, ablation: str):
        self.audio = video.load_audio() if video.load_audio else None
        if self.audio is None:
            raise InputError(f"{video.source} has no sound: {entry.label} needs it")
        if not video.fps or video.fps <= 0:
            raise InputError(f"{video.source}: frame rate {video.fps}; the sound cannot be matched to the frames")
        self.video, self.entry, self.ablation = video, entry, ablation
        self.windows = frame_audio_windows(video.frame_times, video.fps, self.audio)
        self.buffer_length = audio_buffer_length(entry.clip_length)
        # "shuffle" gives each clip the sound of another moment of the same video
        n = video.num_frames
        self.sound_of = np.random.default_rng(0).permutation(n) if ablation == "shuffle" else np.arange(n)
        self._note_silence()

    def _note_silence(self) -> None:
        """Add the spans of silence (undecodable, or missing at the track's end) to the video's damage, and the
        frames whose windows' sound touches them."""
        video, audio = self.video, self.audio
        spans = [(a, b, "undecodable") for a, b in audio.gaps]
        video_end = float(video.frame_times[-1]) + 1.0 / video.fps
        if video_end - audio.end_time > 1.0 / video.fps:   # shorter by more than a frame: the track ends early
            spans.append((audio.end_time, video_end, "missing"))
        if not spans:
            return
        (starts, ends), n, length = self.windows, video.num_frames, self.entry.window.length
        firsts = [self._first_heard(int(self.sound_of[j])) for j in range(n)]
        heard = [(audio.start_time + starts[first] / audio.rate,
                  audio.start_time + (ends[min(first + length - 1, n - 1)] + 1) / audio.rate) for first in firsts]
        video.damage.hearing_silence.update(j for j, (a, b) in enumerate(heard)
                                            if any(a < end and start < b for start, end, _ in spans))
        for span in spans:
            video.damage.add_sound(*span)

    def batch(self, indices: list[int]) -> torch.Tensor:
        """(B, 1, L, 1) SoundNet inputs of the windows of frames `indices`."""
        rule = self.entry.window
        audio = torch.stack([clip_audio(self.audio, *self.windows, self._first_heard(j), rule.length,
                                        self.buffer_length, reverse=rule.reversed(j))
                             for j in (int(self.sound_of[i]) for i in indices)])
        return audio.zero_() if self.ablation == "silence" else audio

    def _first_heard(self, index: int) -> int:
        """The first frame whose sound the window of frame `index` hears."""
        return min(self.entry.window.frames(index, self.video.num_frames))

