"""Video and audio files: probing, decoding and writing, all through PyAV. The one module that opens them.

Reading: probe_video (frame timestamps, rate, the size a player shows, rotation, pixel aspect, sound), frames_by_index
(frames in presentation order and upright, as a player shows them; a frame that cannot be decoded reported as
missing), decode_audio / load_wav (mono, scaled to SoundNet's range, resampled when asked), gray16_frames.

Damaged files are read as a player reads them, through one tolerant path (open_media, readable_packets,
decoded): a header's damaged text is read as far as it goes, a packet that does not decode is skipped and
decoding goes on, a stream whose packets can no longer be read ends there. What was lost is noted in the
file's damage.Damage: frames (placed by their timestamps, so a lost frame shifts no other) and spans of sound
(silence in their place).

Writing: VideoWriter, the one writer of every video the project makes (overlays, reframed cuts, debug
videos, the synthetic sample, the benchmark's workload). Its policy:
- H.264 (libx264, yuv420p, --crf 18 and preset veryfast unless asked otherwise); odd frame sides are
  padded by one edge pixel (4:2:0 needs even sides). `lossless` writes FFV1 + PCM instead (the tests'
  videos, whose decoded frames must equal what was written).
- Timestamps: with a source video, frame i keeps the source's timestamp of frame i in the source's time
  base (variable frame rates and the duration survive); without one, a constant rate.
- Sound: the source's first audio track copied packet for packet, interleaved by time (no re-encoding);
  when the output container cannot hold that codec, re-encoded to AAC. A waveform given instead (the
  synthetic videos) is encoded to AAC (PCM when lossless).
- `saliency`: a saliency video as CrowdSAL and NTIRE 2026 take them: 16-bit gray maps in lossless (qp 0) 10-bit
  H.264, yuv420p10le (yuv444p10le for odd sides), no sound (docs/inference.md#saliency-videos says why).
- Written to a hidden temporary file and renamed when complete (utils.atomic_path).
"""
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from damage import Damage
from utils import AUDIO_SCALE, InputError, atomic_path, rational_rate

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
DEFAULT_CRF = 18
DEFAULT_PRESET = "veryfast"   # twice as fast as medium for the same quality (crf), a file a few percent larger
AUDIO_CHUNK = 1024            # samples per encoded audio frame of a waveform
T = TypeVar("T")
# Audio codecs each output container holds as they are (copied); any other is re-encoded to AAC. None: all.
COPYABLE_AUDIO = {".mp4": {"aac", "mp3", "ac3", "eac3", "alac"},
                  ".mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le"}, ".mkv": None}

# ----------------------------------------------------------------------------------------------
# Errors in words


def ffmpeg_cause(error: Exception) -> str:
    """An FFmpeg or OS error in words ('invalid data found when processing input'): no errno, no file name."""
    text = getattr(error, "strerror", None) or str(error)
    return text[:1].lower() + text[1:]


# ----------------------------------------------------------------------------------------------
# The one tolerant decoding path


def open_media(path: str | Path) -> av.container.InputContainer:
    """A file opened for reading, a header's damaged text read as far as it goes; InputError in words when the file
    cannot be read at all."""
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as error:
        raise InputError(f"cannot read {path}: {ffmpeg_cause(error)}; the file is damaged (a download cut before its "
                         "index was written cannot be read) or not a media file") from error


def readable_packets(container: av.container.InputContainer, stream: av.stream.Stream) -> Iterator[av.Packet]:
    """A stream's packets in file order, up to where the file can no longer be read: a cut or damaged file ends
    the stream there, as a player stops."""
    packets = container.demux(stream)
    while True:
        try:
            yield next(packets)
        except (StopIteration, av.error.FFmpegError):
            return


