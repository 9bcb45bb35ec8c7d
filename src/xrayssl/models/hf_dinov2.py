"""A local Hugging Face DINOv2-family folder (``config.json`` + ``model.safetensors``, e.g. RAD-DINO's) as a timm
ViT: its config names the architecture, its keys are mapped onto timm's ``VisionTransformer``, so no
``transformers`` install is needed and everything timm backbones do (pooling, MAE, export) applies.

    >>> from xrayssl.models.hf_dinov2 import hf_backbone
    >>> encoder = hf_backbone("rad-dino/", image_size=518)   # hf:rad-dino/ on the command line

The architecture (``hf_architecture``, torch-free: configs read it) is timm's DINOv2 ViT of the folder's width,
with the folder's depth, heads, MLP ratio and patch given explicitly, so any DINOv2-shaped model maps. The input
normalisation is the folder's ``preprocessor_config.json`` ``image_mean``/``image_std`` (ImageNet's when absent),
averaged to one grey channel; the RGB patch embedding is summed over its channels by timm's stem adaptation.
Position embeddings are resampled to the run's image side by timm (bicubic, once at load; Hugging Face
interpolates at every forward instead, so at other sides than the folder's the two differ slightly).
Not mapped: register tokens (``dinov2_with_registers``) and the SwiGLU MLP of the giant model (one-line errors).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xrayssl.catalog import HF, TIMM
from xrayssl.errors import XraySSLError

if TYPE_CHECKING:
    import torch

    from xrayssl.models.timm_backbones import TimmBackbone

WEIGHTS_FILE = "model.safetensors"
# timm's DINOv2 ViT names by width (the name gives the pretrained_cfg; depth, heads and patch are given as args)
TIMM_BY_WIDTH = {384: "vit_small_patch14_dinov2", 768: "vit_base_patch14_dinov2", 1024: "vit_large_patch14_dinov2"}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def folder_of(spec: str | Path) -> Path:
    text = str(spec)
    return Path(text[len(HF) :] if text.startswith(HF) else text)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text()[:1_000_000])
    except (OSError, ValueError) as exc:
        raise XraySSLError(f"{path}: unreadable ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(data, dict):
        raise XraySSLError(f"{path}: not a JSON object")
    return data


def _number(cfg: dict[str, Any], key: str, where: Path, default: Any = None) -> Any:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 100_000:
        raise XraySSLError(f"{where}: {key} {value!r} is not a size of a DINOv2 model")
    return value


def hf_architecture(spec: str | Path) -> dict[str, Any]:
    """{"backbone": "timm:NAME", "args": {...}, "norm": "grey(M,S)", "image_size": int, "patch": int} of a DINOv2
    folder, read from its config.json (and preprocessor_config.json); anything else is a one-line error."""
    from xrayssl.models.norms import grey_norm

    folder = folder_of(spec)
    path = folder / "config.json"
    if not path.is_file():
        raise XraySSLError(f"{folder}: not a Hugging Face model folder (no config.json)")
    cfg = _read_json(path)
    kind = cfg.get("model_type")
    if kind != "dinov2":
        extra = " (register tokens are not mapped yet)" if kind == "dinov2_with_registers" else ""
        raise XraySSLError(f"{path}: model_type {kind!r}; xrayssl reads DINOv2 folders (model_type 'dinov2'){extra}")
    if cfg.get("use_swiglu_ffn"):
        raise XraySSLError(f"{path}: a SwiGLU MLP (DINOv2 giant) is not mapped onto timm's ViT yet")
    if int(cfg.get("num_channels", 3)) not in (1, 3):
        raise XraySSLError(f"{path}: num_channels {cfg.get('num_channels')}: 1 or 3 expected")
    width = int(_number(cfg, "hidden_size", path))
    heads = int(_number(cfg, "num_attention_heads", path))
    if width % heads:
        raise XraySSLError(f"{path}: hidden_size {width} is not divisible by num_attention_heads {heads}")
    args = {
        "patch_size": int(_number(cfg, "patch_size", path, 14)),
        "embed_dim": width,
        "depth": int(_number(cfg, "num_hidden_layers", path)),
        "num_heads": heads,
        "mlp_ratio": float(_number(cfg, "mlp_ratio", path, 4)),
        "qkv_bias": bool(cfg.get("qkv_bias", True)),
        "init_values": float(cfg.get("layerscale_value", 1.0)),
    }
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        p = _read_json(pre)
        mean, std = p.get("image_mean", mean), p.get("image_std", std)
        if not all(isinstance(v, (int, float)) for v in [*mean, *std]) or not all(v > 0 for v in std):
            raise XraySSLError(f"{pre}: image_mean/image_std are not lists of numbers")
    return {
        "backbone": TIMM + TIMM_BY_WIDTH.get(width, "vit_small_patch14_dinov2"),
        "args": args,
        "norm": grey_norm(mean, std),
        "image_size": int(_number(cfg, "image_size", path, 518)),
        "patch": args["patch_size"],
    }


_LAYER = re.compile(r"encoder\.layer\.(\d+)\.(.+)")
_BLOCK_KEYS = {
    "norm1": "norm1",
    "norm2": "norm2",
    "attention.output.dense": "attn.proj",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}


def to_timm(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """A Hugging Face Dinov2Model state dict -> timm VisionTransformer keys (q, k, v fused into qkv; layer scales
    to ``ls*.gamma``; the mask token dropped). A key that is not DINOv2's is one line naming it."""
    import torch

    state = {k.removeprefix("dinov2."): v for k, v in state.items()}
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    fixed = {
        "embeddings.cls_token": "cls_token",
        "embeddings.position_embeddings": "pos_embed",
        "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
        "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
        "layernorm.weight": "norm.weight",
        "layernorm.bias": "norm.bias",
    }
    for key, value in state.items():
        if key == "embeddings.mask_token" or key.startswith(("pooler.", "classifier.")):
            continue
        if key in fixed:
            out[fixed[key]] = value
            continue
        m = _LAYER.fullmatch(key)
        if m is None:
            raise XraySSLError(f"{source}: unexpected key {key} (not a DINOv2 model's)")
        i, rest = m.groups()
        part, _, leaf = rest.rpartition(".")
        if part.startswith("attention.attention."):
            qkv.setdefault((i, leaf), {})[part.rsplit(".", 1)[1]] = value
        elif part in ("layer_scale1", "layer_scale2") and leaf == "lambda1":
            out[f"blocks.{i}.ls{part[-1]}.gamma"] = value
        elif part in _BLOCK_KEYS:
            out[f"blocks.{i}.{_BLOCK_KEYS[part]}.{leaf}"] = value
        else:
            raise XraySSLError(f"{source}: unexpected key {key} (not a DINOv2 model's)")
    for (i, leaf), parts in sorted(qkv.items()):
        missing = [p for p in ("query", "key", "value") if p not in parts]
        if missing:
            raise XraySSLError(f"{source}: missing key encoder.layer.{i}.attention.attention.{missing[0]}.{leaf}")
        out[f"blocks.{i}.attn.qkv.{leaf}"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    return out


def hf_backbone(spec: str | Path, image_size: int | None = None) -> TimmBackbone:
    """The folder's DINOv2 as a one-channel timm ViT at ``image_size`` (default: the folder's), weights loaded."""
    from xrayssl.models.imagenet import read_weights_file
    from xrayssl.models.timm_backbones import TimmBackbone, load_start

    folder = folder_of(spec)
    arch = hf_architecture(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise XraySSLError(f"{folder}: no {WEIGHTS_FILE} (the model's weights; .bin folders: convert to safetensors)")
    state = to_timm(read_weights_file(weights), str(weights))
    backbone = TimmBackbone(arch["backbone"], image_size or arch["image_size"], arch["norm"], arch["args"])
    return load_start(backbone, state, str(weights))
