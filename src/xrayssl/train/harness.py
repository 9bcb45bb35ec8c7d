"""One training harness for pretraining and the supervised baseline: the Trainer, the wall-clock budget,
loggers, a clock that says where the time went, and the run record. Checkpoints (by time, atomic, the newest one
that loads safely resumed) are train/checkpoints.py's.

Throughput is counted in *pairs* for pretraining (one pair = the two views of one training item, so
``--positives`` pairs count once) and in *images* for the supervised baseline, over the wall time of the fit
loop (``pairs_per_second``); ``in_step_pairs_per_second`` counts only the time inside training steps.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, Timer

from xrayssl import runs
from xrayssl.errors import XraySSLError
from xrayssl.train.checkpoints import AtomicCheckpointIO, TimedCheckpoints
from xrayssl.train.config import check_size, parse_budget
from xrayssl.train.logs import build_loggers

LOG_EVERY = 10  # steps between loss rows and NaN checks: the only host syncs of the training loop
# a run shorter than this many steps logs its loss every step: with rows every LOG_EVERY steps its training curve
# would hold one point or none
SHORT_RUN_STEPS = 10 * LOG_EVERY


class Clock(Callback):
    """Where the fit loop's wall time went: ``add(phase, seconds)`` from the parts that know (views, monitor,
    checkpoints); 'step' is each training batch's time minus its views; 'other' is the rest of the loop."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.fit_seconds = 0.0
        self.items = 0
        self._t0 = self._batch0 = 0.0

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] += seconds

    def on_train_start(self, trainer, pl_module) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.add("batch", time.perf_counter() - self._batch0)
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        self.items += len(first) * trainer.world_size

    def stop(self) -> None:
        """End of the fit loop: called once ``trainer.fit`` returns, so the final checkpoint and monitor
        reading (on_train_end hooks of other callbacks) are inside the measured time."""
        self.fit_seconds = time.perf_counter() - self._t0

    def summary(self, unit: str) -> dict[str, Any]:
        s = self.seconds
        step = max(0.0, s["batch"] - s["views"])
        known = {"views": s["views"], "step": step, "checkpoint": s["checkpoint"], "monitor": s["monitor"]}
        known["other"] = max(0.0, self.fit_seconds - s["batch"] - s["checkpoint"] - s["monitor"])
        in_step = s["batch"] or 1e-9
        return {
            f"{unit}_per_second": round(self.items / max(self.fit_seconds, 1e-9), 2),
            f"in_step_{unit}_per_second": round(self.items / in_step, 2),
            "unit": unit,
            "fit_seconds": round(self.fit_seconds, 3),
            "seconds": {k: round(v, 3) for k, v in known.items()},
        }


class HarnessModule(L.LightningModule):
    """What pretraining and the supervised baseline share: progress through the run (steps or budget), a
    loss that is summed on the device and checked for NaN/inf every ``LOG_EVERY`` steps (no host sync per
    step), metrics.csv rows, and the clock."""

    def __init__(self, epochs: int | None, budget: str | None) -> None:
        super().__init__()
        self.run_epochs, self.budget = epochs, parse_budget(budget)
        self.clock = Clock()
        self._loss_sum = torch.zeros(())
        self._finite = torch.ones((), dtype=torch.bool)
        self._checked_step = 0
        self.log_every = LOG_EVERY  # set per run at fit start (short runs: every step)

    def progress(self) -> float:
        from xrayssl.train.schedule import progress

        total = self.trainer.estimated_stepping_batches if self.run_epochs else None
        total = total if total and total != float("inf") else None
        return progress(self.global_step, total, elapsed(self.trainer), self.budget)

    def on_fit_start(self) -> None:
        self._loss_sum, self._finite = self._loss_sum.to(self.device), self._finite.to(self.device)
        total = self.trainer.estimated_stepping_batches if self.run_epochs else None
        short = total is not None and total != float("inf") and total < SHORT_RUN_STEPS
        self.log_every = 1 if short else LOG_EVERY

    def track_loss(self, loss: torch.Tensor) -> None:
        if loss.dim():
            raise ValueError(f"a training loss must be a scalar, got shape {tuple(loss.shape)}")
        self._finite &= torch.isfinite(loss.detach())
        self._loss_sum += loss.detach().float()

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.global_step % self.log_every == 0:
            self.check_and_log(prog_bar=True)

    def on_train_end(self) -> None:
        self.check_and_log()

    def check_and_log(self, prog_bar: bool = False) -> None:
        """Stop on a non-finite loss (naming the steps since the last check) and write a loss row."""
        steps = self.global_step - self._checked_step
        if steps <= 0:
            return
        if not bool(self._finite):
            raise XraySSLError(
                f"loss became NaN or infinite between steps {self._checked_step} and {self.global_step} "
                f"(epoch {self.current_epoch}); try a lower --lr"
            )
        loss = float(self._loss_sum) / steps
        self._loss_sum.zero_()
        self._checked_step = self.global_step
        if prog_bar:
            self.log("loss", loss, prog_bar=True, logger=False)
        self.log_row(loss=loss, lr=self.optimizers().param_groups[0]["lr"])

    def log_row(self, **values: float) -> None:
        """One metrics.csv row (and the same values to TensorBoard/MLflow) at the current step."""
        row = {"epoch": self.current_epoch, "seconds": round(elapsed(self.trainer), 2), **values}
        for logger in self.trainer.loggers:
            logger.log_metrics(row, step=self.global_step)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["xrayssl"] = {"loss_sum": float(self._loss_sum), "checked_step": self._checked_step}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("xrayssl", {})
        self._checked_step = state.get("checked_step", checkpoint.get("global_step", 0))
        self._loss_sum = torch.tensor(state.get("loss_sum", 0.0))


