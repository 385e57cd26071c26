"""The demo page's jobs, without the page: the models it offers (built once, one window of each timed for the
estimates), the checks of an uploaded video before any model time, and the outputs of a job (the maps by the
engine, the overlay, the maps' zip, the cut by reframing), with the maps and scenes of the last video and model
kept for the next job. Bad input is an InputError, progress goes to a callback: demo.py shows both on the page."""
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from media import VideoInfo, probe_video
from utils import InputError, atomic_path, audio_buffer_length
from vinet.engine.overlay import write_overlay
from vinet.engine.predictor import Predictor
from vinet.engine.run import maps_of_video
from vinet.engine.sources import video_file
from vinet.loading import ModelOptions, RunOptions, load_predictor
from vinet.reframing.options import DEFAULT_ANALYSIS_FPS, EXPORT_SUFFIXES, FITS, ReframeOptions
from vinet.reframing.pipeline import reframe_video
from vinet.reframing.scenes import Scene, analysed_frames, find_scenes

ASPECTS = ("9:16", "4:5", "1:1", "16:9")
OVERLAY, MAPS_ZIP = "heatmap overlay (with sound)", "maps (zip)"
REFRAMED, PATH_JSON, DEBUG = "reframed cut", "crop path (JSON)", "debug video (heatmap, crop box)"
EDITORS = "editor projects (.mlt for Shotcut/Kdenlive, .fcpxml for Final Cut/Resolve)"
OUTPUTS = (REFRAMED, PATH_JSON, DEBUG, EDITORS, OVERLAY, MAPS_ZIP)
DEFAULT_OUTPUTS = (REFRAMED, PATH_JSON, DEBUG)
EVERY_FRAME = (OVERLAY, MAPS_ZIP)          # outputs that need every frame's map
UNTRAINED_MODELS = ("avinet", "vinet")     # offered when no --file_weight is given
UNTRAINED_NOTE = "untrained: the maps mean nothing"
PASS_SECONDS = 0.01   # seconds per megapixel of a frame for each pass over the video (decoding, scenes, writing)
Progress = Callable[..., object]   # called as progress(fraction, desc=text), as gradio's gr.Progress is


@dataclass
class Choice:
    """A model the page offers: the engine's predictor, built once, whether its weights are trained, and the
    seconds one window takes here (timed at start-up, then measured by each job)."""

    predictor: Predictor
    trained: bool
    window_seconds: float = 0.0


def time_window(predictor: Predictor) -> float:
    """Seconds per window of the model here: one batch of blank windows, timed after a first untimed one."""
    batch, device = predictor.settings.batch_size, predictor.settings.device
    inputs = [torch.zeros(batch, 3, part.clip_length, *part.frame_size, device=device)
              for part in predictor.entry.parts]
    if predictor.entry.takes_audio:
        inputs.append(torch.zeros(batch, 1, audio_buffer_length(predictor.entry.clip_length), 1, device=device))
    predictor.backend(inputs)
    started = time.perf_counter()
    predictor.backend(inputs)
    return (time.perf_counter() - started) / batch


def load_choices(file_weights: list[str] | None, frame_size: tuple[int, int] | None,
                 run: RunOptions) -> dict[str, Choice]:
    """The page's models by label, run as `run` says: one per checkpoint (W1,W2: an ensemble), named by its model,
    its files and the licence of its released weights; without checkpoints the untrained AViNet and ViNet,
    labelled as such. InputError for a bad file or bad settings."""
    choices = {}
    if not file_weights:
        for name in UNTRAINED_MODELS:
            predictor = load_predictor(ModelOptions(model=name, untrained=True, frame_size=frame_size), run)
            choices[f"{predictor.entry.label} ({UNTRAINED_NOTE})"] = Choice(predictor, trained=False)
    for weights in file_weights or []:
        paths = weights.split(",")
        predictor = load_predictor(ModelOptions(file_weight=paths, frame_size=frame_size), run)
        label = f"{predictor.entry.label}: {', '.join(Path(p).name for p in paths)}"
        choices[f"{label} (released weights: {predictor.entry.licence})"] = Choice(predictor, True)
    for choice in choices.values():
        choice.window_seconds = time_window(choice.predictor)
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


def video_key(info: VideoInfo) -> tuple:
    """What identifies a video file between jobs: its path, size and modification time."""
    stat = info.path.stat()
    return str(info.path.resolve()), stat.st_size, stat.st_mtime_ns


