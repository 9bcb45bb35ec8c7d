"""``xrayssl pretrain``: self-supervised pretraining of a backbone on a prepared cache, with Lightning.

CPU, one GPU or several (DDP) with the same code; bf16 autocast on GPU. The split's images sit on the training
device and batches are drawn there (train/batches.py); views are made inside the timed training step. A
checkpoint every ``checkpoint_every`` of wall time and at the end; ``resume`` continues from the newest one
that loads. Labels are read only by the validation kNN monitor and the optional
``pretrain_abnormal_fraction`` subsampling of the unlabelled pool; the SSL loss never sees them.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from dataclasses import MISSING, fields
from pathlib import Path

import lightning as L
import numpy as np
import torch

from xrayssl import runs
from xrayssl.augment import parse_pipeline
from xrayssl.configfile import check_settings
from xrayssl.data.cache import PreparedCache, load_images
from xrayssl.errors import XraySSLError
from xrayssl.models.methods import Views, build_method
from xrayssl.train import checkpoints, harness
from xrayssl.train.batches import Batches, Partners, partner_groups, place
from xrayssl.train.config import PretrainConfig
from xrayssl.train.data import select, subsample_abnormal_fraction
from xrayssl.train.init import initial_backbone
from xrayssl.train.monitor import KNNMonitor, monitor_data
from xrayssl.train.schedule import lr_factor


class SSLModule(harness.HarnessModule):
    def __init__(self, config: dict, norm: str | None = None, args: dict | None = None) -> None:
        """``norm``: a resumed run's input normalisation (its start is then not read again); ``args``: its timm
        backbone's arguments."""
        cfg = PretrainConfig.from_dict(config)
        super().__init__(cfg.epochs, cfg.budget)
        self.save_hyperparameters({"config": config})
        self.cfg = cfg
        backbone = initial_backbone(cfg, norm, args)  # before the method: momentum encoders copy the start
        self.method = build_method(cfg.method, backbone, cfg.temperature)
        self.method = self.method.to(memory_format=torch.channels_last)  # faster convolutions, CPU and GPU
        self.view1 = parse_pipeline(cfg.augs)
        self.view2 = parse_pipeline(cfg.augs2) if cfg.augs2 else self.view1
        self.batches: Batches | None = None
        self.data_on = "host"

    def on_fit_start(self) -> None:
        super().on_fit_start()
        self.batches.set_rank(self.global_rank, self.trainer.world_size)
        self.data_on = place(self.batches, self.device)
        if self.cfg.compile:
            self.method.backbone.compile()

    def on_train_epoch_start(self) -> None:
        self.batches.set_epoch(self.current_epoch)

    def make_views(self, batch) -> Views:
        """Two views per item, made on the batch's device; a seed fixes every view on CPU or GPU alike."""
        start = time.perf_counter()
        first, second = batch if isinstance(batch, (tuple, list)) else (batch, batch)
        gen = torch.Generator().manual_seed((self.cfg.seed * 1_000_003 + self.global_step) * 64 + self.global_rank)
        x1, m1 = self.view1.with_geometry(first.float().div_(255), gen)
        x2, m2 = self.view2.with_geometry(second.float().div_(255), gen)
        cl = torch.channels_last
        views = Views(x1.contiguous(memory_format=cl), x2.contiguous(memory_format=cl), m1, m2)
        self.clock.add("views", time.perf_counter() - start)
        return views

    def training_step(self, batch, batch_idx):
        progress = self.progress()  # share of the run done, 0..1: the lr schedule and loss warm-ups read it
        for group in self.optimizers().param_groups:
            group["lr"] = self.cfg.lr * lr_factor(progress, self.cfg.warmup)
        loss = self.method.loss(self.make_views(batch), progress)
        self.track_loss(loss)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.method.after_step(self.progress())
        super().on_train_batch_end(outputs, batch, batch_idx)

    def configure_optimizers(self):
        return torch.optim.AdamW(
            [p for p in self.parameters() if p.requires_grad], lr=self.cfg.lr, weight_decay=self.cfg.weight_decay
        )


def _precision(cfg: PretrainConfig) -> str:
    return cfg.precision or runs.default_precision(cfg.accelerator)


