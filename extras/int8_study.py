"""What NNCF's and OpenVINO's options give int8 ViNet and ViNet-S on footage that was not calibrated on: each
setting's CC with the fp32 model's maps on every window of a check clip (mean, worst, windows under 0.99) and its
speed (windows/s, OpenVINO, float layers as int8 runs give them), written to extras/int8_study_cpu.json.

    python -m extras.int8_study [--models vinet vinet-s] [--file_weight W ...] [--settings default discs ...]

Calibration: camera moves over scikit-image's photographs (CALIBRATION_PHOTOS) and discs; the check clip moves over
other photographs (CHECK_PHOTOS). Without --file_weight the models are untrained and seeded, given a trained model's
contrast as the benchmark's (trained checkpoints cannot be downloaded here): the study measures how faithfully int8
computes a model's maps, not whether the maps are right.
"""
import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from loss import cc
from registry import MODELS
from synthetic import write_video
from vinet.backends.calibration import (
    CHECK_PHOTOS,
    SCENE_FPS,
    calibration_windows,
    natural_frames,
    natural_scenes,
    street_sound,
    synthetic_scenes,
)
from vinet.backends.int8 import float_layers, int8_cc, nncf_quantize
from vinet.backends.onnx import input_names, traced_proto
from vinet.backends.openvino import OpenVinoBackend
from vinet.bench.machine import machine_description
from vinet.bench.workload import give_contrast
from weights import load_model

CHECK_WINDOWS = 64
# name -> (footage, windows, how the quantization differs from int8.nncf_quantize's)
SETTINGS = {
    "default": ("natural+discs", 32, "as export.py --int8 and --precision int8 quantize"),
    "discs": ("discs", 32, "the synthetic discs only (the earlier default footage)"),
    "natural": ("natural", 32, "the natural scenes only"),
    "windows96": ("natural+discs", 96, "three times the windows"),
    "bias_correction": ("natural+discs", 32, "NNCF's full bias correction (off by default: the float path)"),
    "mixed": ("natural+discs", 32, "NNCF's mixed preset (asymmetric activations)"),
    "float_ends": ("natural+discs", 32, "the first convolution and the last four in float (ignored scope)"),
    "float_first": ("natural+discs", 32, "the first convolution in float (ignored scope)"),
    "float_last": ("natural+discs", 32, "the last four convolutions in float (ignored scope)"),
    "accuracy_aware": ("natural+discs", 32, "NNCF's accuracy-aware quantization (max CC drop 0.003)"),
}


def quantize(setting: str, proto, entry, windows: list, model: torch.nn.Module):
    """The int8 graph of one setting."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    if setting in ("default", "discs", "natural", "windows96"):
        return nncf_quantize(proto, entry, windows, None)
    names = input_names(entry)
    dataset = nncf.Dataset([{name: x.numpy() for name, x in zip(names, w)} for w in windows])
    kept = {"compress_weights": False}
    if setting == "bias_correction":
        return nncf.quantize(proto, dataset, subset_size=len(windows), fast_bias_correction=False,
                             advanced_parameters=AdvancedQuantizationParameters(backend_params=kept))
    keep_float = AdvancedQuantizationParameters(disable_bias_correction=True, backend_params=kept)
    if setting == "mixed":
        return nncf.quantize(proto, dataset, subset_size=len(windows), preset=nncf.QuantizationPreset.MIXED,
                             advanced_parameters=keep_float)
    if setting.startswith("float_"):
        convs = [node.name for node in proto.graph.node if node.op_type == "Conv"]
        kept = {"float_ends": [convs[0], *convs[-4:]], "float_first": convs[:1], "float_last": convs[-4:]}[setting]
        return nncf.quantize(proto, dataset, subset_size=len(windows), advanced_parameters=keep_float,
                             ignored_scope=nncf.IgnoredScope(names=kept))
    validation = windows[1::4]
    feeds = [{name: x.numpy() for name, x in zip(names, w)} for w in validation]
    with torch.inference_mode():
        expected = {feed[names[0]].tobytes(): model(*w) for feed, w in zip(feeds, validation)}

    def validate(candidate, items) -> tuple[float, list[float]]:   # NNCF hands each candidate graph as a proto
        runner = OpenVinoBackend(candidate.SerializeToString(), float_layers(), entry)
        scores = [float(cc(torch.from_numpy(runner([torch.from_numpy(x) for x in item.values()])),
                           expected[item[names[0]].tobytes()])[0]) for item in items]
        return float(np.mean(scores)), scores

    return nncf.quantize_with_accuracy_control(proto, dataset, nncf.Dataset(feeds), validate, max_drop=0.003,
                                               drop_type=nncf.DropType.ABSOLUTE, subset_size=len(windows),
                                               advanced_quantization_parameters=keep_float)


def speed(backend: OpenVinoBackend, windows: list) -> float:
    """Windows/s of the int8 graph, a batch of OPENVINO's streams at a time, after one untimed batch."""
    batches = [[torch.cat(parts) for parts in zip(*windows[k:k + 2])] for k in range(0, 16, 2)]
    backend(batches[0])
    start = time.perf_counter()
    for batch in batches:
        backend(batch)
    return 16 / (time.perf_counter() - start)


