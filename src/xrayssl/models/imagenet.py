"""ResNets with torchvision's ImageNet weights: the seed study's baseline (frozen features + logistic regression)
and the start of continued SSL (MoCo-CXR, Azizi et al.) or fine-tuning.

    >>> from xrayssl.models.imagenet import imagenet_backbone
    >>> encoder = imagenet_backbone("resnet50")                    # torchvision's download, or its cache
    >>> encoder = imagenet_backbone("resnet50", "resnet50.pth")     # offline: a local torchvision-format file
    >>> features = encoder(x)                                      # x: (B, 1, H, W) grey in [0, 1]

Weights: torchvision's ``IMAGENET1K_V1`` (what ``pretrained=True`` gave, and what MoCo-CXR and the seed study
started from). torchvision keeps a download in ``$TORCH_HOME/hub/checkpoints``, so only the first use needs the
network. ``weights=PATH`` reads a torchvision-format state dict instead: ``.pth``/``.pt`` (read with
``torch.load(weights_only=True)``, no pickle code runs) or ``.safetensors``; an ``fc.*`` head is ignored.

Grey input: the image is fed as 3 equal channels and each channel is normalised with ImageNet's mean and std
(the backbone's ``imagenet`` norm), so the first convolution keeps its ImageNet weights unchanged and the
features are exactly those of torchvision's model on the grey picture. (Summing the first convolution over its
channels would give one channel but not the same features: the channels' means differ, and the convolution's
zero padding would then stand for a different value at the borders.)
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import torch

from xrayssl.catalog import IMAGENET_WEIGHTS, check_imagenet, check_weights_path
from xrayssl.errors import XraySSLError
from xrayssl.models.backbones import Backbone


class WeightsUnavailable(XraySSLError):
    """torchvision's ImageNet weights could not be downloaded (no network) and no local file was given."""

    def __init__(self, backbone: str, url: str, reason: object, folder: Path) -> None:
        self.backbone, self.url, self.reason, self.folder = backbone, url, reason, folder
        super().__init__(self.message("--weights"))

    def message(self, flag: str) -> str:
        """One line naming the URL and the option (``flag``) that reads a local copy instead."""
        return (
            f"cannot download the ImageNet weights of {self.backbone} from {self.url} ({self.reason}); without "
            f"network, fetch that file elsewhere and give it with {flag} PATH (or put it in {self.folder})"
        )


def weights_url(backbone: str) -> str:
    import torchvision

    check_imagenet(backbone)
    return getattr(torchvision.models, IMAGENET_WEIGHTS[backbone]).IMAGENET1K_V1.url


def read_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a local .pth/.pt (tensors only) or .safetensors file; bad files are one-line errors."""
    path = Path(path)
    check_weights_path(path)
    if not path.is_file():
        raise XraySSLError(f"{path}: weights file not found")
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError:
        needs = "pip install safetensors"
        raise XraySSLError(f"{path}: reading .safetensors needs the safetensors package ({needs})") from None
    except Exception as exc:  # unpickling, truncated or foreign files: each library raises its own kind
        reason = " ".join(str(exc).split())[:200]
        raise XraySSLError(f"{path}: cannot read it as a state dict ({type(exc).__name__}: {reason})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise XraySSLError(f"{path}: not a state dict (a mapping of parameter names to tensors)")
    return state


def download(backbone: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet state dict, from its cache or the network; offline: one line naming the URL."""
    url = weights_url(backbone)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if not cached.is_file():
        print(f"downloading the ImageNet weights of {backbone} from {url} (once; kept in {cached.parent})", flush=True)
    try:
        return torch.hub.load_state_dict_from_url(
            url, map_location="cpu", progress=False, check_hash=True, weights_only=True
        )
    except (urllib.error.URLError, OSError) as exc:
        raise WeightsUnavailable(backbone, url, getattr(exc, "reason", None) or exc, cached.parent) from None


def load_resnet_weights(backbone: Backbone, state: dict[str, torch.Tensor], source: str) -> Backbone:
    """Torchvision-format weights into ``backbone.net`` (an ``fc.*`` head is dropped); anything that does not
    fit, in names or shapes, is one line naming the source."""
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = backbone.net.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    extra = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in own if k in state and
              state[k].shape != own[k].shape]  # fmt: skip
    if missing or extra or shapes:
        found = "; ".join(
            f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", extra), ("shape", shapes))
            if keys
        )
        raise XraySSLError(f"{source}: not torchvision {backbone.name} weights ({found})")
    backbone.net.load_state_dict(state, strict=False)  # old torchvision files lack num_batches_tracked only
    return backbone


def imagenet_backbone(name: str = "resnet50", weights: str | Path | None = None) -> Backbone:
    """A ResNet with ImageNet weights and ImageNet input normalisation (3 equal channels), in eval mode;
    ``weights``: a local torchvision-format file instead of torchvision's download."""
    check_imagenet(name)
    state = read_weights_file(weights) if weights else download(name)
    backbone = Backbone(name, small_stem=False, norm="imagenet")
    return load_resnet_weights(backbone, state, str(weights or weights_url(name))).eval()
