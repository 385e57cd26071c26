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

import torch

import inference
from media import VideoInfo, probe_video
from registry import MODELS
from utils import ArgumentParser, InputError, atomic_path, audio_buffer_length, number_flag
from vinet.reframing.options import DEFAULT_ANALYSIS_FPS, FITS, ReframeOptions
from vinet.reframing.pipeline import reframe_video
from vinet.reframing.scenes import Scene, analysed_frames, find_scenes

log = logging.getLogger("demo")
SAMPLE = Path(__file__).resolve().parent / "extras" / "sample.mp4"
ASPECTS = ("9:16", "4:5", "1:1", "16:9")
OVERLAY, MAPS_ZIP = "heatmap overlay (with sound)", "maps (zip)"
REFRAMED, PATH_JSON, DEBUG = "reframed cut", "crop path (JSON)", "debug video (heatmap, crop box)"
OUTPUTS = (REFRAMED, PATH_JSON, DEBUG, OVERLAY, MAPS_ZIP)
DEFAULT_OUTPUTS = (REFRAMED, PATH_JSON, DEBUG)
EVERY_FRAME = (OVERLAY, MAPS_ZIP)          # outputs that need every frame's map
UNTRAINED_MODELS = ("avinet", "vinet")     # offered when no --file_weight is given
UNTRAINED_NOTE = "untrained: the maps mean nothing"
VIDEO_HEIGHT = 300                         # pixels: the page's video players
PASS_SECONDS = 0.01   # seconds per megapixel of a frame for each pass over the video (decoding, scenes, writing)


@dataclass
class Choice:
    """A model the page offers: the engine's predictor, built once, whether its weights are trained, and the
    seconds one window takes here (timed at start-up, then measured by each job)."""

    predictor: inference.Predictor
    trained: bool
    window_seconds: float = 0.0


def time_window(predictor: inference.Predictor, settings: inference.Settings) -> float:
    """Seconds per window of the model here: one batch of blank windows, timed after a first untimed one."""
    batch = settings.batch_size
    inputs = [torch.zeros(batch, 3, part.clip_length, *part.frame_size, device=settings.device)
              for part in predictor.entry.parts]
    if predictor.entry.takes_audio:
        inputs.append(torch.zeros(batch, 1, audio_buffer_length(predictor.entry.clip_length), 1,
                                  device=settings.device))
    predictor.backend(inputs)
    started = time.perf_counter()
    predictor.backend(inputs)
    return (time.perf_counter() - started) / batch


def load_choices(file_weights: list[str] | None, frame_size: tuple[int, int] | None,
                 settings: inference.Settings, backend: str = "torch") -> dict[str, Choice]:
    """The page's models by label, run by `backend`: one per checkpoint (W1,W2: an ensemble), named by its model,
    its files and the licence of its released weights; without checkpoints the untrained AViNet and ViNet,
    labelled as such. InputError for a bad file."""
    choices = {}
    if not file_weights:
        for entry in (MODELS[name].configured(frame_size) for name in UNTRAINED_MODELS):
            choices[f"{entry.label} ({UNTRAINED_NOTE})"] = Choice(
                inference.build_predictor(None, entry, frame_size, settings, backend=backend), trained=False)
    for weights in file_weights or []:
        paths = weights.split(",")
        predictor = inference.build_predictor(paths, None, frame_size, settings, backend=backend)
        label = f"{predictor.entry.label}: {', '.join(Path(p).name for p in paths)}"
        choices[f"{label} (released weights: {predictor.entry.licence})"] = Choice(predictor, True)
    for choice in choices.values():
        choice.window_seconds = time_window(choice.predictor, settings)
    return choices


def zip_maps(maps_dir: Path, target: Path) -> Path:
    """The maps in one zip under the video's name (stored: PNGs are compressed already), written atomically."""
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for map_path in sorted(maps_dir.glob("[!.]*")):
            archive.write(map_path, f"{maps_dir.name}/{map_path.name}")
    return target


def duration(seconds: float) -> str:
    """'2 min 05 s' or '40 s'."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


@dataclass
class Job:
    """What a job asks for: the video, the model, the outputs, the aspect ratio and the fit."""

    info: VideoInfo
    label: str
    choice: Choice
    wanted: set[str]
    aspect: str
    fit: str

    @property
    def every_frame(self) -> bool:
        """Whether an output needs every frame's map."""
        return bool(self.wanted & set(EVERY_FRAME))


