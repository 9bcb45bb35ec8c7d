"""Where a run's backbone starts: random weights, torchvision's ImageNet weights (continued SSL as in MoCo-CXR and
Azizi et al., or fine-tuning), or the encoder of an earlier run. Pretraining and the supervised baseline share it;
the run's config records ``init`` (and ``weights``), its config.json the encoder's input normalisation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xrayssl.catalog import IMAGENET
from xrayssl.errors import XraySSLError

if TYPE_CHECKING:
    from torch import nn


def initial_backbone(cfg, norm: str | None = None) -> nn.Module:
    """The backbone a new run starts from (``cfg``: a PretrainConfig or SupervisedConfig). ``norm`` given: a
    resumed run's architecture with that input normalisation, without reading its start (its checkpoint holds
    the weights)."""
    from xrayssl import runs
    from xrayssl.models.backbones import build_backbone

    if norm is not None:
        return build_backbone(cfg.backbone, cfg.small_stem, cfg.size, norm)
    if cfg.init is None:
        return build_backbone(cfg.backbone, cfg.small_stem, cfg.size)
    if cfg.init == IMAGENET:
        from xrayssl.models.imagenet import imagenet_backbone

        return imagenet_backbone(cfg.backbone, cfg.weights).train()
    encoder, source = runs.load_encoder(cfg.init)
    theirs = (source["backbone"], bool(source.get("small_stem", False)))
    if theirs != (cfg.backbone, cfg.small_stem):
        raise XraySSLError(
            f"--init {cfg.init}: its encoder is {theirs[0]}{' (small stem)' * theirs[1]}, this run asks for "
            f"{cfg.backbone}{' (small stem)' * cfg.small_stem}; give the same --backbone/--small-stem"
        )
    backbone = build_backbone(cfg.backbone, cfg.small_stem, cfg.size, encoder.norm)
    backbone.load_state_dict(encoder.state_dict())
    return backbone
