"""Run logs: ``metrics.csv`` (long format), TensorBoard events, a tqdm progress bar.

``metrics.csv`` has one row per value: ``step,stage,epoch,split,metric,value``
(``split`` is ``train`` or ``val``). Long format keeps every row valid when
the loss terms change from one stage to the next. Rows are appended and
flushed; a checkpoint records how many rows were written, and a resumed run
first cuts the file back to that many rows, so no row is ever duplicated.
Every line ends in ``\n`` (the csv module's default ``\r\n`` is not used),
also in a file cut back on resume.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["MetricsLogger", "read_metrics", "METRICS_COLUMNS"]

_WARNED_NO_TENSORBOARD: list[bool] = []  # once per process
METRICS_COLUMNS = ("step", "stage", "epoch", "split", "metric", "value")


class MetricsLogger:
    """Writes metrics of rank 0 (other ranks get a logger with ``enabled=False``).

    Parameters
    ----------
    run_dir
        The run folder.
    enabled
        ``False`` on non-zero ranks: every call is a no-op.
    resume_rows
        When resuming: the number of data rows the checkpoint saw; later rows are dropped.
    resume_step
        When resuming: TensorBoard events at later steps are purged.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        enabled: bool = True,
        resume_rows: int | None = None,
        resume_step: int | None = None,
    ) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.csv"
        self.rows_written = 0
        self._file: io.TextIOBase | None = None
        self._writer: Any = None
        self._tb: Any = None
        self._bar: Any = None
        if not enabled:
            return
        from sonomtl.fileio import write_text

        if resume_rows is not None and self.path.is_file():
            # splitlines() also takes the CRLF rows older versions wrote: one ending after
            lines = self.path.read_text(encoding="utf-8").splitlines()
            kept = lines[: 1 + resume_rows]
            write_text(self.path, "".join(line + "\n" for line in kept))
            self.rows_written = resume_rows
        else:
            write_text(self.path, ",".join(METRICS_COLUMNS) + "\n")
        self._file = open(self.path, "a", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        from sonomtl.optional import available

        if not available("tensorboard"):
            if not _WARNED_NO_TENSORBOARD:
                _WARNED_NO_TENSORBOARD.append(True)
                warnings.warn("TensorBoard events are not written (metrics.csv is): "
                              "pip install 'sonomtl[tensorboard]' for them", stacklevel=2)
            return
        from torch.utils.tensorboard import SummaryWriter

        purge = None if resume_step is None else resume_step + 1
        self._tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"), purge_step=purge)

    def log(
        self, values: Mapping[str, float], *, step: int, stage: str, epoch: int, split: str
    ) -> None:
        """Append one row per value, and the same scalars to TensorBoard as ``split/metric``."""
        if not self.enabled:
            return
        for name, value in values.items():
            self._writer.writerow([step, stage, epoch, split, name, repr(float(value))])
            if self._tb is not None:
                self._tb.add_scalar(f"{split}/{name}", float(value), global_step=step)
        self.rows_written += len(values)
        self._file.flush()

    def start_progress(self, *, total: int, initial: int, description: str, enabled: bool) -> None:
        """Open a tqdm bar (ETA included) for a stage."""
        if not self.enabled or not enabled:
            return
        from tqdm.auto import tqdm

        self.close_progress()
        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=description,
            dynamic_ncols=True,
            unit="step",
            leave=True,
        )

    def update_progress(self, losses: Mapping[str, float]) -> None:
        """Advance the bar by one step and show the current losses."""
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
            self._bar.update(1)

    def close_progress(self) -> None:
        """Close the current bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def close(self) -> None:
        """Flush and close every output."""
        self.close_progress()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a run's ``metrics.csv`` (``step``/``epoch`` as int, ``value`` as float)."""
    rows = []
    with open(Path(run_dir) / "metrics.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append(
                {
                    **row,
                    "step": int(row["step"]),
                    "epoch": int(row["epoch"]),
                    "value": float(row["value"]),
                }
            )
    return rows
