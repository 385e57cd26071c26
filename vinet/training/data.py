"""The training and validation datasets of a run, and their loaders (seeded, shared between processes)."""
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from dataloader import BenchmarkDataset, DHF1KDataset, HollywoodUCFDataset, SoundDataset, collate_clips
from layouts import BENCHMARK_SETS, TRAIN, VALIDATION
from vinet.training.config import DataConfig
from vinet.training.process import Process


def build_datasets(data: DataConfig, eval_only: bool = False) -> tuple[Dataset | None, Dataset]:
    """The training and validation datasets (training None with eval_only)."""
    options = {"clip_length": data.clip_length, "frame_size": data.frame_size, "seed": data.seed,
               "window": data.window, "normalisation": data.normalisation}
    if data.dataset == "SoundDataset":
        sound = {"use_sound": data.use_sound, "datasets": data.av_datasets}
        val_set = SoundDataset(data.val_root or data.train_root, data.split, VALIDATION, fixations=True,
                               audio_ablation=data.audio_ablation, **sound, **options)
        train_set = None if eval_only else SoundDataset(data.train_root, data.split, TRAIN, fixations=data.fixations,
                                                        clips_per_video=data.clips_per_video,
                                                        audio_ablation=data.audio_ablation, **sound, **options)
        return train_set, val_set
    if data.dataset in BENCHMARK_SETS:
        return benchmark_datasets(data, options, eval_only)
    dataset_class = DHF1KDataset if data.dataset == "DHF1KDataset" else HollywoodUCFDataset
    val_set = dataset_class(data.val_root, VALIDATION, fixations=True, **options)
    train_set = None if eval_only else dataset_class(data.train_root, TRAIN, fixations=data.fixations,
                                                     clips_per_video=data.clips_per_video, **options)
    return train_set, val_set


def benchmark_datasets(data: DataConfig, options: dict, eval_only: bool) -> tuple[Dataset | None, Dataset]:
    """CrowdSAL or NTIRE 2026: training on the root's train split, validation on the test split of --val_path_data
    or, without it, of the training root."""
    videos = {"use_sound": data.use_sound, "frame_cache": data.frame_cache}
    val_set = BenchmarkDataset(data.val_root or data.train_root, data.dataset, VALIDATION, fixations=True, **videos,
                               **options)
    train_set = None if eval_only else BenchmarkDataset(data.train_root, data.dataset, TRAIN,
                                                        fixations=data.fixations, clips_per_video=data.clips_per_video,
                                                        **videos, **options)
    return train_set, val_set


def train_loader(dataset: Dataset, data: DataConfig, process: Process, epoch: int) -> DataLoader:
    """The epoch's loader: a seeded shuffle split across processes, random clips seeded by (seed, epoch, index)."""
    dataset.set_epoch(epoch)
    sampler = DistributedSampler(dataset, process.world_size, process.rank, shuffle=True, seed=data.seed)
    sampler.set_epoch(epoch)
    return DataLoader(dataset, data.batch_size, sampler=sampler, num_workers=data.workers,
                      collate_fn=collate_clips, pin_memory=process.device.type == "cuda",
                      generator=torch.Generator().manual_seed(data.seed * 100_003 + epoch))


def validation_loader(dataset: Dataset, data: DataConfig, process: Process) -> DataLoader:
    """Every validation clip once, shared round-robin between processes."""
    shard = Subset(dataset, range(process.rank, len(dataset), process.world_size))
    return DataLoader(shard, data.batch_size, shuffle=False, num_workers=data.workers, collate_fn=collate_clips,
                      generator=torch.Generator().manual_seed(data.seed))
