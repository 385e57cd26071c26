"""Speed of inference and training on this machine, against a re-creation of the original's loop.

    python benchmark.py                      # CPU: ViNet and AViNet, fp32 and bf16, a few batch sizes
    python benchmark.py --device cuda --quick
    python benchmark.py --loader --rounds 2 --json extras/benchmark_loader_cpu.json

Measures, on the same synthetic frames (a 360x640 video, written as PNG frames and a wav):
- end-to-end frames/s of generate (decode -> maps on disk), ViNet and AViNet, per precision and batch size;
- the "naive" mode: the original's loop (one window per forward, fp32, decoding, resizing, blurring
  and writing inline, nothing overlapped), as the reference every figure is a ratio to;
- model-only windows/s, one training step (forward, backward, Adam) per second, peak memory;
- the FLOP-bound limit per frame from a measured matmul rate, and how close each mode comes.
Every map of each mode is compared with the naive loop's (identical pixels, CC), and so is the
naive loop with itself at another thread count: how far the original's own maps move with the
machine. --steps times the model-only speed-ups one at a time (layout, batching, folded batch
norm, bf16, torch.compile). Prints tables and writes JSON (--json).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import torch

from registry import MODELS
from utils import CLIP_LENGTH, ArgumentParser, InputError, device_flag, number_flag, resolve_device
from vinet.backends import BACKENDS
from vinet.bench.engine import BENCHMARKED, QUICK_MODELS, engine_report, measured_models
from vinet.bench.loader import loader_report
from vinet.bench.machine import machine_description
from vinet.bench.memory import memory_report
from vinet.bench.processes import ProcessOptions, whole_process_report
from vinet.bench.reframing import reframe_report
from vinet.bench.report import print_loader_report, print_process_report, print_report, write_report
from vinet.reference import naive_process


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """benchmark.py's flags; InputError (one line) for a bad one."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", type=device_flag, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quick", action="store_true", help="fewer frames, modes and repeats; no onnxruntime rows")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=None, metavar="NAME",
                        help=f"the models measured, beside ViNet, the reference (default: {' '.join(BENCHMARKED)}; "
                             f"--quick: {' '.join(QUICK_MODELS)})")
    parser.add_argument("--frames", type=number_flag(int, 2 * CLIP_LENGTH - 1), default=None,
                        help="frames of the end-to-end video (the original's loop maps every frame from 63 on, and "
                             "the engine's maps are compared with its maps)")
    parser.add_argument("--json", default="benchmark.json")
    parser.add_argument("--steps", action="store_true",
                        help="also time the model-only speed-ups one at a time (ViNet)")
    parser.add_argument("--processes", action="store_true",
                        help="only time whole processes as a user runs them (start-up included), interleaved")
    parser.add_argument("--process_frames", type=number_flag(int, 2 * CLIP_LENGTH - 1), default=ProcessOptions.frames,
                        help="--processes: frames of the video (the original's loop maps every frame from 63 on, and "
                             "every command's maps are compared)")
    parser.add_argument("--video", help="--processes: time the first --process_frames frames of this video file "
                                        "instead of synthetic ones")
    parser.add_argument("--process_size", type=number_flag(int, 2), nargs=2, default=ProcessOptions.size,
                        metavar=("H", "W"), help="--processes: frame size (JPEG frames)")
    parser.add_argument("--rounds", type=number_flag(int, 1), default=ProcessOptions.rounds,
                        help="--processes and --loader: interleaved rounds (the best counts)")
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=None, metavar="NAME",
                        help="--processes: the backends timed beside PyTorch fp32 (default: all installed; int8 "
                             "files are calibrated first on the workload's frames, each run also timed without its "
                             "check)")
    parser.add_argument("--precision", nargs="+", choices=("fp32", "bf16", "int8"), default=None, metavar="P",
                        help="--processes: only the runs in these precisions (default: all), beside PyTorch fp32, "
                             "the reference of every CC")
    parser.add_argument("--memory", action="store_true",
                        help="only measure generate's peak memory on 300- and 3,000-frame videos")
    parser.add_argument("--reframe", action="store_true",
                        help="only time reframe.py: 10 s of 720p with maps given, against real time; --analysis_fps "
                             "against the full rate; one minute of 720p with ViNet-S, end to end, a row per path (the "
                             "default, an int8 file, PyTorch bf16)")
    parser.add_argument("--loader", action="store_true",
                        help="only time training's loader on FullHD CrowdSAL videos (from the videos and from a "
                             "frame cache, 2 workers) against ViNet's and AViNet's training steps, interleaved "
                             "--rounds times")
    parser.add_argument("--naive_process", nargs=3, metavar=("FRAMES", "OUT", "WEIGHTS"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """InputError for flags that cannot work together."""
    if args.steps and (args.processes or args.reframe or args.memory):
        raise InputError("--steps times the model alone: run it without --processes, --reframe or --memory")
    if args.loader and (args.steps or args.processes or args.reframe or args.memory):
        raise InputError("--loader times training's loader alone: run it without --steps, --processes, --reframe or "
                         "--memory")
    if args.video and not args.processes:
        raise InputError("--video gives --processes its frames: add --processes")
    if (args.backend or args.precision) and not args.processes:
        raise InputError("--backend and --precision choose the runs --processes times: add --processes")
    resolve_device(args.device)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark the flags ask for; the exit status (2 after one line for bad input)."""
    try:
        args = parse_args(argv)
        check_args(args)
        run(args)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> None:
    """The benchmark the flags ask for; its report printed and written to --json."""
    if args.naive_process:
        naive_process(*args.naive_process)
        return
    alone = args.processes or args.reframe or args.memory or args.loader
    report = process_benchmarks(args) if alone else engine_benchmarks(args)
    write_report(report, args.json)
    print(f"wrote {args.json}")


def process_benchmarks(args: argparse.Namespace) -> dict:
    """--processes, --reframe, --memory and --loader: whole processes and reframing against the clock, memory, and
    training's loader against training."""
    options = ProcessOptions(frames=args.process_frames, size=tuple(args.process_size), video=args.video,
                             rounds=args.rounds, backends=args.backend, precisions=args.precision)
    with tempfile.TemporaryDirectory() as tmp:
        report = {"machine": machine_description(torch.device("cpu"))}
        report.update(whole_process_report(options, Path(tmp)) if args.processes else {})
        report.update(reframe_report(Path(tmp), args.rounds) if args.reframe else {})
        report.update(memory_report(Path(tmp)) if args.memory else {})
        report.update(loader_report(Path(tmp), args.rounds, "python benchmark.py " + " ".join(sys.argv[1:]))
                      if args.loader else {})
    if args.processes:
        print_process_report(report)
    if args.loader:
        print_loader_report(report)
    return report


def engine_benchmarks(args: argparse.Namespace) -> dict:
    """The engine against the original's loop, the models alone, training steps."""
    report = engine_report(resolve_device(args.device), args.quick, args.frames,
                           measured_models(args.models, args.quick), args.steps,
                           "python benchmark.py " + " ".join(sys.argv[1:]))
    print_report(report)
    return report


if __name__ == "__main__":
    sys.exit(main())
