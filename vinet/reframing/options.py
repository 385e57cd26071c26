"""How a video is reframed (ReframeOptions, whose defaults the command line's flags read) and the algorithm's
tuned constants, each in one place."""
from dataclasses import dataclass

from media import DEFAULT_CRF, DEFAULT_PRESET

DEFAULT_ANALYSIS_FPS = 5.0  # analysed frames per second (AutoFlip's rate): measured to move the path by < 2% (README)
NEAR_MAX = 1e-3           # window positions within this share of the frame's mass of the best tie
VELOCITY_SHARE = 0.05     # l1 = VELOCITY_SHARE * (tau f)^2: a light damping of drift
STILL_MOTION = 0.25       # a still camera when the targets move over at most this share of the window
STILL_QUANTILE = 0.05     # ... measured between these quantiles: a flicker in a few frames does not count
SNAP_DISTANCE = 0.08      # a still camera this close to the centre (share of the picture) snaps to it (AutoFlip's)
KEEP_SHARE = 0.95         # the region that must be kept holds this share of a scene's saliency (--fit pad, auto)
DEFAULT_PAD_BELOW = 0.6   # --fit auto pads where the crop keeps less than this share of the saliency
PAD_BRIGHTNESS = 0.5      # the padding's blurred copy, darkened to this
PAD_BLUR_WIDTH = 32       # ... blurred at this width (pixels) and scaled up: a wide blur for little work
PAD_BLUR_SIGMA = 2.0      # ... by a Gaussian of this sigma at that width
BAR_LUMA = 32             # a border line whose brightest pixel stays at most this (8-bit luma) is a bar
BAR_MIN_SHARE = 0.01      # bars thinner than this share of the side are left as picture
PICTURE_MIN_SHARE = 0.5   # bars leaving less than this share of a side are not bars (a dark scene)
ASPECT_TOLERANCE = 0.05   # maps may be scaled copies of the frames, up to 5% off their aspect ratio
SIZE_TOLERANCE = 0.01     # --width/--height and --aspect given together may differ by this share
KEYFRAME_TOLERANCE = 0.01  # --export's keyframes keep every frame's region within this share of the source width
MLT_COLORSPACE = 601      # the .mlt's source and profile: MLT then keeps the source's YUV as reframe.py's crop does
DETECT_WIDTH = 256        # frames are shrunk to this width for cut detection (PySceneDetect's default)
FITS = ("crop", "pad", "auto")
OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv")
EXPORT_SUFFIXES = (".mlt", ".fcpxml")   # --export: Shotcut, Kdenlive and melt; Final Cut Pro and DaVinci Resolve
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass(frozen=True)
class ReframeOptions:
    """How a video is reframed: the output's shape (aspect W:H, or width and height), the fit, the frames the model
    analyses, the camera, the cut detection and the encoding."""

    aspect: str | None = None
    width: int | None = None
    height: int | None = None
    fit: str = "crop"
    pad_below: float = DEFAULT_PAD_BELOW
    analysis_fps: float = DEFAULT_ANALYSIS_FPS
    smoothing: float = 0.5        # time constant of the moving camera in seconds
    max_speed: float = 1.0        # picture widths (heights for a vertical crop) per second
    scene_threshold: float = 27.0
    min_scene_len: float = 0.6    # seconds
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
