"""Any timm model as a backbone: ``timm:NAME`` (ResNets, ConvNeXt, EfficientNet, RegNet, ViTs including the DINOv2
architectures), built with ``num_classes=0, in_chans=1`` so that timm's own stem adaptation gives it one grey
channel, and started from random weights, timm's pretrained weights (its own download) or a local weights file.

    >>> from xrayssl.models.timm_backbones import timm_backbone, timm_start
    >>> encoder = timm_backbone("timm:convnext_atto", image_size=64)                 # random weights
    >>> encoder = timm_start("timm:resnet10t", 64, weights="resnet10t.safetensors")  # offline start
    >>> features = encoder(x)                                                       # x: (B, 1, H, W) in [0, 1]

Features are timm's ``forward_features``: a CNN's last feature map, a ViT's patch tokens laid out on the patch
grid (its class and register tokens left out), read through the probe's pooling like every backbone's
(``feature_maps``: the stages' maps from ``forward_intermediates``, shallow to deep, the last one
``forward_features``' own). Input: grey in [0, 1], ``(x - mean) / std`` with the backbone's ``norm`` (random
weights: ``xray``; a pretrained start: its own numbers averaged over its channels, ``grey(MEAN,STD)``, as timm
sums its first convolution over them). A ViT takes image sides that are multiples of its patch; its position
embeddings are built for the run's side (timm resamples a start's).

Weights are read as tensors only (``.safetensors``, or ``.pth``/``.pt``/``.bin`` through
``torch.load(weights_only=True)``) and go through timm's own loading (its checkpoint filter, input-convolution
adaptation and classifier removal), strictly: a file for another model is one line naming the first key that
does not fit.
"""

from __future__ import annotations

import difflib
import logging
import re
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xrayssl.catalog import TIMM, is_timm
from xrayssl.errors import XraySSLError
from xrayssl.models.imagenet import WeightsUnavailable, read_weights_file
from xrayssl.models.norms import check_norm, grey_norm


def model_name(backbone: str) -> str:
    """'timm:resnet10t' -> 'resnet10t' (a syntax error is one line)."""
    if not is_timm(backbone):
        raise XraySSLError(f"'{backbone}' is not a timm backbone name; write timm:NAME, e.g. timm:resnet10t")
    return backbone[len(TIMM) :]


def check_model_name(backbone: str) -> str:
    """The timm name, checked against timm's registry: an unknown one is one line with the closest names."""
    import timm

    name = model_name(backbone)
    arch, _, tag = name.partition(".")
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=5, cutoff=0.6)
        hint = f"closest: {', '.join(close)}" if close else "see timm.list_models()"
        raise XraySSLError(f"unknown timm model '{arch}'; {hint}")
    if tag:
        tags = [t.partition(".")[2] for t in timm.list_pretrained(f"{arch}.*")]
        if tag not in tags:
            close = difflib.get_close_matches(tag, tags, n=5, cutoff=0.3) or tags[:5]
            raise XraySSLError(f"timm model {arch} has no pretrained tag '{tag}'; it has: {', '.join(close) or 'none'}")
    return name


def _create(name: str, image_size: int, args: dict[str, Any] | None, pretrained: bool = False) -> nn.Module:
    import timm

    kwargs: dict[str, Any] = {"pretrained": pretrained, "num_classes": 0, "in_chans": 1, **(args or {})}
    cfg = timm.get_pretrained_cfg(name, allow_unregistered=True)
    if cfg is not None and getattr(cfg, "fixed_input_size", False):
        kwargs["img_size"] = image_size  # ViTs and the like: position embeddings for this side
    try:
        return timm.create_model(name, **kwargs)
    except TypeError:
        if "img_size" not in kwargs:
            raise
        kwargs.pop("img_size")
        return timm.create_model(name, **kwargs)


