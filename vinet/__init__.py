"""ViNet, AViNet and ViNet++ (ViNet-S, ViNet-A, ViNet-E): video saliency prediction, as a Python API.

    import vinet
    predictor = vinet.load("ViNet_DHF1K.pt")                 # a checkpoint names its model
    predictor = vinet.load(model="vinet-s", untrained=True, frame_size=(64, 96))   # keywords named as the flags
    for index, saliency in predictor.predict("clip.mp4"):    # a video file or a folder of frames
        ...                                                  # saliency: 2-D uint8, the frame's size

The command lines (generate_result.py, reframe.py, ...) go through the same functions.
"""
from pathlib import Path

from utils import InputError
from vinet.engine.predictor import Predictor
from vinet.loading import load_predictor, options_from

__all__ = ["Predictor", "load"]


def load(weights: str | Path | list[str | Path] | None = None, **flags) -> Predictor:
    """A predictor from a checkpoint (its model named by the file; a list: ViNet-E's members), an ONNX file from
    export.py, or `untrained=True`; keywords as the scripts' flags (model, frame_size, device, precision,
    batch_size, backend, exact, compile, workers, audio_ablation, clip_size, ...). InputError for bad input.

    >>> import vinet
    >>> predictor = vinet.load(model="vinet-s", untrained=True, frame_size=(64, 96), device="cpu")
    >>> predictor.entry.label, predictor.settings.precision
    ('ViNet-S', 'fp32')
    """
    if weights is not None:
        files = [str(w) for w in (weights if isinstance(weights, list | tuple) else [weights])]
        key = "onnx" if len(files) == 1 and files[0].lower().endswith(".onnx") else "file_weight"
        flags[key] = files[0] if key == "onnx" else files
    choice, run = options_from(flags)
    if not (choice.file_weight or choice.onnx or choice.untrained):
        raise InputError("vinet.load: give weights (a checkpoint or an ONNX file), or untrained=True for an "
                         "untrained model (its maps mean nothing)")
    if choice.untrained and (choice.file_weight or choice.onnx):
        raise InputError("vinet.load: untrained=True builds a model without weights: drop the weights or untrained")
    return load_predictor(choice, run, choice.model or "vinet")
