"""Write tiny synthetic datasets in every layout train.py reads, for tests and smoke runs.

    python -m extras.make_datasets runs/synthetic              # all of them, under runs/synthetic/
    python -m extras.make_datasets runs/synthetic --kind sounding --videos 8 --frames 48

Scenes (synthetic.py): a red and a blue disc move over a noise texture and people watch one of
them. dhf1k and hollywood (train/ and val/ folders): the red disc is watched. audio_visual (STAViS layout
with .wav soundtracks, .mat fixations and fold lists): the red disc is watched and heard. sounding: in
each video one disc, red or blue in turn, is watched and heard, the other is silent; the tone's pitch
names the colour (440 Hz red, 1000 Hz blue) and its loudness follows that disc's motion, so vision
alone cannot tell which disc is watched and audio can.
"""
import sys
from pathlib import Path

import numpy as np
import scipy.io
import scipy.io.wavfile
from PIL import Image

from layouts import AUDIO_VISUAL_DATASETS
from synthetic import disc_paths, gaze_density, render_frames, soundtrack
from utils import AUDIO_RATE, ArgumentParser, InputError, number_flag

PITCHES = (440.0, 1000.0)   # the tone of the red disc, of the blue disc
FIXATIONS_PER_FRAME = 4
KINDS = ("dhf1k", "hollywood", "audio_visual", "sounding")


