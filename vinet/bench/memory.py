"""--memory: generate_result.py's peak resident memory on long videos (its memory must not grow with the length)."""
import sys
import time
from pathlib import Path

from synthetic import disc_paths, render_frames, soundtrack, write_video
from vinet.bench.commands import SCRIPTS, timed_process


def peak_memory(video: Path, out: Path) -> float:
    """Peak resident memory (MiB) of generate_result.py mapping a video at a small model input size."""
    command = [sys.executable, str(SCRIPTS / "generate_result.py"), "--video", str(video),
               "--frame_size", "32", "64", "--save_path", str(out)]
    return timed_process(command, out.with_suffix(".log"))[1]


def memory_report(tmp: Path, lengths: tuple[int, ...] = (300, 3000)) -> dict:
    """--memory: peak resident memory of generate on synthetic 320x180 H.264 videos of each length."""
    rows = []
    for length in lengths:
        paths = disc_paths(length, 180, 320, seed=5)
        video = tmp / f"long{length}.mp4"
        write_video(str(video), render_frames(paths, 180, 320, seed=5), 25.0, soundtrack(paths, 25.0))
        start = time.perf_counter()
        rows.append({"frames": length, "peak_mib": peak_memory(video, tmp / f"maps{length}"),
                     "seconds": time.perf_counter() - start})
        print(f"{length} frames: peak {rows[-1]['peak_mib']:.0f} MiB ({rows[-1]['seconds']:.0f} s)", flush=True)
    return {"memory": rows}
