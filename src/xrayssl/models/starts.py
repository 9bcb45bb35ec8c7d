"""Pretrained starts by their spec, as ``probe --encoder`` and a study's ``references:`` name them: ``timm:NAME``
(timm's pretrained weights, or a local ``weights`` file) or ``hf:PATH`` (a Hugging Face DINOv2-family folder).
ImageNet ResNets keep their own loader (models/imagenet.py)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from xrayssl.catalog import is_hf, is_timm
from xrayssl.errors import XraySSLError


def frozen_start(spec: str, image_size: int, weights: str | Path | None = None) -> nn.Module:
    """The start as a frozen encoder in eval mode, at ``image_size``; offline without weights: one line."""
    if is_hf(spec):
        from xrayssl.models.hf_dinov2 import hf_backbone

        if weights:
            raise XraySSLError(f"--weights: {spec} holds its own weights (model.safetensors)")
        return hf_backbone(spec, image_size).eval()
    if is_timm(spec):
        from xrayssl.models.timm_backbones import timm_start

        return timm_start(spec, image_size, weights).eval()
    raise XraySSLError(f"unknown start '{spec}'; give timm:NAME or hf:PATH")
