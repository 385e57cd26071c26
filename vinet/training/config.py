"""A run's settings (train.py's flags, by name, with their defaults) and the configuration resolved from them."""
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import loss
from layouts import AUDIO_VISUAL_DATASETS, BENCHMARK_SETS
from registry import ModelEntry, WindowRule, get_entry, identify_model
from utils import InputError
from vinet.loading import ENTRY_FLAGS, ModelOptions, RunOptions
from vinet.training.checkpoints import recorded_entry
from weights import read_weights, unwrap_state_dict

DATASETS = ("DHF1KDataset", "SoundDataset", "Hollywood", "UCF", *BENCHMARK_SETS)
WITH_SOUND = ("SoundDataset", *BENCHMARK_SETS)   # the datasets whose videos have sound
# The published recipes (Adam 1e-4 for all): the loss terms, and the batch size on DHF1K-like sets and on the
# audio-visual sets, where flags do not say otherwise. The original's (Jain et al.) and ViNet++'s (Girmaji et al.).
RECIPES = {"original": ({"kldiv"}, 8, 8), "vinet++": ({"kldiv", "cc"}, 8, 2)}
VINET_PLUS_PLUS = ("vinet-s", "vinet-s-nonroot", "vinet-s-depth", "vinet-a")


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """A run as train.py's flags say it, by their names and in their order (<stem>_args.json records them); the one
    home of their defaults (those shared with the other scripts are vinet.loading's). None: the model decides (its
    recipe, its own size), or nothing is given."""

    # data
    dataset: str = "DHF1KDataset"
    train_path_data: str
    val_path_data: str | None = None
    split: int = 1
    av_datasets: tuple[str, ...] = AUDIO_VISUAL_DATASETS
    frame_size: tuple[int, int] | None = ModelOptions.frame_size
    clips_per_video: int = 1
    no_workers: int = 4
    frame_cache: str | None = None
    audio_ablation: str = RunOptions.audio_ablation
    # model
    model: str | None = ModelOptions.model
    use_sound: bool | None = ModelOptions.use_sound
    fusion: str | None = ModelOptions.fusion
    use_transformer: bool | None = ModelOptions.use_transformer
    clip_size: int | None = ModelOptions.clip_size
    num_hier: int | None = ModelOptions.num_hier
    transformer_in_channel: int | None = ModelOptions.transformer_in_channel
    nhead: int | None = ModelOptions.nhead
    num_encoder_layers: int | None = ModelOptions.num_encoder_layers
    s3d_weights: str | None = None
    soundnet_weights: str | None = None
    slowfast_weights: str | None = None
    load_weight: str | None = None
    # optimisation
    no_epochs: int = 40
    batch_size: int | None = None
    accum_steps: int = 1
    lr: float = 1e-4
    optim: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_sched: str = "none"
    step_size: int = 5
    gamma: float = 0.1
    kldiv: bool | None = None
    cc: bool | None = None
    sim: bool | None = None
    nss: bool | None = None
    kldiv_coeff: float = 1.0
    cc_coeff: float = -1.0
    sim_coeff: float = -1.0
    nss_coeff: float = 1.0
    freeze_bn: bool = False
    bn_momentum: float | None = None
    sync_bn: bool = True
    # run
    model_val_path: str = "runs/model.pt"
    best_metric: str = "loss"
    resume: bool = False
    eval_only: bool = False
    precision: str = RunOptions.precision
    device: str = RunOptions.device
    seed: int = 0
    deterministic: bool = False
    log_interval: int = 5


