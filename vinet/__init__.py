"""ViNet, AViNet and ViNet++ (ViNet-S, ViNet-A, ViNet-E): video saliency prediction, as a Python API.

    import vinet
    predictor = vinet.load("ViNet_DHF1K.pt")                 # a checkpoint names its model
    predictor = vinet.load(model="vinet-s", untrained=True, frame_size=(64, 96))   # keywords named as the flags
    for index, saliency in predictor.predict("clip.mp4"):    # a video file or a folder of frames
        ...                                                  # saliency: 2-D uint8, the frame's size
    vinet.save_maps(predictor, ["clip.mp4"], "out", output_format="mp4")   # out/clip.mp4, as the scripts write it
    vinet.reframe("clip.mp4", "clip_9x16.mp4", weights="vinet_s.pt", aspect="9:16", path_json="path.json",
                  export=["clip_9x16.mlt", "clip_9x16.fcpxml"])   # the camera as keyframes for editors

The command lines (generate_result.py, reframe.py, ...) go through the same functions.
"""
from dataclasses import fields
from pathlib import Path

from utils import InputError
from vinet.engine.predictor import Predictor
from vinet.engine.run import predict_all
from vinet.engine.sources import open_source, output_names
from vinet.engine.writers import DEFAULT_OUTPUT_FORMAT, OUTPUT_FORMATS, output_path
from vinet.loading import load_predictor, options_from
from vinet.reframing import job
from vinet.reframing.options import ReframeOptions

__all__ = ["Predictor", "load", "reframe", "save_maps"]


def _weights_flags(weights: str | Path | list[str | Path] | None) -> dict:
    """The flags naming `weights`: an ONNX file (--onnx) or checkpoints (--file_weight)."""
    if weights is None:
        return {}
    files = [str(w) for w in (weights if isinstance(weights, list | tuple) else [weights])]
    if len(files) == 1 and files[0].lower().endswith(".onnx"):
        return {"onnx": files[0]}
    return {"file_weight": files}


def load(weights: str | Path | list[str | Path] | None = None, **flags) -> Predictor:
    """A predictor from a checkpoint (its model named by the file; a list: ViNet-E's members), an ONNX file from
    export.py, or `untrained=True`; keywords as the scripts' flags (model, frame_size, device, precision,
    batch_size, backend, exact, compile, workers, audio_ablation, clip_size, ...). InputError for bad input.

    >>> import vinet
    >>> predictor = vinet.load(model="vinet-s", untrained=True, frame_size=(64, 96), device="cpu")
    >>> predictor.entry.label, predictor.settings.precision
    ('vinet-s', 'fp32')
    """
    choice, run = options_from({**flags, **_weights_flags(weights)})
    if not (choice.file_weight or choice.onnx or choice.untrained):
        raise InputError("vinet.load: give weights (a checkpoint or an ONNX file), or untrained=True for an "
                         "untrained model (its maps mean nothing)")
    return load_predictor(choice, run, choice.model or "vinet")


def save_maps(predictor: Predictor, sources: list[str | Path], save_path: str | Path,
              output_format: str = DEFAULT_OUTPUT_FORMAT, overwrite: bool = False) -> list[Path]:
    """What the generate scripts write, through the same writer: each source's maps (video files, with their sound
    for a model that hears, or frame folders) as save_path/<name>/<frame>.png, or with output_format="mp4" one
    10-bit saliency video save_path/<name>.mp4; each with its manifest, resumable. The paths written, in order;
    InputError for bad input (what was written for the other sources is kept).

    >>> import vinet, tempfile
    >>> predictor = vinet.load(model="vinet-s", untrained=True, frame_size=(64, 96), device="cpu")
    >>> [path.name for path in vinet.save_maps(predictor, ["extras/sample.mp4"], tempfile.mkdtemp(), "mp4")]
    ['sample.mp4']
    """
    if output_format not in OUTPUT_FORMATS:
        raise InputError(f"output_format {output_format!r}: choose one of {', '.join(OUTPUT_FORMATS)}")
    names = output_names(sources)
    videos = [open_source(source, predictor.entry.takes_audio) for source in sources]
    for video, name in zip(videos, names):
        video.name = name
    failures = predict_all(predictor, videos, save_path, overwrite, output_format=output_format)
    if failures:
        raise InputError("; ".join(failures.values()))
    return [output_path(Path(save_path) / video.name, output_format) for video in videos]


def reframe(video: str | Path, output: str | Path, weights: str | Path | list[str | Path] | None = None,
            maps: str | Path | None = None, path_json: str | Path | None = None, debug: str | Path | None = None,
            save_path: str | Path | None = None, overwrite: bool = False, export: list[str | Path] | None = None,
            **flags) -> str:
    """What reframe.py does: `video` cut to another aspect ratio where people look, into `output`, along `maps`
    (a folder of maps the generate scripts made) or a model's (weights, or untrained=True); keywords as
    reframe.py's flags (aspect, width, height, fit, analysis_fps, smoothing, ..., and the model's: model,
    frame_size, device, precision, ...); `export`: editors' projects (.mlt, .fcpxml: the camera as keyframes). The
    one-line summary; InputError for bad input."""
    names = {option.name for option in fields(ReframeOptions)}
    options = ReframeOptions(**{name: value for name, value in flags.items() if name in names})
    model_flags = {name: value for name, value in flags.items() if name not in names}
    if maps and (weights or model_flags):
        raise InputError("vinet.reframe: give maps (maps already made) or weights and model settings, not both")
    if not (maps or weights or model_flags.get("untrained")):
        raise InputError("vinet.reframe: give maps, weights, or untrained=True (its maps mean nothing)")
    strict_media = model_flags.pop("strict_media", False)   # how the video is read, with or without a model
    model = None if maps else options_from({"precision": None, **model_flags, **_weights_flags(weights),   # None:
                                            "strict_media": strict_media})   # reframe.py's fast default
    return job.reframe(video, output, options, maps, model, save_path, overwrite, path_json, debug, strict_media,
                       export)
