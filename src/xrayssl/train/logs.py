"""The run's metrics, through Lightning loggers: ``metrics.csv`` in the run folder always, TensorBoard or
MLflow on request.

Lightning's own CSVLogger deletes an existing metrics.csv when its folder is not empty and sorts columns by
name; a run folder is never empty and a resumed run must keep its history, so the CSV logger here keeps a
fixed column order, appends, buffers rows, and on resume drops the rows after the checkpoint it resumes from.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from xrayssl.catalog import TRACKERS, check_tracker  # noqa: F401  (torch-free: configs check --logger)

COLUMNS = ("step", "epoch", "seconds", "loss", "lr", "knn_val_auroc", "embedding_std")


class RunCSVLogger(Logger):
    """Rows of ``COLUMNS`` in ``RUN/metrics.csv``; a row may leave columns empty (no monitor reading)."""

    def __init__(self, run: Path, flush_every: int = 50) -> None:
        super().__init__()
        self.path = Path(run) / "metrics.csv"
        self.flush_every = flush_every
        self._rows: list[dict[str, Any]] = []
        self._written_step: int | None = None  # step of the last row on disk

    @property
    def name(self) -> str:
        return "metrics"

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return str(self.path.parent)

    def truncate_after(self, step: int) -> None:
        """Keep only rows up to ``step`` (what the resumed checkpoint had done)."""
        self._rewrite(lambda rows: rows.__setitem__(slice(None), [r for r in rows if int(r["step"]) <= step]))

    def _rewrite(self, change) -> None:
        """Read the file's rows, let ``change`` edit the list in place, write it back atomically."""
        if not self.path.is_file():
            return
        with open(self.path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("step", "").isdigit()]
        if rows:
            change(rows)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)
        self._written_step = int(rows[-1]["step"]) if rows else None

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass  # config.json holds the run's configuration

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if not set(metrics) & set(COLUMNS[2:]):
            return  # only the rows the run writes itself (not Lightning's own bookkeeping)
        values = {k: v for k, v in metrics.items() if k in COLUMNS}
        if not self._rows and step == self._written_step:  # this step's row is on disk already (a checkpoint)
            self._rewrite(lambda rows: rows[-1].update({k: v for k, v in values.items()}))
            return
        if self._rows and self._rows[-1]["step"] == step:
            self._rows[-1].update(values)  # a loss row and a monitor reading at one step: one row
        else:
            self._rows.append({"step": step, **values})
        if len(self._rows) > self.flush_every:
            self._write(self._rows[:-1])  # the newest row may still gain columns at its step
            self._rows = self._rows[-1:]

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        new = not self.path.is_file()
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerows(rows)
        self._written_step = rows[-1]["step"]

    @rank_zero_only
    def save(self) -> None:
        """Write the buffered rows (the harness calls it with every checkpoint, so a resume keeps that history)."""
        self._write(self._rows)
        self._rows = []

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()


def build_loggers(run: Path, tracker: str | None) -> list[Logger]:
    """The CSV logger, plus TensorBoard or MLflow (files in the run folder) when asked for and installed."""
    loggers: list[Logger] = [RunCSVLogger(run)]
    if tracker is None:
        return loggers
    check_tracker(tracker)
    if tracker == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=str(run), name="tensorboard", version="", default_hp_metric=False))
    else:
        from lightning.pytorch.loggers import MLFlowLogger

        loggers.append(MLFlowLogger(experiment_name="xrayssl", tracking_uri=(Path(run) / "mlruns").resolve().as_uri()))
    return loggers
