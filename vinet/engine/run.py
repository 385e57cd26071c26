"""Maps to disk: a predictor run over videos, each video's maps post-processed and written behind by a thread
pool into its folder (claimed in its manifest, so a rerun resumes), failures logged and counted."""
import contextlib
import logging
import tempfile
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from media import VideoInfo
from utils import InputError
from vinet.engine.gpu_processing import on_gpu
from vinet.engine.manifest import (
    add_record,
    check_output_folders,
    claim_output_folder,
    discard_maps,
    maps_provenance,
)
from vinet.engine.overlay import write_overlay
from vinet.engine.predictor import Predictor, video_maps, video_warnings
from vinet.engine.selfcheck import BelowMinCC
from vinet.engine.sources import Video, video_file
from vinet.engine.writers import (
    DEFAULT_OUTPUT_FORMAT,
    MAP_BITS,
    MapWriter,
    frames_to_write,
    map_sink,
    output_path,
)

log = logging.getLogger("generate")


def predict_video(predictor: Predictor, video: Video, out_dir: Path, writer: MapWriter, progress: tqdm,
                  output_format: str = DEFAULT_OUTPUT_FORMAT) -> int:
    """Write the maps of one video's wanted frames that are not on disk yet (its manifest saying what makes them,
    what of the video could not be decoded and an int8 run's check), as map files or (mp4) one saliency video made
    whole or not at all; returns how many frames were mapped."""
    claim_output_folder(out_dir, maps_provenance(predictor, video, output_format), video.wanted)
    todo = frames_to_write(video, out_dir, output_format)
    if not todo:
        return 0
    batches = video_maps(predictor, video, todo, MAP_BITS[output_format])
    with map_sink(video, out_dir, writer, output_format) as sink, \
            contextlib.closing(batches):   # decoding stops on a failure
        for batch, maps in batches:
            for j, saliency, size in maps:
                sink.submit(j, saliency, size)
            progress.update(len(batch))
    if video.damage:
        add_record(out_dir, "damage", video.damage.record())
    if video.check and video.check.scores:
        add_record(out_dir, "int8_check", video.check.record())
    return len(todo)


def predict_all(predictor: Predictor, videos: list[Video], save_path: str | Path, overwrite: bool = False,
                report: bool = True, output_format: str = DEFAULT_OUTPUT_FORMAT) -> dict[str, str]:
    """Run every video, going on past a bad one (a video refused by --min_cc loses its maps); with `report`, one
    error line per bad video and a warning line per damaged one or one whose int8 maps are far from the float
    path's (else the caller reports them); returns {video name: cause} of failures. InputError before any work
    when a video's folder holds maps made otherwise (check_output_folders)."""
    predictor.prepare(videos)
    check_output_folders(predictor, videos, Path(save_path), overwrite, output_format)
    failures = {}
    settings = predictor.settings
    writer = MapWriter(settings.workers, limit=4 * settings.batch_size + 8,
                       processes=on_gpu(settings) and output_format == "png")
    with writer, logging_redirect_tqdm(), \
            tqdm(total=sum(len(v.wanted_frames) for v in videos), unit="frame", dynamic_ncols=True) as progress:
        for video in videos:
            progress.set_description(video.name)
            try:
                try:
                    written = predict_video(predictor, video, Path(save_path) / video.name, writer, progress,
                                            output_format)
                finally:
                    writer.drain()   # a video's maps are on disk (or its failure known) before the next starts
                progress.update(len(video.wanted_frames) - written)
                for line in video_warnings(video) if report else ():
                    log.warning("%s", line)
            except InputError as error:
                if isinstance(error, BelowMinCC):
                    discard_maps(Path(save_path) / video.name)
                if report:
                    log.error("%s", error)
                failures[video.name] = str(error)
    return failures


def maps_of_video(info: VideoInfo, save_path: str | Path, predictor: Predictor,
                  overwrite: bool = False, frames: set[int] | None = None) -> Path:
    """The maps of one video file (its probe: what its decoding finds damaged is noted there, for the caller to
    report; with its sound when the model hears), of `frames` only when given (the model runs on their windows
    alone), in save_path/<stem>; that folder (an int8 run's check logged). InputError when the folder holds maps
    made otherwise, unless `overwrite`."""
    video = video_file(info.path, predictor.entry.takes_audio, info=info)
    video.wanted = frames
    failures = predict_all(predictor, [video], save_path, overwrite, report=False)
    if failures:
        raise InputError(failures[video.name])
    if video.check and video.check.scores:
        log.info("%s: %s", video.name, video.check.summary())
        if video.check.warning():
            log.warning("%s", video.check.warning())
    return Path(save_path) / video.name


def check_maps_of_video(info: VideoInfo, save_path: str | Path, predictor: Predictor,
                        overwrite: bool = False) -> None:
    """Before any work but readying the model (an int8 checkpoint is quantized on the video): InputError when
    save_path/<stem> holds maps of this video made otherwise (maps_of_video refuses them too, later), unless
    `overwrite`."""
    video = video_file(info.path, predictor.entry.takes_audio, info=info)
    predictor.prepare([video])
    check_output_folders(predictor, [video], Path(save_path), overwrite)


def check_save_path(save_path: Path, inputs: Path | None) -> None:
    """InputError unless the maps can be written to save_path, outside the input folder."""
    if inputs is not None and save_path.resolve().is_relative_to(inputs.resolve()):
        raise InputError(f"--save_path {save_path} is inside --path_indata {inputs}: the maps would mix with the "
                         "frames (and be read as frames next time); choose a folder outside it")
    try:
        save_path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=save_path).close()
    except OSError as error:
        raise InputError(f"cannot write to --save_path {save_path}: {error.strerror or error}; choose a folder you "
                         "can write to") from error


def finish(videos: list[Video], failures: dict[str, str], save_path: str | Path, overlay: str | None,
           output_format: str = DEFAULT_OUTPUT_FORMAT) -> int:
    """Write overlays, say where everything is, repeat each failure's cause; the exit status."""
    done = [v for v in videos if v.name not in failures]
    for video in done if overlay else ():
        target = Path(overlay)
        if len(videos) > 1:
            target = target.with_name(f"{target.stem}_{video.name}{target.suffix}")
        write_overlay(video, Path(save_path) / video.name, target)
        log.info("overlay: %s", target)
    for video in done:
        missing = f" of {video.num_frames}, {len(video.damage.frames)} undecodable" if video.damage.frames else ""
        checked = f"; {video.check.summary()}" if video.check and video.check.scores else ""
        log.info("maps: %s (%d frames%s%s)", output_path(Path(save_path) / video.name, output_format),
                 video.num_frames - len(video.damage.frames), missing, checked)
    if failures:
        log.error("%d of %d videos failed: %s", len(failures), len(videos),
                  ", ".join(f"{name} ({cause})" for name, cause in failures.items()))
        return 2
    return 0


