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
    accelerator: str = "auto"
    devices: str = "auto"
    precision: str | None = None  # None: bf16-mixed on GPU, 32-true on CPU

    def __post_init__(self) -> None:
        if self.epochs is None and self.budget is None:
            raise XraySSLError("give --epochs or --budget (or both)")
        parse_budget(self.budget)
        if self.pretrain_abnormal_fraction is not None and not 0 < self.pretrain_abnormal_fraction < 1:
            raise XraySSLError("--pretrain-abnormal-fraction must be between 0 and 1 (exclusive)")
        if self.size < 16 or self.batch_size < 2:
            raise XraySSLError("--size must be >= 16 and --batch-size >= 2")


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
        parse_budget(self.budget)
        if not 0 < self.label_fraction <= 1:
            raise XraySSLError("--label-fraction must be in (0, 1]")
