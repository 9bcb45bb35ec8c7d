"""The pretraining pool: a split of a prepared cache, optionally subsampled to a share of abnormal images."""

from __future__ import annotations

import numpy as np

from xrayssl.data.cache import PreparedCache
from xrayssl.errors import XraySSLError


def select(cache: PreparedCache, split: str | None, body_part: str | None = None) -> np.ndarray:
    idx = cache.indices(split=split, body_part=body_part)
    if not len(idx):
        raise XraySSLError(
            f"{cache.path}: no images in split '{split}'" + (f", body part '{body_part}'" if body_part else "")
        )
    return idx


def subsample_abnormal_fraction(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Positions to keep so that ``fraction`` of the kept labelled images are abnormal (1); the larger class
    is subsampled, the smaller kept whole, unlabelled images dropped (their class is unknown)."""
    rng = np.random.default_rng(seed)
    abnormal, normal = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if not len(abnormal) or not len(normal):
        raise XraySSLError("--pretrain-abnormal-fraction needs both normal and abnormal images in the pool")
    if len(abnormal) / (len(abnormal) + len(normal)) > fraction:
        abnormal = rng.choice(abnormal, size=max(1, round(fraction / (1 - fraction) * len(normal))), replace=False)
    else:
        normal = rng.choice(normal, size=max(1, round((1 - fraction) / fraction * len(abnormal))), replace=False)
    return np.sort(np.concatenate([abnormal, normal]))
