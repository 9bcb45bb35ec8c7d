"""What exists (methods, backbones, poolings, augmentation ops, trackers) and the checks of names and numbers
that configs run, without torch: building a config must stay fast (the CLI builds one before any work).

The registries themselves live in torch modules (models/methods, models/backbones, augment/ops); the names here
are their torch-free mirror, and tests/test_catalog.py asserts that each equals its registry.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from xrayssl.errors import XraySSLError

# --- defaults read by configs and run functions alike (each written here only) ---------------------------------
N_BOOT = 1000  # bootstrap resamples (by patient) per metric interval
INFERENCE_BATCH = 256  # images per forward pass when a trained model scores a split (no gradients)
BASE_MOMENTUM = 0.99  # start of the momentum encoders' cosine schedule (BYOL, MoCo, DenseCL), rising to 1
# image side of a cache, a training run or an ONNX export, px: below 16 px CLAHE tiles are 2 px; 2048 px images
# make a 40,000-image cache 168 GB
MIN_SIZE, MAX_SIZE = 16, 2048
MIN_PROBE_SIZE = 8  # a cache may be probed at smaller sides than a network is trained at (floors)

# (low, high) of every number a config holds, by setting name: one table, so a name means one quantity
# everywhere (``size`` is an image side in px wherever it appears). configfile.check_bounds refuses NaN, inf and
# anything outside; a field's metadata "range" overrides its entry here.
BOUNDS: dict[str, tuple[float, float]] = {
    "size": (MIN_PROBE_SIZE, MAX_SIZE), "pixels_size": (2, 256), "render_size": (MIN_SIZE, MAX_SIZE),
    "train_size": (MIN_PROBE_SIZE, MAX_SIZE), "cache_size": (MIN_SIZE, MAX_SIZE),
    "batch_size": (2, 1 << 16), "epochs": (1, 100_000), "supervised_epochs": (1, 100_000), "patience": (1, 10_000),
    "lr": (1e-12, 10.0), "weight_decay": (0.0, 10.0), "temperature": (1e-4, 100.0), "warmup": (0.0, 1.0),
    "seed": (0, 2**32 - 1), "seeds": (1, 1000), "n_boot": (1, 1_000_000),
    "label_fraction": (1e-6, 1.0), "label_fractions": (1e-6, 1.0), "abnormal_fraction": (0.0, 1.0),
    "abnormal_fractions": (0.0, 1.0), "pretrain_abnormal_fraction": (0.0, 1.0),
    "val_fraction": (0.0, 0.9), "test_fraction": (0.0, 0.9), "visible_probability": (0.0, 1.0),
    "exposure": (0.0, 1.0), "mirror": (0.0, 1.0),
    "monitor_every": (0, 1_000_000), "monitor_images": (1, 10_000_000),
    "clahe_clip": (0.01, 100.0), "clahe_tiles": (1, 64), "max_pixels": (1, 10**10),
    "n": (1, 10_000), "gradcam_n": (0, 10_000), "views": (1, 64), "n_patients": (1, 1_000_000),
    "max_studies": (1, 100), "max_views": (1, 100), "normal_classes": (0, 10_000),
    "workers": (1, 1024), "in_chans": (1, 3), "opset": (7, 100),
}  # fmt: skip

# --- names -------------------------------------------------------------------------------------------------
BACKBONE_KINDS = {
    **dict.fromkeys(("resnet18", "resnet34", "resnet50"), "resnet"),
    "vit-tiny": "vit",
    "vit-small": "vit",
}
# any timm model, as ``timm:NAME`` (NAME as timm.create_model takes it, with an optional pretrained tag); its
# family is read from the name here (torch-free), and checked on the built model (models/timm_backbones.py)
TIMM = "timm:"
HF = "hf:"  # a local Hugging Face DINOv2-family folder (config.json + model.safetensors), as --init or --encoder
PRETRAINED = "pretrained"  # --init pretrained: a timm backbone from that model's pretrained weights
_TIMM_NAME = re.compile(r"timm:[A-Za-z0-9][A-Za-z0-9_.-]{0,150}")
# timm architectures whose name says they are plain ViTs (patch tokens on a grid): MAE's kind
_TIMM_VITS = re.compile(r"(vit|deit|eva|beit|flexivit|samvit)[_0-9]")
_ANY = ("resnet", "vit", "cnn")
# backbone families each SSL method works with (MAE needs a ViT); "cnn": any timm model that is not a ViT
METHOD_KINDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("barlowtwins", "byol", "dcl", "densecl", "moco", "simclr", "simsiam", "vicreg", "vicregl"), _ANY),
    "mae": ("vit",),
}
# SSL methods in the order the help lists them (the default first)
METHOD_NAMES: tuple[str, ...] = (
    "simclr", "dcl", "byol", "moco", "simsiam", "barlowtwins", "vicreg", "vicregl", "densecl", "mae",
)  # fmt: skip
# contrastive methods -> their own softmax temperature (the default of their ``temperature`` parameter)
TEMPERATURES: dict[str, float] = {"simclr": 0.1, "dcl": 0.1, "moco": 0.2, "densecl": 0.2}
TEMPERATURE_METHODS = tuple(sorted(TEMPERATURES))  # the methods with a softmax temperature
OWN_TEMPERATURES = ", ".join(f"{m} {t:g}" for m, t in TEMPERATURES.items())  # "simclr 0.1, ..." for help texts
RESNETS: tuple[str, ...] = tuple(name for name, kind in BACKBONE_KINDS.items() if kind == "resnet")
POOLS = ("avg", "grid2", "multi")
POSITIVES = ("image", "study", "patient")
TRACKERS = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # --logger name -> package it needs
OPS = ("blur", "chessboard", "clahe", "crop", "erase", "flip", "grid_distortion", "intensity", "noise", "rotate",
       "sharpen")  # fmt: skip
IMAGENET = "imagenet"  # --init imagenet: start from torchvision's ImageNet weights
IMAGENET_WEIGHTS = {"resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights", "resnet50": "ResNet50_Weights"}
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


def words(names: tuple[str, ...] | list[str], last: str = "or") -> str:
    """('a', 'b', 'c') -> 'a, b or c' (help texts)."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def method_names() -> list[str]:
    return sorted(METHOD_KINDS)


