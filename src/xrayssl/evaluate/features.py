"""Frozen features of a split, without augmentation: from a trained encoder, a random one, or raw pixels."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from xrayssl.models.backbones import Backbone


@torch.no_grad()
def encode(backbone: Backbone, images: torch.Tensor, batch_size: int = 256, device: str | None = None) -> np.ndarray:
    """uint8 (N, 1, S, S) -> float32 (N, dim) features of a frozen encoder in eval mode."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    backbone = backbone.to(device).eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device).float().div_(255)
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=device != "cpu"):
            out.append(backbone(x).float().cpu())
    return torch.cat(out).numpy()


def pixels(images: torch.Tensor, size: int = 32) -> np.ndarray:
    """The raw-pixel floor: images shrunk to ``size`` px, flattened."""
    x = images.float().div(255)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="area")
    return x.flatten(1).numpy()
