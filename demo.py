"""A local web page over the engine: upload a video, choose a model, get the heatmap overlay with its sound, the
maps as a zip, a reframed cut and its crop path.

    python demo.py --file_weight AViNet_DIEM.pt ViNet_DHF1K.pt     # then open http://127.0.0.1:7860

Each --file_weight is one model on the page (W1,W2: one ensemble, as ViNet-E); the checkpoint names its model.
Without weights, --untrained offers the untrained AViNet and ViNet (for testing the page) and says so. The
models are built once at start-up;
jobs queue and run one at a time, through the scripts' engine: inference.maps_of_video makes the maps,
inference.write_overlay the overlay (the one generate_result_audio_visual.py --overlay writes) and reframe.py
crops from those maps (no second model run). A video is probed before any model time: an unreadable file, one
longer than --max_seconds or a silent one for an audio-visual model gets a message on the page.
Needs the packages of requirements-demo.txt (extras/install_demo.sh installs them).
"""
import argparse
import logging
import shutil
import signal
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

try:
    import gradio as gr
except ModuleNotFoundError as missing:  # the core install leaves the demo's packages out
    sys.stderr.write(f"error: demo.py needs {missing.name}: run extras/install_demo.sh "
                     "(pip install -r requirements-demo.txt)\n")
    sys.exit(2)

import inference
import reframe
from media import VideoInfo, probe_video
from registry import MODELS
from utils import ArgumentParser, InputError, atomic_path, number_flag

log = logging.getLogger("demo")
SAMPLE = Path(__file__).resolve().parent / "extras" / "sample.mp4"
ASPECTS = ("9:16", "4:5", "1:1", "16:9")
OVERLAY, MAPS_ZIP = "heatmap overlay (with sound)", "maps (zip)"
REFRAMED, PATH_JSON = "reframed cut", "crop path (JSON)"
OUTPUTS = (OVERLAY, MAPS_ZIP, REFRAMED, PATH_JSON)
UNTRAINED_MODELS = ("avinet", "vinet")   # offered when no --file_weight is given
UNTRAINED_NOTE = "untrained: the maps mean nothing"
VIDEO_HEIGHT = 300   # pixels: the page's video players


@dataclass
class Choice:
    """A model the page offers: the engine's predictor, built once, and whether its weights are trained."""

    predictor: inference.Predictor
    trained: bool


def load_choices(file_weights: list[str] | None, frame_size: tuple[int, int] | None,
                 settings: inference.Settings, backend: str = "torch") -> dict[str, Choice]:
    """The page's models by label, run by `backend`: one per checkpoint (W1,W2: an ensemble), named by its model
    and file; without checkpoints the untrained AViNet and ViNet, labelled as such. InputError for a bad file."""
    if not file_weights:
        entries = [MODELS[name].configured(frame_size) for name in UNTRAINED_MODELS]
        return {f"{entry.label} ({UNTRAINED_NOTE})":
                Choice(inference.build_predictor(None, entry, frame_size, settings, backend=backend), trained=False)
                for entry in entries}
    choices = {}
    for weights in file_weights:
        paths = weights.split(",")
        predictor = inference.build_predictor(paths, None, frame_size, settings, backend=backend)
        choices[f"{predictor.entry.label}: {', '.join(Path(p).name for p in paths)}"] = Choice(predictor, True)
    return choices


def zip_maps(maps_dir: Path, target: Path) -> Path:
    """The maps in one zip under the video's name (stored: PNGs are compressed already), written atomically."""
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for map_path in sorted(maps_dir.glob("[!.]*")):
            archive.write(map_path, f"{maps_dir.name}/{map_path.name}")
    return target


def reframe_from_maps(video: Path, maps_dir: Path, aspect: str, job_dir: Path,
                      with_path: bool) -> tuple[Path, Path | None]:
    """The reframed cut at `aspect` from the maps already made (and its crop path JSON when asked)."""
    name = f"{video.stem}_{aspect.replace(':', 'x')}"
    cut, path_json = job_dir / f"{name}.mp4", job_dir / f"{name}_path.json"
    reframe.reframe_video(video, maps_dir, cut, reframe.ReframeOptions(aspect), path_json if with_path else None)
    return cut, path_json if with_path else None


