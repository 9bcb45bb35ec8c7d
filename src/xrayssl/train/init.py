"""Where a run's backbone starts: random weights, torchvision's ImageNet weights (continued SSL as in MoCo-CXR and
Azizi et al., or fine-tuning), or the encoder of an earlier run. Pretraining and the supervised baseline share it;
the run's config records ``init`` (and ``weights``), its config.json the encoder's input normalisation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xrayssl.catalog import check_imagenet, check_weights_path
from xrayssl.errors import XraySSLError

if TYPE_CHECKING:
    from torch import nn

IMAGENET = "imagenet"


def check_init(cfg) -> None:
    """Checks of ``init``/``weights`` that need no file (a resumed run need not find its start again); config
    objects call it, so it imports no torch."""
    init, weights = getattr(cfg, "init", None), getattr(cfg, "weights", None)
    if init == IMAGENET:
        check_imagenet(cfg.backbone, cfg.small_stem)
        if weights:
            check_weights_path(weights)
    elif weights:
        raise XraySSLError("--weights gives the ImageNet weights: it goes with --init imagenet")


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
