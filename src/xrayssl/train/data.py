"""Images for training: a split of a prepared cache, resized once and held in memory as uint8."""

from __future__ import annotations

import warnings

import numpy as np
import torch

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


# images are in memory and augmented per batch on the device: loader workers would only add copies
warnings.filterwarnings("ignore", message=".*does not have many workers.*")


class ImageSet(torch.utils.data.Dataset):
    """Items are uint8 (1, S, S) tensors (and labels when given); augmentation happens later, per batch."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i] if self.labels is None else (self.images[i], self.labels[i])