@dataclass(frozen=True)
class RunFiles:
    """The files of a run, beside the best checkpoint and named after its stem."""

    best: Path
    last: Path
    args: Path
    log: Path
    tensorboard: Path

    @classmethod
    def beside(cls, best: str | Path) -> "RunFiles":
        best = Path(best)
        stem = best.parent / best.stem
        return cls(best, Path(f"{stem}_last.pt"), Path(f"{stem}_args.json"), Path(f"{stem}_log.csv"),
                   Path(f"{stem}_tb"))


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Which clips training and validation read."""

    dataset: str
    train_root: str
    val_root: str | None
    split: int
    av_datasets: tuple[str, ...]
    clip_length: int
    frame_size: tuple[int, int]
    window: WindowRule                 # the model's: which frames make a clip and which one is its target
    normalisation: tuple[tuple[float, ...], tuple[float, ...]]   # the model's (mean, std)
    use_sound: bool
    fixations: bool            # training samples carry fixation maps (the NSS term needs them)
    clips_per_video: int
    audio_ablation: str
    frame_cache: str | None    # CrowdSAL / NTIRE 2026: the folder of decoded frames (video_clips), None: decode clips
    batch_size: int
    workers: int
    seed: int


@dataclass(frozen=True, kw_only=True)
class OptimConfig:
    """How the weights move: optimizer, schedule, loss, accumulation, precision and batch norm."""

    name: str
    lr: float
    momentum: float
    weight_decay: float
    schedule: str
    step_size: int
    gamma: float
    epochs: int
    accum_steps: int
    loss_weights: dict[str, float]   # loss.LOSS_TERMS name -> coefficient, for the chosen terms
    precision: str
    freeze_bn: bool
    bn_momentum: float | None
    sync_bn: bool


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything a run does, resolved from its settings (as nanoGPT's GPTConfig): the model entry, data,
    optimisation, the weights it starts from and the files it writes."""

    model: ModelEntry
    data: DataConfig
    optim: OptimConfig
    load_weight: str | None
    s3d_weights: str | None
    soundnet_weights: str | None
    slowfast_weights: str | None
    files: RunFiles
    best_metric: str
    resume: bool
    eval_only: bool
    device: str
    seed: int
    deterministic: bool
    log_interval: int
    settings: TrainSettings          # written to <stem>_args.json

    def args_json(self) -> bytes:
        """<stem>_args.json: the settings and the model entry they chose."""
        return json.dumps({**asdict(self.settings), "model_entry": self.model.label}, indent=2).encode()


def given(path: str | None) -> str | None:
    """A weights path, None when not given (the original's flags write that as the string 'None')."""
    return None if path in (None, "None") else path


def check_settings(settings: TrainSettings) -> None:
    """Refuse inconsistent settings with one line naming the fix."""
    if settings.dataset not in WITH_SOUND and not settings.val_path_data:
        raise InputError(f"--dataset {settings.dataset} needs --val_path_data (the validation folder)")
    if settings.frame_cache and settings.dataset not in BENCHMARK_SETS:
        raise InputError(f"--frame_cache holds frames decoded from videos: it goes with --dataset "
                         f"{' or '.join(BENCHMARK_SETS)}, not {settings.dataset} (already frames)")
    if settings.audio_ablation != "none" and settings.dataset in BENCHMARK_SETS:
        raise InputError(f"--audio_ablation is studied on the audio-visual sets (--dataset SoundDataset), not "
                         f"{settings.dataset}: drop it")


def model_entry(settings: TrainSettings, resumed: dict | None) -> ModelEntry:
    """The entry the model settings select; without them the one the run being resumed recorded, or the one the
    --load_weight checkpoint holds, or ViNet."""
    frame_size = tuple(settings.frame_size) if settings.frame_size else None
    chosen = {name: getattr(settings, name) for name in ENTRY_FLAGS if hasattr(settings, name)}
    entry = ModelOptions(frame_size=frame_size, **chosen).entry("vinet")   # the scripts' one path
    if entry is not None:
        return entry
    if resumed is not None:
        return recorded_entry(resumed)
    if given(settings.load_weight):
        return identify_model(unwrap_state_dict(read_weights(settings.load_weight, "checkpoint")), frame_size)[0]
    return get_entry("vinet").configured(frame_size)


