"""``xrayssl pretrain``: self-supervised pretraining of a backbone on a prepared cache, with Lightning.

CPU, one GPU or several (DDP) with the same code; bf16 autocast on GPU; a checkpoint every epoch and at
the end of a time budget; ``resume`` continues from the last one. Labels are used for nothing except
the optional ``pretrain_abnormal_fraction`` subsampling of the unlabelled pool.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, Timer

from xrayssl import runs
from xrayssl.augment import parse_pipeline
from xrayssl.data.cache import PreparedCache, load_images
from xrayssl.errors import XraySSLError
from xrayssl.models.backbones import Backbone
from xrayssl.models.methods import build_method
from xrayssl.train.config import PretrainConfig, parse_budget
from xrayssl.train.data import ImageSet, select, subsample_abnormal_fraction
from xrayssl.train.schedule import lr_factor, progress


class SSLModule(L.LightningModule):
    def __init__(self, config: dict) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.cfg = PretrainConfig.from_dict(config)
        backbone = Backbone(self.cfg.backbone, self.cfg.small_stem)
        self.method = build_method(self.cfg.method, backbone, self.cfg.temperature)
        self.method = self.method.to(memory_format=torch.channels_last)  # faster convolutions, CPU and GPU
        self.view1 = parse_pipeline(self.cfg.augs)
        self.view2 = parse_pipeline(self.cfg.augs2) if self.cfg.augs2 else self.view1
        self.budget = parse_budget(self.cfg.budget)
        self.loss_log: Path | None = None
        self._images = 0
        self._train_seconds = 0.0

    def _elapsed(self) -> float:
        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None)
        return timer.time_elapsed("train") if timer else self._train_seconds

    def progress(self) -> float:
        total = self.trainer.estimated_stepping_batches if self.cfg.epochs else None
        total = total if total and np.isfinite(total) else None
        return progress(self.global_step, total, self._elapsed(), self.budget)

    def on_after_batch_transfer(self, batch, dataloader_idx):
        # one generator per step (and rank): a seed fixes every view, on CPU or GPU alike
        seed = (self.cfg.seed * 1_000_003 + self.global_step) * 64 + self.global_rank
        gen = torch.Generator().manual_seed(seed)
        x = batch.float().div_(255)
        cl = torch.channels_last
        return self.view1(x, gen).contiguous(memory_format=cl), self.view2(x, gen).contiguous(memory_format=cl)

    def training_step(self, batch, batch_idx):
        start = time.perf_counter()
        p = self.progress()
        for group in self.optimizers().param_groups:
            group["lr"] = self.cfg.lr * lr_factor(p, self.cfg.warmup)
        loss = self.method.loss(batch[0], batch[1], p)
        if not torch.isfinite(loss):
            raise XraySSLError(
                f"loss became {loss.item()} at step {self.global_step} (epoch {self.current_epoch}); try a lower --lr"
            )
        self.log("loss", loss, prog_bar=True, on_step=True)
        self._step_start = start
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.method.after_step(self.progress())
        self._images += len(batch[0]) * self.trainer.world_size
        self._train_seconds += time.perf_counter() - self._step_start
        if self.loss_log and self.global_rank == 0:
            with open(self.loss_log, "a", newline="") as f:
                csv.writer(f).writerow(
                    [self.global_step, self.current_epoch, round(self._elapsed(), 2), float(outputs["loss"])]
                )

    def configure_optimizers(self):
        return torch.optim.AdamW(
            [p for p in self.parameters() if p.requires_grad], lr=self.cfg.lr, weight_decay=self.cfg.weight_decay
        )


def _precision(cfg: PretrainConfig) -> str:
    return cfg.precision or runs.default_precision(cfg.accelerator)


def pretrain(config: PretrainConfig, resume: bool = False, progress_bar: bool = True) -> Path:
    """Run (or resume) a pretraining run; returns the run folder."""
    run = Path(config.out)
    ckpt = run / "checkpoints" / "last.ckpt"
    if resume:
        if not (run / "config.json").is_file():
            raise XraySSLError(f"{run}: nothing to resume (no config.json)")
        kind, stored = runs.read_config(run)
        if kind != "pretrain":
            raise XraySSLError(f"{run}: a {kind} run, not a pretraining run")
        config = PretrainConfig.from_dict(stored)  # the stored config wins: a resumed run is the same run
    elif (run / "config.json").is_file():
        raise XraySSLError(f"{run}: run folder exists; use --resume to continue it, or another --out")
    cache = PreparedCache(config.cache)
    L.seed_everything(config.seed, workers=True, verbose=False)
    idx = select(cache, config.split, config.body_part)
    pool = {"n_pool": len(idx), "abnormal_share_before": float((cache.labels[idx] == 1).mean())}
    if config.pretrain_abnormal_fraction is not None:
        idx = idx[subsample_abnormal_fraction(cache.labels[idx], config.pretrain_abnormal_fraction, config.seed)]
    pool.update(n_used=len(idx), abnormal_share_used=float((cache.labels[idx] == 1).mean()))
    if len(idx) < config.batch_size:
        raise XraySSLError(f"only {len(idx)} images to pretrain on, fewer than --batch-size {config.batch_size}")
    images = load_images(cache, idx, config.size)
    loader = torch.utils.data.DataLoader(
        ImageSet(images), batch_size=config.batch_size, shuffle=True, drop_last=True, num_workers=0
    )
    runs.write_config(run, "pretrain", config.to_dict())
    module = SSLModule(config.to_dict())
    module.loss_log = run / "loss.csv"
    if not resume or not module.loss_log.exists():
        module.loss_log.write_text("step,epoch,seconds,loss\n")
    budget = parse_budget(config.budget)
    # save_top_k=1 without a monitor keeps the newest epoch; save_last mirrors it to last.ckpt for --resume
    callbacks = [ModelCheckpoint(dirpath=run / "checkpoints", save_last=True, save_top_k=1, every_n_epochs=1)]
    if budget:
        callbacks.append(Timer(duration={"seconds": budget}, interval="step"))
    trainer = L.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        precision=_precision(config),
        max_epochs=config.epochs if config.epochs else -1,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        log_every_n_steps=10,
        default_root_dir=run,
    )
    started, start = runs.now(), time.perf_counter()
    trainer.fit(module, loader, ckpt_path=str(ckpt) if resume and ckpt.is_file() else None)
    if trainer.global_rank == 0:
        trainer.save_checkpoint(ckpt)  # also when a budget stopped the run mid-epoch
        runs.save_weights(module.method.backbone, run / "encoder.pt")
        runs.write_record(
            run,
            {
                "kind": "pretrain",
                "started": started,
                "finished": runs.now(),
                "wall_seconds": round(time.perf_counter() - start, 2),
                "train_seconds": round(module._train_seconds, 2),
                "steps": trainer.global_step,
                "epochs": trainer.current_epoch,
                "images_per_second": round(module._images / max(module._train_seconds, 1e-9), 1),
                "precision": _precision(config),
                "pool": pool,
                **runs.peak_memory(),
                "environment": runs.environment(),
            },
        )
    return run
