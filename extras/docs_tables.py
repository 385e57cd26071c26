"""Write the docs' measured tables from the benchmark reports in extras/*.json, so no number is retyped.

    python extras/docs_tables.py           # rewrite every table between its markers in docs/*.md
    python extras/docs_tables.py --check   # exit 1 when a page's table differs from its JSON (CI, tests/test_docs.py)

A page asks for a table with a pair of markers; what lies between them is generated:

    <!-- table:cpu-generate -->
    <!-- /table:cpu-generate -->

Standard library only: it reads the JSON files as benchmark.py wrote them and imports no command line.
"""
import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# markers stand on lines of their own (one quoted inside a sentence is not one)
MARKER = re.compile(r"^(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)^(<!-- /table:(?P=name) -->)$",
                    re.DOTALL | re.MULTILINE)
OPENING = re.compile(r"^<!-- table:([\w-]+) -->$", re.MULTILINE)
# the names the JSON files use, as the docs write them
DISPLAY = {"vinet": "ViNet", "vinet-s": "ViNet-S", "vinet-a": "ViNet-A", "vinet-e": "ViNet-E", "avinet": "AViNet",
           "torch": "PyTorch", "openvino": "OpenVINO"}


def significant(value: float, digits: int = 3) -> str:
    """value to `digits` significant figures, trailing zeros kept (0.530, 85.4, 153)."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def share(value: float) -> str:
    """A share of pixels as a percentage: exactly 100% (or 0%) only when every pixel (or none) is."""
    return f"{100 * value:.0f}%" if value in (0, 1) else f"{100 * value:.3f}%"


def count(number: float, noun: str) -> str:
    """'1 thread', '2 threads'."""
    return f"{number:.0f} {noun}" + ("" if number == 1 else "s")


def correlation(value: float) -> str:
    """CC to five decimals; exactly 1 written as 1."""
    return "1" if value == 1 else f"{value:.5f}"


def display(words: str) -> str:
    """A JSON label with the models' and backends' names as the docs write them ('vinet-s torch bf16')."""
    return " ".join(DISPLAY.get(word, word) for word in words.split())


def mode_label(mode: str) -> str:
    """benchmark.py's mode ('fp32 exact b1', 'fp16 b32 CUDA graphs') in words and flags."""
    if mode == "naive":
        return "naive (the original's loop)"
    mode = re.sub(r"\bb(\d+)\b", r"batch \1", mode)
    return display(mode.replace("exact", "`--exact`"))


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def source_line(report: dict, name: str) -> str:
    """Where a table's numbers come from: the file, the machine, the workload."""
    machine = report["machine"]
    gpu = machine["gpu"] or "no GPU"
    height, width = report["frame_size"]
    line = (f"From `extras/{name}`: {machine['cpu']}, {machine['cores']} cores, {gpu}; torch {machine['torch']}, "
            f"Python {machine['python']}; {report['frames']} frames of {height}x{width}")
    return line + (f"; `{report['command']}`." if "command" in report else ".")


def without_repeats(column: list[str]) -> list[str]:
    """A grouping column with each value written once, at the top of its group."""
    return [value if index == 0 or value != column[index - 1] else "" for index, value in enumerate(column)]


def generate_table(report: dict) -> str:
    """End to end (frames to maps on disk), each mode against the naive loop."""
    header = ["model", "mode", "frames/s", "x naive", "pixels equal to naive", "max gray levels off",
              "CC vs naive", "peak MiB"]
    models = without_repeats([display(row["model"]) for row in report["generate"]])
    rows = []
    for model, row in zip(models, report["generate"]):
        compared = "identical_to_naive" in row
        rows.append([model, mode_label(row["mode"]), significant(row["frames_per_s"]), f"{row['vs_naive']:.2f}",
                     share(row["identical_to_naive"]) if compared else "",
                     f"{row.get('max_gray_diff', 0):.0f}" if compared else "",
                     correlation(row["cc_vs_naive"]) if compared else "", f"{row['peak_mib']:.0f}"])
    return markdown_table(header, rows)


def model_only_table(report: dict) -> str:
    """The model alone, against the bound the measured matmul rate sets."""
    header = ["model", "mode", "windows/s", "FLOP bound, windows/s", "of the bound"]
    models = without_repeats([display(row["model"]) for row in report["model_only"]])
    rows = []
    for model, row in zip(models, report["model_only"]):
        bounded = "of_flop_bound" in row
        rows.append([model, mode_label(row["mode"]), significant(row["windows_per_s"]),
                     significant(row["flop_bound_windows_per_s"]) if bounded else "",
                     f"{100 * row['of_flop_bound']:.0f}%" if bounded else ""])
    return markdown_table(header, rows)


