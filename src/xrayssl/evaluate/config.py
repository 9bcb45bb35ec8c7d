"""What a probe evaluates, and how: ``xrayssl probe``'s flags and config file are generated from ProbeConfig.

No xrayssl.train import here: evaluation reads run folders, it does not sit above training."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from xrayssl.catalog import (
    MIN_PROBE_SIZE,
    N_BOOT,
    POOLS,
    check_choice,
    check_imagenet,
    check_weights_path,
    is_hf,
    is_timm,
)
from xrayssl.configfile import check_bounds
from xrayssl.errors import XraySSLError

Encoder = Literal["run", "random", "pixels", "imagenet"]  # besides timm:NAME and hf:PATH (foundation starts)
Split = Literal["val", "test"]  # the probe is fitted on train and its C chosen on val
ENCODERS, SPLITS = get_args(Encoder), get_args(Split)


def is_start(encoder: str) -> bool:
    """A pretrained start probed frozen: ``timm:NAME`` (timm's weights or --weights) or ``hf:PATH``."""
    return is_timm(encoder) or is_hf(encoder)


@dataclass
class ProbeConfig:
    source: str = field(
        metadata={"help": "a run folder, or a prepared cache with --encoder random|pixels|imagenet|timm:NAME|hf:PATH"}
    )
    encoder: str = field(
        default="run",
        metadata={
            "help": "run: the run's encoder; random: an untrained backbone; pixels: raw pixels (floors); imagenet: "
            "the backbone with torchvision's ImageNet weights (grey image as 3 equal channels, ImageNet's "
            "normalisation); timm:NAME: a timm model's pretrained weights, frozen (--weights FILE offline); "
            "hf:PATH: a local Hugging Face DINOv2-family folder (config.json + model.safetensors), frozen"
        },
    )
    cache: str | None = field(
        default=None,
        metadata={"help": "probe the run's encoder on this prepared cache instead of its own (transfer)"},
    )
    split: Split = field(default="test", metadata={"help": "split the metrics are reported on"})
    label_fractions: list[float] | None = field(
        default=None, metadata={"help": "e.g. 0.01,0.1,1: also probe with these shares of the training patients"}
    )
    seeds: int = field(default=3, metadata={"help": "draws of patients per label fraction"})
    n_boot: int = field(
        default=N_BOOT, metadata={"help": "bootstrap resamples (by patient) per interval", "flags": ["--bootstrap"]}
    )
    backbone: str = field(
        default="resnet18", metadata={"help": "with a cache: backbone of the random or ImageNet encoder"}
    )
    size: int = field(default=64, metadata={"help": "with a cache: image side in px (a run uses its own)"})
    small_stem: bool = field(default=False, metadata={"help": "with a cache: the random encoder's small stem"})
    weights: str | None = field(
        default=None,
        metadata={
            "help": "with --encoder imagenet: a local torchvision-format .pth or .safetensors file of the backbone's "
            "ImageNet weights; with --encoder timm:NAME: that model's weights (.safetensors, .pth or .bin); offline. "
            "none: torchvision's or timm's download, kept in its cache"
        },
    )
    pixels_size: int = field(default=32, metadata={"help": "image side of the raw-pixel floor"})
    body_part: str | None = field(
        default=None,
        metadata={"help": "with a cache (or --cache): one body part only; a run uses its own", "default": "all"},
    )
    pool: str = field(
        default="avg",
        metadata={
            "help": "features: avg (global average of the last stage), grid2 (its 2x2 grid: keeps coarse position) or "
            "multi (every stage's average); the untrained floor is pooled the same way"
        },
    )
    out: str | None = field(
        default=None,
        metadata={"help": "JSON file to write", "default": "RUN/probe-ENCODER.json, or RUN/probe-transfer-CACHE.json"},
    )

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS and not is_start(self.encoder):
            raise XraySSLError(f"unknown encoder '{self.encoder}'; valid: {', '.join(ENCODERS)}, timm:NAME or hf:PATH")
        if self.split not in SPLITS:
            raise XraySSLError(f"--split must be {' or '.join(SPLITS)} (the probe is fitted on train)")
        if self.cache is not None and self.encoder != "run":
            raise XraySSLError("--cache probes a run's encoder on another dataset: it needs --encoder run")
        if self.encoder == "imagenet":
            check_imagenet(self.backbone, self.small_stem)
        elif is_start(self.encoder) and self.small_stem:
            raise XraySSLError(f"--small-stem applies to the built-in ResNets, not to {self.encoder}")
        elif self.weights and not is_timm(self.encoder):
            raise XraySSLError("--weights gives a start's weights: it goes with --encoder imagenet or timm:NAME")
        if self.weights:
            check_weights_path(self.weights)
        check_choice("--pool", self.pool, POOLS)
        if self.seeds < 1 or self.n_boot < 1:
            raise XraySSLError("--seeds and --bootstrap must be >= 1")
        if self.size < MIN_PROBE_SIZE or self.pixels_size < 1:
            raise XraySSLError(f"--size must be >= {MIN_PROBE_SIZE} and --pixels-size >= 1")
        if not all(0 < f <= 1 for f in self.label_fractions or []):
            raise XraySSLError("label fractions must be in (0, 1]")
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GradCamConfig:
    run: str = field(metadata={"help": "a pretraining run (after 'xrayssl probe RUN') or a supervised run"})
    out: str = field(metadata={"help": "folder for the PNG grids and faithfulness.json"})
    n: int = field(default=16, metadata={"help": "images per body part and outcome"})
    split: Split = field(default="test", metadata={"help": "split the images come from"})
    seed: int = field(default=0, metadata={"help": "seed of the image draw"})
    target: str | None = field(
        default=None,
        metadata={
            "help": "the class or finding the maps explain",
            "default": "binary: abnormal; otherwise each image's highest-scoring class",
        },
    )

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise XraySSLError(f"--split must be {' or '.join(SPLITS)}")
        if self.n < 1:
            raise XraySSLError("--n must be >= 1")
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SupervisedEvalConfig:
    """How a trained supervised run is evaluated (its threshold is always chosen on validation)."""

    run: str = field(metadata={"help": "a supervised run folder"})
    split: Split = field(default="test", metadata={"help": "split the metrics are reported on"})
    n_boot: int = field(default=N_BOOT, metadata={"help": "bootstrap resamples (by patient) per interval"})

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise XraySSLError(f"--split must be {' or '.join(SPLITS)} (the threshold is chosen on val)")
        if self.n_boot < 1:
            raise XraySSLError("--bootstrap must be >= 1")
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge


@dataclass
class PredictConfig:
    """What ``xrayssl predict`` reads and writes: a run's probabilities for new images."""

    run: str = field(metadata={"help": "a pretraining run with its fitted probe (after 'xrayssl probe RUN'), or a "
                                       "supervised run"})  # fmt: skip
    images: str = field(metadata={"help": "a folder of images (PNG, JPEG, TIFF, DICOM...), a CSV with a path column, "
                                          "or one image file"})  # fmt: skip
    out: str = field(default="predictions.csv", metadata={"help": "CSV to write: one row per image"})
    batch_size: int = field(default=256, metadata={"help": "images decoded and scored at a time"})

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise XraySSLError("--batch-size must be >= 1")
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
