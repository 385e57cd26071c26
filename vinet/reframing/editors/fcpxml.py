"""The cut as FCPXML 1.10 (Final Cut Pro 10.6+; DaVinci Resolve imports it): a format of the output's size and the
source's frame duration, the source as an asset with its sound, and a project whose spine holds one asset-clip per
scene, its camera as `adjust-transform` position keyframes (a scale per scene) at the source's exact frame times.

The clip is conformed at its own pixels (adjust-conform none): scale = output width / region width, and the
position moves the region's centre to the frame's, in FCPXML's units: percent of the output's height, y up.
FCPXML has no blurred fill: a padded scene is its whole keep region fitted into the output, with a marker.
"""
import xml.etree.ElementTree as ET
from fractions import Fraction

import av

from media import VideoInfo, open_media
from vinet.reframing.editors.keyframes import SceneKeys, frame_rate, frame_time
from vinet.reframing.editors.mlt import number

PADDED_MARKER = "padded: the whole keep region (reframe.py shows it over a blurred, darkened fill)"


def seconds(value: Fraction) -> str:
    """A time as FCPXML writes it: '3/25s', '2s'."""
    return f"{value.numerator}s" if value.denominator == 1 else f"{value.numerator}/{value.denominator}s"


def transform(box: tuple[float, ...], source: tuple[int, int], size: tuple[int, int], fit: str) -> tuple[str, str]:
    """(position, scale) that show `box` of the source in the output: filling it (a crop, each side scaled on its
    own as reframe.py scales it) or fitted whole (padded)."""
    x, y, width, height = box
    across, down = size[0] / width, size[1] / height
    if fit == "pad":
        across = down = min(across, down)
    right = (source[0] / 2 - (x + width / 2)) * across       # output pixels the source moves right, and up
    up = (y + height / 2 - source[1] / 2) * down
    return f"{number(right * 100 / size[1])} {number(up * 100 / size[1])}", f"{number(across, 7)} {number(down, 7)}"


def audio_facts(info: VideoInfo) -> dict[str, str]:
    """The asset's audio attributes: channels and rate of the source's first audio track (none: no audio)."""
    if not info.has_audio:
        return {"hasAudio": "0"}
    with open_media(info.path) as container:
        track: av.audio.stream.AudioStream = container.streams.audio[0]
        channels, rate = track.codec_context.channels, track.codec_context.sample_rate
    return {"hasAudio": "1", "audioSources": "1", "audioChannels": str(channels), "audioRate": str(rate)}


def resources(root: ET.Element, info: VideoInfo, size: tuple[int, int]) -> Fraction:
    """The output's format (r1), the source's (r2) and the source as an asset (r3); the source's duration."""
    holder, step = ET.SubElement(root, "resources"), 1 / frame_rate(info)
    ET.SubElement(holder, "format", id="r1", name=f"reframe.py {size[0]}x{size[1]}", frameDuration=seconds(step),
                  width=str(size[0]), height=str(size[1]))
    ET.SubElement(holder, "format", id="r2", frameDuration=seconds(step), width=str(info.size[0]),
                  height=str(info.size[1]))
    duration = frame_time(info, info.num_frames) - frame_time(info, 0)
    asset = ET.SubElement(holder, "asset", id="r3", name=info.path.stem, start=seconds(frame_time(info, 0)),
                          duration=seconds(duration), hasVideo="1", videoSources="1", format="r2",
                          **audio_facts(info))
    ET.SubElement(asset, "media-rep", kind="original-media", src=info.path.resolve().as_uri())
    return duration


def scene_clip(spine: ET.Element, keys: SceneKeys, info: VideoInfo, size: tuple[int, int]) -> None:
    """A scene's asset-clip: its place in the timeline and in the source, its transform's keyframes, a marker when
    it is padded."""
    start, end = frame_time(info, keys.first), frame_time(info, keys.last + 1)
    clip = ET.SubElement(spine, "asset-clip", ref="r3", name=f"{info.path.stem} scene {keys.first}-{keys.last}",
                         offset=seconds(start - frame_time(info, 0)), start=seconds(start),
                         duration=seconds(end - start), format="r2", tcFormat="NDF")
    ET.SubElement(clip, "adjust-conform", type="none")
    values = [transform(tuple(box), info.size, size, keys.fit) for box in keys.boxes]
    adjust = ET.SubElement(clip, "adjust-transform", position=values[0][0], scale=values[0][1])
    animation = ET.SubElement(ET.SubElement(adjust, "param", name="position"), "keyframeAnimation")
    for offset, (position, _) in zip(keys.offsets, values):
        ET.SubElement(animation, "keyframe", time=seconds(frame_time(info, keys.first + offset)), value=position)
    if keys.fit == "pad":
        ET.SubElement(clip, "marker", start=seconds(start), duration=seconds(1 / frame_rate(info)),
                      value=PADDED_MARKER)


def project(info: VideoInfo, keys: list[SceneKeys], size: tuple[int, int]) -> bytes:
    """The FCPXML document of the cut."""
    root = ET.Element("fcpxml", version="1.10")
    duration = resources(root, info, size)
    name = f"{info.path.stem} {size[0]}x{size[1]}"
    event = ET.SubElement(ET.SubElement(root, "library"), "event", name="reframe.py")
    sequence = ET.SubElement(ET.SubElement(event, "project", name=name), "sequence", format="r1",
                             duration=seconds(duration), tcStart="0s", tcFormat="NDF", audioLayout="stereo",
                             audioRate="48k")
    spine = ET.SubElement(sequence, "spine")
    for scene in keys:
        scene_clip(spine, scene, info, size)
    ET.indent(root, " ")
    text = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n{text}\n'.encode()
