"""``xrayssl supervised``: the same backbone trained end to end with labels, as a reference for SSL.

The cache's task chooses the head and its loss (models/classifier.py: one logit, softmax, CORN for grades, masked
BCE per finding), class-weighted as the binary baseline's pos_weight; the same augmentation language; early
stopping and the kept epoch by the task's primary metric on validation (``val_auroc`` for binary, ``val_qwk``
for ordinal...); an optional patient-level label fraction; evaluated on the test split by the same code and
metrics as the probe. The task is written to ``RUN/head.json`` so that the classifier can be rebuilt.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

from xrayssl import runs
from xrayssl.augment import parse_pipeline
from xrayssl.catalog import INFERENCE_BATCH
from xrayssl.data.cache import PreparedCache, load_images
from xrayssl.data.selection import LabelledSplits, labelled_splits, patient_fraction
from xrayssl.errors import XraySSLError
from xrayssl.fileio import write_text_atomic
from xrayssl.models.classifier import Classifier
from xrayssl.runs import HEAD_JSON
from xrayssl.tasks import Task, class_weights, primary_score
from xrayssl.train import checkpoints, harness
from xrayssl.train.batches import Batches, place
from xrayssl.train.config import SupervisedConfig
from xrayssl.train.init import initial_backbone


class SupervisedModule(harness.HarnessModule):
    def __init__(self, config: dict, weight: list[float], task: dict | None = None) -> None:
        cfg = SupervisedConfig.from_dict(config)
        super().__init__(cfg.epochs, cfg.budget)
        self.save_hyperparameters()
        self.cfg, self.task = cfg, Task.from_json(task)
        self.model = Classifier(initial_backbone(cfg), self.task).to(memory_format=torch.channels_last)
        self.augment = parse_pipeline(cfg.augs)
        self.register_buffer("weight", torch.tensor(weight, dtype=torch.float32))
        self.batches: Batches | None = None
        self.data_on = "host"
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_fit_start(self) -> None:
        super().on_fit_start()
        self.batches.set_rank(self.global_rank, self.trainer.world_size)
        self.data_on = place(self.batches, self.device)

    def on_train_epoch_start(self) -> None:
        self.batches.set_epoch(self.current_epoch)

    def training_step(self, batch, batch_idx):
        start = time.perf_counter()
        x, y = batch
        gen = torch.Generator().manual_seed((self.cfg.seed * 1_000_003 + self.global_step) * 64 + self.global_rank)
        x = self.augment(x.float().div_(255), gen).contiguous(memory_format=torch.channels_last)
        self.clock.add("views", time.perf_counter() - start)
        loss = self.model.loss(self.model(x), y, self.weight)
        self.track_loss(loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        x = x.float().div_(255).contiguous(memory_format=torch.channels_last)
        self._val.append((self.model.probabilities(self.model(x)).cpu(), y.cpu()))

    def on_validation_epoch_end(self):
        scores = torch.cat([a for a, _ in self._val]).numpy()
        y = torch.cat([b for _, b in self._val]).numpy()
        self._val.clear()
        score = primary_score(self.task, y, scores)
        self.log(monitor_name(self.task), score if np.isfinite(score) else self.task.chance, prog_bar=True)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.cfg.epochs))
        return [opt], [sched]


def monitor_name(task: Task) -> str:
    """What early stopping watches: the task's primary metric on validation (binary: val_auroc, as before)."""
    return f"val_{task.primary}"


class BestState(Callback):
    """The classifier's weights at its best validation primary metric, kept in memory (early stopping's choice)."""

    def __init__(self, monitor: str = "val_auroc") -> None:
        self.monitor = monitor
        self.score, self.epoch, self.state = -np.inf, None, None

    def on_validation_end(self, trainer, pl_module) -> None:
        score = float(trainer.callback_metrics.get(self.monitor, -np.inf))
        if score > self.score:
            self.score, self.epoch = score, trainer.current_epoch
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in pl_module.model.state_dict().items()})