class DemoJobs:
    """Runs the page's jobs (one at a time: the queue sees to it) in a work folder that keeps the last job's
    outputs, and the scenes and maps of the last video and model for the next job."""

    def __init__(self, choices: dict[str, Choice], settings: inference.Settings, max_seconds: float, work_dir: Path):
        self.choices, self.settings, self.max_seconds, self.work_dir = choices, settings, max_seconds, work_dir
        self.scenes: tuple[tuple, list[Scene]] | None = None   # (video key, scenes)
        self.maps: tuple[tuple, Path] | None = None             # (video key and label, maps folder)

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
                           "(demo.py --max_seconds). Trim it, or run reframe.py on it.")
        if choice.predictor.entry.takes_audio and not info.has_audio:
            raise gr.Error(f"This video has no audio track, and {choice.predictor.entry.label} hears the sound: "
                           "choose a ViNet model, or a video with sound.")
        return info

    def maps_folder(self, job: Job) -> Path:
        """The maps folder of the job's video and model: the last job's when they are the same, else a fresh one."""
        key = (*video_key(job.info), job.label)
        if self.maps is None or self.maps[0] != key:
            if self.maps is not None:
                shutil.rmtree(self.maps[1], ignore_errors=True)
            self.maps = key, Path(tempfile.mkdtemp(dir=self.work_dir, prefix="maps."))
        return self.maps[1]

    def windows_to_run(self, job: Job) -> int:
        """The model windows the job will run: the frames its outputs need, less the maps already made (about:
        before the cuts are known, a sampled analysis is counted as one scene)."""
        info = job.info
        needed = info.num_frames if job.every_frame else len(analysed_frames(
            [Scene(0, info.num_frames - 1, (0, 0, *info.size))], info.fps, DEFAULT_ANALYSIS_FPS))
        same = self.maps is not None and self.maps[0] == (*video_key(info), job.label)
        return max(0, needed - (sum(1 for _ in self.maps[1].glob("*/[!.]*")) if same else 0))

    def estimate(self, job: Job) -> float:
        """Seconds the job should take here: its model windows at the model's measured pace, and its passes
        over the video at PASS_SECONDS per megapixel-frame."""
        windows = self.windows_to_run(job)
        same_video = self.scenes is not None and self.scenes[0] == video_key(job.info)
        passes = (windows > 0) + (not same_video) + len(job.wanted & {REFRAMED, DEBUG, OVERLAY})
        megapixels = job.info.size[0] * job.info.size[1] / 1e6
        return windows * job.choice.window_seconds + passes * job.info.num_frames * megapixels * PASS_SECONDS

    def describe(self, video: str | None, label: str, wanted: list[str]) -> str:
        """The estimate the page shows before a job ('' until a video and a model are chosen)."""
        if not video or label not in self.choices:
            return ""
        try:
            info = probe_video(video)
        except InputError:
            return ""
        job = Job(info, label, self.choices[label], set(wanted), ASPECTS[0], ReframeOptions.fit)
        return (f"Estimated time: about **{duration(self.estimate(job))}** here ({self.windows_to_run(job)} model "
                f"windows at {self.choices[label].window_seconds:.2f} s each, and {info.num_frames} frames to "
                "decode and write).")

    def run(self, video: str | None, label: str, wanted: list[str], aspect: str, fit: str = ReframeOptions.fit,
            progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[str | None, ...]:  # noqa: B008 (gradio reads it)
        """One job for the page: (overlay, maps zip, reframed cut, crop path JSON, debug video, status); gr.Error
        for bad input, before any model time when the probe shows it."""
        if label not in self.choices or not wanted or aspect not in ASPECTS or fit not in FITS:
            raise gr.Error("Choose a model, at least one output, an aspect ratio and a fit.")
        choice = self.choices[label]
        job = Job(self.check_video(video, choice), label, choice, set(wanted), aspect, fit)
        if not choice.trained:
            gr.Warning(f"{label}: give demo.py --file_weight for real maps.")
        started, estimate = time.monotonic(), self.estimate(job)
        try:
            files, windows, line = self.make_outputs(job, progress, f"about {duration(estimate)} in all")
        except InputError as error:
            raise gr.Error(str(error)) from error
        info = job.info
        status = (f"**{label}** on {info.path.name}: {info.num_frames} frames of {info.size[0]}x{info.size[1]} at "
                  f"{info.fps:g} fps, {aspect} ({fit}); {windows} model windows run; done in "
                  f"{time.monotonic() - started:.1f} s (estimated {duration(estimate)}).")
        return (*(str(path) if path else None for path in files), status + (f"\n\n{line}" if line else ""))

    def video_scenes(self, job: Job) -> list[Scene]:
        """The video's scenes, the last job's when it was the same video."""
        if self.scenes is None or self.scenes[0] != video_key(job.info):
            self.scenes = video_key(job.info), find_scenes(job.info, ReframeOptions())
        return self.scenes[1]

    def job_maps(self, job: Job, scenes: list[Scene] | None) -> tuple[Path, int]:
        """The maps the job needs (every frame's, or those of the frames reframe.py analyses in the scenes), made
        where missing (the engine keeps those on disk), and the windows run."""
        frames = None if job.every_frame else \
            set(analysed_frames(scenes, job.info.fps, DEFAULT_ANALYSIS_FPS))
        folder = self.maps_folder(job)
        before = sum(1 for _ in folder.glob("*/[!.]*"))
        started = time.perf_counter()
        maps_dir = inference.maps_of_video(job.info.path, folder, job.choice.predictor, self.settings,
                                             frames=frames)
        windows = sum(1 for _ in maps_dir.glob("[!.]*")) - before
        if windows:
            job.choice.window_seconds = (time.perf_counter() - started) / windows
        return maps_dir, windows

    def make_outputs(self, job: Job, progress: gr.Progress, estimate: str) -> tuple[tuple, int, str]:
        """The scenes and maps, then the outputs wanted: ((overlay, maps zip, cut, crop path, debug video),
        model windows run, reframe.py's summary line)."""
        job_dir, reframing = self.new_job_dir(), bool(job.wanted & {REFRAMED, PATH_JSON, DEBUG})
        progress(0, desc=f"scenes ({estimate})")
        scenes = self.video_scenes(job) if reframing else None
        progress(0.1, desc=f"saliency maps ({estimate})")
        maps_dir, windows = self.job_maps(job, scenes)
        stem, overlay, maps_zip, line = job.info.path.stem, None, None, ""
        if OVERLAY in job.wanted:
            progress(0.8, desc="overlay")
            overlay = job_dir / f"{stem}_overlay.mp4"
            inference.write_overlay(inference.video_file(job.info.path), maps_dir, overlay)
        if MAPS_ZIP in job.wanted:
            maps_zip = zip_maps(maps_dir, job_dir / f"{stem}_maps.zip")
        name = job_dir / f"{stem}_{job.aspect.replace(':', 'x')}"
        cut, path_json, debug = (Path(f"{name}{suffix}") for suffix in (".mp4", "_path.json", "_debug.mp4"))
        if reframing:
            progress(0.9, desc="reframing")
            options = ReframeOptions(job.aspect, fit=job.fit)
            try:
                line = reframe_video(job.info.path, maps_dir, cut, options,
                                     path_json if PATH_JSON in job.wanted else None,
                                     debug if DEBUG in job.wanted else None, scenes)
            except InputError as error:   # the overlay and maps made stay on the page
                line = f"**Reframing failed**: {error}"
        kept = (path if wanted in job.wanted and path.is_file() else None for path, wanted in
                ((cut, REFRAMED), (path_json, PATH_JSON), (debug, DEBUG)))
        return (overlay, maps_zip, *kept), windows, line

    def new_job_dir(self) -> Path:
        """A fresh folder for a job; the previous job's is removed (the page has its own copies by now)."""
        for old in self.work_dir.glob("job.*"):
            shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.work_dir, prefix="job."))


