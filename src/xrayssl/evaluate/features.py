"""Frozen features of a split, without augmentation: from a trained encoder, a random one, or raw pixels.

Every encoder (a run's, the untrained floor's) goes through ``encode`` with the same ``pool``, so a pooled SSL
encoder is never compared against an unpooled untrained one."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from xrayssl.catalog import INFERENCE_BATCH
from xrayssl.models.backbones import pool_features


@torch.no_grad()
def encode(
    backbone: torch.nn.Module,
    images: torch.Tensor,
    pool: str = "avg",
    batch_size: int = INFERENCE_BATCH,
    device: str | None = None,
) -> np.ndarray:
    """uint8 (N, 1, S, S) -> float32 (N, D) features of a frozen encoder in eval mode, pooled by ``pool``
    (avg, grid2 or multi; see ``models.backbones.pool_features``)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    backbone = backbone.to(device).eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device).float().div_(255)
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=device != "cpu"):
            out.append(pool_features(backbone.feature_maps(x), pool).float().cpu())
    return torch.cat(out).numpy()


def pixels(images: torch.Tensor, size: int = 32) -> np.ndarray:
    """The raw-pixel floor: images shrunk to ``size`` px, flattened."""
    x = images.float().div(255)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="area")
    return x.flatten(1).numpy()
