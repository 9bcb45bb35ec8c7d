"""Typed, serialisable descriptions of runs: the CLI builds them, run folders store them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
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


DEFAULT_BUDGET = "15m"  # wall-clock budget of pretraining (when no epochs are given) and of the supervised baseline


@dataclass
class PretrainConfig(Serialisable):
    """Flags of ``xrayssl pretrain`` (and keys of its --config file) are generated from these fields."""

    cache: str = field(metadata={"help": "prepared cache folder (xrayssl data prepare)"})
    out: str = field(metadata={"help": "run folder to create (or to continue with --resume)"})
    # defaults chosen on the knee radiographs at 64 px on a 2-core CPU (README): SimCLR with mild, shape-preserving
    # views beat BYOL by about 0.05 AUROC at a 10-15 minute budget; strong crops and aspect changes did worse;
    # mild intensity jitter takes away the brightness/contrast shortcut between views (+0.01-0.02 test AUROC)
    method: str = field(default="simclr", metadata={"help": "simclr, byol, moco, simsiam, barlowtwins or vicreg"})
    augs: str = field(
        default="crop(scale=0.8..1,ratio=1)+rotate(5)+flip+intensity",
        metadata={"help": "augmentation recipe or preset (xrayssl augment show draws it)"},
    )
    augs2: str | None = field(
        default=None,
        metadata={"help": "a different recipe for the second view (asymmetric views); none: the same as --augs"},
    )
    backbone: str = field(default="resnet18", metadata={"help": "resnet18, resnet34 or resnet50"})
    small_stem: bool = field(default=False, metadata={"help": "3x3 stem without max-pool (inputs of 96 px or less)"})
    size: int = field(default=64, metadata={"help": "image side in px"})
    batch_size: int = field(default=128, metadata={"help": "images per step"})
    epochs: int | None = field(
        default=None, metadata={"help": "number of epochs; the run stops at whichever of epochs and budget ends first"}
    )
    budget: str | None = field(
        default=None,
        metadata={
            "help": f"wall-clock budget, e.g. 10m, 90s, 1h30m; {DEFAULT_BUDGET} when neither it nor epochs is given",
            "default": f"{DEFAULT_BUDGET} when no epochs are given, else none",
        },
    )
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate"})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay"})
    temperature: float | None = field(
        default=None,
        metadata={"help": "softmax temperature of contrastive methods; none: the method's own (simclr 0.1, moco 0.2)"},
    )
    warmup: float = field(default=0.05, metadata={"help": "share of training with a linear learning-rate warm-up"})
    seed: int = field(default=0, metadata={"help": "seed of the initialisation, data order and views"})
    split: str = field(default="train", metadata={"help": "images used for pretraining (their labels are not used)"})
    body_part: str | None = field(default=None, metadata={"help": "pretrain on one body part only"})
    pretrain_abnormal_fraction: float | None = field(
        default=None,
        metadata={"help": "subsample the unlabelled pool to this share of abnormal images (imbalance experiments)"},
    )
    accelerator: str = field(default="auto", metadata={"help": "auto, cpu or gpu"})
    devices: str = field(default="auto", metadata={"help": "number of devices (several GPUs: DDP)"})
    precision: str | None = field(
        default=None,
        metadata={
            "help": "Lightning precision; none: bf16-mixed on GPU, 32-true on CPU (bf16-mixed is faster on CPUs "
            "with AVX-512 BF16 or AMX but learned slightly worse in our CPU runs)"
        },
    )

    def __post_init__(self) -> None:
        if self.epochs is None and self.budget is None:
            self.budget = DEFAULT_BUDGET  # the one rule of run length: a budget unless epochs bound the run
        parse_budget(self.budget)
        if self.pretrain_abnormal_fraction is not None and not 0 < self.pretrain_abnormal_fraction < 1:
            raise XraySSLError("--pretrain-abnormal-fraction must be between 0 and 1 (exclusive)")
        if self.size < 16 or self.batch_size < 2:
            raise XraySSLError("--size must be >= 16 and --batch-size >= 2")


@dataclass
class SupervisedConfig(Serialisable):
    """Flags of ``xrayssl supervised`` (and keys of its --config file) are generated from these fields."""

    cache: str = field(metadata={"help": "prepared cache folder (xrayssl data prepare)"})
    out: str = field(metadata={"help": "run folder to create"})
    backbone: str = field(default="resnet18", metadata={"help": "resnet18, resnet34 or resnet50"})
    small_stem: bool = field(default=False, metadata={"help": "3x3 stem without max-pool (inputs of 96 px or less)"})
    size: int = field(default=64, metadata={"help": "image side in px"})
    augs: str = field(
        default="crop(scale=0.5..1)+rotate(10)+flip+intensity(p=0.5)+blur(p=0.3)",
        metadata={"help": "augmentation recipe of the training images"},
    )
    batch_size: int = field(default=64, metadata={"help": "images per step"})
    epochs: int = field(
        default=30,
        metadata={
            "help": "epochs of the full training split's size (a --label-fraction run repeats its images as often)"
        },
    )
    budget: str | None = field(
        default=DEFAULT_BUDGET, metadata={"help": "wall-clock budget, e.g. 10m, 90s; none: epochs only"}
    )
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate"})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay"})
    label_fraction: float = field(
        default=1.0, metadata={"help": "share of training patients whose labels are used (drawn by patient)"}
    )
    init: str | None = field(
        default=None,
        metadata={"help": "run folder whose encoder starts the backbone (fine-tune an SSL encoder); none: random"},
    )
    patience: int = field(default=5, metadata={"help": "epochs without a better validation AUROC before stopping"})
    seed: int = field(default=0, metadata={"help": "seed of the initialisation, label draw and data order"})
    body_part: str | None = field(default=None, metadata={"help": "train and evaluate on one body part only"})
    accelerator: str = field(default="auto", metadata={"help": "auto, cpu or gpu"})
    devices: str = field(default="auto", metadata={"help": "number of devices"})
    precision: str | None = field(
        default=None, metadata={"help": "Lightning precision; none: bf16-mixed on GPU, 32-true on CPU"}
    )

    def __post_init__(self) -> None:
        parse_budget(self.budget)
        if not 0 < self.label_fraction <= 1:
            raise XraySSLError("--label-fraction must be in (0, 1]")
