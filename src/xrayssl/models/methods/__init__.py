"""Self-supervised methods: a registry; each method is a small module with its heads and loss.

A method is an ``nn.Module`` built from a backbone; ``loss(views, progress)`` returns the training loss for
two augmented views of one batch (``Views``), where ``progress`` in [0, 1] is how far training has come
(for momentum schedules). ``after_step(progress)`` updates momentum encoders where there are any.
``kinds`` names the backbone families a method works with (MAE needs a ViT). Methods with a momentum
encoder extend ``MomentumMethod`` (momentum.py).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

import torch
from torch import nn

# the checks read xrayssl.catalog's torch-free names (configs run them without torch); re-exported here
from xrayssl.catalog import check_pair, check_temperature
from xrayssl.errors import XraySSLError

__all__ = [
    "METHODS",
    "SSLMethod",
    "Views",
    "build_method",
    "check_pair",
    "check_temperature",
    "method_names",
    "register_method",
]

METHODS: dict[str, type[SSLMethod]] = {}


@dataclass
class Views:
    """Two augmented views (B, 1, H, W) of a batch, and where their pixels came from: (B, 3, 3) matrices that
    map each view's grid_sample coordinates ([-1, 1]) to the source image's (identity when no geometric op ran).
    Dense objectives use them to match locations across views."""

    x1: torch.Tensor
    x2: torch.Tensor
    where1: torch.Tensor | None = None
    where2: torch.Tensor | None = None


def register_method(cls: type[SSLMethod]) -> type[SSLMethod]:
    METHODS[cls.name] = cls
    return cls


class SSLMethod(nn.Module):
    name = ""
    kinds: tuple[str, ...] = ("resnet", "vit", "cnn")

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def loss(self, views: Views, progress: float) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, progress: float) -> None:
        """Called after each optimiser step."""


def method_names() -> list[str]:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    return sorted(METHODS)


def build_method(name: str, backbone: nn.Module, temperature: float | None = None) -> SSLMethod:
    """``temperature`` (contrastive methods only) replaces the method's default softmax temperature."""
    check_pair(name, backbone.name)
    method_names()  # the registry fills as the method modules are imported
    kind = getattr(backbone, "kind", "resnet")  # a timm model's, as built (its name only suggested it)
    if kind not in METHODS[name].kinds:
        raise XraySSLError(
            f"method {name} needs a backbone of kind {' or '.join(METHODS[name].kinds)}; {backbone.name} is a {kind}"
        )
    if temperature is None:
        return METHODS[name](backbone)
    check_temperature(name, temperature)
    return METHODS[name](backbone, temperature=temperature)