def build_trainer(
    run: Path,
    *,
    accelerator: str,
    devices: str,
    precision: str,
    epochs: int | None,
    budget: str | None,
    checkpoint_every: str | None,
    tracker: str | None,
    progress_bar: bool,
    callbacks: list[Callback],
    clock: Clock,
    validate: bool = False,
) -> L.Trainer:
    """A Trainer with the harness's callbacks: the clock, timed checkpoints (when ``checkpoint_every``), the
    budget, and the loggers. Lightning's own per-epoch checkpointing is off."""
    all_callbacks: list[Callback] = [clock, *callbacks]
    if checkpoint_every:
        all_callbacks.append(TimedCheckpoints(run / "checkpoints", parse_budget(checkpoint_every), clock))
    seconds = parse_budget(budget)
    # a Timer also without a budget: its clock (carried over by checkpoints) is the runs' 'seconds'
    all_callbacks.append(Timer(duration={"seconds": seconds} if seconds else None, interval="step"))
    return L.Trainer(
        accelerator=accelerator,
        devices=devices,
        precision=precision,
        max_epochs=epochs if epochs else -1,
        callbacks=all_callbacks,
        logger=build_loggers(run, tracker),
        plugins=[AtomicCheckpointIO()],
        enable_checkpointing=False,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        log_every_n_steps=1,  # only the progress bar reads self.log; metrics rows are written by the module
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if validate else 0,
        default_root_dir=run,
    )


def elapsed(trainer: L.Trainer) -> float:
    """Training seconds so far (the Timer's clock, which a resumed run carries over)."""
    timer = next(c for c in trainer.callbacks if isinstance(c, Timer))
    return timer.time_elapsed("train")


def write_record(run: Path, kind: str, trainer: L.Trainer, clock: Clock, unit: str, started: str, **extra) -> None:
    runs.write_record(
        run,
        {
            "kind": kind,
            "started": started,
            "finished": runs.now(),
            "steps": trainer.global_step,
            "epochs": trainer.current_epoch,
            "throughput": clock.summary(unit),
            **extra,
            **runs.peak_memory(),
            "environment": runs.environment(),
        },
    )


# accelerators Lightning is given: each name, and how to tell whether this machine has it
_ACCELERATORS = {"gpu": "cuda", "cuda": "cuda", "mps": "mps"}


def check_accelerator(accelerator: str) -> None:
    """An accelerator asked for that this machine lacks is one line (not Lightning's traceback), before any run
    folder is made."""
    kind = _ACCELERATORS.get(accelerator)
    if kind == "cuda" and not torch.cuda.is_available():
        raise XraySSLError(f"--accelerator {accelerator}: this machine has no CUDA GPU that torch can use; "
                           "use --accelerator cpu (or auto)")  # fmt: skip
    if kind == "mps" and not torch.backends.mps.is_available():
        raise XraySSLError(f"--accelerator {accelerator}: this machine has no MPS device; use --accelerator cpu")


def check_start(config: Any, cache: Any) -> None:
    """Everything a run can be refused for at its start that its config alone cannot tell: the accelerator and
    the cache's image size."""
    check_accelerator(config.accelerator)
    check_size(config.size, config.allow_upscale, cache.path, cache.info.get("size"))