def study_model(name: str, weights: str | None, footage: dict[str, list[Path]], check: Path,
                settings: list[str]) -> dict:
    """One model's rows: each setting's CC on the check clip's windows and its speed."""
    if weights:
        entry, model = load_model([weights])
    else:
        torch.manual_seed(0)
        entry, model = MODELS[name], MODELS[name].build().eval()
    check_windows = calibration_windows(entry, [check], CHECK_WINDOWS)
    if not weights:
        give_contrast(model, check_windows[0])
    with torch.inference_mode():
        expected = torch.cat([model(*w) for w in check_windows])
    proto, rows = traced_proto(model, entry), []
    for setting in settings:
        kind, count, how = SETTINGS[setting]
        start = time.perf_counter()
        row = {"model": name, "setting": setting, "how": how, "calibration": f"{count} windows of {kind}"}
        try:
            quantized = quantize(setting, proto, entry, calibration_windows(entry, footage[kind], count), model)
            backend = OpenVinoBackend(quantized.SerializeToString(), float_layers(), entry)
        except Exception as error:   # a setting NNCF or OpenVINO cannot do is a finding, not the study's end
            cause = [line for line in str(error).splitlines() if line.strip()][-1]   # OpenVINO's last line says why
            rows.append({**row, "failed": f"{type(error).__name__}: {cause[:200]}"})
            print(rows[-1], flush=True)
            continue
        scores = cc(torch.from_numpy(np.concatenate([backend(w) for w in check_windows])), expected).numpy()
        rows.append({**row, "quantize_s": round(time.perf_counter() - start, 1), "mean_cc": float(scores.mean()),
                     "worst_cc": float(scores.min()), "under_0_99": int((scores < 0.99).sum()),
                     "held_out_cc": int8_cc(model, entry, quantized, check_windows[::16]),
                     "windows_per_s": speed(backend, check_windows)})
        print(rows[-1], flush=True)
    return {"model": name, "weights": weights or "untrained (seed 0), given contrast", "rows": rows}


def write_footage(folder: Path) -> tuple[dict[str, list[Path]], Path]:
    """The calibration footage of each kind, and the check clip (other photographs)."""
    natural, discs = natural_scenes(folder), synthetic_scenes(folder)
    check = folder / "check.mp4"
    write_video(str(check), natural_frames(100, CHECK_PHOTOS), SCENE_FPS, street_sound(100, 64 / SCENE_FPS))
    return {"natural": natural, "discs": discs, "natural+discs": natural + discs}, check


def merged(report: dict, path: Path) -> dict:
    """The report, with the models and each model's settings not measured now taken from the report at `path`."""
    if not path.is_file():
        return report
    earlier = {study["model"]: study for study in json.loads(path.read_text())["models"]}
    report["models"] += [study for name, study in earlier.items()
                         if name not in {study["model"] for study in report["models"]}]
    for study in report["models"]:
        measured = {row["setting"] for row in study["rows"]}
        kept = [row for row in earlier.get(study["model"], {"rows": []})["rows"] if row["setting"] not in measured]
        study["rows"] = sorted(kept + study["rows"], key=lambda row: list(SETTINGS).index(row["setting"]))
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vinet", "vinet-s"], choices=["vinet", "vinet-s"])
    parser.add_argument("--file_weight", nargs="+", default=None, help="a checkpoint per model, in order")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--json", default="extras/int8_study_cpu.json",
                        help="the report; a model's rows of other settings already in it are kept")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    weights: list[str | None] = args.file_weight or [None] * len(args.models)
    with tempfile.TemporaryDirectory() as tmp:
        footage, check = write_footage(Path(tmp))
        report = {"machine": machine_description(torch.device("cpu")), "frames": CHECK_WINDOWS,
                  "frame_size": [360, 640], "command": "python -m extras.int8_study",
                  "check_clip": f"camera moves over {', '.join(CHECK_PHOTOS)}", "float_layers": float_layers(),
                  "models": [study_model(name, path, footage, check, args.settings)
                             for name, path in zip(args.models, weights)]}
    Path(args.json).write_text(json.dumps(merged(report, Path(args.json)), indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