def _labelled_rows(config: SupervisedConfig, cache: PreparedCache) -> tuple[LabelledSplits, pd.DataFrame]:
    """The labelled splits (their ``task``: what the model learns) and the training rows: a patient-level
    ``label_fraction`` of the training split."""
    rows = labelled_splits(cache.manifest, config.body_part, str(cache.path), cache.task)
    train = rows["train"]
    if config.label_fraction < 1:
        train = train.iloc[patient_fraction(train, config.label_fraction, config.seed)].reset_index(drop=True)
    return rows, train


def _batches(
    config: SupervisedConfig, cache: PreparedCache, rows: LabelledSplits, train: pd.DataFrame
) -> tuple[Batches, Batches]:
    """(training batches, validation batches). An epoch is as many images as the full training split, whatever
    the label fraction (repeated shuffles of the labelled part): a 10 % run then takes as many optimiser steps,
    and is validated as often, as a full one. Counting epochs over the labelled part alone would stop it after a
    tenth of the training and make the baseline SSL is compared against look weaker than it is."""
    batch, n_full = min(config.batch_size, len(train)), len(rows["train"])
    images = load_images(cache, train["index"].to_numpy(), config.size)
    labels = torch.tensor(rows.labels_of(train))
    training = Batches(images, batch, config.seed, labels=labels, num_samples=n_full, drop_last=len(train) > batch)
    val_images = load_images(cache, rows["val"]["index"].to_numpy(), config.size)
    val_labels = torch.tensor(rows.targets("val"))
    return training, Batches(
        val_images, INFERENCE_BATCH, config.seed, labels=val_labels, shuffle=False, drop_last=False
    )


def train_supervised(config: SupervisedConfig, progress_bar: bool = True) -> Path:
    """Train and save the classifier (``classifier.pt``) and its backbone (``encoder.pt``); the run folder is
    held by this process while it trains."""
    run = Path(config.out)
    if (run / "config.json").is_file():
        raise XraySSLError(f"{run}: run folder exists; choose another --out")
    harness.check_start(config, PreparedCache(config.cache))  # before the run folder is made
    with runs.claimed(run):
        return _train(config, run, progress_bar)


def _train(config: SupervisedConfig, run: Path, progress_bar: bool) -> Path:
    L.seed_everything(config.seed, workers=True, verbose=False)
    cache = PreparedCache(config.cache)
    rows, train = _labelled_rows(config, cache)  # labelled_splits names any class that train lacks
    task = rows.task  # the cache's, less any finding a split cannot score
    weight = class_weights(task, rows.labels_of(train)).tolist()
    module = SupervisedModule(config.to_dict(), weight, task.to_json())  # a wrong --init fails before the folder
    module.batches, val = _batches(config, cache, rows, train)
    backbone = module.model.backbone  # what it expects as input: a start's normalisation, size, patch
    spec = getattr(backbone, "input_spec", dict)()
    runs.write_config(run, "supervised", config.to_dict(), backbone.norm, cache.identity, encoder=spec)
    write_text_atomic(run / HEAD_JSON, json.dumps({"task": task.to_json(), "head": module.model.kind}, indent=2))
    monitor = monitor_name(task)
    best = BestState(monitor)
    precision = config.precision or runs.default_precision(config.accelerator)
    trainer = harness.build_trainer(
        run,
        accelerator=config.accelerator,
        devices=config.devices,
        precision=precision,
        epochs=config.epochs,
        budget=config.budget,
        checkpoint_every=None,  # early stopping keeps its best epoch in memory: an interrupted run starts over
        tracker=None,
        progress_bar=progress_bar,
        callbacks=[best, EarlyStopping(monitor=monitor, mode="max", patience=config.patience)],
        clock=module.clock,
        validate=True,
    )
    started = runs.now()
    checkpoints.fit(trainer, module, module.batches, val)
    module.clock.stop()
    if best.state is not None:
        module.model.load_state_dict(best.state)
    model = module.model.cpu()
    runs.save_weights(model.backbone, run / "encoder.pt")
    runs.save_weights(model, run / "classifier.pt")
    harness.write_record(
        run,
        "supervised",
        trainer,
        module.clock,
        "images",
        started,
        n_train_images=len(train),
        n_train_patients=int(train["patient_id"].nunique()),
        images_per_epoch=len(rows["train"]),
        best_epoch=best.epoch,
        **{f"best_epoch_{monitor}": float(best.score)},
        precision=precision,
        data_on=module.data_on,
    )
    return run
