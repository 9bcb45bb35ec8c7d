"""Learning you can watch: a validation kNN score and a collapse indicator of the encoder during pretraining.

At each reading the frozen encoder (eval mode) embeds up to ``monitor_images`` labelled *training* images and
the validation split; each validation image gets the vote of its k = 20 nearest training images (cosine
distance on L2-normalised features): the share of abnormal images for binary, of each class for multiclass and
ordinal, of positives per finding for multilabel (``tasks.knn_probabilities``), and the votes give the task's
primary metric (AUROC for binary, logged as ``knn_val_auroc`` as always; ``knn_val_qwk`` for grades...). The
labels are the ones the probe trains on; the SSL loss never sees them, and the test split is never read.
"""

from __future__ import annotations

import copy
import math
import time
import warnings

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from xrayssl.metrics import embedding_std
from xrayssl.tasks import BINARY, Task, knn_probabilities, primary_score


class MonitorData:
    """uint8 images and labels (the task's: (n,) classes or (n, K) findings) of the monitor's two sets (moved to
    the training device with the model)."""

    def __init__(
        self,
        train: torch.Tensor,
        train_labels: np.ndarray,
        val: torch.Tensor,
        val_labels: np.ndarray,
        task: Task = BINARY,
    ):
        self.train, self.val, self.task = train, val, task
        self.train_labels, self.val_labels = np.asarray(train_labels), np.asarray(val_labels)

    @property
    def metric(self) -> str:
        """The logged name: ``knn_val_`` + the task's primary metric (binary: knn_val_auroc, as before)."""
        return f"knn_val_{self.task.primary}"

    def to(self, device: torch.device) -> MonitorData:
        self.train, self.val = self.train.to(device), self.val.to(device)
        return self


@torch.no_grad()
def embed(backbone: torch.nn.Module, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Features of uint8 images with the backbone in eval mode (its train mode is restored after)."""
    was_training = backbone.training
    backbone.eval()
    out = []
    cuda = images.device.type == "cuda"
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].float().div_(255)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            out.append(backbone(x).float())
    backbone.train(was_training)
    return torch.cat(out).cpu().numpy()


class KNNMonitor(Callback):
    """Reads the encoder at ``every`` steps (or, with ``every`` None, at each tenth of the run's progress) and at
    the end; logs ``knn_val_<primary metric>`` and ``embedding_std``. With ``keep_best`` it keeps a copy of the
    encoder with the best validation kNN score (saved in checkpoints, so a resumed run remembers it)."""

    def __init__(self, data: MonitorData, every: int | None, keep_best: bool, k: int = 20) -> None:
        self.data, self.every, self.keep_best, self.k = data, every, keep_best, k
        self.readings = 0
        self.best_score = -math.inf
        self.best_step: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.last: dict[str, float] = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        self.data.to(pl_module.device)

    def _due(self, trainer, pl_module) -> bool:
        if self.every:
            return trainer.global_step % self.every == 0
        return pl_module.progress() >= (self.readings + 1) / 10

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._due(trainer, pl_module):
            self.read(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.last.get("step") != trainer.global_step:
            self.read(trainer, pl_module)

    def read(self, trainer, pl_module) -> dict[str, float]:
        start = time.perf_counter()
        backbone = pl_module.method.backbone
        train = embed(backbone, self.data.train)
        val = embed(backbone, self.data.val)
        try:
            votes = knn_probabilities(self.data.task, train, self.data.train_labels, val, self.k)
            score = primary_score(self.data.task, self.data.val_labels, votes)
            std = embedding_std(val)
        except Exception as exc:  # a broken reading must not end a run
            warnings.warn(f"kNN monitor failed at step {trainer.global_step}: {exc}", stacklevel=2)
            score, std = float("nan"), float("nan")
        self.readings += 1
        self.last = {"step": trainer.global_step, self.data.metric: score, "embedding_std": std}
        if self.keep_best and np.isfinite(score) and score > self.best_score:
            self.best_score, self.best_step = score, trainer.global_step
            self.best_state = {k: v.detach().cpu().clone() for k, v in backbone.state_dict().items()}
        pl_module.log_row(**{self.data.metric: score}, embedding_std=std)
        pl_module.clock.add("monitor", time.perf_counter() - start)
        return self.last

    def state_dict(self) -> dict:
        return {
            "readings": self.readings,
            "best_score": self.best_score,
            "best_step": self.best_step,
            "best_state": copy.copy(self.best_state),
        }

    def load_state_dict(self, state: dict) -> None:
        self.readings, self.best_score = state["readings"], state["best_score"]
        self.best_step, self.best_state = state["best_step"], state["best_state"]


def monitor_data(cache, train_rows, val_rows, size: int, n_train: int, seed: int) -> MonitorData | None:
    """Up to ``n_train`` labelled training images (drawn by seed) and the labelled validation split, with the
    cache's task and its labels; None (with a warning) when there is no validation split with two classes."""
    from xrayssl.data.cache import load_images, targets

    if val_rows is None or len(val_rows) == 0 or val_rows["label"].nunique() < 2:
        warnings.warn("no validation split with two kinds of labels: the kNN monitor is off", stacklevel=2)
        return None
    task = cache.task
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(train_rows), size=min(n_train, len(train_rows)), replace=False))
    train_rows = train_rows.iloc[pick]
    return MonitorData(
        load_images(cache, train_rows["index"].to_numpy(), size),
        targets(train_rows, task),
        load_images(cache, val_rows["index"].to_numpy(), size),
        targets(val_rows, task),
        task,
    )