def _resolve(config: PretrainConfig, resume: bool) -> PretrainConfig:
    run = Path(config.out)
    if resume:
        if not (run / "config.json").is_file():
            raise XraySSLError(f"{run}: nothing to resume (no config.json)")
        kind, stored = runs.read_config(run)
        if kind != "pretrain":
            raise XraySSLError(f"{run}: a {kind} run, not a pretraining run")
        names = {f.name for f in fields(PretrainConfig)}
        settings = check_settings({k: v for k, v in stored.items() if k in names}, PretrainConfig, str(run))
        # the stored settings win (a resumed run is the same run), but it stays in this folder and reads the
        # cache given now, which must be the one it started on: a copied folder never writes into its original
        execution = {k: getattr(config, k) for k in GIVEN_WINS if _given(config, k)}
        resumed = PretrainConfig(**{**settings, **execution, "out": str(run), "cache": config.cache})
        _say_differences(config, settings, run)
        same_cache(run, PreparedCache(resumed.cache))
        return resumed
    if (run / "config.json").is_file():
        raise XraySSLError(f"{run}: run folder exists; use --resume to continue it, or another --out")
    return config


# where and how a resumed run continues, not what it computes: the value given to --resume wins over the stored one
GIVEN_WINS = ("accelerator", "devices", "checkpoint_every", "logger", "compile")


def _given(config: PretrainConfig, name: str) -> bool:
    """A setting the resuming command changed from its default (the only ones it can be said to have given)."""
    f = next(f for f in fields(PretrainConfig) if f.name == name)
    default = f.default_factory() if f.default_factory is not MISSING else f.default
    return getattr(config, name) != default


def _say_differences(config: PretrainConfig, stored: dict, run: Path) -> None:
    """One line per setting the resuming command gives differently from the stored run, and which value wins."""
    for f in fields(PretrainConfig):
        if f.name in ("cache", "out") or not _given(config, f.name):
            continue
        given, kept = getattr(config, f.name), stored.get(f.name, f.default)
        if given == kept:
            continue
        wins = "the given value wins (it says where the run continues)" if f.name in GIVEN_WINS else (
            "the stored value wins (a resumed run is the same run; start a new --out to change it)")  # fmt: skip
        print(f"{run}: --resume: {f.name} given {given!r}, stored {kept!r}: {wins}", file=sys.stderr, flush=True)


def same_cache(run: Path, cache: PreparedCache) -> None:
    """A run continues on the dataset it started on (runs from before cache identities are taken as they are)."""
    started_on = runs.read_cache_identity(run)
    if started_on is not None and started_on != cache.identity:
        raise XraySSLError(
            f"{run}: the cache {cache.path} is not the one this run started on (identity {started_on}, now "
            f"{cache.identity}); give that cache, or start a new run"
        )


def _pool(cache: PreparedCache, config: PretrainConfig) -> tuple[np.ndarray, dict]:
    idx = select(cache, config.split, config.body_part)
    abnormal = cache.task.abnormal(cache.targets)  # 1 abnormal, 0 normal, -1 unknown, whatever the task
    pool = {"n_pool": len(idx), "abnormal_share_before": float((abnormal[idx] == 1).mean())}
    if config.pretrain_abnormal_fraction is not None:
        if not cache.task.has_normal:
            raise XraySSLError(
                f"{cache.path}: --pretrain-abnormal-fraction needs a normal class, and this {cache.task.kind} task "
                "names none (prepare with --normal VALUE)"
            )
        idx = idx[subsample_abnormal_fraction(abnormal[idx], config.pretrain_abnormal_fraction, config.seed)]
    pool.update(n_used=len(idx), abnormal_share_used=float((abnormal[idx] == 1).mean()))
    if len(idx) < config.batch_size:
        raise XraySSLError(f"only {len(idx)} images to pretrain on, fewer than --batch-size {config.batch_size}")
    return idx, pool


def _partners(cache: PreparedCache, idx: np.ndarray, positives: str) -> Partners | None:
    groups, warning = partner_groups(cache.manifest.iloc[idx], positives)
    if warning:
        warnings.warn(warning, stacklevel=3)
    return None if groups is None else Partners(groups)


