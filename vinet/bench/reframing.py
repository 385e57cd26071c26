"""--reframe: reframing against the clock with maps given, the sampled analysis (--analysis_fps) against the full
rate, and one minute of 720p through reframe.py, end to end, a row per path (the default, an int8 file, the
default before)."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from media import VideoWriter, probe_video
from synthetic import SAMPLE, SAMPLE_VIDEO, disc_paths, gaze_density, render_frames, sample_paths, soundtrack
from utils import AUDIO_RATE, CLIP_LENGTH, atomic_write_bytes, encode_map
from vinet.bench.commands import SCRIPTS
from vinet.bench.runtimes import graph_files
from vinet.bench.workload import contrasted_weights, video_workload

REFRAME_SIZE = (720, 1280)   # (height, width) of the reframing workloads
AGREEMENT_RATES = (2.0, 3.0, 4.0, 5.0, 6.25)   # --analysis_fps values compared with every frame's maps
AGREEMENT_TOLERANCE = 0.02                     # frames agree within this share of the width of the full rate's crop
AGREEMENT_SIZE = (180, 320)                    # (height, width) of the agreement videos
ONE_MINUTE = ["--device", "cpu", "--aspect", "9:16"]   # every one-minute run's flags, then its path's
# the one-minute runs, by path: W the checkpoint, INT8 its int8 file (export.py --int8)
ONE_MINUTE_PATHS = {"default, from a checkpoint": ["--file_weight", "W"],
                    "int8 file by OpenVINO": ["--onnx", "INT8", "--backend", "openvino"],
                    "PyTorch bf16 (the default before)": ["--file_weight", "W", "--backend", "torch", "--precision",
                                                          "bf16"]}


def write_disc_video(path: Path, scenes: list[np.ndarray], fps: float, height: int, width: int) -> None:
    """An H.264 + AAC video of discs along each scene's paths (N, K, 2), each scene on its own background (a cut
    between them), streamed frame by frame."""
    tone = soundtrack(np.concatenate(scenes), fps)[None]
    with VideoWriter(path, (width, height), fps=fps, waveform=tone, audio_rate=AUDIO_RATE, crf=20) as writer:
        index = 0
        for seed, paths in enumerate(scenes, start=11):
            for centres in paths:
                writer.write(render_frames(centres[None], height, width, seed=seed)[0], index)
                index += 1


def write_gaze_maps(folder: Path, watched: np.ndarray, height: int, width: int) -> None:
    """A map per frame, as the generate scripts write them: a Gaussian at each watched centre (N, 2)."""
    folder.mkdir(parents=True)
    for index, centre in enumerate(watched):
        density = gaze_density(centre[None, None], height, width)[0]
        atomic_write_bytes(folder / f"{index + 1:05d}.png", encode_map(np.round(density * 255).astype(np.uint8),
                                                                        ".png"))


def write_reframe_workload(folder: Path, seconds: float, fps: float, height: int, width: int) -> tuple[Path, Path]:
    """A synthetic video of two discs and its maps (a Gaussian at the watched one)."""
    paths = disc_paths(round(seconds * fps), height, width, seed=11)
    video, maps = folder / "reframe.mp4", folder / "reframe_maps"
    write_disc_video(video, [paths], fps, height, width)
    write_gaze_maps(maps, paths[:, 0], height, width)
    return video, maps


def agreement_videos(folder: Path, fps: float = 25.0, frames: int = 300) -> dict[str, tuple[Path, Path]]:
    """The agreement's test videos (12 s, 320x180) and their maps: a disc on a smooth random path; the same
    with maps 2% of the width off at random (a model's jitter); a disc crossing the frame every second; four
    scenes of other paths; the bundled sample (10 fps)."""
    height, width = AGREEMENT_SIZE
    smooth = disc_paths(frames, height, width, seed=11)
    noisy = smooth[:, 0] + np.random.default_rng(0).normal(0, 0.02 * width, (frames, 2))
    sweep = width * (0.5 + 0.4 * np.sin(np.pi * np.arange(frames) / fps))
    fast = np.stack([np.full(frames, height / 2), sweep], axis=1)[:, None]
    cuts = [disc_paths(frames // 4, height, width, seed=seed) for seed in range(4)]
    layouts = {"smooth": ([smooth], smooth[:, 0]), "noisy maps": ([smooth], noisy), "fast": ([fast], fast[:, 0]),
               "four scenes": (cuts, np.concatenate(cuts)[:, 0])}
    videos = {}
    for name, (scenes, watched) in layouts.items():
        video, maps = folder / f"{name.replace(' ', '_')}.mp4", folder / f"{name.replace(' ', '_')}_maps"
        write_disc_video(video, scenes, fps, height, width)
        write_gaze_maps(maps, watched, height, width)
        videos[name] = (video, maps)
    write_gaze_maps(folder / "sample_maps", sample_paths()[:, 0], SAMPLE.height, SAMPLE.width)
    videos["bundled sample"] = (SAMPLE_VIDEO, folder / "sample_maps")
    return videos


def agreement_rows(folder: Path, aspects: tuple[str, ...] = ("9:16", "1:1")) -> list[dict]:
    """Per test video, aspect and --analysis_fps: the share of frames whose crop is within AGREEMENT_TOLERANCE of
    the width of the full rate's, and the share of the full rate's model windows it needs."""
    # here: the other modes do not need PySceneDetect
    from vinet.reframing.options import ReframeOptions
    from vinet.reframing.plan import plan_video
    from vinet.reframing.profiles import list_maps
    from vinet.reframing.scenes import analysed_frames, find_scenes

    rows = []
    for name, (video, maps) in agreement_videos(folder).items():
        info = probe_video(video)
        for aspect in aspects:
            options = ReframeOptions(aspect)
            scenes = find_scenes(info, options)
            every = list_maps(maps, info)
            full = plan_video(scenes, every, info, options)
            for rate in AGREEMENT_RATES:
                picked = analysed_frames(scenes, info.fps, rate)
                plan = plan_video(scenes, {i: every[i] for i in picked}, info, options)
                offsets = [abs(plan.at(i).box(i)[0] - full.at(i).box(i)[0]) for i in range(info.num_frames)]
                rows.append({"video": name, "aspect": aspect, "analysis_fps": rate, "fps": info.fps,
                             "windows_share": len(picked) / info.num_frames,
                             "agreeing": float(np.mean(np.array(offsets) <= AGREEMENT_TOLERANCE * info.size[0])),
                             "max_offset_share": max(offsets) / info.size[0]})
    return rows


def stage_seconds(log_text: str) -> dict[str, float]:
    """The stage times reframe.py logs (scenes, model, reframing), in seconds."""
    found = {stage: re.search(rf"^{stage}: .*?([0-9.]+) s$", log_text, re.MULTILINE)
             for stage in ("scenes", "model", "reframing")}
    return {stage: float(match[1]) for stage, match in found.items() if match}


def one_minute_run(command: list[str]) -> dict:
    """One reframe.py process against the clock: its seconds, logged stages, windows, run line and the load."""
    load, start = os.getloadavg()[0], time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    total = time.perf_counter() - start
    return {"seconds": total, "stages": stage_seconds(result.stderr),
            "windows": int(re.search(r"^model: (\d+) of", result.stderr, re.MULTILINE)[1]),
            "run": re.search(r"^model: \S+ by (.*)$", result.stderr, re.MULTILINE)[1],
            "load_average": [load, os.getloadavg()[0]], "summary": result.stderr.strip().splitlines()[-1]}


def one_minute_report(tmp: Path, seconds: float = 60.0, fps: float = 25.0) -> dict:
    """reframe.py as a user runs it (a fresh process: imports, model, scenes, the model on the analysed frames,
    writing) on one minute of 25 fps 1280x720 video with ViNet-S on the CPU, a row per path (ONE_MINUTE_PATHS, one
    after another): from a checkpoint (untrained, given a trained model's contrast: the same work) and from its
    int8 file (export.py --int8, calibrated on the video's first frames, not timed)."""
    height, width = REFRAME_SIZE
    paths = disc_paths(round(seconds * fps), height, width, seed=11)
    video = tmp / "one_minute.mp4"
    write_disc_video(video, [paths], fps, height, width)
    frames = video_workload(str(video), tmp / "one_minute_frames", 2 * CLIP_LENGTH)
    weights = contrasted_weights(tmp, frames, ("vinet-s",))
    files = {"W": weights["vinet-s"], "INT8": graph_files(tmp, weights, [("openvino", "int8")], frames)[
        "vinet-s", "int8"]}
    rows = []
    for label, flags in ONE_MINUTE_PATHS.items():
        command = [sys.executable, str(SCRIPTS / "reframe.py"), "--video", str(video), "--output",
                   str(tmp / "one_minute_9x16.mp4"), *ONE_MINUTE, *(str(files.get(flag, flag)) for flag in flags)]
        row = {"path": label, "command": " ".join(["python reframe.py --video ONE_MINUTE.mp4 --output OUT.mp4",
                                                   *ONE_MINUTE, *flags]), **one_minute_run(command)}
        rows.append(row)
        print(f"one minute of 1280x720 at {fps:g} fps, {label} ({row['run']}): {row['seconds']:.1f} s "
              f"({row['windows']} windows; stages {row['stages']}; load {row['load_average']})", flush=True)
    return {"video_seconds": seconds, "size": [height, width], "fps": fps, "frames": len(paths), "rows": rows}


def reframe_report(tmp: Path, rounds: int, seconds: float = 10.0, fps: float = 25.0) -> dict:
    """--reframe: reframe_video on a 10 s 720p video with its maps given (to 9:16, in this process, imports
    excluded, best of `rounds`) against its duration; the sampled analysis against the full rate on the test
    videos; one minute of 720p with ViNet-S, end to end, a row per path."""
    # here: the other modes do not need PySceneDetect
    from vinet.reframing.options import ReframeOptions
    from vinet.reframing.pipeline import reframe_video

    video, maps = write_reframe_workload(tmp / "reframe", seconds, fps, *REFRAME_SIZE)
    times = []
    for round_index in range(rounds):
        start = time.perf_counter()
        reframe_video(probe_video(video), maps, tmp / f"reframed{round_index}.mp4", ReframeOptions("9:16"))
        times.append(time.perf_counter() - start)
        print(f"round {round_index + 1}: reframing {seconds:g} s of 1280x720: {times[-1]:.2f} s", flush=True)
    agreement = agreement_rows(tmp / "agreement")
    for rate in AGREEMENT_RATES:
        rows = [row for row in agreement if row["analysis_fps"] == rate]
        print(f"--analysis_fps {rate:g}: {min(r['agreeing'] for r in rows):.1%} of frames agree at worst, "
              f"{max(r['windows_share'] for r in rows if r['fps'] == fps):.1%} of the windows", flush=True)
    return {"reframe": {"video_seconds": seconds, "size": list(REFRAME_SIZE), "fps": fps, "seconds": min(times),
                        "all_seconds": times, "x_real_time": seconds / min(times)},
            "analysis_agreement": agreement, "one_minute": one_minute_report(tmp),
            "frames": round(60 * fps), "frame_size": list(REFRAME_SIZE)}   # the one-minute video's, for the docs
