"""Typed, serialisable descriptions of runs: the CLI builds them, run folders store them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from xrayssl.augment.presets import PRESETS
from xrayssl.augment.spec import check_recipe_names
from xrayssl.catalog import (
    BACKBONE_KINDS,
    MAX_SIZE,
    METHOD_NAMES,
    MIN_SIZE,
    OWN_TEMPERATURES,
    POSITIVES,
    RESNETS,
    check_choice,
    check_pair,
    check_start,
    check_temperature,
    check_tracker,
    is_hf,
    is_timm,
    words,
)
from xrayssl.configfile import check_bounds
from xrayssl.errors import XraySSLError


def hf_start_backbone(init: str, backbone: str) -> str:
    """The timm:NAME a Hugging Face start builds (read from its config.json, torch-free); --backbone left at its
    default is replaced, any other name is a one-line error. A resumed run (its backbone resolved already) need
    not find the folder again."""
    from xrayssl.models.hf_dinov2 import folder_of, hf_architecture

    if is_timm(backbone) and not (folder_of(init) / "config.json").is_file():
        return backbone
    own = hf_architecture(init)["backbone"]
    if backbone not in ("resnet18", own):
        raise XraySSLError(f"--init {init} sets the backbone ({own}, its DINOv2 ViT): leave out --backbone {backbone}")
    return own


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
    "with --init imagenet: a local torchvision-format .pth or .safetensors file of the ImageNet weights; with "
    "--init pretrained: the timm model's weights (.safetensors, .pth or .bin; tensors only); offline starts. "
    "none: torchvision's or timm's download, kept in its cache"
)
BACKBONE_HELP = (
    f"{words(list(BACKBONE_KINDS))}, or timm:NAME, any timm model (grey input: in_chans=1), e.g. timm:convnext_atto "
    "(mae: a ViT)"
)
INIT_HELP = (
    "imagenet (torchvision's ImageNet weights of a built-in ResNet: continued SSL, as MoCo-CXR), pretrained "
    "(a timm:NAME backbone's pretrained weights; --weights offline), hf:PATH (a local Hugging Face DINOv2-family "
    "folder, e.g. RAD-DINO; sets the backbone), a run folder (its encoder), or none (random)"
)


KEEP = ("last", "best-knn")
SPLITS = ("train", "val", "test")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")  # Lightning's names of what this machine may have


def check_size(size: int, allow_upscale: bool, cache_path: object, cache_size: int | None) -> None:
    """A run's --size larger than its cache's images would train on upscaled, blurred pixels: refused unless
    --allow-upscale."""
    if cache_size and size > cache_size and not allow_upscale:
        raise XraySSLError(
            f"{cache_path}: images prepared at {cache_size} px, --size {size} would upscale them; prepare the cache "
            f"at {size} px (xrayssl data prepare ... --size {size}), train at --size {cache_size}, or give "
            "--allow-upscale"
        )


def _in_order(*names: str) -> Callable[[type], type]:
    """Fields in the users' order (flags, --help, config.json keys), not in inheritance order: each command's own
    fields sit among RunConfig's shared ones where they always have."""

    def apply(cls: type) -> type:
        declared = cls.__dataclass_fields__
        if sorted(names) != sorted(declared):
            raise TypeError(
                f"{cls.__name__}: the order must name each field once: {sorted(set(names) ^ set(declared))}"
            )
        cls.__dataclass_fields__ = {n: declared[n] for n in names}
        return cls

    return apply