class DemoJobs:
    """Runs the page's jobs (one at a time: the page's queue sees to it) in a work folder that keeps the last job's
    outputs, and the scenes and maps of the last video and model for the next job."""

    def __init__(self, choices: dict[str, Choice], max_seconds: float, work_dir: Path):
        self.choices, self.max_seconds, self.work_dir = choices, max_seconds, work_dir
        self.scenes: tuple[tuple, list[Scene]] | None = None   # (video key, scenes)
        self.maps: tuple[tuple, Path] | None = None             # (video key and label, maps folder)

    def check_video(self, video: str | None, choice: Choice) -> VideoInfo:
        """The probe of the uploaded video; InputError for none, an unreadable one, a too long one, or a silent one
        for a model that hears."""
        if not video:
            raise InputError("Upload a video first, or pick the bundled sample under the upload box.")
        try:
            info = probe_video(video)
        except InputError as error:
            raise InputError(f"Cannot use this file: {error}") from error
        seconds = info.num_frames / info.fps
        if seconds > self.max_seconds:
            raise InputError(f"The video lasts {seconds:.1f} s; this page takes videos up to {self.max_seconds:g} s "
                             "(demo.py --max_seconds). Trim it, or run reframe.py on it.")
        if choice.predictor.entry.takes_audio and not info.has_audio:
            raise InputError(f"This video has no audio track, and {choice.predictor.entry.label} hears the sound: "
                             "choose a ViNet model, or a video with sound.")
        return info

    def job(self, video: str | None, label: str, wanted: list[str], aspect: str,
            fit: str = ReframeOptions.fit) -> Job:
        """The job the page's choices ask for; InputError for bad input, before any model time when the probe
        shows it."""
        if label not in self.choices or not wanted or aspect not in ASPECTS or fit not in FITS:
            raise InputError("Choose a model, at least one output, an aspect ratio and a fit.")
        choice = self.choices[label]
        return Job(self.check_video(video, choice), label, choice, set(wanted), aspect, fit)

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

    def run(self, job: Job, progress: Progress) -> tuple[str | None, ...]:
        """One job: (overlay, maps zip, reframed cut, crop path JSON, debug video, editor projects (a list), status);
        InputError for input the engine refuses (a failed cut is told in the status: the outputs made stay)."""
        started, estimate = time.monotonic(), self.estimate(job)
        files, windows, line = self.make_outputs(job, progress, f"about {duration(estimate)} in all")
        info = job.info
        status = (f"**{job.label}** on {info.path.name}: {info.num_frames} frames of {info.size[0]}x{info.size[1]} "
                  f"at {info.fps:g} fps, {job.aspect} ({job.fit}); {windows} model windows run; done in "
                  f"{time.monotonic() - started:.1f} s (estimated {duration(estimate)}).")
        damage = f"\n\nDamaged file: {info.damage.line()}" if info.damage else ""
        *files, projects = files
        return (*(str(path) if path else None for path in files), [str(path) for path in projects] or None,
                status + (f"\n\n{line}" if line else "") + damage)

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
        maps_dir = maps_of_video(job.info, folder, job.choice.predictor, frames=frames)
        windows = sum(1 for _ in maps_dir.glob("[!.]*")) - before
        if windows:
            job.choice.window_seconds = (time.perf_counter() - started) / windows
        return maps_dir, windows

    def make_outputs(self, job: Job, progress: Progress, estimate: str) -> tuple[tuple, int, str]:
        """The scenes and maps, then the outputs wanted: ((overlay, maps zip, cut, crop path, debug video, editor
        projects), model windows run, reframe.py's summary line)."""
        job_dir, reframing = self.new_job_dir(), bool(job.wanted & {REFRAMED, PATH_JSON, DEBUG, EDITORS})
        progress(0, desc=f"scenes ({estimate})")
        scenes = self.video_scenes(job) if reframing else None
        progress(0.1, desc=f"saliency maps ({estimate})")
        maps_dir, windows = self.job_maps(job, scenes)
        stem, overlay, maps_zip, line = job.info.path.stem, None, None, ""
        if OVERLAY in job.wanted:
            progress(0.8, desc="overlay")
            overlay = job_dir / f"{stem}_overlay.mp4"
            write_overlay(video_file(job.info.path), maps_dir, overlay)
        if MAPS_ZIP in job.wanted:
            maps_zip = zip_maps(maps_dir, job_dir / f"{stem}_maps.zip")
        name = job_dir / f"{stem}_{job.aspect.replace(':', 'x')}"
        cut, path_json, debug = (Path(f"{name}{suffix}") for suffix in (".mp4", "_path.json", "_debug.mp4"))
        projects = [Path(f"{name}{suffix}") for suffix in EXPORT_SUFFIXES] if EDITORS in job.wanted else []
        if reframing:
            progress(0.9, desc="reframing")
            options = ReframeOptions(job.aspect, fit=job.fit)
            try:
                line = reframe_video(job.info, maps_dir, cut, options,
                                     path_json if PATH_JSON in job.wanted else None,
                                     debug if DEBUG in job.wanted else None, scenes, projects)
            except InputError as error:   # the overlay and maps made stay on the page
                line = f"**Reframing failed**: {error}"
        kept = (path if wanted in job.wanted and path.is_file() else None for path, wanted in
                ((cut, REFRAMED), (path_json, PATH_JSON), (debug, DEBUG)))
        return (overlay, maps_zip, *kept, [path for path in projects if path.is_file()]), windows, line

    def new_job_dir(self) -> Path:
        """A fresh folder for a job; the previous job's is removed (the page has its own copies by now)."""
        for old in self.work_dir.glob("job.*"):
            shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.work_dir, prefix="job."))