def rising(packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
    """The packets whose decoding timestamps rise: damage can make them jump back, and a muxer refuses those."""
    last = None
    for packet in packets:
        if packet.dts is not None and (last is None or packet.dts > last):
            last = packet.dts
            yield packet


def decoded(container: av.container.InputContainer, stream: av.stream.Stream) -> Iterator[av.frame.Frame]:
    """Every frame of one stream that decodes, as FFmpeg's own tools go on: a packet that does not decode is
    skipped (its frames are missing; the callers place the others by timestamp); the stream ends where its packets
    can no longer be read."""
    for packet in readable_packets(container, stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            continue
        yield from frames


# ----------------------------------------------------------------------------------------------
# Audio


@dataclass
class Audio:
    """A mono waveform scaled to SoundNet's range, its sample rate, the time of its first sample, and the spans
    (seconds) of packets that did not decode, made silence."""

    samples: np.ndarray  # float32, in [-AUDIO_SCALE, AUDIO_SCALE]
    rate: int
    start_time: float = 0.0
    gaps: list[tuple[float, float]] = field(default_factory=list)

    @property
    def end_time(self) -> float:
        return self.start_time + len(self.samples) / self.rate


def decode_audio(path: str | Path, rate: int | None = None) -> Audio | None:
    """The first audio track of any file PyAV reads, downmixed to mono (the mean of its channels) and scaled to
    +-256; resampled to `rate` when given, else at its own rate. Packets that do not decode become silence of
    their length, placed by the next decoded packet's timestamp (Audio.gaps). None when the file has no audio
    track; InputError when none of it decodes."""
    with open_media(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        if stream.codec_context is None:   # a damaged header named no codec: nothing of it decodes
            raise InputError(f"no sound in {path}: its audio track names no codec this FFmpeg knows; repair or "
                             "re-encode it, or map its pictures alone with a ViNet model (--use_sound False)")
        out_rate = rate or stream.rate
        chunks: list[np.ndarray] = []
        resampler, start_time, written, gaps = None, None, 0, []
        track_start = None if stream.start_time is None else float(stream.start_time * stream.time_base)
        for frame in decoded(container, stream):
            if start_time is None:   # the first sample's time; the track's own start when its first packets are lost
                start_time = frame.time if frame.time is not None else (track_start or 0.0)
                if track_start is not None and start_time - track_start > frame.samples / frame.rate / 2:
                    start_time = track_start
            if frame.time is not None:
                lost = round((frame.time - start_time) * out_rate) - written
                if lost > frame.samples * out_rate / frame.rate / 2:   # packets that did not decode: silence
                    written += _resampled(resampler, None, chunks) if resampler else 0
                    lost = round((frame.time - start_time) * out_rate) - written
                    chunks.append(np.zeros(max(0, lost), np.float32))
                    gaps.append((start_time + written / out_rate, start_time + (written + max(0, lost)) / out_rate))
                    written, resampler = written + max(0, lost), None
            if resampler is None:
                resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=out_rate)
            written += _resampled(resampler, frame, chunks)
        if resampler is not None:
            _resampled(resampler, None, chunks)
    if not chunks:
        raise InputError(f"no sound in {path}: its audio track is empty or none of it decodes; repair or re-encode "
                         "it, or map its pictures alone with a ViNet model (--use_sound False)")
    samples = np.concatenate(chunks)
    samples = samples.astype(np.float32, copy=False)
    samples *= np.float32(AUDIO_SCALE)   # in place: an hour of sound is 320 MB
    return Audio(samples, out_rate, start_time or 0.0, gaps)


def _resampled(resampler: av.AudioResampler, frame: av.AudioFrame | None, chunks: list[np.ndarray]) -> int:
    """Resample a frame (None: flush) into mono chunks; how many samples were added."""
    added = [chunk.to_ndarray().mean(axis=0) for chunk in resampler.resample(frame)]
    chunks += added
    return sum(len(chunk) for chunk in added)


def load_wav(path: str | Path) -> Audio:
    """A dataset's .wav at its own sample rate, as the original reads it; InputError if missing/empty."""
    if not Path(path).is_file():
        raise InputError(f"audio file not found: {path}")
    audio = decode_audio(path)
    if audio is None:
        raise InputError(f"{path} has no audio track")
    return audio


# ----------------------------------------------------------------------------------------------
# Video: probing and decoding


@dataclass
class VideoInfo:
    """What inference needs to know of a video file before decoding its frames, and what its decoders found
    damaged (filled as they go)."""

    path: Path
    frame_times: np.ndarray  # presentation time of each frame in seconds, from the stream's timestamps
    fps: float
    size: tuple[int, int]    # (width, height) as a player shows it: pixel aspect and rotation applied
    pts: np.ndarray          # each frame's timestamp in the stream's time base, ascending
    time_base: Fraction = Fraction(1, 90000)
    has_audio: bool = False
    rotation: int = 0        # the display matrix's counter-clockwise rotation of the coded picture: 0/90/180/270
    scaled_size: tuple[int, int] | None = None   # (width, height) of a picture with non-square pixels made square
    damage: Damage | None = None

    def __post_init__(self) -> None:
        if self.damage is None:
            self.damage = Damage(self.path, self.num_frames)

    @property
    def num_frames(self) -> int:
        return len(self.frame_times)


def display_geometry(coded: tuple[int, int], sample_aspect: Fraction | None,
                     rotation: int) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """The size a player shows a coded picture at (square pixels, rotated) and the square-pixel size before
    the rotation (None when the pixels are square already). Widths are scaled, as FFmpeg's players do."""
    width, height = coded
    scaled = None
    if sample_aspect and sample_aspect != 1:
        scaled = (max(2, 2 * round(width * sample_aspect / 2)), height)
        width = scaled[0]
    return ((height, width) if rotation % 180 else (width, height)), scaled


def upright(frame: av.VideoFrame, info: VideoInfo) -> av.VideoFrame:
    """A decoded frame as a player shows it: pixels made square, then the display rotation applied."""
    if info.scaled_size:
        frame = frame.reformat(width=info.scaled_size[0], height=info.scaled_size[1], interpolation="BILINEAR")
    if info.rotation:
        turned = np.rot90(frame.to_ndarray(format="rgb24"), info.rotation // 90)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(turned), format="rgb24")
    return frame


def picture_facts(container: av.container.InputContainer) -> tuple[int, Fraction | None]:
    """The display rotation (counter-clockwise, 0/90/180/270) and sample aspect ratio of the first video
    stream, read from its first decodable frame."""
    stream = container.streams.video[0]
    frame = next(decoded(container, stream), None)
    rotation = round((frame.rotation if frame is not None else 0) / 90) % 4 * 90
    return rotation, stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio


def probe_video(path: str | Path) -> VideoInfo:
    """Frame timestamps (from the packets, so variable frame rate works; up to where a damaged file can be read),
    rate and size of a video."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"video not found: {path}")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"unsupported video file {path}: expected one of {', '.join(VIDEO_SUFFIXES)}")
    with open_media(path) as container:
        if not container.streams.video:
            raise InputError(f"{path} has no video track")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise InputError(f"cannot read {path}: its video track names no codec this FFmpeg knows; the file is "
                             "damaged or needs another decoder")
        pts = sorted({p.pts for p in readable_packets(container, stream) if p.pts is not None})
        listed = stream.frames   # as the header says: more than can be read when the file is cut
        rate = stream.average_rate or stream.guessed_rate
        coded = (stream.codec_context.width, stream.codec_context.height)
        time_base = stream.time_base
        has_audio = bool(container.streams.audio) and container.streams.audio[0].codec_context is not None
    with open_media(path) as container:
        rotation, sample_aspect = picture_facts(container)
    if not pts or not coded[0] or not coded[1]:
        raise InputError(f"{path} has no video frames that can be read; the file is damaged or empty")
    pts = with_lost_packets(np.asarray(pts, dtype=np.int64), 1 / (rate * time_base) if rate else None)
    times = pts.astype(np.float64) * float(time_base)
    if rate:
        fps = float(rate)
    elif len(times) > 1 and times[-1] > times[0]:
        fps = (len(times) - 1) / (times[-1] - times[0])
    else:
        fps = 25.0
    size, scaled = display_geometry(coded, sample_aspect, rotation)
    return VideoInfo(path, times, fps, size, pts, Fraction(time_base), has_audio, rotation, scaled,
                     Damage(path, len(times), cut=max(0, listed - len(times))))


def with_lost_packets(pts: np.ndarray, step: float | None) -> np.ndarray:
    """The timestamps of a constant-rate stream (most steps one frame, `step` in its time base) with the places of
    packets the demuxer lost to damage put back: a jump of k whole frames holds k - 1 frames a player does not show.
    A stream of another rhythm (variable rate) is left as it is."""
    steps = np.diff(pts)
    if step is None or len(steps) < 2 or np.mean(np.abs(steps - step) <= 0.01 * step) < 0.5:
        return pts
    filled = [int(pts[0])]
    for jump, following in zip(steps.tolist(), pts[1:].tolist()):
        frames = round(jump / step)
        if frames >= 2 and abs(jump - frames * step) <= 0.1 * step:
            filled += [filled[-1] + round(k * jump / frames) for k in range(1, frames)]
        filled.append(following)
    return np.asarray(filled, dtype=np.int64)


def decode_video_frames(path: str | Path) -> Iterator[av.VideoFrame]:
    """The decoded frames of a video's first video track, in presentation order (media.decoded: a packet that does
    not decode is skipped, so its frame is missing; frames_by_index places the others)."""
    with open_media(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from decoded(container, stream)


def gray16(frame: av.VideoFrame) -> np.ndarray:
    """A saliency video's frame as a (height, width) uint16 map (all 10 bits of a 10-bit one), converted on one
    swscale thread: FFmpeg 8.1's threads garble 16-bit rows now and then."""
    return frame.reformat(format="gray16le", threads=1).to_ndarray()


def gray16_frames(path: str | Path) -> Iterator[np.ndarray]:
    """A saliency video's frames one at a time as gray16 maps, in decoding order as a benchmark reads them."""
    return (gray16(frame) for frame in decode_video_frames(path))


def frames_by_index(info: VideoInfo) -> Iterator[av.VideoFrame | None]:
    """Every frame of a video in presentation order and upright (upright), frame i at info.pts[i]; None for a
    frame that could not be decoded (its packet was damaged, or the file ends early), noted in info.damage."""
    expected = 0
    for frame in decode_video_frames(info.path):
        index = expected if frame.pts is None else int(np.searchsorted(info.pts, frame.pts))
        if index >= info.num_frames or index < expected:
            continue
        if index > expected:
            info.damage.add_frames(range(expected, index))
            yield from [None] * (index - expected)
        yield upright(frame, info)
        expected = index + 1
    if expected < info.num_frames:
        info.damage.add_frames(range(expected, info.num_frames))
        yield from [None] * (info.num_frames - expected)


def held_frames(frames: Iterable[T | None], path: Path, nearest: bool = False) -> Iterator[T]:
    """Frames (or what stands for them) with each missing one (None) replaced: by the last decoded frame (as a
    player holds it), or with `nearest` by the nearest decoded one, earlier on a tie (as the window rule treats a
    video's ends); the first decoded frame before any. InputError when no frame decodes."""
    last, waiting = None, 0
    for frame in frames:
        if frame is None:
            if last is not None and not nearest:
                yield last
            else:
                waiting += 1
            continue
        if waiting:
            before = (waiting + 1) // 2 if last is not None else 0
            yield from [last] * before + [frame] * (waiting - before)
            waiting = 0
        last = frame
        yield frame
    if last is None:
        raise InputError(f"{path}: no frame could be decoded; the file is damaged beyond use: repair or re-encode it")
    yield from [last] * waiting


# ----------------------------------------------------------------------------------------------
# Writing


class VideoWriter:
    """The one video writer (see the module's policy). A context manager:

        with VideoWriter(path, (width, height), source=info) as writer:
            writer.write(rgb_or_frame, index)      # frame `index` of the source (or of the constant rate)

    Pictures are (height, width, 3) uint8 RGB arrays, or av.VideoFrames of the written size."""

    def __init__(self, path: str | Path, size: tuple[int, int], source: VideoInfo | None = None,
                 fps: float | None = None, waveform: np.ndarray | None = None, audio_rate: int = 0,
                 crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET, lossless: bool = False,
                 saliency: bool = False):
        if source is None and fps is None:
            raise ValueError("VideoWriter needs a source video or a frame rate")
        self.path, self.source, self.lossless, self.saliency = Path(path), source, lossless, saliency
        self.size = size if lossless or saliency else (size[0] + size[0] % 2, size[1] + size[1] % 2)
        self.rate = rational_rate(fps or source.fps)
        self.waveform, self.audio_rate = waveform, audio_rate    # (channels, samples) in [-1, 1]
        self.x264 = {"crf": str(crf), "preset": preset}
        self.stack = ExitStack()
        self.container = self.input = None

    def __enter__(self) -> "VideoWriter":
        temporary = self.stack.enter_context(atomic_path(self.path))
        try:
            self._open(temporary)
        except BaseException:
            self._close_files()
            self.stack.close()
            raise
        return self

    def _open(self, target: Path) -> None:
        self.container = av.open(str(target), "w")
        hears = self.source and self.source.has_audio and not self.saliency
        self.input = open_media(self.source.path) if hears else None
        copy_audio = False
        if self.input is not None:
            copyable = COPYABLE_AUDIO.get(self.path.suffix.lower(), set())
            copy_audio = copyable is None or self.input.streams.audio[0].codec_context.name in copyable
        codec, options = ("ffv1", {}) if self.lossless else ("libx264", self.x264)
        pix_fmt = "bgr0" if self.lossless else "yuv420p"
        if self.saliency:   # 4:2:0 needs even sides: an odd-sided map keeps its size in 4:4:4
            options = {"qp": "0", "preset": options["preset"]}
            pix_fmt = "yuv444p10le" if self.size[0] % 2 or self.size[1] % 2 else "yuv420p10le"
        self.video = self.container.add_stream(codec, rate=self.rate, options=options)
        self.video.width, self.video.height = self.size
        self.video.pix_fmt = pix_fmt
        if self.source:
            self.video.time_base = self.video.codec_context.time_base = self.source.time_base
        self.audio = None if self.saliency else self._add_audio(copy_audio)
        self.packets, self.waiting = iter(()), None
        if self.audio is not None and self.input is not None and copy_audio:
            track = self.input.streams.audio[0]
            self.packets = rising(readable_packets(self.input, track))
        self.copying = copy_audio
        self.container.start_encoding()

    def _add_audio(self, copy_audio: bool) -> av.audio.stream.AudioStream | None:
        if self.input is not None:
            track = self.input.streams.audio[0]
            if copy_audio:
                return self.container.add_stream_from_template(track)
            return self.container.add_stream("aac", rate=track.rate, layout="mono" if track.channels == 1 else "stereo")
        if self.waveform is not None:
            layout = {1: "mono", 2: "stereo", 6: "5.1"}[len(self.waveform)]
            return self.container.add_stream("pcm_s16le" if self.lossless else "aac", rate=self.audio_rate,
                                             layout=layout)
        return None

    def write(self, picture: np.ndarray | av.VideoFrame, index: int) -> None:
        """Encode frame `index` (the source's timestamp of that frame, or index / fps), after the sound that
        comes before it. A saliency video's pictures are (height, width) uint16 maps."""
        if isinstance(picture, np.ndarray) and picture.ndim == 2:   # one thread: see gray16
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture, dtype=np.uint16), format="gray16le")
            picture = picture.reformat(format=self.video.pix_fmt, threads=1)
        elif isinstance(picture, np.ndarray):
            height, width = picture.shape[:2]
            if (width, height) != self.size:
                picture = np.pad(picture, ((0, self.size[1] - height), (0, self.size[0] - width), (0, 0)), mode="edge")
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
        if self.source:
            picture.pts, picture.time_base = int(self.source.pts[index]), self.source.time_base
            self._copy_audio(until=float(self.source.frame_times[index]))
        else:
            picture.pts, picture.time_base = index, 1 / self.rate
        self.container.mux(self.video.encode(picture))

    def _copy_audio(self, until: float | None) -> None:
        """Copy the source's audio packets up to `until` seconds (all of them for None)."""
        while (packet := self.waiting or next(self.packets, None)) is not None:
            self.waiting = None
            if until is not None and packet.pts is not None and packet.pts * packet.time_base > until:
                self.waiting = packet
                return
            packet.stream = self.audio
            self.container.mux(packet)

    def _encode_audio(self) -> None:
        """Encode the sound that is not copied: the source's re-encoded, or the waveform."""
        if self.input is not None:
            resampler = av.AudioResampler(format="fltp", layout=self.audio.layout, rate=self.audio.rate)
            frames = [*decoded(self.input, self.input.streams.audio[0]), None]
            chunks = (chunk for frame in frames for chunk in resampler.resample(frame))
        else:
            chunks = (self._waveform_chunk(start) for start in range(0, self.waveform.shape[1], AUDIO_CHUNK))
        for chunk in chunks:
            self.container.mux(self.audio.encode(chunk))
        self.container.mux(self.audio.encode())

    def _waveform_chunk(self, start: int) -> av.AudioFrame:
        """AUDIO_CHUNK samples of the waveform from `start`, stamped with their time."""
        samples = np.ascontiguousarray(self.waveform[:, start:start + AUDIO_CHUNK], dtype=np.float32)
        chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout=self.audio.layout)
        chunk.rate, chunk.pts = self.audio_rate, start
        return chunk

    def _close_files(self) -> None:
        for handle in (self.container, self.input):
            if handle is not None:
                with suppress(av.error.FFmpegError, ValueError):
                    handle.close()

    def __exit__(self, kind, error, trace) -> None:
        try:
            if kind is None:
                self.container.mux(self.video.encode())
                if self.audio is not None and self.copying and self.input is not None:
                    self._copy_audio(until=None)
                elif self.audio is not None:
                    self._encode_audio()
                self.container.close()
                if self.input is not None:
                    self.input.close()
            else:
                self._close_files()
        finally:
            self.stack.__exit__(kind, error, trace)
