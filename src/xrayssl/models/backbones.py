"""Backbones for one-channel radiographs: torchvision ResNets (optional small-image stem) and small ViTs.

Every backbone maps (B, 1, H, W) floats in [0, 1] to (B, dim) features (``forward``, global average pool)
and exposes its spatial feature maps (``feature_maps``), which the probe's pooling options and the dense
SSL objectives read. A registry keyed by name; ``kind`` tells methods which family a backbone is.

A backbone's input normalisation is named by its ``norm`` (models/norms.py holds the numbers; the backbone
applies them inside ``forward`` and ``feature_maps``, export.py writes them down): ``xray`` is one
channel, ``(x - 0.5) / 0.25``; ``imagenet`` (ImageNet-initialised ResNets) feeds the grey image as 3 equal
channels, each normalised with ImageNet's per-channel mean and std, exactly as torchvision's own model
would see a grey picture.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

from xrayssl.catalog import POOLS, is_timm  # torch-free: configs check --pool without torch
from xrayssl.catalog import backbone_kind as catalog_kind
from xrayssl.errors import XraySSLError
from xrayssl.models.norms import NORMS, check_norm

RESNETS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": torchvision.models.resnet18,
    "resnet34": torchvision.models.resnet34,
    "resnet50": torchvision.models.resnet50,
}
# (hidden dim, layers, heads, mlp dim) as in DeiT-Ti / DeiT-S; patches of 8 px suit 64-128 px radiographs
VITS: dict[str, tuple[int, int, int, int]] = {"vit-tiny": (192, 12, 3, 768), "vit-small": (384, 12, 6, 1536)}
VIT_PATCH = 8


def backbone_names() -> list[str]:
    return [*RESNETS, *VITS]


def backbone_kind(name: str) -> str:
    """'resnet', 'vit' or 'cnn' (a timm model that is not a ViT); an unknown name is a one-line error."""
    if name in RESNETS:
        return "resnet"
    if name in VITS:
        return "vit"
    return catalog_kind(name)  # timm:NAME by its name, or the one-line error


def pool_features(maps: list[torch.Tensor], pool: str) -> torch.Tensor:
    """(B, C, h, w) maps, shallow to deep -> (B, D) probe features.

    avg: global average of the last map; grid2: the last map averaged over a 2x2 grid (keeps coarse position,
    which aligned radiographs carry); multi: the global averages of every map, concatenated."""
    if pool == "avg":
        return maps[-1].mean((2, 3))
    if pool == "grid2":
        return F.adaptive_avg_pool2d(maps[-1], 2).flatten(1)
    if pool == "multi":
        return torch.cat([m.mean((2, 3)) for m in maps], 1)
    raise XraySSLError(f"unknown pooling '{pool}'; valid: {', '.join(POOLS)}")


class Backbone(nn.Module):
    """A ResNet trunk without its classifier: (B, 1, H, W) float in [0, 1] -> (B, dim) features.

    ``small_stem`` replaces the 7x7/2 convolution and max-pool by one 3x3/1 convolution, the usual choice
    for inputs of 96 px or less (it keeps 4x more spatial resolution, at about 16x the compute). ``norm``
    (a NORMS name) sets the input normalisation and so the first convolution's channels: 1 for ``xray``,
    3 for ``imagenet`` (torchvision's layout, so ImageNet weights load unchanged)."""

    kind = "resnet"

    def __init__(self, name: str = "resnet18", small_stem: bool = False, norm: str = "xray") -> None:
        super().__init__()
        if backbone_kind(name) != "resnet":
            raise XraySSLError(f"{name} is not a ResNet; build it with build_backbone")
        mean, std = check_norm(norm)
        self.in_chans = len(mean)
        net = RESNETS[name](weights=None)
        c = self.in_chans
        net.conv1 = nn.Conv2d(c, 64, 3, 1, 1, bias=False) if small_stem else nn.Conv2d(c, 64, 7, 2, 3, bias=False)
        if small_stem:
            net.maxpool = nn.Identity()
        self.dim = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net
        self.name, self.small_stem, self.norm = name, small_stem, norm
        # not persistent: encoder.pt holds the ResNet's weights only, the run's config.json names the norm
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) in [0, 1] -> the first convolution's input: the grey image repeated to its channels,
        then (x - mean) / std per channel."""
        return (x.expand(-1, self.in_chans, -1, -1) - self.mean) / self.std

    @staticmethod
    def _stages(net: nn.Module) -> list[nn.Module]:
        return [net.layer1, net.layer2, net.layer3, net.layer4]

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of the four stages, shallow to deep."""
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(self.normalise(x)))))
        maps = []
        for stage in self._stages(n):
            x = stage(x)
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalise(x))


