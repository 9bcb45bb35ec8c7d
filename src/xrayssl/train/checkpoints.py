"""Training checkpoints: written atomically by time, the newest ones kept, and resumed only when they load safely.

A checkpoint is read with ``torch.load(weights_only=True)`` everywhere, Lightning's restore included: tensors and
plain containers only, so a file planted in a run folder (a pickle whose ``__reduce__`` runs a command) cannot
run code. Lightning's checkpoints of our modules hold nothing else. A file that needs more is reported as
untrusted, skipped, and never retried with ``weights_only=False``.
"""

from __future__ import annotations

import inspect
import pickle
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO

from xrayssl.errors import XraySSLError
from xrayssl.fileio import atomic_write
from xrayssl.train.logs import RunCSVLogger

if TYPE_CHECKING:
    from xrayssl.train.harness import Clock

KEEP_CHECKPOINTS = 2  # the newest may be cut short by a kill or a full disk: the one before it still loads
# how torch says that weights_only=True refused a file (rather than that the file is cut short)
_REFUSED = "Weights only load failed"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to a temporary name in the same folder, flush to disk, then rename: a kill or a full disk
    never leaves a partial checkpoint under a real name. Loads with ``weights_only=True`` whatever the caller
    asks: no checkpoint is ever unpickled with code."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # fileio.atomic_write: a full disk (torch.save says RuntimeError) removes the temporary file, one line
        with atomic_write(path) as f:
            torch.save(checkpoint, f)

    def load_checkpoint(
        self, path: str | Path, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return load_checkpoint(Path(path), map_location or "cpu")


class TimedCheckpoints(Callback):
    """A checkpoint every ``every`` seconds of training (checked every few steps), one at the end of fit (also
    when a budget stopped it); the newest ``KEEP_CHECKPOINTS`` are kept as ``step-NNNNNNNN.ckpt``."""

    def __init__(self, folder: Path, every: float | None, clock: Clock, check_every_n_steps: int = 10) -> None:
        self.folder, self.every, self.clock, self.check = Path(folder), every, clock, check_every_n_steps
        self._last = time.monotonic()

    def on_train_start(self, trainer, pl_module) -> None:
        self._last = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.every or trainer.global_step % self.check:
            return
        due = time.monotonic() - self._last >= self.every
        if trainer.world_size > 1:
            due = trainer.strategy.broadcast(due)  # every rank must take part in the save
        if due:
            self.save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self.save(trainer)

    def save(self, trainer: L.Trainer) -> Path:
        start = time.perf_counter()
        path = self.folder / f"step-{trainer.global_step:08d}.ckpt"
        trainer.save_checkpoint(path)
        for logger in trainer.loggers:
            logger.save()  # the metrics history up to this checkpoint is on disk before a possible kill
        if trainer.is_global_zero:
            for old in checkpoints(self.folder)[KEEP_CHECKPOINTS:]:
                old.unlink(missing_ok=True)
        self._last = time.monotonic()
        self.clock.add("checkpoint", time.perf_counter() - start)
        return path


class UntrustedCheckpoint(XraySSLError):
    """A checkpoint that needs pickled code to load: not one xrayssl wrote, so never loaded."""


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint's contents, tensors and plain containers only (``weights_only=True``); raises
    UntrustedCheckpoint for a file that needs more, and torch's own error for a cut-short or corrupt one."""
    try:
        with warnings.catch_warnings():  # torch's note on a foreign pickle's protocol: the refusal below says it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if _REFUSED not in str(exc):
            raise
        raise UntrustedCheckpoint(
            f"untrusted checkpoint {path}: it needs pickled code to load, so it is not loaded (xrayssl writes "
            "tensors and plain values only)"
        ) from None


def checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files, newest (highest step) first; temporary files of killed writers are not among them."""
    return sorted(Path(folder).glob("step-*.ckpt"), key=lambda path: path.name, reverse=True)


def resumable_checkpoint(folder: Path) -> tuple[Path | None, int, list[str]]:
    """The newest checkpoint that loads safely, its step, and a line for each one skipped on the way (a
    cut-short file, an untrusted one)."""
    skipped = []
    for path in checkpoints(folder):
        try:
            return path, int(load_checkpoint(path)["global_step"]), skipped
        except UntrustedCheckpoint as exc:
            skipped.append(str(exc))
        except Exception as exc:  # a truncated or corrupt file: try the one before it
            skipped.append(f"skipping checkpoint {path.name} ({type(exc).__name__}): it does not load")
    return None, 0, skipped


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary checkpoint files left by a process that was killed mid-write."""
    for tmp in Path(folder).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def resume_point(run: Path, trainer: L.Trainer, say: Callable[[str], Any] = print) -> Path | None:
    """The checkpoint to resume from (and metrics.csv cut back to it); says which, or that none was written."""
    folder = run / "checkpoints"
    remove_stale_temporaries(folder)
    path, step, skipped = resumable_checkpoint(folder)
    for line in skipped:
        say(f"{run}: {line}")
    csv_logger = next(lg for lg in trainer.loggers if isinstance(lg, RunCSVLogger))
    csv_logger.truncate_after(step if path else -1)
    say(f"{run}: resuming from {path.name} (step {step})" if path else f"{run}: no checkpoint yet, starting at step 0")
    return path


def fit(trainer: L.Trainer, module: L.LightningModule, *data: Any, ckpt_path: Path | None = None) -> None:
    """``trainer.fit``, restoring ``ckpt_path`` with ``weights_only=True`` (Lightning 2.5+ takes the flag; before,
    AtomicCheckpointIO.load_checkpoint loads it so anyway)."""
    safe = {"weights_only": True} if "weights_only" in inspect.signature(trainer.fit).parameters else {}
    trainer.fit(module, *data, ckpt_path=str(ckpt_path) if ckpt_path else None, **safe)
