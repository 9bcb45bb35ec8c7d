"""Batched augmentations for (B, 1, H, W) radiograph tensors: every image draws its own parameters."""

from xrayssl.augment.pipeline import PRESETS, Pipeline, parse_pipeline

__all__ = ["PRESETS", "Pipeline", "parse_pipeline"]