class ViTBackbone(nn.Module):
    """A torchvision ViT with a one-channel patch embedding: (B, 1, H, W) in [0, 1] -> (B, dim), the mean of
    its patch tokens (what the probe reads). ``feature_maps`` gives the patch tokens of the last four blocks
    laid out on the patch grid."""

    kind = "vit"

    def __init__(self, name: str = "vit-tiny", image_size: int = 64) -> None:
        super().__init__()
        if backbone_kind(name) != "vit":
            raise XraySSLError(f"{name} is not a ViT")
        if image_size % VIT_PATCH:
            raise XraySSLError(f"{name} needs an image size divisible by its {VIT_PATCH}-px patches, got {image_size}")
        hidden, layers, heads, mlp = VITS[name]
        self.vit = VisionTransformer(
            image_size=image_size,
            patch_size=VIT_PATCH,
            num_layers=layers,
            num_heads=heads,
            hidden_dim=hidden,
            mlp_dim=mlp,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
        )
        self.vit.conv_proj = nn.Conv2d(1, hidden, VIT_PATCH, VIT_PATCH)
        self.vit.heads = nn.Identity()
        self.dim = hidden
        self.name, self.small_stem, self.image_size, self.norm = name, False, image_size, "xray"
        self.in_chans = 1

    @staticmethod
    def normalise(x: torch.Tensor) -> torch.Tensor:
        """Radiographs in [0, 1] -> roughly zero-mean, unit-variance input, as for the ResNets."""
        mean, std = NORMS["xray"]
        return (x - mean[0]) / std[0]

    def tokens(self, x: torch.Tensor, keep_blocks: int = 1) -> list[torch.Tensor]:
        """Patch tokens (B, N, D) after each of the last ``keep_blocks`` blocks (the last one layer-normed)."""
        v = self.vit
        t = v._process_input(self.normalise(x))
        t = torch.cat([v.class_token.expand(len(t), -1, -1), t], 1) + v.encoder.pos_embedding
        t = v.encoder.dropout(t)
        out = []
        blocks = list(v.encoder.layers)
        for i, block in enumerate(blocks):
            t = block(t)
            if i >= len(blocks) - keep_blocks:
                out.append(t)
        out[-1] = v.encoder.ln(out[-1])
        return [o[:, 1:] for o in out]

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        side = x.shape[-1] // VIT_PATCH
        return [t.transpose(1, 2).reshape(len(t), -1, side, side) for t in self.tokens(x, keep_blocks=4)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens(x)[-1].mean(1)


def build_backbone(
    name: str, small_stem: bool = False, image_size: int = 64, norm: str = "xray", args: dict | None = None
) -> nn.Module:
    """Any registered backbone by name, or any timm model as ``timm:NAME`` (random weights; ``args``: extra
    timm.create_model arguments, e.g. a Hugging Face DINOv2's depth); ``image_size`` fixes a ViT's position
    embeddings; ``norm`` (models/norms.py) its input normalisation (built-in ViTs: xray only)."""
    if is_timm(name):
        from xrayssl.models.timm_backbones import timm_backbone

        if small_stem:
            raise XraySSLError(f"--small-stem applies to the built-in ResNets, not to {name}")
        return timm_backbone(name, image_size, norm, args)
    if backbone_kind(name) == "vit":
        if small_stem:
            raise XraySSLError(f"--small-stem applies to ResNets, not to {name}")
        if norm != "xray":
            raise XraySSLError(f"{name} takes one-channel radiographs ('xray' normalisation), not '{norm}'")
        return ViTBackbone(name, image_size)
    return Backbone(name, small_stem, norm)