def check_entry(settings: TrainSettings, entry: ModelEntry) -> None:
    """Refuse a model the settings cannot train: an ensemble, or one that hears sound (or not) against the data."""
    if entry.members:
        raise InputError(f"{entry.name} is an ensemble: train {' and '.join(entry.members)} one by one and give both "
                         "checkpoints to the generate scripts (--file_weight S.pt A.pt)")
    if entry.takes_audio and settings.dataset not in WITH_SOUND:
        raise InputError(f"--use_sound True needs --dataset SoundDataset (the audio-visual sets), "
                         f"{' or '.join(BENCHMARK_SETS)}: {entry.label} hears sound")
    if settings.audio_ablation != "none" and not entry.takes_audio:
        raise InputError(f"--audio_ablation {settings.audio_ablation} acts on what an audio-visual model hears; "
                         f"{entry.label} hears nothing: drop it, or train AViNet (--use_sound True)")


def recipe(settings: TrainSettings, entry: ModelEntry) -> tuple[dict[str, float], int]:
    """The loss weights and the batch size: the model's recipe, with what the settings add or drop."""
    terms, batch_size, sound_batch_size = RECIPES["vinet++" if entry.name in VINET_PLUS_PLUS else "original"]
    chosen = {name: getattr(settings, name) for name in loss.LOSS_TERMS if getattr(settings, name) is not None}
    terms = {name for name in loss.LOSS_TERMS if chosen.get(name, name in terms)}   # flags add to or drop from it
    if not terms:
        raise InputError("no loss term chosen: pass one or more of --kldiv, --cc, --sim, --nss")
    weights = {name: getattr(settings, f"{name}_coeff") for name in loss.LOSS_TERMS if name in terms}
    batch_size = settings.batch_size or (sound_batch_size if settings.dataset == "SoundDataset" else batch_size)
    return weights, batch_size


def configure(settings: TrainSettings, resumed: dict | None = None) -> TrainConfig:
    """The run's configuration (resumed: the last checkpoint of the run it continues); InputError for
    inconsistent settings."""
    check_settings(settings)
    files = RunFiles.beside(settings.model_val_path)
    entry = model_entry(settings, resumed)
    check_entry(settings, entry)
    weights, batch_size = recipe(settings, entry)
    data = DataConfig(dataset=settings.dataset, train_root=settings.train_path_data, val_root=settings.val_path_data,
                      split=settings.split, av_datasets=tuple(settings.av_datasets), clip_length=entry.clip_length,
                      frame_size=entry.frame_size, window=entry.window, normalisation=(entry.mean, entry.std),
                      use_sound=entry.takes_audio, fixations="nss" in weights,
                      clips_per_video=settings.clips_per_video, audio_ablation=settings.audio_ablation,
                      frame_cache=settings.frame_cache, batch_size=batch_size, workers=settings.no_workers,
                      seed=settings.seed)
    optim = OptimConfig(name=settings.optim, lr=settings.lr, momentum=settings.momentum,
                        weight_decay=settings.weight_decay, schedule=settings.lr_sched, step_size=settings.step_size,
                        gamma=settings.gamma, epochs=settings.no_epochs, accum_steps=settings.accum_steps,
                        loss_weights=weights, precision=settings.precision, freeze_bn=settings.freeze_bn,
                        bn_momentum=settings.bn_momentum, sync_bn=settings.sync_bn)
    return TrainConfig(model=entry, data=data, optim=optim, load_weight=given(settings.load_weight),
                       s3d_weights=given(settings.s3d_weights), soundnet_weights=given(settings.soundnet_weights),
                       slowfast_weights=given(settings.slowfast_weights), files=files,
                       best_metric=settings.best_metric, resume=settings.resume, eval_only=settings.eval_only,
                       device=settings.device, seed=settings.seed, deterministic=settings.deterministic,
                       log_interval=settings.log_interval, settings=settings)
