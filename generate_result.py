"""ViNet inference: a saliency map for every frame of frame folders or video files.

    python generate_result.py --path_indata DIR --save_path OUT --file_weight ViNet_DHF1K.pt
    python generate_result.py --video clip.mp4 --save_path OUT --file_weight W --overlay clip_overlay.mp4
    torchrun --nproc_per_node=N generate_result.py ...        # the videos shared among N processes

DIR holds <video>/images/<frames> (the DHF1K layout); maps go to OUT/<video>/<frame file name>.
Video files give OUT/<video stem>/00001.png, 00002.png, ... The checkpoint names its model (any of
the registry: --model to choose one); the window rule, batching, resuming and writing are the
engine's (vinet/engine), shared with generate_result_audio_visual.py.
"""
import argparse
import sys

from utils import ArgumentParser, InputError
from vinet.cli import add_generate_flags, generate
from vinet.engine.sources import Video, frame_folder_layout_videos, video_files


def frame_folders_or_files(args: argparse.Namespace, with_audio: bool) -> list[Video]:
    """The videos of --video, or of the frame folders under --path_indata (which carry no sound)."""
    if args.video:
        return video_files(args.video, with_audio)
    if with_audio:
        raise InputError(f"frame folders ({args.path_indata}) carry no sound: run an audio-visual model on "
                         "--video files or with generate_result_audio_visual.py on the audio-visual layout")
    return frame_folder_layout_videos(args.path_indata)


def main(argv: list[str] | None = None) -> int:
    """Maps for the flags' videos; the exit status (2 after one line for bad input)."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path_indata", default=None, help="folder of <video>/images/<frames>")
    add_generate_flags(parser)
    return generate(parser, argv, frame_folders_or_files, "vinet")


if __name__ == "__main__":
    sys.exit(main())