def gaze(paths: np.ndarray, size: tuple[int, int], watched: int, seed: int,
         empty_frames: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) uint8 density maps around the watched disc and binary fixation maps scattered about it;
    the first empty_frames frames have neither (as real recordings often start)."""
    height, width = size
    density = np.round(gaze_density(paths, height, width, watched) * 255).astype(np.uint8)
    rng = np.random.default_rng(seed)
    fixations = np.zeros_like(density)
    spread = min(height, width) / 16
    for frame, centre in enumerate(paths[:, watched]):
        points = np.round(centre + rng.normal(0, spread, (FIXATIONS_PER_FRAME, 2))).astype(int)
        fixations[frame, np.clip(points[:, 0], 0, height - 1), np.clip(points[:, 1], 0, width - 1)] = 1
    density[:empty_frames] = 0
    fixations[:empty_frames] = 0
    return density, fixations


def split_sides(paths: np.ndarray, width: int) -> np.ndarray:
    """The paths with the first disc's columns squeezed into the left half of the frame and the second's
    into the right half (rows and relative speeds unchanged)."""
    sided = paths.copy()
    sided[:, 0, 1] = paths[:, 0, 1] / 2
    sided[:, 1, 1] = paths[:, 1, 1] / 2 + width / 2
    return sided


def _save(pixels: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": 95} if path.suffix == ".jpg" else {}
    Image.fromarray(pixels).save(path, **options)


def write_frame_folders(root: str | Path, num_videos: int = 4, num_frames: int | list[int] = 40,
                        size: tuple[int, int] = (36, 64), seed: int = 0, name_format: str = "{video}_{frame:03d}.png",
                        empty_frames: int = 0) -> Path:
    """Videos in the DHF1K / Hollywood-2 / UCF-Sports layout: root/<video>/images, maps (8-bit) and
    fixation (binary PNG, 255 = fixated); num_frames is one length or one per video."""
    root = Path(root)
    lengths = num_frames if isinstance(num_frames, list) else [num_frames] * num_videos
    for index, length in enumerate(lengths):
        video = f"{index + 1:04d}"
        paths = disc_paths(length, *size, seed=seed + index)
        frames = render_frames(paths, *size, seed=seed + index)
        density, fixations = gaze(paths, size, watched=0, seed=seed + index, empty_frames=empty_frames)
        for frame in range(length):
            name = name_format.format(video=video, frame=frame + 1)
            _save(frames[frame], root / video / "images" / name)
            _save(density[frame], root / video / "maps" / name)
            _save(fixations[frame] * 255, root / video / "fixation" / name)
    return root


def write_dhf1k(root: str | Path, num_videos: int = 4, num_frames: int = 40, size: tuple[int, int] = (36, 64),
                seed: int = 0, empty_frames: int = 0) -> Path:
    """A DHF1K-layout folder: frames named %04d.png as in the DHF1K release."""
    return write_frame_folders(root, num_videos, num_frames, size, seed, "{frame:04d}.png", empty_frames)


def write_hollywood(root: str | Path, num_frames: list[int] = (5, 12, 20, 30), size: tuple[int, int] = (36, 64),
                    seed: int = 0) -> Path:
    """A Hollywood-2 / UCF-Sports-layout folder of clips of the given lengths (some shorter than a clip)."""
    return write_frame_folders(root, len(num_frames), list(num_frames), size, seed, "clip{video}_{frame:05d}.png")


def write_fold_lists(root: str | Path, dataset: str, videos: list[tuple[str, int, float]]) -> None:
    """root/fold_lists for one dataset: three folds each testing every third video (DIEM: one split)."""
    folder = Path(root) / "fold_lists"
    folder.mkdir(parents=True, exist_ok=True)
    for fold in (1,) if dataset == "DIEM" else (1, 2, 3):
        suffix = "" if dataset == "DIEM" else f"_{fold}"
        test = videos[fold - 1::3]
        for mode, entries in (("test", test), ("train", [v for v in videos if v not in test])):
            lines = "".join(f"{name} {frames} {fps:g}\n" for name, frames, fps in entries)
            (folder / f"{dataset}_list_{mode}{suffix}_fps.txt").write_text(lines)


def write_audio_visual(root: str | Path, datasets: tuple[str, ...] = AUDIO_VISUAL_DATASETS,
                       videos_per_dataset: int = 3, num_frames: int = 40, size: tuple[int, int] = (36, 64),
                       fps: float = 25.0, seed: int = 0, sound_decides: bool = False, empty_frames: int = 0) -> Path:
    """Audio-visual sets in the STAViS layout: video_frames/<ds>/<v>/img_%05d.jpg, video_audio/<ds>/<v>/<v>.wav,
    annotations/<ds>/<v>/maps/eyeMap_%05d.jpg and fixMap_%05d.mat (variable eyeMap), fold_lists/.

    The red disc is watched and heard, or with sound_decides the red disc in even and the blue in odd videos,
    all on one background.
    """
    root = Path(root)
    for d, dataset in enumerate(datasets):
        listed = []
        for index in range(videos_per_dataset):
            video = f"{dataset.lower()}_{index + 1:03d}"
            video_seed = seed + 1000 * d + index
            watched = index % 2 if sound_decides else 0
            paths = disc_paths(num_frames, *size, seed=video_seed)
            if sound_decides:
                paths = split_sides(paths, size[1])
            # with sound_decides every video has one background: nothing visual tells the videos apart
            frames = render_frames(paths, *size, seed=seed if sound_decides else video_seed)
            density, fixations = gaze(paths, size, watched, video_seed, empty_frames)
            annotations = root / "annotations" / dataset / video
            for frame in range(num_frames):
                _save(frames[frame], root / "video_frames" / dataset / video / f"img_{frame + 1:05d}.jpg")
                _save(density[frame], annotations / "maps" / f"eyeMap_{frame + 1:05d}.jpg")
                scipy.io.savemat(annotations / f"fixMap_{frame + 1:05d}.mat", {"eyeMap": fixations[frame]})
            tone = soundtrack(paths, fps, sounding=watched, pitch=PITCHES[watched])
            wav = root / "video_audio" / dataset / video / f"{video}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            scipy.io.wavfile.write(wav, AUDIO_RATE, np.round(tone * 32767).astype(np.int16))
            listed.append((video, num_frames, fps))
        write_fold_lists(root, dataset, listed)
    return root


def write_all(out: str | Path, kinds: tuple[str, ...] = KINDS, num_videos: int = 4, num_frames: int = 40,
              size: tuple[int, int] = (36, 64), seed: int = 0) -> dict[str, Path]:
    """Write the chosen kinds under out/<kind> (dhf1k and hollywood with train/ and val/); their paths."""
    out = Path(out)
    written = {}
    if "dhf1k" in kinds:
        write_dhf1k(out / "dhf1k" / "train", num_videos, num_frames, size, seed)
        write_dhf1k(out / "dhf1k" / "val", max(1, num_videos // 2), num_frames, size, seed + 100)
        written["dhf1k"] = out / "dhf1k"
    if "hollywood" in kinds:
        write_hollywood(out / "hollywood" / "train", seed=seed)
        write_hollywood(out / "hollywood" / "val", seed=seed + 100)
        written["hollywood"] = out / "hollywood"
    if "audio_visual" in kinds:
        written["audio_visual"] = write_audio_visual(out / "audio_visual", videos_per_dataset=max(3, num_videos),
                                                     num_frames=num_frames, size=size, seed=seed)
    if "sounding" in kinds:
        written["sounding"] = write_audio_visual(out / "sounding", videos_per_dataset=max(3, num_videos),
                                                 num_frames=num_frames, size=size, seed=seed, sound_decides=True)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write the datasets into (one subfolder per kind)")
    parser.add_argument("--kind", choices=(*KINDS, "all"), default="all")
    parser.add_argument("--videos", type=number_flag(int, 1), default=4,
                        help="videos per dataset (audio-visual: at least 3)")
    parser.add_argument("--frames", type=number_flag(int, 1), default=40, help="frames per video")
    parser.add_argument("--size", type=number_flag(int, 8), nargs=2, default=(36, 64), metavar=("H", "W"),
                        help="frame size")
    parser.add_argument("--seed", type=number_flag(int, 0), default=0)
    try:
        args = parser.parse_args(argv)
        kinds = KINDS if args.kind == "all" else (args.kind,)
        for kind, path in write_all(args.out, kinds, args.videos, args.frames, tuple(args.size), args.seed).items():
            print(f"{kind}: {path}")
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
