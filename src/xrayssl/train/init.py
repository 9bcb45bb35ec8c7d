"""Where a run's backbone starts: random weights, torchvision's ImageNet weights (continued SSL as in MoCo-CXR and
Azizi et al., or fine-tuning), a timm model's pretrained weights (``--init pretrained``, from ``--weights FILE``
offline), a local Hugging Face DINOv2 folder (``--init hf:PATH``), or the encoder of an earlier run. Pretraining
and the supervised baseline share it; the run's config records ``init`` (and ``weights``), its config.json what the
encoder expects as input (normalisation, channels, size, patch multiple)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xrayssl.catalog import IMAGENET, PRETRAINED, is_hf
from xrayssl.errors import XraySSLError

if TYPE_CHECKING:
    from torch import nn


def initial_backbone(cfg, norm: str | None = None, args: dict[str, Any] | None = None) -> nn.Module:
    """The backbone a new run starts from (``cfg``: a PretrainConfig or SupervisedConfig). ``norm`` given: a
    resumed run's architecture with that input normalisation (``args``: its timm arguments), without reading its
    start (its checkpoint holds the weights)."""
    from xrayssl import runs
    from xrayssl.models.backbones import build_backbone

    if norm is not None:
        return build_backbone(cfg.backbone, cfg.small_stem, cfg.size, norm, args)
    if cfg.init is None:
        return build_backbone(cfg.backbone, cfg.small_stem, cfg.size)
    if cfg.init == IMAGENET:
        from xrayssl.models.imagenet import imagenet_backbone

        return imagenet_backbone(cfg.backbone, cfg.weights).train()
    if cfg.init == PRETRAINED:
        from xrayssl.models.timm_backbones import timm_start

        return timm_start(cfg.backbone, cfg.size, cfg.weights).train()
    if is_hf(cfg.init):
        from xrayssl.models.hf_dinov2 import hf_backbone

        backbone = hf_backbone(cfg.init, cfg.size)
        if backbone.name != cfg.backbone:
            raise XraySSLError(f"--init {cfg.init}: its model is {backbone.name}, this run asks for {cfg.backbone}")
        return backbone.train()
    encoder, source = runs.load_encoder(cfg.init)
    theirs = (source["backbone"], bool(source.get("small_stem", False)))
    if theirs != (cfg.backbone, cfg.small_stem):
        raise XraySSLError(
            f"--init {cfg.init}: its encoder is {theirs[0]}{' (small stem)' * theirs[1]}, this run asks for "
            f"{cfg.backbone}{' (small stem)' * cfg.small_stem}; give the same --backbone/--small-stem"
        )
    if getattr(encoder, "image_size", cfg.size) != cfg.size and encoder.kind == "vit":
        raise XraySSLError(
            f"--init {cfg.init}: its ViT encoder takes {encoder.image_size}-px images; give --size {encoder.image_size}"
        )
    backbone = build_backbone(cfg.backbone, cfg.small_stem, cfg.size, encoder.norm, getattr(encoder, "args", None))
    backbone.load_state_dict(encoder.state_dict())
    return backbone
