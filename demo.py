"""A local web page over the engine: upload a video, choose a model, get a reframed cut with its crop path and
debug video, the heatmap overlay with its sound and the maps as a zip.

    python demo.py --file_weight AViNet_DIEM.pt ViNet_DHF1K.pt     # then open http://127.0.0.1:7860

Each --file_weight is one model on the page (W1,W2: one ensemble, as ViNet-E); the checkpoint names its model, and
the page names the licence of its released weights. Without weights, --untrained offers the untrained AViNet and
ViNet (for testing the page) and says so. The models are built once at start-up, and one window of each is timed
for the estimates.
Jobs queue and run one at a time, through the scripts' engine and reframe.py: the model runs on the frames the
outputs need (the cut and its path: the frames reframe.py analyses, --analysis_fps; the overlay and the maps:
every frame), and the maps stay for the next job on the same video and model, so another aspect ratio runs no
model. A video is probed before any model time: an unreadable file, one longer than --max_seconds or a silent
one for an audio-visual model gets a message on the page.
Needs the packages of requirements-demo.txt (extras/install_demo.sh installs them).
"""
import argparse
import logging
import signal
import sys
import tempfile
from pathlib import Path

try:
    import gradio as gr
except ModuleNotFoundError as missing:  # the core install leaves the demo's packages out
    sys.stderr.write(f"error: demo.py needs {missing.name}: run extras/install_demo.sh "
                     "(pip install -r requirements-demo.txt)\n")
    sys.exit(2)

from synthetic import SAMPLE_VIDEO
from utils import ArgumentParser, InputError, number_flag
from vinet.cli import add_frame_size_flag, add_run_flags, run_main, run_options
from vinet.demo_jobs import ASPECTS, DEFAULT_OUTPUTS, OUTPUTS, Choice, DemoJobs, load_choices
from vinet.reframing.options import FITS, ReframeOptions

log = logging.getLogger("demo")
VIDEO_HEIGHT = 300                         # pixels: the page's video players