def steps_table(report: dict) -> str:
    """The model-alone speed-ups, one change at a time (benchmark.py --steps)."""
    rows = [[row["step"], f"{row['s_per_window']:.2f}"] for row in report["speedup_steps"]]
    return markdown_table(["change (ViNet, model alone)", "s/window"], rows)


def facts_table(report: dict) -> str:
    """The run's single figures: matmul rate, GFLOP per window, training steps, the naive loop's own spread."""
    def per_key(values: dict, format_value: Callable[[float], str]) -> str:
        return ", ".join(f"{display(key)} {format_value(value)}" for key, value in values.items())

    steps = report["training_steps_per_s"]
    variation = report["naive_thread_variation"]
    threads = variation["threads"]
    spread = "the same maps, pixel for pixel" if variation["pixels_differing"] == 0 else (
        f"{share(variation['pixels_differing'])} of pixels differ, by at most "
        f"{count(variation['max_gray_diff'], 'gray level')}")
    rows = [
        ["measured matmul rate, TFLOP/s", per_key(report["matmul_tflops"], significant)],
        ["GFLOP per window (multiply-adds x 2)", per_key(report["gflop_per_window"], lambda v: f"{v:.0f}")],
        ["training steps/s (ViNet, batch 1: forward, backward, Adam)", per_key(steps, significant)],
        ["seconds per training step", per_key({key: 1 / value for key, value in steps.items()}, significant)],
        [f"the naive loop's maps, {count(threads[1], 'thread')} against {threads[0]}", spread],
    ]
    return markdown_table(["figure", "value"], rows)


def processes_table(report: dict) -> str:
    """Whole processes as a user starts them (benchmark.py --processes), best of the rounds."""
    extra = [("CC vs fp32", "cc_vs_fp32", correlation), ("peak MiB", "peak_mib", lambda v: f"{v:.0f}")]
    present = [column for column in extra if all(column[1] in row for row in report["processes"])]
    header = ["command (end to end)", "best s", "frames/s", "x original loop",
              *(title for title, _, _ in present), "every round (s)"]
    rows = [[display(row["command"]), f"{row['seconds']:.1f}", significant(row["frames_per_s"]),
             f"{row['vs_original']:.2f}", *(format_value(row[key]) for _, key, format_value in present),
             ", ".join(f"{seconds:.1f}" for seconds in row["all_seconds"])] for row in report["processes"]]
    return markdown_table(header, rows)


def model_alone_table(report: dict) -> str:
    """The models alone in a --processes run: the workload's windows, each backend's default batch."""
    header = ["model", "backend", "precision", "windows/s", "CC vs PyTorch fp32", "every round (windows/s)"]
    models = without_repeats([display(row["model"]) for row in report["model_alone"]])
    rows = [[model, display(row["backend"]), row["precision"], significant(row["windows_per_s"]),
             correlation(row["cc_vs_fp32"]), ", ".join(significant(rate) for rate in row["all_windows_per_s"])]
            for model, row in zip(models, report["model_alone"])]
    return markdown_table(header, rows)


def stages_table(report: dict) -> str:
    """Where one process's time goes, each stage timed alone."""
    header = ["run", "imports s", "model setup s", "decode ms/frame", "model s/window", "write ms/frame"]
    rows = [[display(run), f"{stage['imports_s']:.2f}", f"{stage['model_setup_s']:.2f}",
             f"{1000 * stage['decode_per_frame_s']:.1f}", f"{stage['model_per_window_s']:.2f}",
             f"{1000 * stage['write_per_frame_s']:.1f}"] for run, stage in report["stages"].items()]
    return markdown_table(header, rows)


def int8_study_table(report: dict) -> str:
    """Each int8 setting's CC with fp32 on the check clip and its speed (extras/int8_study.py)."""
    header = ["model", "setting", "calibration", "mean CC", "worst CC", "windows under 0.99", "windows/s",
              "quantizing s"]
    rows = []
    for study in report["models"]:
        for row in study["rows"]:
            if "failed" in row:
                rows.append([display(study["model"]), row["how"], row["calibration"], "failed: " + row["failed"],
                             "", "", "", ""])
                continue
            rows.append([display(study["model"]), row["how"], row["calibration"], f"{row['mean_cc']:.4f}",
                         f"{row['worst_cc']:.4f}", f"{row['under_0_99']}", significant(row["windows_per_s"]),
                         f"{row['quantize_s']:.0f}"])
    return markdown_table(header, rows)