def backbone_names() -> list[str]:
    return list(BACKBONE_KINDS)


def is_timm(name: object) -> bool:
    """``timm:NAME`` in a form timm could name (whether timm knows NAME is checked when the model is built)."""
    return isinstance(name, str) and _TIMM_NAME.fullmatch(name) is not None


def is_hf(spec: object) -> bool:
    return isinstance(spec, str) and spec.startswith(HF) and len(spec) > len(HF)


def backbone_kind(name: str) -> str:
    """'resnet', 'vit' or 'cnn' (a timm model that is not a ViT); an unknown name is a one-line error."""
    if is_timm(name):
        return "vit" if _TIMM_VITS.match(name[len(TIMM) :]) else "cnn"
    if name not in BACKBONE_KINDS:
        raise XraySSLError(
            f"unknown backbone '{name}'; valid: {', '.join(backbone_names())}, or timm:NAME (any timm model)"
        )
    return BACKBONE_KINDS[name]


def check_pair(method: str, backbone: str) -> None:
    """A method and backbone that do not go together: one line listing the valid pairs."""
    names = method_names()
    if method not in METHOD_KINDS:
        raise XraySSLError(f"unknown method '{method}'; valid: {', '.join(names)}")
    if backbone_kind(backbone) not in METHOD_KINDS[method]:
        pairs = "; ".join(
            f"{n}: {', '.join(b for b in backbone_names() if backbone_kind(b) in METHOD_KINDS[n])}" for n in names
        )
        raise XraySSLError(
            f"method {method} does not work with backbone {backbone}; valid pairs: {pairs} (or a timm:NAME ViT, "
            "e.g. timm:vit_tiny_patch16_224, for mae; any timm:NAME for the others)"
        )


def check_temperature(name: str, temperature: float) -> None:
    """Only contrastive methods have a softmax temperature; it must be positive."""
    if name not in TEMPERATURE_METHODS:
        raise XraySSLError(f"--temperature applies to {', '.join(TEMPERATURE_METHODS)}, not to {name}")
    if not temperature > 0:
        raise XraySSLError(f"--temperature must be positive, got {temperature}")


def check_choice(flag: str, value: str, valid: tuple[str, ...] | dict[str, str]) -> None:
    if value not in valid:
        raise XraySSLError(f"unknown {flag} '{value}'; valid: {', '.join(valid)}")


def check_tracker(tracker: str) -> None:
    if tracker not in TRACKERS:
        raise XraySSLError(f"unknown --logger '{tracker}'; valid: {', '.join(TRACKERS)} (a CSV log is always written)")
    if importlib.util.find_spec(TRACKERS[tracker]) is None:
        package = TRACKERS[tracker]
        raise XraySSLError(f"--logger {tracker} needs the '{package}' package: pip install 'xrayssl[tracking]'")


def check_imagenet(backbone: str, small_stem: bool = False) -> None:
    """ImageNet weights exist for the torchvision ResNets with their standard stem only."""
    if backbone_kind(backbone) != "resnet" or backbone not in IMAGENET_WEIGHTS:
        hint = " (a timm backbone starts from its own weights: --init pretrained)" if is_timm(backbone) else ""
        raise XraySSLError(f"ImageNet weights exist for {', '.join(IMAGENET_WEIGHTS)}, not for {backbone}{hint}")
    if small_stem:
        raise XraySSLError("ImageNet weights need the standard 7x7 stem: leave out --small-stem")


def check_weights_path(path: str | Path) -> None:
    """A --weights value names a .pth/.pt/.safetensors file (its existence is checked when it is read)."""
    if Path(path).suffix.lower() not in WEIGHT_SUFFIXES:
        raise XraySSLError(f"--weights {path}: give a {', '.join(WEIGHT_SUFFIXES)} file of the model's weights")


def check_start(init: str | None, backbone: str, weights: str | None, small_stem: bool = False) -> None:
    """An ``--init``/``--weights`` pair that goes together, torch-free (files are read when the run starts)."""
    if init == IMAGENET:
        check_imagenet(backbone, small_stem)
    elif init == PRETRAINED:
        if not is_timm(backbone):
            raise XraySSLError(
                f"--init pretrained starts a timm:NAME backbone from that model's weights, not {backbone} "
                "(for the built-in ResNets: --init imagenet)"
            )
    elif weights:
        raise XraySSLError("--weights goes with --init imagenet or --init pretrained (the start's weights file)")
    if weights:
        check_weights_path(weights)
