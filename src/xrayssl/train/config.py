"""Typed, serialisable descriptions of runs: the CLI builds them, run folders store them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from xrayssl.errors import XraySSLError


def parse_budget(text: str | None) -> float | None:
    """'15m', '90s', '1h30m', '2h' -> seconds."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*", str(text))
    if not m or not any(m.groups()):
        raise XraySSLError(f"cannot read budget '{text}': write e.g. 90s, 15m, 1h30m")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s


class Serialisable:
    """Run configs go to and from plain dicts (JSON in the run folder); unknown keys are ignored."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class PretrainConfig(Serialisable):
    cache: str
    out: str
    # defaults chosen on the knee radiographs at 64 px on a 2-core CPU (README): SimCLR with mild, shape-preserving
    # views beat BYOL by about 0.05 AUROC at a 10-15 minute budget; strong crops and aspect changes did worse;
    # mild intensity jitter takes away the brightness/contrast shortcut between views (+0.01-0.02 test AUROC)
    method: str = "simclr"
    augs: str = "crop(scale=0.8..1,ratio=1)+rotate(5)+flip+intensity"
    augs2: str | None = None  # second view's recipe (asymmetric views); the first recipe when None
    backbone: str = "resnet18"
    small_stem: bool = False
    size: int = 64
    batch_size: int = 128
    epochs: int | None = None
    budget: str | None = "15m"  # wall-clock budget; the run stops at whichever of epochs/budget comes first
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float | None = None  # contrastive methods: None keeps the method's (simclr 0.1, moco 0.2)
    warmup: float = 0.05  # share of training with a linear learning-rate warm-up
    seed: int = 0
    split: str = "train"  # images used for pretraining (their labels are not used)
    body_part: str | None = None
    pretrain_abnormal_fraction: float | None = None  # subsample the pool to this share of abnormal images
    # positives from the data's structure (MedAug, MICLe): the second view comes from another image of the same
    # study or patient; image = two views of one image. Labels are never read for it.
    positives: str = "image"
    monitor_every: int | None = None  # steps between kNN monitor readings; None: every tenth of the run; 0: off
    monitor_images: int = 2000  # labelled training images the monitor's kNN is fitted on (at most)
    keep: str = "last"  # encoder to save: last, or best-knn (best validation kNN AUROC of the monitor)
    logger: str | None = None  # tensorboard or mlflow, besides the CSV log that is always written
    checkpoint_every: str | None = "5m"  # wall time between checkpoints (--resume loses at most this much)
    compile: bool = False  # torch.compile the backbone (GPU)
    accelerator: str = "auto"
    devices: str = "auto"
    precision: str | None = None  # None: bf16-mixed on GPU, 32-true on CPU

    def __post_init__(self) -> None:
        from xrayssl.augment import parse_pipeline
        from xrayssl.models.methods import check_pair, check_temperature
        from xrayssl.train.batches import POSITIVES
        from xrayssl.train.logs import check_tracker

        if self.epochs is None and self.budget is None:
            raise XraySSLError("give --epochs or --budget (or both)")
        check_common(self)
        if self.pretrain_abnormal_fraction is not None and not 0 < self.pretrain_abnormal_fraction < 1:
            raise XraySSLError("--pretrain-abnormal-fraction must be between 0 and 1 (exclusive)")
        check_pair(self.method, self.backbone)
        if self.temperature is not None:
            check_temperature(self.method, self.temperature)
        for name, spec in (("--augs", self.augs), ("--augs2", self.augs2)):
            if spec is not None:
                try:
                    parse_pipeline(spec)
                except XraySSLError as exc:
                    raise XraySSLError(f"{name}: {exc}") from None
        if self.positives not in POSITIVES:
            raise XraySSLError(f"unknown --positives '{self.positives}'; valid: {', '.join(POSITIVES)}")
        if self.keep not in KEEP:
            raise XraySSLError(f"unknown --keep '{self.keep}'; valid: {', '.join(KEEP)}")
        if self.keep == "best-knn" and self.monitor_every == 0:
            raise XraySSLError("--keep best-knn needs the kNN monitor (--monitor-every is 0)")
        if (self.monitor_every is not None and self.monitor_every < 0) or self.monitor_images < 1:
            raise XraySSLError("--monitor-every must be >= 0 and --monitor-images >= 1")
        if not 0 <= self.warmup < 1:
            raise XraySSLError(f"--warmup must be in [0, 1), got {self.warmup}")
        if self.logger is not None:
            check_tracker(self.logger)


KEEP = ("last", "best-knn")
MAX_SIZE = 2048


def check_common(cfg) -> None:
    """Checks shared by pretraining and supervised configs: impossible values are one-line errors up front."""
    parse_budget(cfg.budget)
    parse_budget(getattr(cfg, "checkpoint_every", None))
    if cfg.epochs is not None and cfg.epochs < 1:
        raise XraySSLError(f"--epochs must be >= 1, got {cfg.epochs}")
    if not 16 <= cfg.size <= MAX_SIZE:
        raise XraySSLError(f"--size must be between 16 and {MAX_SIZE} px, got {cfg.size}")
    if cfg.batch_size < 2:
        raise XraySSLError(f"--batch-size must be >= 2, got {cfg.batch_size}")
    if not cfg.lr > 0:
        raise XraySSLError(f"--lr must be positive, got {cfg.lr}")
    if cfg.weight_decay < 0:
        raise XraySSLError(f"--weight-decay must be >= 0, got {cfg.weight_decay}")
    if parse_budget(cfg.budget) == 0:
        raise XraySSLError("--budget must be longer than 0 s")


@dataclass
class SupervisedConfig(Serialisable):
    cache: str
    out: str
    backbone: str = "resnet18"
    small_stem: bool = False
    size: int = 64
    augs: str = "crop(scale=0.5..1)+rotate(10)+flip+intensity(p=0.5)+blur(p=0.3)"
    batch_size: int = 64
    epochs: int = 30  # an epoch is as many images as the full training split, also at a label fraction
    budget: str | None = "15m"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    label_fraction: float = 1.0  # share of training patients whose labels are used (drawn by patient)
    init: str | None = None  # run folder whose encoder starts the backbone (fine-tune SSL); None: random weights
    patience: int = 5  # epochs without a better validation AUROC before stopping
    seed: int = 0
    body_part: str | None = None
    accelerator: str = "auto"
    devices: str = "auto"
    precision: str | None = None

    def __post_init__(self) -> None:
        check_common(self)
        if self.patience < 1:
            raise XraySSLError(f"--patience must be >= 1, got {self.patience}")
        if not 0 < self.label_fraction <= 1:
            raise XraySSLError("--label-fraction must be in (0, 1]")
