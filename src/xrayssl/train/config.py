"""Typed, serialisable descriptions of runs: the CLI builds them, run folders store them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from xrayssl.augment.presets import PRESETS
from xrayssl.errors import XraySSLError
from xrayssl.models.names import BACKBONES, METHOD_NAMES, OWN_TEMPERATURES, RESNETS, words  # help texts


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
WEIGHTS_HELP = (
    "with --init imagenet: a local torchvision-format .pth or .safetensors file of the ImageNet weights (offline); "
    "none: torchvision's download, kept in its cache"
)


@dataclass
class PretrainConfig(Serialisable):
    """Flags of ``xrayssl pretrain`` (and keys of its --config file) are generated from these fields."""

    cache: str = field(metadata={"help": "prepared cache folder (xrayssl data prepare)"})
    out: str = field(metadata={"help": "run folder to create (or to continue with --resume)"})
    # defaults chosen on the knee radiographs at 64 px on a 2-core CPU (README): SimCLR with mild, shape-preserving
    # views beat BYOL by about 0.05 AUROC at a 10-15 minute budget; strong crops and aspect changes did worse;
    # mild intensity jitter takes away the brightness/contrast shortcut between views (+0.01-0.02 test AUROC)
    method: str = field(
        default="simclr",
        metadata={"help": f"SSL method: {words(METHOD_NAMES)}"},
    )
    augs: str = field(
        default="crop(scale=0.8..1,ratio=1)+rotate(5)+flip+intensity",
        metadata={"help": f"augmentation recipe or preset ({', '.join(PRESETS)}; xrayssl augment show draws it)"},
    )
    augs2: str | None = field(
        default=None,
        metadata={"help": "a different recipe for the second view (asymmetric views); none: the same as --augs"},
    )
    backbone: str = field(default="resnet18", metadata={"help": f"{words(list(BACKBONES))} (mae: a ViT)"})
    small_stem: bool = field(default=False, metadata={"help": "3x3 stem without max-pool (inputs of 96 px or less)"})
    init: str | None = field(
        default=None,
        metadata={
            "help": "start of the backbone: imagenet (torchvision's ImageNet weights: continued SSL, as MoCo-CXR), "
            "a run folder (its encoder), or none (random)"
        },
    )
    weights: str | None = field(default=None, metadata={"help": WEIGHTS_HELP})
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
        metadata={"help": f"softmax temperature of contrastive methods; none: the method's own ({OWN_TEMPERATURES})"},
    )
    warmup: float = field(default=0.05, metadata={"help": "share of training with a linear learning-rate warm-up"})
    seed: int = field(default=0, metadata={"help": "seed of the initialisation, data order and views"})
    split: str = field(default="train", metadata={"help": "images used for pretraining (their labels are not used)"})
    body_part: str | None = field(default=None, metadata={"help": "pretrain on one body part only"})
    pretrain_abnormal_fraction: float | None = field(
        default=None,
        metadata={"help": "subsample the unlabelled pool to this share of abnormal images (imbalance experiments)"},
    )
    # positives from the data's structure (MedAug, MICLe); labels are never read for the pairing
    positives: str = field(
        default="image",
        metadata={
            "help": "image: two views of one image; study / patient: the second view from another image of the "
            "same study / patient (falls back to image, with a warning, when the dataset has no such ids)"
        },
    )
    monitor_every: int | None = field(
        default=None,
        metadata={"help": "steps between validation kNN monitor readings; none: every tenth of the run; 0: off"},
    )
    monitor_images: int = field(
        default=2000, metadata={"help": "labelled training images the monitor's kNN is fitted on (at most)"}
    )
    keep: str = field(
        default="last", metadata={"help": "encoder to save: last, or best-knn (best validation kNN AUROC)"}
    )
    logger: str | None = field(
        default=None, metadata={"help": "tensorboard or mlflow, besides metrics.csv, which is always written"}
    )
    checkpoint_every: str | None = field(
        default="5m", metadata={"help": "wall time between checkpoints: --resume loses at most this much"}
    )
    compile: bool = field(default=False, metadata={"help": "torch.compile the backbone"})
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
        from xrayssl.augment import parse_pipeline
        from xrayssl.models.methods import check_pair, check_temperature
        from xrayssl.train.batches import POSITIVES
        from xrayssl.train.logs import check_tracker

        if self.epochs is None and self.budget is None:
            self.budget = DEFAULT_BUDGET  # the one rule of run length: a budget unless epochs bound the run
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
    from xrayssl.train.init import check_init

    check_init(cfg)


@dataclass
class SupervisedConfig(Serialisable):
    """Flags of ``xrayssl supervised`` (and keys of its --config file) are generated from these fields."""

    cache: str = field(metadata={"help": "prepared cache folder (xrayssl data prepare)"})
    out: str = field(metadata={"help": "run folder to create"})
    backbone: str = field(default="resnet18", metadata={"help": words(RESNETS)})
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
        metadata={
            "help": "start of the backbone: imagenet (torchvision's ImageNet weights), a run folder (fine-tune its "
            "encoder, e.g. an SSL run's), or none (random)"
        },
    )
    weights: str | None = field(default=None, metadata={"help": WEIGHTS_HELP})
    patience: int = field(default=5, metadata={"help": "epochs without a better validation AUROC before stopping"})
    seed: int = field(default=0, metadata={"help": "seed of the initialisation, label draw and data order"})
    body_part: str | None = field(default=None, metadata={"help": "train and evaluate on one body part only"})
    accelerator: str = field(default="auto", metadata={"help": "auto, cpu or gpu"})
    devices: str = field(default="auto", metadata={"help": "number of devices"})
    precision: str | None = field(
        default=None, metadata={"help": "Lightning precision; none: bf16-mixed on GPU, 32-true on CPU"}
    )

    def __post_init__(self) -> None:
        check_common(self)
        if self.patience < 1:
            raise XraySSLError(f"--patience must be >= 1, got {self.patience}")
        if not 0 < self.label_fraction <= 1:
            raise XraySSLError("--label-fraction must be in (0, 1]")