class PageJobs:
    """The jobs as the page runs them: with gradio's progress bar, bad input shown as gr.Error and an untrained
    model's warning as gr.Warning."""

    def __init__(self, jobs: DemoJobs):
        self.jobs = jobs

    def run(self, video: str | None, label: str, wanted: list[str], aspect: str, fit: str = ReframeOptions.fit,
            progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[str | None, ...]:  # noqa: B008 (gradio reads it)
        """One job for the page: (overlay, maps zip, reframed cut, crop path JSON, debug video, editor projects,
        status); gr.Error
        for bad input, before any model time when the probe shows it."""
        try:
            job = self.jobs.job(video, label, wanted, aspect, fit)
            if not job.choice.trained:
                gr.Warning(f"{label}: give demo.py --file_weight for real maps.")
            return self.jobs.run(job, progress)
        except InputError as error:
            raise gr.Error(str(error)) from error


def build_page(jobs: DemoJobs) -> gr.Blocks:
    """The page: the video, model, outputs, aspect ratio and fit on the left, the estimate and results right."""
    with gr.Blocks(title="ViNet / AViNet saliency", analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.Markdown("## ViNet / AViNet video saliency\nWhere people look, frame by frame: upload a video (or pick "
                    "the bundled sample), choose a model and the outputs, then **Run**.")
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="video", sources=["upload"], height=VIDEO_HEIGHT, elem_id="source")
                gr.Examples([[str(SAMPLE_VIDEO)]], inputs=[video], label="bundled sample (2 s, two discs, one heard)")
                model = gr.Dropdown(list(jobs.choices), value=next(iter(jobs.choices)), label="model (licence)",
                                    elem_id="model")
                if not all(choice.trained for choice in jobs.choices.values()):
                    gr.Markdown("**Untrained weights**: their maps mean nothing. Start `python demo.py --file_weight "
                                "W` with a checkpoint for real maps.")
                wanted = gr.CheckboxGroup(list(OUTPUTS), value=list(DEFAULT_OUTPUTS), label="outputs (the overlay "
                                          "and the maps need every frame's map: the model runs about 5 times longer)",
                                          elem_id="outputs")
                aspect = gr.Radio(list(ASPECTS), value=ASPECTS[0], label="reframe to (width:height)", elem_id="aspect")
                fit = gr.Radio(list(FITS), value=ReframeOptions.fit, label="fit: crop, pad (show "
                               "whole what a crop cannot hold, over a blurred copy), auto (pad where a crop loses "
                               "too much)", elem_id="fit")
                run = gr.Button("Run", variant="primary", elem_id="run")
            with gr.Column():
                estimate = gr.Markdown(elem_id="estimate")
                status = gr.Markdown(elem_id="status")
                with gr.Row():
                    cut = gr.Video(label="reframed cut", interactive=False, height=VIDEO_HEIGHT, elem_id="reframed")
                    debug = gr.Video(label="debug video", interactive=False, height=VIDEO_HEIGHT, scale=2,
                                     elem_id="debug")
                overlay = gr.Video(label="heatmap overlay", interactive=False, height=VIDEO_HEIGHT, elem_id="overlay")
                with gr.Row():
                    path_json = gr.File(label="crop path (JSON)", elem_id="path")
                    maps_zip = gr.File(label="maps (zip)", elem_id="maps")
                projects = gr.File(label="editor projects: open the .mlt in Shotcut or Kdenlive, import the .fcpxml "
                                   "in Final Cut Pro or DaVinci Resolve", file_count="multiple", elem_id="editors")
        for control in (video, model, wanted):
            control.change(jobs.describe, [video, model, wanted], estimate)
        run.click(PageJobs(jobs).run, [video, model, wanted, aspect, fit],
                  [overlay, maps_zip, cut, path_json, debug, projects, status]) \
            .then(jobs.describe, [video, model, wanted], estimate)
    return page


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """demo.py's flags."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file_weight", default=None, nargs="+", metavar="W",
                        help="checkpoints, one model each on the page (W1,W2: an ensemble)")
    parser.add_argument("--untrained", action="store_true",
                        help="without --file_weight: offer the untrained AViNet and ViNet (their maps mean nothing)")
    add_frame_size_flag(parser)
    parser.add_argument("--port", default=7860, type=number_flag(int, 1, 65535), help="the page's port (default 7860)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: the whole network)")
    parser.add_argument("--max_seconds", default=60.0, type=number_flag(float, 0, above=True),
                        help="longest video accepted, in seconds")
    parser.add_argument("--max_upload", default="500mb", help="largest upload accepted (gradio's max_file_size)")
    add_run_flags(parser)
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """InputError for flags that do not go together."""
    if bool(args.file_weight) == bool(args.untrained):
        raise InputError("give --file_weight W (one model per checkpoint) or --untrained (the untrained AViNet and "
                         "ViNet, whose maps mean nothing), one of the two")


def main(argv: list[str] | None = None) -> int:
    """Build the models, then serve the page until interrupted; 2 after one line for bad flags or weights."""
    logging.getLogger("httpx").setLevel(logging.WARNING)   # gradio's start-up checks, one line per request

    def body() -> int:
        args = parse_args(argv)
        check_args(args)
        choices = load_choices(args.file_weight, tuple(args.frame_size) if args.frame_size else None,
                               run_options(args))
        return serve(args, choices)
    return run_main(body, log)


def serve(args: argparse.Namespace, choices: dict[str, Choice]) -> int:
    """The page over `choices` until interrupted; 2 after one line when the port cannot be served."""
    for stop in (signal.SIGINT, signal.SIGTERM):   # Ctrl+C and kill shut the server down, even where a shell
        signal.signal(stop, signal.default_int_handler)   # started it in the background with SIGINT ignored
    with tempfile.TemporaryDirectory(prefix="vinet-demo.") as work_dir:
        page = build_page(DemoJobs(choices, args.max_seconds, Path(work_dir)))
        page.queue(default_concurrency_limit=1)   # one job at a time; the others wait in line
        try:
            page.launch(server_name=args.host, server_port=args.port, allowed_paths=[str(SAMPLE_VIDEO), work_dir],
                        max_file_size=args.max_upload, footer_links=["gradio"])
        except OSError as error:
            log.error("error: cannot serve on %s:%d: %s", args.host, args.port, error)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
