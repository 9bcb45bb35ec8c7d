"""Batched augmentations for (B, 1, H, W) radiograph tensors: every image draws its own parameters.

``PRESETS`` and ``SEED_AUGMENTATIONS`` load without torch; ``Pipeline`` and ``parse_pipeline`` load it on first use.
"""

from __future__ import annotations

from typing import Any

from xrayssl.augment.presets import PRESETS, SEED_AUGMENTATIONS

__all__ = ["PRESETS", "SEED_AUGMENTATIONS", "Pipeline", "parse_pipeline"]


def __getattr__(name: str) -> Any:
    if name in ("Pipeline", "parse_pipeline"):
        from xrayssl.augment import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'xrayssl.augment' has no attribute {name!r}")