class TimmBackbone(nn.Module):
    """A timm model without its classifier: (B, 1, H, W) float in [0, 1] -> (B, dim) features (the mean of its
    last feature map, as the probe's ``avg`` pooling). ``kind``: 'vit' (patch tokens) or 'cnn'."""

    def __init__(
        self,
        name: str,
        image_size: int = 64,
        norm: str = "xray",
        args: dict[str, Any] | None = None,
        model: nn.Module | None = None,
    ) -> None:
        super().__init__()
        mean, std = check_norm(norm)
        if len(mean) != 1:
            raise XraySSLError(f"{name}: timm backbones take one grey channel, not the '{norm}' normalisation")
        self.model = model if model is not None else _create(check_model_name(name), image_size, args)
        self.name, self.small_stem, self.image_size, self.norm = name, False, image_size, norm
        self.args = dict(args or {})
        self.in_chans, self.dim = 1, int(self.model.num_features)
        self.is_vit = hasattr(self.model, "patch_embed") and hasattr(self.model, "num_prefix_tokens")
        self.kind = "vit" if self.is_vit else "cnn"
        self.patch = int(self.model.patch_embed.patch_size[0]) if self.is_vit else None
        self.n_maps = min(4, len(getattr(self.model, "feature_info", None) or [0] * 4))  # the last 4 stages at most
        self.pretrained = False  # set by the loaders: MAE keeps a start's weights instead of re-initialising
        self.register_buffer("mean", torch.tensor(mean).view(1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 1, 1, 1), persistent=False)
        self._check_size(image_size)

    def _check_size(self, size: int) -> None:
        """A side the model cannot take is one line now, not a shape error in the first step."""
        if self.patch and size % self.patch:
            lower, upper = size // self.patch * self.patch, (size // self.patch + 1) * self.patch
            fits = f"{lower} or {upper}" if lower else str(upper)
            raise XraySSLError(
                f"{self.name} takes image sides that are multiples of its {self.patch}-px patches, not {size} px: "
                f"use --size {fits}"
            )
        was = self.training
        try:
            with torch.no_grad():
                self.model.eval()(torch.zeros(1, 1, size, size))
        except Exception as exc:  # each architecture fails in its own way (pooling to nothing, window sizes)
            reason = " ".join(str(exc).split())[:160]
            raise XraySSLError(f"{self.name} cannot take {size}-px images ({reason}); use a larger --size") from None
        finally:
            self.model.train(was)

    def input_spec(self) -> dict[str, Any]:
        """What the backbone expects, for the run's config.json and the exports."""
        mean, std = check_norm(self.norm)
        spec = {"in_chans": 1, "mean": list(mean), "std": list(std), "size": self.image_size}
        spec.update(patch_multiple=self.patch, timm_args=self.args)
        return spec

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def _as_map(self, t: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """A ViT's tokens (B, N, D) -> its patch tokens on the grid (B, D, h, w); a CNN's map unchanged."""
        if t.ndim == 4:  # channels last in some families (Swin): the probe's pooling reads (B, C, h, w)
            return t.permute(0, 3, 1, 2) if getattr(self.model, "output_fmt", "NCHW") == "NHWC" else t
        t = t[:, self.model.num_prefix_tokens :]
        return t.transpose(1, 2).reshape(len(t), -1, h // self.patch, w // self.patch)

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stages' feature maps, shallow to deep; the last is ``forward_features``' output."""
        z = self.normalise(x)
        h, w = x.shape[-2:]
        try:
            last, stages = self.model.forward_intermediates(z, indices=self.n_maps)
        except (AttributeError, NotImplementedError, TypeError):  # a model without timm's intermediates API
            return [self._as_map(self.model.forward_features(z), h, w)]
        return [*stages[:-1], self._as_map(last, h, w)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.normalise(x)
        return self._as_map(self.model.forward_features(z), *x.shape[-2:]).mean((2, 3))


def timm_backbone(name: str, image_size: int = 64, norm: str = "xray", args: dict[str, Any] | None = None):
    """A timm backbone with random weights (or the architecture a run's encoder.pt is loaded into)."""
    return TimmBackbone(name, image_size, norm, args)


class StartUnavailable(WeightsUnavailable):
    """timm's pretrained weights could not be downloaded (no network) and no local file was given."""

    def message(self, flag: str) -> str:
        return (
            f"cannot download the pretrained weights of {self.backbone} from {self.url} ({self.reason}); without "
            f"network, fetch them elsewhere and give the file with {flag} PATH"
        )


def weights_url(name: str) -> str:
    """Where timm downloads a model's pretrained weights from: its Hugging Face hub repository, else its URL."""
    import timm

    cfg = timm.get_pretrained_cfg(model_name(name) if is_timm(name) else name, allow_unregistered=True)
    if cfg is None:
        return "(timm names no pretrained weights for it)"
    if cfg.hf_hub_id:
        return f"https://huggingface.co/{cfg.hf_hub_id}"
    return cfg.url or "(timm names no pretrained weights for it)"


def _cached(name: str) -> bool:
    """Whether timm's hub download of the weights is in the local Hugging Face cache already."""
    import timm

    cfg = timm.get_pretrained_cfg(model_name(name), allow_unregistered=True)
    if cfg is None or not cfg.hf_hub_id:
        return False
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    repo = cfg.hf_hub_id.split("@")[0]
    return any(isinstance(try_to_load_from_cache(repo, f), str) for f in ("model.safetensors", "pytorch_model.bin"))


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """A quick TCP connection to the URL's host (no request): False without network."""
    import socket
    from urllib.parse import urlparse

    host = urlparse(url).hostname
    if not host:
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def licence(name: str) -> str | None:
    """The licence timm records for a model's pretrained weights (None when it records none)."""
    import timm

    cfg = timm.get_pretrained_cfg(model_name(name), allow_unregistered=True)
    return getattr(cfg, "license", None) if cfg is not None else None


_KEYS = re.compile(r'(Missing|Unexpected) key\(s\) in state_dict: ((?:"[^"]+"(?:, )?)+)')
_SHAPE = re.compile(r"size mismatch for ([^:]+): copying a param with shape torch\.Size\(\[([^\]]*)\]\) from "
                    r"checkpoint, the shape in current model is torch\.Size\(\[([^\]]*)\]\)")  # fmt: skip


def first_mismatch(exc: BaseException, order: list[str] | None = None) -> str:
    """The first key that does not fit (in the model's own key order), from torch's (or a checkpoint filter's)
    error."""
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0] if exc.args else exc}"
    text = str(exc)
    found: dict[str, str] = {}
    for kind, keys in _KEYS.findall(text):
        for key in re.findall(r'"([^"]+)"', keys):
            found.setdefault(key, f"{kind.lower()} key {key}")
    for key, theirs, ours in _SHAPE.findall(text):
        found.setdefault(key, f"shape of {key}: ({theirs}) in the file, ({ours}) in the model")
    if not found:
        return " ".join(text.split())[:160]
    rank = {k: i for i, k in enumerate(order or [])}
    return found[min(found, key=lambda k: rank.get(k, len(rank)))]


def load_start(backbone: TimmBackbone, state: dict[str, torch.Tensor] | None, source: str) -> TimmBackbone:
    """A timm-format state dict (any head, 1 or 3 input channels; None: timm's own download of the model's
    pretrained weights) into the backbone, through timm's own loading; anything that does not fit is one line
    naming the source and the first mismatched key."""
    from timm.models import load_pretrained

    model = backbone.model
    cfg = dict(model.pretrained_cfg) if state is None else {**model.pretrained_cfg, "state_dict": dict(state)}
    filter_fn = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
    quiet = logging.getLogger("timm")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # timm logs each stem adaptation as a warning; the run records the start
    try:
        load_pretrained(model, pretrained_cfg=cfg, num_classes=0, in_chans=1, filter_fn=filter_fn, strict=True)
    except (RuntimeError, KeyError, ValueError, AssertionError, IndexError) as exc:
        first = first_mismatch(exc, list(model.state_dict()))
        raise XraySSLError(f"{source}: does not fit {backbone.name} ({first})") from None
    finally:
        quiet.setLevel(level)
    backbone.pretrained = True
    return backbone


def start_norm(name: str) -> str:
    """The one-channel normalisation of a timm model's pretrained weights (its pretrained_cfg's numbers)."""
    import timm

    cfg = timm.get_pretrained_cfg(model_name(name), allow_unregistered=True)
    if cfg is None or not cfg.mean:
        return "xray"
    return grey_norm(cfg.mean, cfg.std)


def timm_start(
    name: str, image_size: int = 64, weights: str | Path | None = None, args: dict[str, Any] | None = None
) -> TimmBackbone:
    """A timm backbone from its pretrained weights: ``weights`` (a local file, tensors only), else timm's own
    download (or its cache); offline without ``weights``: one line naming the URL and --weights. The name and the
    image side are checked before any file is read or download tried."""
    check_model_name(name)  # before its pretrained_cfg is read: an unknown name or tag is one line
    backbone = TimmBackbone(name, image_size, start_norm(name), args)
    if weights:
        return load_start(backbone, read_weights_file(weights), str(weights))
    url = weights_url(name)
    if url.startswith("("):
        raise XraySSLError(f"{name}: timm has no pretrained weights for it; give a weights file with --weights PATH")
    if not _cached(name) and not _reachable(url):  # the hub client would retry for a minute first
        raise StartUnavailable(name, url, "no network", Path("~/.cache/huggingface"))
    try:
        return load_start(backbone, None, url)
    except XraySSLError:
        raise
    except Exception as exc:  # hub, URL and file errors differ by timm and huggingface_hub version
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise StartUnavailable(name, url, reason, Path("~/.cache/huggingface")) from None