class DemoJobs:
    """Runs the page's jobs (one at a time: the queue sees to it) in a work folder that keeps the last job."""

    def __init__(self, choices: dict[str, Choice], settings: inference.Settings, max_seconds: float, work_dir: Path):
        self.choices, self.settings, self.max_seconds, self.work_dir = choices, settings, max_seconds, work_dir

    def check_video(self, video: str | None, choice: Choice) -> VideoInfo:
        """The probe of the uploaded video; gr.Error for none, an unreadable one, a too long one, or a silent one
        for a model that hears."""
        if not video:
            raise gr.Error("Upload a video first, or pick the bundled sample under the upload box.")
        try:
            info = probe_video(video)
        except InputError as error:
            raise gr.Error(f"Cannot use this file: {error}") from error
        seconds = info.num_frames / info.fps
        if seconds > self.max_seconds:
            raise gr.Error(f"The video lasts {seconds:.1f} s; this page takes videos up to {self.max_seconds:g} s "
                           "(demo.py --max_seconds). Trim it, or run generate_result_audio_visual.py --video on it.")
        if choice.predictor.entry.takes_audio and not info.has_audio:
            raise gr.Error(f"This video has no audio track, and {choice.predictor.entry.label} hears the sound: "
                           "choose a ViNet model, or a video with sound.")
        return info

    def new_job_dir(self) -> Path:
        """A fresh folder for a job; the previous job's is removed (the page has its own copies by now)."""
        for old in self.work_dir.iterdir():
            shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.work_dir, prefix="job."))

    def run(self, video: str | None, label: str, wanted: list[str], aspect: str,
            progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[str | None, ...]:  # noqa: B008 (gradio reads it)
        """One job for the page: (overlay, maps zip, reframed cut, crop path JSON, status line); gr.Error
        for bad input, before any model time when the probe shows it."""
        if label not in self.choices or not wanted or aspect not in ASPECTS:
            raise gr.Error("Choose a model, at least one output and an aspect ratio.")
        choice = self.choices[label]
        info = self.check_video(video, choice)
        if not choice.trained:
            gr.Warning(f"{label}: give demo.py --file_weight for real maps.")
        started = time.monotonic()
        try:
            files = self.make_outputs(info, choice, set(wanted), aspect, progress)
        except InputError as error:
            raise gr.Error(str(error)) from error
        status = (f"**{label}** on {info.path.name}: {info.num_frames} frames of {info.size[0]}x{info.size[1]} "
                  f"at {info.fps:g} fps, done in {time.monotonic() - started:.1f} s.")
        return (*(str(path) if path else None for path in files), status)

    def make_outputs(self, info: VideoInfo, choice: Choice, wanted: set[str], aspect: str,
                     progress: gr.Progress) -> tuple[Path | None, Path | None, Path | None, Path | None]:
        """The maps by the engine, then the outputs wanted from them: (overlay, maps zip, cut, crop path)."""
        job_dir = self.new_job_dir()
        progress(0, desc="saliency maps")
        maps_dir = inference.maps_of_video(info.path, job_dir / "maps", choice.predictor, self.settings)
        overlay = maps_zip = cut = path_json = None
        if OVERLAY in wanted:
            progress(0.9, desc="overlay")
            overlay = job_dir / f"{info.path.stem}_overlay.mp4"
            inference.write_overlay(inference.video_file(info.path), maps_dir, overlay)
        if MAPS_ZIP in wanted:
            maps_zip = zip_maps(maps_dir, job_dir / f"{info.path.stem}_maps.zip")
        if REFRAMED in wanted or PATH_JSON in wanted:
            progress(0.95, desc="reframing")
            cut, path_json = reframe_from_maps(info.path, maps_dir, aspect, job_dir, PATH_JSON in wanted)
        return overlay, maps_zip, cut if REFRAMED in wanted else None, path_json


def build_page(jobs: DemoJobs) -> gr.Blocks:
    """The page: the video, model, outputs and aspect ratio on the left, the results on the right."""
    with gr.Blocks(title="ViNet / AViNet saliency", analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.Markdown("## ViNet / AViNet video saliency\nWhere people look, frame by frame: upload a video (or pick "
                    "the bundled sample), choose a model and the outputs, then **Run**.")
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="video", sources=["upload"], height=VIDEO_HEIGHT, elem_id="source")
                gr.Examples([[str(SAMPLE)]], inputs=[video], label="bundled sample (2 s, two discs, one heard)")
                model = gr.Dropdown(list(jobs.choices), value=next(iter(jobs.choices)), label="model")
                if not all(choice.trained for choice in jobs.choices.values()):
                    gr.Markdown("**Untrained weights**: their maps mean nothing. Start `python demo.py --file_weight "
                                "W` with a checkpoint for real maps.")
                wanted = gr.CheckboxGroup(list(OUTPUTS), value=list(OUTPUTS), label="outputs")
                aspect = gr.Radio(list(ASPECTS), value=ASPECTS[0], label="reframe to (width:height)")
                run = gr.Button("Run", variant="primary", elem_id="run")
            with gr.Column():
                status = gr.Markdown(elem_id="status")
                with gr.Row():
                    overlay = gr.Video(label="heatmap overlay", interactive=False, height=VIDEO_HEIGHT, scale=2,
                                       elem_id="overlay")
                    cut = gr.Video(label="reframed cut", interactive=False, height=VIDEO_HEIGHT, elem_id="reframed")
                with gr.Row():
                    maps_zip = gr.File(label="maps (zip)", elem_id="maps")
                    path_json = gr.File(label="crop path (JSON)", elem_id="path")
        run.click(jobs.run, [video, model, wanted, aspect], [overlay, maps_zip, cut, path_json, status])
    return page


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """demo.py's flags."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file_weight", default=None, nargs="+", metavar="W",
                        help="checkpoints, one model each on the page (W1,W2: an ensemble)")
    parser.add_argument("--untrained", action="store_true",
                        help="without --file_weight: offer the untrained AViNet and ViNet (their maps mean nothing)")
    inference.add_frame_size_argument(parser)
    parser.add_argument("--port", default=7860, type=number_flag(int, 1, 65535), help="the page's port (default 7860)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: the whole network)")
    parser.add_argument("--max_seconds", default=60.0, type=number_flag(float, 0, above=True),
                        help="longest video accepted, in seconds")
    parser.add_argument("--max_upload", default="500mb", help="largest upload accepted (gradio's max_file_size)")
    inference.add_run_arguments(parser)
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """InputError for flags that do not go together."""
    if bool(args.file_weight) == bool(args.untrained):
        raise InputError("give --file_weight W (one model per checkpoint) or --untrained (the untrained AViNet and "
                         "ViNet, whose maps mean nothing), one of the two")


def main(argv: list[str] | None = None) -> int:
    """Build the models, then serve the page until interrupted; 2 after one line for bad flags or weights."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)   # gradio's start-up checks, one line per request
    try:
        args = parse_args(argv)
        check_args(args)
        backend = inference.backend_name(args.backend, None)
        settings = inference.make_settings(args.device, args.batch_size, args.precision, backend=backend)
        choices = load_choices(args.file_weight, tuple(args.frame_size) if args.frame_size else None, settings,
                               backend)
    except InputError as error:
        log.error("error: %s", error)
        return 2
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a terminated server shuts down as on Ctrl+C
    with tempfile.TemporaryDirectory(prefix="vinet-demo.") as work_dir:
        page = build_page(DemoJobs(choices, settings, args.max_seconds, Path(work_dir)))
        page.queue(default_concurrency_limit=1)   # one job at a time; the others wait in line
        try:
            page.launch(server_name=args.host, server_port=args.port, allowed_paths=[str(SAMPLE), work_dir],
                        max_file_size=args.max_upload, footer_links=["gradio"])
        except OSError as error:
            log.error("error: cannot serve on %s:%d: %s", args.host, args.port, error)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
