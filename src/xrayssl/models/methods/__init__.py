"""Self-supervised methods: a registry; each method is a small module with its heads and loss.

A method is an ``nn.Module`` built from a backbone; ``loss(view1, view2, progress)`` returns the training
loss for two augmented views of one batch, where ``progress`` in [0, 1] is how far training has come
(for momentum schedules). ``after_step(progress)`` updates momentum encoders where there are any.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import torch
from torch import nn

from xrayssl.errors import XraySSLError
from xrayssl.models.backbones import Backbone

METHODS: dict[str, type[SSLMethod]] = {}


def register_method(cls: type[SSLMethod]) -> type[SSLMethod]:
    METHODS[cls.name] = cls
    return cls


class SSLMethod(nn.Module):
    name = ""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, progress: float) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, progress: float) -> None:
        """Called after each optimiser step."""


def method_names() -> list[str]:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    return sorted(METHODS)


def build_method(name: str, backbone: Backbone, temperature: float | None = None) -> SSLMethod:
    """``temperature`` (contrastive methods only) replaces the method's default softmax temperature."""
    names = method_names()
    if name not in METHODS:
        raise XraySSLError(f"unknown method '{name}'; valid: {', '.join(names)}")
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