def _monitor(cache: PreparedCache, config: PretrainConfig) -> KNNMonitor | None:
    if config.monitor_every == 0:
        return None
    m = cache.manifest.assign(index=np.arange(len(cache)))
    m = m[m["label"] >= 0]
    if config.body_part:
        m = m[m["body_part"].str.lower() == config.body_part.lower()]
    data = monitor_data(
        cache, m[m["split"] == config.split], m[m["split"] == "val"], config.size, config.monitor_images, config.seed
    )
    return None if data is None else KNNMonitor(data, config.monitor_every, keep_best=config.keep == "best-knn")


def pretrain(config: PretrainConfig, resume: bool = False, progress_bar: bool = True) -> Path:
    """Run (or resume) a pretraining run; returns the run folder. Nothing is written until the cache, the
    config and the model have been checked; the folder is held by this process while it runs."""
    config = _resolve(config, resume)
    harness.check_start(config, PreparedCache(config.cache))  # before the run folder is made
    run = Path(config.out)
    with runs.claimed(run):
        return _pretrain(config, run, resume, progress_bar)


def _pretrain(config: PretrainConfig, run: Path, resume: bool, progress_bar: bool) -> Path:
    cache = PreparedCache(config.cache)
    L.seed_everything(config.seed, workers=True, verbose=False)
    idx, pool = _pool(cache, config)
    partners = _partners(cache, idx, config.positives)
    monitor = _monitor(cache, config)
    resumed = runs.read_encoder(run) if resume else {"norm": None, "timm_args": None}
    module = SSLModule(config.to_dict(), resumed["norm"], resumed["timm_args"] or None)
    module.batches = Batches(load_images(cache, idx, config.size), config.batch_size, config.seed, partners=partners)
    if not resume:
        backbone = module.method.backbone  # what it expects as input: a start's normalisation, size, patch
        spec = getattr(backbone, "input_spec", dict)()
        runs.write_config(run, "pretrain", config.to_dict(), backbone.norm, cache.identity, encoder=spec)
    trainer = harness.build_trainer(
        run,
        accelerator=config.accelerator,
        devices=config.devices,
        precision=_precision(config),
        epochs=config.epochs,
        budget=config.budget,
        checkpoint_every=config.checkpoint_every,
        tracker=config.logger,
        progress_bar=progress_bar,
        callbacks=[monitor] if monitor else [],
        clock=module.clock,
    )
    ckpt = checkpoints.resume_point(run, trainer, say=lambda line: print(line, flush=True)) if resume else None
    started = runs.now()
    checkpoints.fit(trainer, module, module.batches, ckpt_path=ckpt)
    module.clock.stop()
    if trainer.global_rank == 0:
        backbone = module.method.backbone
        kept = {"keep": config.keep, "step": trainer.global_step}
        if monitor and monitor.best_state is not None and config.keep == "best-knn":
            backbone.load_state_dict(monitor.best_state)
            kept = {"keep": "best-knn", "step": monitor.best_step, monitor.data.metric: monitor.best_score}
        runs.save_weights(backbone, run / "encoder.pt")
        harness.write_record(
            run,
            "pretrain",
            trainer,
            module.clock,
            "pairs",
            started,
            precision=_precision(config),
            pool=pool,
            positives={"kind": config.positives, "crossed_share": module.batches.crossed_share()},
            data_on=module.data_on,
            encoder=kept,
            monitor=monitor.last if monitor else None,
        )
    return run


def seconds_per_step(config: PretrainConfig, steps: int = 3) -> tuple[float, str]:
    """A pretraining step's seconds on this machine, timed over ``steps`` steps (after one untimed warm-up) of
    the run's method, backbone, size and batch on random images; and where they ran. Nothing is written."""
    cuda = torch.cuda.is_available() and config.accelerator in ("auto", "gpu", "cuda")
    device = torch.device("cuda" if cuda else "cpu")
    module = SSLModule(config.to_dict()).to(device)
    optimiser = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=config.lr)
    batch = torch.randint(0, 256, (config.batch_size, 1, config.size, config.size), dtype=torch.uint8, device=device)
    autocast = torch.autocast("cuda", torch.bfloat16) if cuda else contextlib.nullcontext()
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with autocast:
            loss = module.method.loss(module.make_views(batch), 0.0)
        loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:])), device.type
