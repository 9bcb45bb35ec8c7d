"""Self-supervised methods: a registry; each method is a small module with its heads and loss.

A method is an ``nn.Module`` built from a backbone; ``loss(views, progress)`` returns the training loss for
two augmented views of one batch (``Views``), where ``progress`` in [0, 1] is how far training has come
(for momentum schedules). ``after_step(progress)`` updates momentum encoders where there are any.
``kinds`` names the backbone families a method works with (MAE needs a ViT).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import pkgutil
from dataclasses import dataclass

import torch
from torch import nn

from xrayssl.errors import XraySSLError
from xrayssl.models.backbones import backbone_kind, backbone_names

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
    kinds: tuple[str, ...] = ("resnet", "vit")

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def loss(self, views: Views, progress: float) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, progress: float) -> None:
        """Called after each optimiser step."""


def momentum_copies(method: nn.Module, names: tuple[str, ...]) -> nn.ModuleDict:
    """Frozen copies of the named parts of a method: the momentum (target) encoder of BYOL, MoCo, DenseCL."""
    from lightly.models.utils import deactivate_requires_grad

    copies = nn.ModuleDict({n: copy.deepcopy(getattr(method, n)) for n in names})
    deactivate_requires_grad(copies)
    return copies


def update_momentum_copies(method: nn.Module, copies: nn.ModuleDict, progress: float, base: float) -> None:
    """Exponential moving average of the online parts, momentum rising from ``base`` to 1 on a cosine schedule."""
    from lightly.models.utils import update_momentum
    from lightly.utils.scheduler import cosine_schedule

    m = cosine_schedule(int(progress * 10_000), 10_000, base, 1.0)
    for name, target in copies.items():
        update_momentum(getattr(method, name), target, m)


def method_names() -> list[str]:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    return sorted(METHODS)


def check_pair(method: str, backbone: str) -> None:
    """A method and backbone that do not go together: one line listing the valid pairs."""
    names = method_names()
    if method not in METHODS:
        raise XraySSLError(f"unknown method '{method}'; valid: {', '.join(names)}")
    if backbone_kind(backbone) not in METHODS[method].kinds:
        pairs = "; ".join(
            f"{n}: {', '.join(b for b in backbone_names() if backbone_kind(b) in METHODS[n].kinds)}" for n in names
        )
        raise XraySSLError(f"method {method} does not work with backbone {backbone}; valid pairs: {pairs}")


def build_method(name: str, backbone: nn.Module, temperature: float | None = None) -> SSLMethod:
    """``temperature`` (contrastive methods only) replaces the method's default softmax temperature."""
    check_pair(name, backbone.name)
    if temperature is None:
        return METHODS[name](backbone)
    check_temperature(name, temperature)
    return METHODS[name](backbone, temperature=temperature)


def check_temperature(name: str, temperature: float) -> None:
    """Only contrastive methods have a softmax temperature; it must be positive."""
    takes = [n for n in method_names() if "temperature" in inspect.signature(METHODS[n]).parameters]
    if name not in takes:
        raise XraySSLError(f"--temperature applies to {', '.join(takes)}, not to {name}")
    if not temperature > 0:
        raise XraySSLError(f"--temperature must be positive, got {temperature}")
