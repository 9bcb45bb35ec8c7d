"""A backbone with one linear unit: the supervised baseline's model, also read back by evaluation."""

from __future__ import annotations

import torch
from torch import nn

from xrayssl.models.backbones import Backbone


class Classifier(nn.Module):
    """Backbone + one linear unit: (B, 1, H, W) in [0, 1] -> abnormality logit (B,)."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)).squeeze(1)
