"""The cut as an MLT XML project (Shotcut and Kdenlive open it, melt renders it): the output's profile, the source
with its sound, one clip per scene whose `affine` filter (Shotcut's Size, Position & Rotate) carries the camera as
linear `transition.rect` keyframes scaled so the region fills the output. A padded scene shows its keep region
fitted over a second track's blurred, darkened fill, as the cut does.

Colours: MLT guesses an untagged source's colour space by its height (BT.709 from 720 lines) and converts through
RGB to the profile's; the source forced to MLT_COLORSPACE and the profile in it make that round trip keep the
source's YUV, as reframe.py's crop does (its padding goes through RGB in BT.601 too).
"""
import xml.etree.ElementTree as ET

from media import VideoInfo
from vinet.reframing.editors.keyframes import SceneKeys, frame_rate
from vinet.reframing.geometry import Box
from vinet.reframing.options import MLT_COLORSPACE, PAD_BLUR_SIGMA, PAD_BLUR_WIDTH, PAD_BRIGHTNESS


def number(value: float, decimals: int = 4) -> str:
    """A number as the editors read it: at most `decimals` decimals, no trailing zeros."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def properties(element: ET.Element, values: dict[str, object]) -> ET.Element:
    """`values` as the element's <property> children; the element."""
    for name, value in values.items():
        ET.SubElement(element, "property", name=name).text = str(value)
    return element


