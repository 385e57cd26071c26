"""AViNet inference: saliency maps from frames and their sound, on the audio-visual datasets'
layout or on video files.

    python generate_result_audio_visual.py --path_indata ROOT --save_path OUT --file_weight W \\
        --use_sound True --split 1 --dataset AVAD
    python generate_result_audio_visual.py --video clip.mp4 --save_path OUT --file_weight W --overlay o.mp4

ROOT holds video_frames/<dataset>/<video>/<frames>, video_audio/<dataset>/<video>/<video>.wav and
fold_lists/<dataset>_list_test_<split>_fps.txt (DIEM: DIEM_list_test_fps.txt; this project ships
all of them and uses its copy when ROOT has none). The videos of the fold list are processed;
frame rates come from it, frames are counted in video_frames. Maps go to OUT/<video>/<frame file
name>. A clip's audio is its frames' excerpt (1/fps per frame, centred on the frame time) under a
Hann window, centred in SoundNet's 70,560-sample buffer. --use_sound False runs ViNet instead.
"""
import argparse
import logging
import sys
from pathlib import Path

from dataloader import AUDIO_VISUAL_DATASETS, fold_list_path, load_wav, read_fold_list
from generate_result import (
    Video,
    add_common_arguments,
    build_model,
    frame_folder_video,
    run_videos,
    video_file,
)
from model import VideoAudioSaliencyFusionModel, VideoAudioSaliencyModel, VideoSaliencyModel
from utils import InputError, str2bool

log = logging.getLogger("generate")

FUSIONS = {  # --fusion: the model class and its fixed arguments
    "bilinear": (VideoAudioSaliencyModel, {"use_transformer": False}),
    "transformer": (VideoAudioSaliencyModel, {"use_transformer": True}),
    "tokens": (VideoAudioSaliencyFusionModel, {}),
}


def audio_visual_videos(root: str | Path, dataset: str, split: int, use_sound: bool) -> list[Video]:
    """The test videos of one fold of an audio-visual dataset, with their sound when asked."""
    root = Path(root)
    entries = read_fold_list(fold_list_path(root, dataset, split))
    videos = []
    for entry in sorted(entries, key=lambda e: e.name):
        video = frame_folder_video(entry.name, root / "video_frames" / dataset / entry.name, fps=entry.fps)
        if use_sound:
            video.audio = load_wav(root / "video_audio" / dataset / entry.name / f"{entry.name}.wav")
        videos.append(video)
    return videos


def build_audio_visual_model(args: argparse.Namespace):
    """AViNet with the chosen fusion, or ViNet when --use_sound is False."""
    common = {"use_upsample": bool(args.decoder_upsample), "num_hier": args.num_hier, "num_clips": args.clip_size}
    if not args.use_sound:
        return build_model(VideoSaliencyModel, **common)
    model_class, fixed = FUSIONS[args.fusion]
    extra = {k: v for k, v in (("transformer_in_channel", args.transformer_in_channel), ("nhead", args.nhead),
                               ("num_encoder_layers", args.num_encoder_layers)) if v is not None}
    return build_model(model_class, **common, **fixed, **extra, frame_size=tuple(args.frame_size))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path_indata", default=None, help="dataset root (video_frames/, video_audio/, fold_lists/)")
    parser.add_argument("--dataset", default="DIEM", choices=AUDIO_VISUAL_DATASETS)
    parser.add_argument("--split", default=1, type=int, help="fold 1-3 (DIEM has one)")
    parser.add_argument("--use_sound", default=True, type=str2bool, help="True: AViNet; False: ViNet")
    parser.add_argument("--fusion", default="bilinear", choices=list(FUSIONS),
                        help="bilinear (AViNet), transformer (bilinear + transformer), tokens (token fusion)")
    parser.add_argument("--use_transformer", default=False, type=str2bool, help="the original's name for "
                        "--fusion transformer")
    parser.add_argument("--transformer_in_channel", default=None, type=int, help="transformer width (the "
                        "variant's default: 32 for transformer, 512 for tokens)")
    parser.add_argument("--audio_ablation", default="none", choices=["none", "silence", "shuffle"],
                        help="silence the sound, or give each clip another moment's sound")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.use_transformer:
        args.fusion = "transformer"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.overlay and not args.video:
            raise InputError("--overlay needs --video (overlays are made from video files)")
        if bool(args.video) == bool(args.path_indata):
            raise InputError("give either --path_indata ROOT (the audio-visual layout) or --video PATH ...")
        if args.video:
            videos = [video_file(p, with_audio=args.use_sound) for p in args.video]
            silent = [str(v.source) for v in videos if args.use_sound and v.audio is None]
            if silent:
                raise InputError(f"{silent[0]} has no audio track: AViNet needs sound; run with --use_sound False "
                                 "for ViNet")
        else:
            videos = audio_visual_videos(args.path_indata, args.dataset, args.split, args.use_sound)
        return run_videos(build_audio_visual_model(args), videos, args, use_audio=args.use_sound)
    except InputError as error:
        log.error("error: %s", error)
        return 2


if __name__ == "__main__":
    sys.exit(main())