def loader_table(report: dict) -> str:
    """Training's loader on FullHD videos against training steps (benchmark.py --loader), best of the rounds."""
    rows = [[row["run"], significant(row["clips_per_s"]), f"{row['workers']}" if row["workers"] else "",
             ", ".join(significant(rate) for rate in row["all_clips_per_s"])] for row in report["loader"]]
    return markdown_table(["run", "clips/s", "loader workers", "every round (clips/s)"], rows)


def reframe_minute_table(report: dict) -> str:
    """One minute of 720p reframed end to end, a row per path (benchmark.py --reframe), with its stages."""
    header = ["path", "run", "s end to end", "scenes s", "model s", "windows", "reframing s", "load before, after"]
    rows = [[row["path"], display(row["run"].split(" (")[0]), f"{row['seconds']:.1f}",
             f"{row['stages']['scenes']:.1f}", f"{row['stages']['model']:.1f}", f"{row['windows']}",
             f"{row['stages']['reframing']:.1f}", ", ".join(f"{load:.1f}" for load in row["load_average"])]
            for row in report["one_minute"]["rows"]]
    return markdown_table(header, rows)


# each table: the report it reads and how it is written
TABLES: dict[str, tuple[str, Callable[[dict], str]]] = {
    "cpu-generate": ("benchmark_cpu.json", generate_table),
    "cpu-model-alone": ("benchmark_cpu.json", model_only_table),
    "cpu-steps": ("benchmark_cpu.json", steps_table),
    "cpu-facts": ("benchmark_cpu.json", facts_table),
    "processes-cpu": ("benchmark_processes_cpu.json", processes_table),
    "processes-cpu-stages": ("benchmark_processes_cpu.json", stages_table),
    "backends-cpu-150": ("benchmark_backends_cpu_150.json", processes_table),
    "backends-cpu-150-alone": ("benchmark_backends_cpu_150.json", model_alone_table),
    "backends-cpu-150-stages": ("benchmark_backends_cpu_150.json", stages_table),
    "backends-cpu-66": ("benchmark_backends_cpu.json", processes_table),
    "backends-cpu-66-alone": ("benchmark_backends_cpu.json", model_alone_table),
    "cuda-h200-generate": ("benchmark_cuda_h200.json", generate_table),
    "cuda-h200-model-alone": ("benchmark_cuda_h200.json", model_only_table),
    "cuda-h200-facts": ("benchmark_cuda_h200.json", facts_table),
    "int8-study": ("int8_study_cpu.json", int8_study_table),
    "int8-check-cpu": ("benchmark_int8_check_cpu.json", processes_table),
    "loader-cpu": ("benchmark_loader_cpu.json", loader_table),
    "reframe-minute-cpu": ("benchmark_reframe_cpu.json", reframe_minute_table),
}


def render(name: str, extras: Path) -> str:
    """Table `name` with the line saying where its numbers come from."""
    file_name, write_table = TABLES[name]
    report = json.loads((extras / file_name).read_text())
    return f"{source_line(report, file_name)}\n\n{write_table(report)}"


def updated_page(text: str, extras: Path) -> str:
    """The page with every table between its markers rewritten."""
    def replace(match: re.Match) -> str:
        # blank lines around the table: Markdown reads a table only after one
        return f"{match.group(1)}\n{render(match.group('name'), extras)}\n\n{match.group(4)}"

    return MARKER.sub(replace, text)


def problems_with_markers(pages: dict[Path, str]) -> list[str]:
    """Markers naming no table or left unclosed, and tables no page shows."""
    problems, shown = [], set()
    for page, text in pages.items():
        closed = {match.group("name") for match in MARKER.finditer(text)}
        for name in OPENING.findall(text):
            if name not in TABLES:
                problems.append(f"{page}: no table is called {name!r} (known: {', '.join(TABLES)})")
            elif name not in closed:
                problems.append(f"{page}: table {name!r} has no closing <!-- /table:{name} -->")
        shown |= closed
    problems += [f"table {name!r} is on no page of docs/" for name in TABLES if name not in shown]
    return problems


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or, with --check, compare) the tables; 1 when something is out of date or wrong."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a table is out of date")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout holding docs/ and extras/")
    args = parser.parse_args(argv)
    pages = {page: page.read_text() for page in sorted((args.root / "docs").rglob("*.md"))}
    problems = problems_with_markers(pages)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    stale = []
    for page, text in pages.items():
        new = updated_page(text, args.root / "extras")
        if new != text:
            stale.append(page)
            if not args.check:
                page.write_text(new)
    if args.check and stale:
        print("out of date: " + ", ".join(str(page.relative_to(args.root)) for page in stale)
              + "; run python extras/docs_tables.py", file=sys.stderr)
        return 1
    for page in stale:
        print(f"wrote {page.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