def video_key(info: VideoInfo) -> tuple:
    """What identifies a video file between jobs: its path, size and modification time."""
    stat = info.path.stat()
    return str(info.path.resolve()), stat.st_size, stat.st_mtime_ns


def build_page(jobs: DemoJobs) -> gr.Blocks:
    """The page: the video, model, outputs, aspect ratio and fit on the left, the estimate and results right."""
    with gr.Blocks(title="ViNet / AViNet saliency", analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.Markdown("## ViNet / AViNet video saliency\nWhere people look, frame by frame: upload a video (or pick "
                    "the bundled sample), choose a model and the outputs, then **Run**.")
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="video", sources=["upload"], height=VIDEO_HEIGHT, elem_id="source")
                gr.Examples([[str(SAMPLE)]], inputs=[video], label="bundled sample (2 s, two discs, one heard)")
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
        for control in (video, model, wanted):
            control.change(jobs.describe, [video, model, wanted], estimate)
        run.click(jobs.run, [video, model, wanted, aspect, fit], [overlay, maps_zip, cut, path_json, debug, status]) \
            .then(jobs.describe, [video, model, wanted], estimate)
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
    for stop in (signal.SIGINT, signal.SIGTERM):   # Ctrl+C and kill shut the server down, even where a shell
        signal.signal(stop, signal.default_int_handler)   # started it in the background with SIGINT ignored
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