def fitted(box: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where a padded scene's region goes in the output: scaled whole into it and centred (render.padded_picture)."""
    width, height = box[2:]
    scale = min(size[0] / width, size[1] / height)
    inner = (min(size[0], round(width * scale)), min(size[1], round(height * scale)))
    return (size[0] - inner[0]) // 2, (size[1] - inner[1]) // 2, *inner


def covered(box: Box, size: tuple[int, int]) -> Box:
    """The part of a padded scene's region the blurred fill shows: the output's shape, centred in it."""
    x, y, width, height = box
    cover = max(size[0] / width, size[1] / height)
    seen = (min(width, round(size[0] / cover)), min(height, round(size[1] / cover)))
    return x + (width - seen[0]) // 2, y + (height - seen[1]) // 2, *seen


def placed_rect(box: tuple[float, ...], place: tuple[float, ...], source: tuple[int, int]) -> str:
    """The rectangle (x y w h opacity, output pixels) the whole source frame takes so that `box` lands on `place`
    (x, y, width, height in the output), each side scaled on its own as reframe.py scales a region; the rest of the
    frame falls outside the output (or, padded, in the bands beside the region: a source's bars too)."""
    across, down = place[2] / box[2], place[3] / box[3]
    left, top = place[0] - box[0] * across, place[1] - box[1] * down
    return " ".join(number(v) for v in (left, top, source[0] * across, source[1] * down, 1))


def affine_filter(parent: ET.Element, rect: str) -> None:
    """Shotcut's Size, Position & Rotate: the frame placed in `rect` (keyframes 'frame=x y w h o;...', linear),
    stretched to it as reframe.py scales a region to the output size."""
    properties(ET.SubElement(parent, "filter"), {
        "mlt_service": "affine", "shotcut:filter": "affineSizePosition", "transition.rect": rect,
        "transition.fill": 1, "transition.distort": 1, "transition.halign": "left", "transition.valign": "top",
        "background": "colour:0"})


def camera_entry(playlist: ET.Element, keys: SceneKeys, info: VideoInfo, size: tuple[int, int]) -> None:
    """A scene's clip on the camera track, with its keyframes (padded: as it is, the transition over the fill places
    it)."""
    entry = ET.SubElement(playlist, "entry", producer="source", attrib={"in": str(keys.first), "out": str(keys.last)})
    if keys.fit != "pad":
            affine_filter(entry, ";".join(f"{offset}={placed_rect(tuple(box), (0, 0, *size), info.size)}"
                                      for offset, box in zip(keys.offsets, keys.boxes)))


def fill_entry(playlist: ET.Element, keys: SceneKeys, info: VideoInfo, size: tuple[int, int]) -> None:
    """A padded scene's clip on the fill track: the covered part of its region scaled to fill the output, blurred
    about as much as render.padded_picture blurs it, and darkened."""
    entry = ET.SubElement(playlist, "entry", producer="source", attrib={"in": str(keys.first), "out": str(keys.last)})
    seen = covered(tuple(int(v) for v in keys.boxes[0]), size)
    affine_filter(entry, f"0={placed_rect(seen, (0, 0, *size), info.size)}")
    properties(ET.SubElement(entry, "filter"), {"mlt_service": "avfilter.gblur",
                                                "av.sigma": number(PAD_BLUR_SIGMA * size[0] / PAD_BLUR_WIDTH)})
    # darkened in RGB as the cut is: MLT's `brightness` scales luma with its video-range offset (8 dB off here)
    properties(ET.SubElement(entry, "filter"), {"mlt_service": "avfilter.colorlevels", **{
        f"av.{channel}omax": PAD_BRIGHTNESS for channel in "rgb"}})


def padded_transition(tractor: ET.Element, keys: SceneKeys, info: VideoInfo, size: tuple[int, int]) -> None:
    """A padded scene's camera clip placed over its fill: its keep region fitted into the output. An `affine`
    transition places it: melt 7.12 composites an `affine` filter's transparent surround as black."""
    box = tuple(int(v) for v in keys.boxes[0])
    rect = placed_rect(box, fitted(box, size), info.size)
    properties(ET.SubElement(tractor, "transition", attrib={"in": str(keys.first), "out": str(keys.last)}), {
        "mlt_service": "affine", "a_track": 0, "b_track": 1, "rect": f"0={rect}", "fill": 1, "distort": 1})


def profile(root: ET.Element, info: VideoInfo, size: tuple[int, int]) -> None:
    """The output's profile: its size, square pixels, the source's rational frame rate, MLT_COLORSPACE."""
    rate = frame_rate(info)
    ET.SubElement(root, "profile", {
        "description": f"reframe.py {size[0]}x{size[1]} {float(rate):.5g} fps", "width": str(size[0]),
        "height": str(size[1]), "progressive": "1", "sample_aspect_num": "1", "sample_aspect_den": "1",
        "display_aspect_num": str(size[0]), "display_aspect_den": str(size[1]),
        "frame_rate_num": str(rate.numerator), "frame_rate_den": str(rate.denominator),
        "colorspace": str(MLT_COLORSPACE)})


def tracks(root: ET.Element, keys: list[SceneKeys], info: VideoInfo, size: tuple[int, int]) -> list[str]:
    """The fill track (when a scene is padded: blanks elsewhere) and the camera track; their ids, bottom first."""
    camera = properties(ET.SubElement(root, "playlist", id="camera"), {"shotcut:name": "camera"})
    for scene in keys:
        camera_entry(camera, scene, info, size)
    if not any(scene.fit == "pad" for scene in keys):
        return ["camera"]
    fill, end = properties(ET.SubElement(root, "playlist", id="fill"), {"shotcut:name": "padding"}), 0
    for scene in (scene for scene in keys if scene.fit == "pad"):
        if scene.first > end:
            ET.SubElement(fill, "blank", length=str(scene.first - end))
        fill_entry(fill, scene, info, size)
        end = scene.last + 1
    root.remove(camera)
    root.append(camera)   # a track's playlist comes before the tractor; the fill is composited under the camera
    return ["fill", "camera"]


def project(info: VideoInfo, keys: list[SceneKeys], size: tuple[int, int]) -> bytes:
    """The MLT XML document of the cut."""
    root = ET.Element("mlt", {"LC_NUMERIC": "C", "version": "7.12.0", "producer": "main",
                              "title": f"{info.path.stem} {size[0]}x{size[1]} (reframe.py)"})
    profile(root, info, size)
    last = str(info.num_frames - 1)
    properties(ET.SubElement(root, "producer", id="source", attrib={"in": "0", "out": last}), {
        "length": info.num_frames, "eof": "pause", "resource": str(info.path.resolve()), "mlt_service": "avformat",
        "force_colorspace": MLT_COLORSPACE, "seekable": 1})
    ids = tracks(root, keys, info, size)
    tractor = properties(ET.SubElement(root, "tractor", id="main", attrib={"in": "0", "out": last}), {"shotcut": 1})
    multitrack = ET.SubElement(tractor, "multitrack")
    for track in ids:
        ET.SubElement(multitrack, "track", producer=track, **({"hide": "audio"} if track == "fill" else {}))
    for scene in (scene for scene in keys if scene.fit == "pad"):
        padded_transition(tractor, scene, info, size)
    ET.indent(root, " ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
