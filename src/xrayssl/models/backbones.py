"""One-channel torchvision ResNets, with an optional small-image stem; a registry keyed by name."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision
from torch import nn

from xrayssl.errors import XraySSLError

BACKBONES: dict[str, Callable[[], nn.Module]] = {
    "resnet18": torchvision.models.resnet18,
    "resnet34": torchvision.models.resnet34,
    "resnet50": torchvision.models.resnet50,
}


class Backbone(nn.Module):
    """A ResNet trunk without its classifier: (B, 1, H, W) float in [0, 1] -> (B, dim) features.

    ``small_stem`` replaces the 7x7/2 convolution and max-pool by one 3x3/1 convolution, the usual choice
    for inputs of 96 px or less (it keeps 4x more spatial resolution, at about 16x the compute)."""

    def __init__(self, name: str = "resnet18", small_stem: bool = False) -> None:
        super().__init__()
        if name not in BACKBONES:
            raise XraySSLError(f"unknown backbone '{name}'; valid: {', '.join(BACKBONES)}")
        net = BACKBONES[name](weights=None)
        net.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False) if small_stem else nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        if small_stem:
            net.maxpool = nn.Identity()
        self.dim = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net
        self.name, self.small_stem = name, small_stem

    @property
    def last_block(self) -> nn.Module:
        """The layer Grad-CAM looks at."""
        return self.net.layer4[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # radiographs in [0, 1] -> roughly zero-mean, unit-variance input
        return self.net((x - 0.5) / 0.25)
