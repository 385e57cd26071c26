"""A run's log: per-step and per-epoch rows in <stem>_log.csv, and TensorBoard events where it is installed."""
import csv
import io
from pathlib import Path

from utils import InputError, atomic_write_bytes
from vinet.training.config import RunFiles

LOG_COLUMNS = ("phase", "epoch", "step", "lr", "loss", "cc", "sim", "kld", "nss", "clips_per_s")


class RunLog:
    """Per-step and per-epoch rows in a CSV file (and TensorBoard when installed); rank 0 only."""

    def __init__(self, files: RunFiles, keep_before_epoch: int):
        self.path = files.log
        rows = []
        if keep_before_epoch and self.path.is_file():  # a resumed run drops what the interrupted one logged later
            with self.path.open(newline="") as f:
                rows = [row for row in csv.DictReader(f) if int(row["epoch"]) < keep_before_epoch]
        text = io.StringIO()
        writer = csv.DictWriter(text, LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.path, text.getvalue().encode())
        self.file = self.path.open("a", newline="")
        self.writer = csv.DictWriter(self.file, LOG_COLUMNS)
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.tensorboard = SummaryWriter(str(files.tensorboard))
        except ImportError:
            self.tensorboard = None

    def write(self, phase: str, epoch: int, step: int, **values: float) -> None:
        """One row of the CSV log (and its scalars in TensorBoard)."""
        try:
            self.writer.writerow({"phase": phase, "epoch": epoch, "step": step,
                                  **{key: f"{value:.6g}" for key, value in values.items()}})
            self.file.flush()
        except OSError as error:
            raise InputError(f"cannot write {self.path}: {error.strerror or error}; free some space and rerun "
                             "with --resume") from error
        if self.tensorboard is not None:
            for key, value in values.items():
                self.tensorboard.add_scalar(f"{phase}/{key}", value, step)

    def close(self) -> None:
        """Close the CSV file and the TensorBoard writer."""
        self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_log(path: str | Path) -> list[dict[str, str]]:
    """The rows of a run's CSV log."""
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))
