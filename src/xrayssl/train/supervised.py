"""``xrayssl supervised``: the same backbone trained end to end with labels, as a reference for SSL.

Class-weighted loss, the same augmentation language, early stopping on validation AUROC, an optional
patient-level label fraction; evaluated on the test split by the same code and metrics as the probe.
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, Timer
from sklearn.metrics import roc_auc_score
from torch import nn

from xrayssl import runs
from xrayssl.augment import parse_pipeline
from xrayssl.data.cache import PreparedCache, load_images
from xrayssl.data.selection import labelled_splits, patient_fraction
from xrayssl.errors import XraySSLError
from xrayssl.models.backbones import Backbone
from xrayssl.models.classifier import Classifier
from xrayssl.train.config import SupervisedConfig, parse_budget
from xrayssl.train.data import ImageSet


def initial_backbone(config: SupervisedConfig) -> Backbone:
    """Random weights, or with ``config.init`` the encoder of an earlier run (fine-tuning an SSL encoder)."""
    backbone = Backbone(config.backbone, config.small_stem)
    if config.init:
        encoder, source = runs.load_encoder(config.init)
        theirs = (source["backbone"], bool(source.get("small_stem", False)))
        if theirs != (config.backbone, config.small_stem):
            raise XraySSLError(
                f"--init {config.init}: its encoder is {theirs[0]}{' (small stem)' * theirs[1]}, this run asks for "
                f"{config.backbone}{' (small stem)' * config.small_stem}; give the same --backbone/--small-stem"
            )
        backbone.load_state_dict(encoder.state_dict())
    return backbone


class SupervisedModule(L.LightningModule):
    def __init__(self, config: dict, pos_weight: float) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg = SupervisedConfig.from_dict(config)
        self.model = Classifier(initial_backbone(self.cfg)).to(memory_format=torch.channels_last)
        self.augment = parse_pipeline(self.cfg.augs)
        self.criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_after_batch_transfer(self, batch, dataloader_idx):
        x, y = batch
        x = x.float().div_(255)
        if self.trainer.training:
            gen = torch.Generator().manual_seed((self.cfg.seed * 1_000_003 + self.global_step) * 64 + self.global_rank)
            x = self.augment(x, gen)
        return x.contiguous(memory_format=torch.channels_last), y

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.criterion(self.model(x), y.float())
        if not torch.isfinite(loss):
            raise XraySSLError(f"loss became {loss.item()} at step {self.global_step}; try a lower --lr")
        self.log("loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self._val.append((torch.sigmoid(self.model(x).float()).cpu(), y.cpu()))

    def on_validation_epoch_end(self):
        p = torch.cat([a for a, _ in self._val]).numpy()
        y = torch.cat([b for _, b in self._val]).numpy()
        self._val.clear()
        self.log("val_auroc", float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else 0.5, prog_bar=True)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.cfg.epochs))
        return [opt], [sched]


def train_supervised(config: SupervisedConfig, progress_bar: bool = True) -> Path:
    """Train and save the classifier (``classifier.pt``) and its backbone (``encoder.pt``)."""
    run = Path(config.out)
    if (run / "config.json").is_file():
        raise XraySSLError(f"{run}: run folder exists; choose another --out")
    L.seed_everything(config.seed, workers=True, verbose=False)
    cache = PreparedCache(config.cache)
    rows = labelled_splits(cache.manifest, config.body_part, str(cache.path))
    train = rows["train"]
    n_full = len(train)
    if config.label_fraction < 1:
        train = train.iloc[patient_fraction(train, config.label_fraction, config.seed)].reset_index(drop=True)
    images = {
        s: load_images(cache, r["index"].to_numpy(), config.size)
        for s, r in {"train": train, "val": rows["val"], "test": rows["test"]}.items()
    }
    labels = torch.tensor(train["label"].to_numpy())
    pos_weight = float((labels == 0).sum()) / max(1.0, float((labels == 1).sum()))
    batch = min(config.batch_size, len(train))
    # An epoch is as many images as the full training split, whatever the label fraction (repeated
    # shuffles of the labelled part): a 10 % run then takes as many optimiser steps, and is validated
    # as often, as a full one. Counting epochs over the labelled part alone would stop it after a tenth
    # of the training and make the baseline SSL is compared against look weaker than it is.
    sampler = torch.utils.data.RandomSampler(range(len(train)), num_samples=n_full)
    train_loader = torch.utils.data.DataLoader(
        ImageSet(images["train"], labels), batch_size=batch, sampler=sampler, drop_last=len(train) > batch
    )
    val_loader = torch.utils.data.DataLoader(
        ImageSet(images["val"], torch.tensor(rows["val"]["label"].to_numpy())), batch_size=256
    )
    module = SupervisedModule(config.to_dict(), pos_weight)  # a wrong --init fails before the run folder is made
    runs.write_config(run, "supervised", config.to_dict())
    best = ModelCheckpoint(
        dirpath=run / "checkpoints", filename="best", monitor="val_auroc", mode="max", save_top_k=1, save_last=True
    )
    callbacks = [best, EarlyStopping(monitor="val_auroc", mode="max", patience=config.patience)]
    budget = parse_budget(config.budget)
    if budget:
        callbacks.append(Timer(duration={"seconds": budget}, interval="step"))
    precision = config.precision or runs.default_precision(config.accelerator)
    trainer = L.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        precision=precision,
        max_epochs=config.epochs,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        default_root_dir=run,
    )
    started, start = runs.now(), time.perf_counter()
    trainer.fit(module, train_loader, val_loader)
    if best.best_model_path:
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    model = module.model.cpu()
    runs.save_weights(model.backbone, run / "encoder.pt")
    runs.save_weights(model, run / "classifier.pt")
    runs.write_record(
        run,
        {
            "kind": "supervised",
            "n_train_images": len(train),
            "n_train_patients": int(train["patient_id"].nunique()),
            "images_per_epoch": len(sampler),
            "steps": trainer.global_step,
            "started": started,
            "finished": runs.now(),
            "wall_seconds": round(time.perf_counter() - start, 2),
            "epochs": trainer.current_epoch,
            "best_epoch_val_auroc": float(best.best_model_score or float("nan")),
            "precision": precision,
            **runs.peak_memory(),
            "environment": runs.environment(),
        },
    )
    return run
