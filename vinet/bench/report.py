"""The benchmark's report: its tables printed as the docs show them, and the JSON file."""
import json
from pathlib import Path

from utils import atomic_write_bytes


def print_report(report: dict) -> None:
    """The report's tables, as the README shows them."""
    print(f"\n{'model':7s} {'mode':20s} {'frames/s':>9s} {'x naive':>8s} {'identical':>10s} {'max diff':>8s} "
          f"{'CC naive':>9s} {'peak MiB':>9s}")
    for r in report["generate"]:
        compared = "identical_to_naive" in r
        print(f"{r['model']:7s} {r['mode']:20s} {r['frames_per_s']:9.3f} {r['vs_naive']:8.2f} "
              + (f"{100 * r['identical_to_naive']:9.4f}% {r.get('max_gray_diff', 0):8.0f} {r['cc_vs_naive']:9.5f} "
                 if compared else f"{'-':>10s} {'-':>8s} {'-':>9s} ") + f"{r['peak_mib']:9.0f}")
    print(f"\n{'model':7s} {'mode':20s} {'windows/s':>10s} {'FLOP bound':>11s} {'of bound':>9s}")
    for r in report["model_only"]:
        bound = f"{r['flop_bound_windows_per_s']:11.3f} {100 * r['of_flop_bound']:8.1f}%" if "of_flop_bound" in r \
            else ""
        print(f"{r['model']:7s} {r['mode']:20s} {r['windows_per_s']:10.3f} {bound}")
    variation = report["naive_thread_variation"]
    print(f"\nthe naive loop's own maps, 1 thread vs {variation['threads'][0]}: "
          f"{100 * variation['pixels_differing']:.4f}% of pixels differ, by up to {variation['max_gray_diff']:.0f}")
    for r in report.get("speedup_steps", []):
        print(f"{r['step']:40s} {r['s_per_window'] or float('nan'):8.3f} s/window {r.get('error', '')}")
    print(f"\nGFLOP per window: {report['gflop_per_window']}; matmul TFLOP/s: {report['matmul_tflops']}")
    print(f"training steps/s (ViNet, batch 1, forward + backward + Adam): {report['training_steps_per_s']}")


def print_process_report(report: dict) -> None:
    """--processes' tables: the whole processes, the models alone, the stages of one process."""
    print(f"\n{'whole process':28s} {'best s':>8s} {'frames/s':>9s} {'x original':>11s} {'CC fp32':>8s} "
          f"{'peak MiB':>9s}   all runs (s)")
    for r in report["processes"]:
        runs = " ".join(f"{t:.1f}" for t in r["all_seconds"])
        print(f"{r['command']:28s} {r['seconds']:8.1f} {r['frames_per_s']:9.3f} {r['vs_original']:11.2f} "
              f"{r['cc_vs_fp32']:8.5f} {r['peak_mib']:9.0f}   {runs}")
    for name, cost in report.get("int8_check_cost", {}).items():
        print(f"{name} int8: its check against the float path costs {100 * cost:.1f}% of the unchecked run's time")
    print(f"\n{'model alone':28s} {'windows/s':>10s} {'CC fp32':>8s}   all rounds")
    for r in report["model_alone"]:
        rounds = " ".join(f"{rate:.3f}" for rate in r["all_windows_per_s"])
        print(f"{r['model'] + ' ' + r['backend'] + ' ' + r['precision']:28s} {r['windows_per_s']:10.3f} "
              f"{r['cc_vs_fp32']:8.5f}   {rounds}")
    print(f"\n{'stages':16s} {'imports s':>10s} {'model setup s':>14s} {'decode ms/fr':>13s} {'model ms/win':>13s} "
          f"{'write ms/fr':>12s}")
    for label, stage in report["stages"].items():
        print(f"{label:16s} {stage['imports_s']:10.2f} {stage['model_setup_s']:14.2f} "
              f"{1000 * stage['decode_per_frame_s']:13.1f} {1000 * stage['model_per_window_s']:13.1f} "
              f"{1000 * stage['write_per_frame_s']:12.1f}")


def print_loader_report(report: dict) -> None:
    """--loader's table: clips per second of training's loader against training steps."""
    print(f"\n{'run':50s} {'clips/s':>8s} {'workers':>8s}   all rounds")
    for r in report["loader"]:
        rounds = " ".join(f"{rate:.3f}" for rate in r["all_clips_per_s"])
        print(f"{r['run']:50s} {r['clips_per_s']:8.3f} {r['workers']:8d}   {rounds}")
    print(f"filling the frame cache: {report['cache_fill_s_per_video']:.1f} s a video")


def write_report(report: dict, path: str | Path) -> None:
    """The report as indented JSON, written atomically (a killed run leaves no half a file)."""
    atomic_write_bytes(path, json.dumps(report, indent=2).encode())