@dataclass
class RunConfig(Serialisable):
    """What pretraining and the supervised baseline share: data, backbone and its start, image size, optimiser,
    run length, seed and hardware. Subclasses redeclare a field only where its default or help differs."""

    cache: str = field(metadata={"help": "prepared cache folder (xrayssl data prepare)"})
    out: str = field(metadata={"help": "run folder to create (or to continue with --resume)"})
    augs: str = field(
        default="crop(scale=0.8..1,ratio=1)+rotate(5)+flip+intensity",
        metadata={"help": f"augmentation recipe or preset ({', '.join(PRESETS)}; xrayssl augment show draws it)"},
    )
    backbone: str = field(default="resnet18", metadata={"help": BACKBONE_HELP})
    small_stem: bool = field(default=False, metadata={"help": "3x3 stem without max-pool (inputs of 96 px or less)"})
    init: str | None = field(default=None, metadata={"help": f"start of the backbone: {INIT_HELP}"})
    weights: str | None = field(default=None, metadata={"help": WEIGHTS_HELP})
    size: int = field(default=64, metadata={"help": "image side in px"})
    allow_upscale: bool = field(
        default=False, metadata={"help": "train at a --size larger than the cache's images (upscaled: refused else)"}
    )
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
    seed: int = field(default=0, metadata={"help": "seed of the initialisation, data order and views"})
    body_part: str | None = field(default=None, metadata={"help": "pretrain on one body part only"})
    accelerator: str = field(
        default="auto",
        metadata={"help": "where to train: auto (a GPU when there is one), cpu, gpu", "choices": ACCELERATORS},
    )
    devices: str = field(default="auto", metadata={"help": "number of devices (several GPUs: DDP)"})
    precision: str | None = field(
        default=None,
        metadata={
            "help": "Lightning precision; none: bf16-mixed on GPU, 32-true on CPU (bf16-mixed is faster on CPUs "
            "with AVX-512 BF16 or AMX but learned slightly worse in our CPU runs)"
        },
    )

    def __post_init__(self) -> None:
        """Impossible values are one-line errors up front (with torch-free checks: building a config is fast)."""
        if self.epochs is not None and self.epochs < 1:
            raise XraySSLError(f"--epochs must be >= 1, got {self.epochs}")
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise XraySSLError(f"--size must be between {MIN_SIZE} and {MAX_SIZE} px, got {self.size}")
        if self.batch_size < 2:
            raise XraySSLError(f"--batch-size must be >= 2, got {self.batch_size}")
        if not self.lr > 0:
            raise XraySSLError(f"--lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise XraySSLError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if parse_budget(self.budget) == 0:
            raise XraySSLError("--budget must be longer than 0 s")
        # init/weights need no file here: a resumed run need not find its start again
        if is_hf(self.init):
            self.backbone = hf_start_backbone(self.init, self.backbone)
        check_start(self.init, self.backbone, self.weights, self.small_stem)


@_in_order(
    "cache", "out", "method", "augs", "augs2", "backbone", "small_stem", "init", "weights", "size", "allow_upscale",
    "batch_size",
    "epochs", "budget", "lr", "weight_decay", "temperature", "warmup", "seed", "split", "body_part",
    "pretrain_abnormal_fraction", "positives", "monitor_every", "monitor_images", "keep", "logger",
    "checkpoint_every", "compile", "accelerator", "devices", "precision",
)  # fmt: skip
@dataclass
class PretrainConfig(RunConfig):
    """Flags of ``xrayssl pretrain`` (and keys of its --config file) are generated from these fields."""

    # defaults chosen on the knee radiographs at 64 px on a 2-core CPU (README): SimCLR with mild, shape-preserving
    # views beat BYOL by about 0.05 AUROC at a 10-15 minute budget; strong crops and aspect changes did worse;
    # mild intensity jitter takes away the brightness/contrast shortcut between views (+0.01-0.02 test AUROC)
    method: str = field(
        default="simclr",
        metadata={"help": "SSL method", "choices": METHOD_NAMES},
    )
    augs2: str | None = field(
        default=None,
        metadata={"help": "a different recipe for the second view (asymmetric views); none: the same as --augs"},
    )
    temperature: float | None = field(
        default=None,
        metadata={"help": f"softmax temperature of contrastive methods; none: the method's own ({OWN_TEMPERATURES})"},
    )
    warmup: float = field(default=0.05, metadata={"help": "share of training with a linear learning-rate warm-up"})
    split: str = field(
        default="train",
        metadata={
            "help": "images used for pretraining (their labels are not used)",
            "choices": ("train", "val", "test"),
        },
    )
    pretrain_abnormal_fraction: float | None = field(
        default=None,
        metadata={"help": "subsample the unlabelled pool to this share of abnormal images (imbalance experiments)"},
    )
    # positives from the data's structure (MedAug, MICLe); labels are never read for the pairing
    positives: str = field(
        default="image",
        metadata={
            "help": "image: two views of one image; study / patient: the second view from another image of the "
            "same study / patient (falls back to image, with a warning, when the dataset has no such ids)",
            "choices": POSITIVES,
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
        default="last",
        metadata={"help": "encoder to save: last, or best-knn (best validation kNN primary metric)", "choices": KEEP},
    )
    logger: str | None = field(
        default=None, metadata={"help": "tensorboard or mlflow, besides metrics.csv, which is always written"}
    )
    checkpoint_every: str | None = field(
        default="5m", metadata={"help": "wall time between checkpoints: --resume loses at most this much"}
    )
    compile: bool = field(default=False, metadata={"help": "torch.compile the backbone"})

    def __post_init__(self) -> None:
        if self.epochs is None and self.budget is None:
            self.budget = DEFAULT_BUDGET  # the one rule of run length: a budget unless epochs bound the run
        super().__post_init__()
        parse_budget(self.checkpoint_every)
        if self.pretrain_abnormal_fraction is not None and not 0 < self.pretrain_abnormal_fraction < 1:
            raise XraySSLError("--pretrain-abnormal-fraction must be between 0 and 1 (exclusive)")
        check_pair(self.method, self.backbone)
        if self.temperature is not None:
            check_temperature(self.method, self.temperature)
        for name, spec in (("--augs", self.augs), ("--augs2", self.augs2)):
            if spec is not None:
                try:
                    check_recipe_names(spec)
                except XraySSLError as exc:
                    raise XraySSLError(f"{name}: {exc}") from None
        check_choice("--positives", self.positives, POSITIVES)
        check_choice("--keep", self.keep, KEEP)
        if self.keep == "best-knn" and self.monitor_every == 0:
            raise XraySSLError("--keep best-knn needs the kNN monitor (--monitor-every is 0)")
        if (self.monitor_every is not None and self.monitor_every < 0) or self.monitor_images < 1:
            raise XraySSLError("--monitor-every must be >= 0 and --monitor-images >= 1")
        if not 0 <= self.warmup < 1:
            raise XraySSLError(f"--warmup must be in [0, 1), got {self.warmup}")
        if self.logger is not None:
            check_tracker(self.logger)
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge


@_in_order(
    "cache", "out", "backbone", "small_stem", "size", "allow_upscale", "augs", "batch_size", "epochs", "budget", "lr",
    "weight_decay",
    "label_fraction", "init", "weights", "patience", "seed", "body_part", "accelerator", "devices", "precision",
)  # fmt: skip
@dataclass
class SupervisedConfig(RunConfig):
    """Flags of ``xrayssl supervised`` (and keys of its --config file) are generated from these fields."""

    out: str = field(metadata={"help": "run folder to create"})
    backbone: str = field(default="resnet18", metadata={"help": f"{words(RESNETS)}, or timm:NAME (any timm model)"})
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
    label_fraction: float = field(
        default=1.0, metadata={"help": "share of training patients whose labels are used (drawn by patient)"}
    )
    init: str | None = field(
        default=None, metadata={"help": f"start of the backbone (a run folder: fine-tune its encoder): {INIT_HELP}"}
    )
    patience: int = field(default=5, metadata={"help": "epochs without a better validation score (QWK...) to stop"})
    seed: int = field(default=0, metadata={"help": "seed of the initialisation, label draw and data order"})
    body_part: str | None = field(default=None, metadata={"help": "train and evaluate on one body part only"})
    devices: str = field(default="auto", metadata={"help": "number of devices"})
    precision: str | None = field(
        default=None, metadata={"help": "Lightning precision; none: bf16-mixed on GPU, 32-true on CPU"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.patience < 1:
            raise XraySSLError(f"--patience must be >= 1, got {self.patience}")
        if not 0 < self.label_fraction <= 1:
            raise XraySSLError("--label-fraction must be in (0, 1]")
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge
