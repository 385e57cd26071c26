"""What of a video file could not be decoded, as its decoders meet it (media.py fills it): frames without a
map, a file cut before its end, spans of sound made silence; the one warning line and the manifest's record of it;
--strict_media's refusal."""
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from utils import InputError


@dataclass
class Damage:
    """What of a video file could not be decoded: frames (indices from 0, of num_frames, the frames that can be
    read), frames its header lists past the point where the file ends (`cut`), spans of sound made silence
    (seconds, with why), and the frames whose sound window touches them. Once strict (--strict_media), any damage
    met raises InputError instead."""

    path: Path
    num_frames: int = 0
    cut: int = 0
    strict: bool = False
    frames: set[int] = field(default_factory=set)
    sound: list[tuple[float, float, str]] = field(default_factory=list)   # (from, to, "undecodable" or "missing")
    hearing_silence: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.frames or self.sound or self.cut)

    def make_strict(self, strict: bool = True) -> None:
        """Refuse damage from now on (InputError now when some is known already); False leaves it as it is."""
        self.strict |= strict
        self._refuse_if_strict()

    def add_frames(self, indices: Iterable[int]) -> None:
        """Frames that could not be decoded (they get no map)."""
        self.frames.update(indices)
        self._refuse_if_strict()

    def add_sound(self, start: float, end: float, why: str) -> None:
        """A span of sound made silence: 'undecodable' packets, or 'missing' at the end of the track."""
        if (start, end, why) not in self.sound:   # the same sound decoded again (a rerun in this process)
            self.sound.append((start, end, why))
        self._refuse_if_strict()

    def _refuse_if_strict(self) -> None:
        if self.strict and self:
            raise InputError(f"{self.line()}; --strict_media refuses damaged files: repair or re-encode it, or run "
                             "without --strict_media to use what decodes")

    def line(self) -> str:
        """One line: what was damaged, how much, what was done ('clip.mp4: 3 of 480 frames undecodable (frames
        112-114: no maps), 0.4 s of sound undecodable at 12.1 s (silence)')."""
        parts = []
        if self.cut:
            parts.append(f"cut short: {self.cut} of {self.num_frames + self.cut} frames missing at the end "
                         "(no maps)")
        if self.frames:
            plural = "s" if len(self.frames) > 1 else ""
            parts.append(f"{len(self.frames)} of {self.num_frames} frames undecodable "
                         f"(frame{plural} {frame_ranges(self.frames)}: no maps)")
        for why, what in (("undecodable", "undecodable at"), ("missing", "missing at the end, from")):
            spans = [(a, b) for a, b, cause in self.sound if cause == why]
            if spans:
                where = ", ".join(f"{a:.1f} s" for a, _ in spans) if len(spans) <= 3 else \
                    f"{len(spans)} places from {spans[0][0]:.1f} s to {spans[-1][0]:.1f} s"
                parts.append(f"{sum(b - a for a, b in spans):.1f} s of sound {what} {where} (silence)")
        return f"{self.path.name}: {', '.join(parts) or 'no damage'}"

    def record(self) -> dict:
        """The damage as a manifest records it (frames from 0; their maps are named from 00001.png)."""
        return {"frames_without_map": sorted(self.frames), "why": "undecodable (damaged data)",
                "frames_missing_at_end": self.cut,
                "silent_sound": [{"from_s": round(a, 3), "to_s": round(b, 3), "why": why} for a, b, why in self.sound],
                "frames_hearing_silence": sorted(self.hearing_silence)}


def frame_ranges(indices: Iterable[int]) -> str:
    """Frame numbers (from 1, as the maps' names) as ranges: '4, 10-12'."""
    ranges: list[list[int]] = []
    for number in sorted(i + 1 for i in indices):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
