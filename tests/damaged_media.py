"""A corpus of damaged videos, made from the tests' own clip: cut downloads, flipped and zeroed bytes, damaged
headers, a sound track that ends early, a clip without sound; and a PyAV oracle of what a player decodes."""
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from media import readable_packets

FPS = 10
FRAMES = 40
SIZE = (128, 72)          # (width, height)
AUDIO_RATE = 22050
GOP = 8                   # a keyframe every 8 frames: damage costs frames up to the next one


def scene(num_frames: int = FRAMES) -> np.ndarray:
    """(N, H, W, 3) frames of a bright square moving over a gradient."""
    width, height = SIZE
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    frames[..., 0] = np.linspace(0, 200, width, dtype=np.uint8)[None, None, :]
    frames[..., 2] = np.linspace(0, 200, height, dtype=np.uint8)[None, :, None]
    for i in range(num_frames):
        x = 8 + (i * 3) % (width - 24)
        frames[i, 20:36, x:x + 16] = 255
    return frames


def encode(path: Path, frames: np.ndarray, sound_seconds: float | None, faststart: bool = False,
           title: str | None = None) -> Path:
    """H.264 (a keyframe every GOP frames) with `sound_seconds` of AAC tone (None: no sound track)."""
    options = {"movflags": "faststart"} if faststart and path.suffix == ".mp4" else {}
    with av.open(str(path), "w", options=options) as container:
        if title:
            container.metadata["title"] = title
        video = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "23"})
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        video.codec_context.gop_size = GOP
        audio = container.add_stream("aac", rate=AUDIO_RATE, layout="mono") if sound_seconds is not None else None
        for i, pixels in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, FPS)
            container.mux(video.encode(picture))
        container.mux(video.encode())
        if audio is not None:
            t = np.arange(int(sound_seconds * AUDIO_RATE)) / AUDIO_RATE
            wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(wave), 1024):
                chunk = av.AudioFrame.from_ndarray(wave[None, start:start + 1024], format="fltp", layout="mono")
                chunk.rate, chunk.pts = AUDIO_RATE, start
                container.mux(audio.encode(chunk))
            container.mux(audio.encode())
    return path


def media_span(path: Path) -> tuple[int, int]:
    """The byte range of the packets' data (where media damage is done)."""
    with av.open(str(path)) as container:
        spans = [(p.pos, p.pos + p.size) for p in container.demux() if p.pos is not None and p.size]
    return min(a for a, _ in spans), max(b for _, b in spans)


def packet_spans(path: Path, kind: str) -> list[tuple[int, int]]:
    """The byte ranges of a file's packets of one kind ("video" or "audio"), in file order."""
    with av.open(str(path)) as container:
        return sorted((p.pos, p.pos + p.size) for p in container.demux() if p.stream.type == kind and p.size)


def damaged(source: Path, target: Path, edit) -> Path:
    """A copy of `source` with `edit(bytearray)` applied."""
    data = bytearray(source.read_bytes())
    edit(data)
    target.write_bytes(bytes(data))
    return target


def flip(data: bytearray, start: int, end: int, rate: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for at in rng.integers(start, end, max(1, int((end - start) * rate))):
        data[at] ^= 1 << int(rng.integers(8))


def zero(data: bytearray, start: int, length: int) -> None:
    data[start:start + length] = bytes(len(data[start:start + length]))


def make_corpus(folder: Path) -> dict[str, Path]:
    """Damaged copies (and the clean sources), by name; 30 or more."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = scene()
    seconds = FRAMES / FPS
    plain = encode(folder / "plain.mp4", frames, seconds)
    fast = encode(folder / "fast.mp4", frames, seconds, faststart=True)
    mkv = encode(folder / "plain.mkv", frames, seconds)
    corpus = {}

    def add(name: str, source: Path, edit) -> None:
        corpus[name] = damaged(source, folder / f"{name}{source.suffix}", edit)

    for source in (plain, fast, mkv):
        size = source.stat().st_size
        for fraction in (0.3, 0.6, 0.9, 0.97):
            add(f"cut{int(fraction * 100)}_{source.stem}_{source.suffix[1:]}", source,
                lambda d, n=int(size * fraction): d.__delitem__(slice(n, None)))
        start, end = media_span(source)
        for seed, rate in enumerate((3e-4, 3e-3, 3e-2)):
            add(f"flip{rate:g}_{source.stem}_{source.suffix[1:]}", source,
                lambda d, r=rate, s=seed, a=start, b=end: flip(d, a, b, r, s))
    start, end = media_span(fast)
    for at in (0.3, 0.7):
        add(f"zero1k_at{int(at * 100)}", fast, lambda d, a=start + int((end - start) * at): zero(d, a, 1024))
    add("zero4k_at50", fast, lambda d: zero(d, start + (end - start) // 2, 4096))
    video, sound = packet_spans(fast, "video"), packet_spans(fast, "audio")
    add("video_keyframe_zeroed", fast, lambda d: zero(d, video[GOP][0], video[GOP][1] - video[GOP][0]))
    add("video_packets_flipped", fast, lambda d: [flip(d, a, b, 0.2, i) for i, (a, b) in enumerate(video[12:15])])
    add("sound_packets_flipped", fast, lambda d: [flip(d, a, b, 0.3, i) for i, (a, b) in enumerate(sound[20:26])])
    add("sound_packets_zeroed", fast, lambda d: [zero(d, a, b - a) for a, b in sound[30:40]])
    titled = encode(folder / "titled.mp4", frames, seconds, faststart=True, title="caf\u00e9 clip")
    add("header_bad_utf8", titled, lambda d: d.__setitem__(slice(i := d.find("caf\u00e9".encode()), i + 5),
                                                             b"caf\xff\xfe"))
    add("header_zeroed_tail", plain, lambda d: zero(d, len(d) - 200, 100))   # moov at the end
    corpus["sound_ends_early"] = encode(folder / "sound_ends_early.mp4", frames, seconds / 2)
    corpus["no_sound"] = encode(folder / "no_sound.mp4", frames, None)
    return corpus


def decoded_frames(path: Path) -> tuple[list[int], int, int]:
    """What a player shows, by PyAV packet by packet, skipping what does not decode: the frames decoded (numbered
    by their timestamps at the corpus's constant rate, from the first readable packet's), the frames up to the
    last that can be read, and how many the header lists (0 when it does not say)."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError:
        return [], 0, 0
    with container:
        if not container.streams.video:
            return [], 0, 0
        stream, pts, shown = container.streams.video[0], [], []
        for packet in readable_packets(container, stream):
            if packet.pts is not None:
                pts.append(packet.pts)
            try:
                shown += [frame.pts for frame in packet.decode() if frame.pts is not None]
            except av.error.FFmpegError:
                continue
        listed, seconds = stream.frames, float(stream.time_base)
    if not pts:
        return [], 0, listed
    first = min(pts)   # frames lost before the first readable packet cannot be counted: numbering starts there
    return (sorted({round((p - first) * seconds * FPS) for p in shown if p >= first}),
            round((max(pts) - first) * seconds * FPS) + 1, listed)


def sound_decodes(path: Path) -> bool:
    """Whether any of a file's sound decodes (False without a sound track)."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError:
        return False
    with container:
        if not container.streams.audio:
            return False
        for packet in readable_packets(container, container.streams.audio[0]):
            try:
                if any(frame.samples for frame in packet.decode()):
                    return True
            except av.error.FFmpegError:
                continue
    return False


WARNING = re.compile(r"^(?P<name>\S+): (?P<bad>\d+) of (?P<total>\d+) frames undecodable")
