"""AViNet inference: saliency maps from frames and their sound, on the audio-visual datasets'
layout or on video files.

    python generate_result_audio_visual.py --path_indata ROOT --save_path OUT --file_weight W \\
        --use_sound True --split 1 --dataset AVAD
    python generate_result_audio_visual.py --video clip.mp4 --save_path OUT --file_weight W --overlay o.mp4
    python generate_result_audio_visual.py --path_indata CrowdSAL --dataset CrowdSAL --save_path OUT \
        --file_weight W --output_format mp4        # a submission: OUT/<id>.mp4 for each test video

ROOT holds video_frames/<dataset>/<video>/<frames>, video_audio/<dataset>/<video>/<video>.wav and
fold_lists/<dataset>_list_test_<split>_fps.txt (DIEM: DIEM_list_test_fps.txt; this project ships
all of them and uses its copy when ROOT has none). The videos of the fold list are processed;
frame rates come from it, frames are counted in video_frames. Maps go to OUT/<video>/<frame file
name>. A clip's audio is its frames' excerpt (1/fps per frame, centred on the frame time) under a
Hann window, centred in SoundNet's 70,560-sample buffer. The checkpoint names its model;
--use_sound False (or --model vinet, vinet-s, ...) runs a visual model on the same layout.
--dataset CrowdSAL or NTIRE2026: ROOT is that benchmark's folder (layouts.py); the videos of --subset (test by
default) are mapped, their sound from the same files.
"""
import argparse
import sys

from layouts import AUDIO_VISUAL_DATASETS, BENCHMARK_SETS, TEST, TRAIN
from utils import ArgumentParser, InputError, number_flag
from vinet.cli import add_generate_flags, add_sound_flags, generate
from vinet.engine.sources import Video, audio_visual_layout_videos, benchmark_layout_videos, video_files


def audio_visual_sources(args: argparse.Namespace, with_audio: bool) -> list[Video]:
    """The videos of --video, of one fold of the audio-visual layout, or of a split of CrowdSAL or NTIRE 2026."""
    if args.subset is not None and args.dataset not in BENCHMARK_SETS:
        raise InputError(f"--subset chooses CrowdSAL's or NTIRE2026's split; {args.dataset} has folds: use --split")
    if args.video:
        return video_files(args.video, with_audio)
    if args.dataset in BENCHMARK_SETS:
        return benchmark_layout_videos(args.path_indata, args.dataset, args.subset or TEST, with_audio)
    return audio_visual_layout_videos(args.path_indata, args.dataset, args.split, with_audio)


def main(argv: list[str] | None = None) -> int:
    """Maps for the flags' videos; the exit status (2 after one line for bad input)."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path_indata", default=None, help="dataset root (video_frames/, video_audio/, fold_lists/)")
    parser.add_argument("--dataset", default="DIEM", choices=AUDIO_VISUAL_DATASETS + BENCHMARK_SETS)
    parser.add_argument("--split", default=1, type=number_flag(int, 1, 3), help="fold 1-3 (DIEM has one)")
    parser.add_argument("--subset", default=None, choices=(TRAIN, TEST),
                        help=f"CrowdSAL / NTIRE2026: the split whose videos are mapped (default {TEST})")
    add_sound_flags(parser)
    add_generate_flags(parser)
    return generate(parser, argv, audio_visual_sources, "avinet")


if __name__ == "__main__":
    sys.exit(main())
