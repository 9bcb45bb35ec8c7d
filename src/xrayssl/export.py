"""Encoders that leave xrayssl: a torchvision or timm ResNet state dict, or an ONNX model.

xrayssl's encoder normalises inside ``forward``, as its ``norm`` says (models/norms.py): ``xray`` is
``(x - 0.5) / 0.25`` on one grayscale channel in [0, 1]; ``imagenet`` (a run started from ImageNet weights) is the
grey image as 3 equal channels, each normalised with ImageNet's mean and std. Folding that into the first
convolution is not exact: the convolution's zero padding would then stand for another value at the image
borders. So the state dicts hold the plain ResNet and the file's metadata says how to prepare inputs (as
timm's ``pretrained_cfg`` does): grayscale in [0, 1], replicated to ``in_chans`` channels, then
``(x - mean) / std`` per channel with the encoder's own numbers. For 3 channels a one-channel stem's weights are
divided by 3, so a replicated image gives the same features; an ImageNet-normalised encoder has 3 channels with
different means and exports to 3 channels only. The classifier is left out:
``model.fc = nn.Identity()`` (torchvision) or ``num_classes=0`` (timm) makes a fresh model load it with
``strict=True``. The ONNX model is the whole encoder, normalisation included: input ``image``, float32
``(batch, 1, size, size)`` in [0, 1], output ``features`` ``(batch, dim)``.

Files: ``.safetensors`` (the metadata sits in its header; no pickle) or ``.pt``/``.pth`` (a plain state dict for
``torch.load(weights_only=True)``, the metadata beside it in ``FILE.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xrayssl.catalog import is_timm
from xrayssl.errors import XraySSLError
from xrayssl.export_config import TARGETS, ExportConfig  # noqa: F401  (xrayssl.export.ExportConfig as before)
from xrayssl.fileio import atomic_write, write_text_atomic
from xrayssl.models.norms import NORMS, check_norm

MEAN, STD = NORMS["xray"][0][0], NORMS["xray"][1][0]  # a one-channel encoder's; each encoder names its own
EXPORT_FORMAT = 1


def input_norm(encoder: nn.Module, in_chans: int) -> tuple[list[float], list[float]]:
    """Mean and std per input channel of the exported model: the encoder's own (NORMS), one channel repeated."""
    mean, std = check_norm(getattr(encoder, "norm", "xray"))
    own = len(mean)
    if own == in_chans:
        return list(mean), list(std)
    if own == 1:
        return list(mean) * in_chans, list(std) * in_chans
    raise XraySSLError(
        f"this encoder takes {own} channels normalised one by one ({getattr(encoder, 'norm', '')}, e.g. an ImageNet "
        f"start): export it with --in-chans {own}"
    )


def state_dict(encoder: nn.Module, in_chans: int = 3) -> dict[str, torch.Tensor]:
    """The encoder's ResNet as a torchvision/timm state dict (no ``net.`` prefix, no fc), or a timm backbone's
    model as timm's own state dict (``num_classes=0``), a one-channel stem widened to ``in_chans`` channels;
    inputs must then be normalised as ``input_norm`` says."""
    input_norm(encoder, in_chans)  # refuses what cannot be exported exactly
    if hasattr(encoder, "model"):  # a timm backbone: its first convolution is timm's first_conv
        out = {k: v.detach().clone().contiguous() for k, v in encoder.model.state_dict().items()}
        first = encoder.model.pretrained_cfg.get("first_conv") or ""
        stems = [first] if isinstance(first, str) else list(first)
    else:
        out = {
            k: v.detach().clone().contiguous() for k, v in encoder.net.state_dict().items() if not k.startswith("fc.")
        }
        stems = ["conv1"]
    for stem in stems:
        key = f"{stem}.weight"
        if key in out and out[key].ndim == 4 and out[key].shape[1] != in_chans:
            out[key] = (out[key] / in_chans).repeat(1, in_chans, 1, 1).contiguous()
    return out


def _timm_load(config: dict[str, Any], in_chans: int, args: dict[str, Any]) -> str:
    """The timm call that builds the exported model (a ViT's side fixes its position embeddings)."""
    name = str(config["backbone"]).removeprefix("timm:")
    extra = "".join(f", {k}={v!r}" for k, v in args.items())
    side = f", img_size={config['size']}" if args.get("patch_size") or "vit" in name else ""
    return (
        f"timm.create_model('{name}', num_classes=0, in_chans={in_chans}{side}{extra}).load_state_dict(sd, strict=True)"
    )


def metadata(
    config: dict[str, Any],
    run: str | Path,
    to: str,
    in_chans: int,
    norm: tuple[list[float], list[float]] | None = None,
    timm_args: dict[str, Any] | None = None,
) -> dict[str, str]:
    """What a user of the exported file needs to know, as text (safetensors metadata are str -> str); ``norm``:
    mean and std per channel (default: a one-channel xray encoder's, repeated); ``timm_args``: a timm backbone's
    extra create_model arguments."""
    from xrayssl.version import __version__

    arch = config["backbone"]
    head = "none (features): torchvision model.fc = torch.nn.Identity(); timm num_classes=0"
    if is_timm(arch):
        load = _timm_load(config, in_chans, timm_args or {})
        arch = arch.removeprefix("timm:")
        head = (
            "none: xrayssl's features are model.forward_features(x) averaged over its map (a ViT: over its patch "
            "tokens, class token left out)"
        )
    elif to == "timm":
        load = f"timm.create_model('{arch}', num_classes=0, in_chans={in_chans}).load_state_dict(sd, strict=True)"
    else:
        load = f"m = torchvision.models.{arch}(); m.fc = torch.nn.Identity(); m.load_state_dict(sd, strict=True)"
    small = bool(config.get("small_stem", False))
    mean, std = norm or ([MEAN] * in_chans, [STD] * in_chans)
    return {
        "xrayssl_export_format": str(EXPORT_FORMAT),
        "xrayssl_version": __version__,
        "library": to,
        "arch": arch,
        "in_chans": str(in_chans),
        "input": f"grayscale in [0, 1] replicated to {in_chans} channel(s), then (x - mean) / std per channel",
        "mean": ",".join(str(m) for m in mean),
        "std": ",".join(str(v) for v in std),
        "image_size": str(config["size"]),
        "stem": (
            f"small: set model.conv1 = torch.nn.Conv2d({in_chans}, 64, 3, 1, 1, bias=False) and "
            "model.maxpool = torch.nn.Identity() before loading"
            if small
            else "standard"
        ),
        "head": head,
        "load": load,
        "run": str(run),
        "run_kind": str(config.get("method", "supervised")),
    }


def _default_out(config: ExportConfig) -> Path:
    import importlib.util

    state = "safetensors" if importlib.util.find_spec("safetensors") else "pt"  # an extra: .pt needs nothing
    return Path(config.run) / f"encoder-{config.to}.{'onnx' if config.to == 'onnx' else state}"


def _write_state_dict(sd: dict[str, torch.Tensor], meta: dict[str, str], out: Path) -> None:
    if out.suffix == ".safetensors":
        try:
            import safetensors.torch  # noqa: F401 (the extra is there)
        except ImportError:
            raise XraySSLError(
                f"{out}: writing .safetensors needs the safetensors package (pip install 'xrayssl[export]'), "
                "or write a .pt file"
            ) from None
        from safetensors.torch import save

        with atomic_write(out) as f:  # a kill or a full disk never leaves a truncated export under its name
            f.write(save(sd, metadata=meta))
    elif out.suffix in (".pt", ".pth"):
        import torch

        with atomic_write(out) as f:
            torch.save(sd, f)
        write_text_atomic(out.with_name(out.name + ".json"), json.dumps(meta, indent=2))
    else:
        raise XraySSLError(f"{out}: write a .safetensors, .pt or .pth file")


def _write_onnx(
    encoder: nn.Module, meta: dict[str, str], out: Path, size: int, opset: int, output: str = "features"
) -> None:
    import torch

    try:
        import onnx
    except ImportError:
        raise XraySSLError("--to onnx needs onnx and onnxscript (pip install 'xrayssl[export]')") from None
    if out.suffix != ".onnx":
        raise XraySSLError(f"{out}: write an .onnx file")
    example = torch.rand(2, 1, size, size)
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        encoder,
        (example,),
        input_names=["image"],
        output_names=[output],
        dynamic_shapes={"x": {0: batch}},
        opset_version=opset,
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    model = program.model_proto
    model.doc_string = f"xrayssl encoder: image float32 (batch, 1, H, W) in [0, 1] -> {output} (batch, n)"
    onnx.helper.set_model_props(model, {**meta, "input": "image: grayscale in [0, 1], normalisation inside"})
    with atomic_write(out) as f:
        f.write(model.SerializeToString())


def export(config: ExportConfig) -> tuple[Path, dict[str, str]]:
    """Write a run's encoder for torchvision, timm or ONNX Runtime; returns the file and its metadata."""
    from xrayssl.runs import load_encoder

    if config.with_head:
        return export_with_head(config)

    encoder, run_config = load_encoder(config.run)
    timm_run = is_timm(run_config["backbone"])
    if config.to == "torchvision" and timm_run:
        raise XraySSLError(f"{config.run}: a {run_config['backbone']} encoder exports --to timm or --to onnx")
    if config.to != "onnx" and not timm_run and getattr(encoder, "kind", "resnet") != "resnet":
        raise XraySSLError(
            f"{config.run}: a {run_config['backbone']} encoder exports only --to onnx (state dicts are "
            "written for torchvision/timm ResNets and timm:NAME backbones)"
        )
    in_chans = 1 if config.to == "onnx" else config.in_chans
    if config.to == "onnx":  # the normalisation runs inside the model; its numbers are written down all the same
        mean, std = check_norm(getattr(encoder, "norm", "xray"))
        norm = (list(mean), list(std))
    else:
        norm = input_norm(encoder, in_chans)
    out = Path(config.out) if config.out else _default_out(config)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = metadata(run_config, config.run, config.to, in_chans, norm, getattr(encoder, "args", None))
    if config.to == "onnx":
        meta.update(normalisation_mean=meta["mean"], normalisation_std=meta["std"])
        size = config.size or int(run_config["size"])
        if getattr(encoder, "patch", None) and size != int(run_config["size"]):
            raise XraySSLError(
                f"--size {size}: a {run_config['backbone']} encoder takes its run's {run_config['size']} px"
            )
        meta.update(image_size=str(size), mean="inside the model", std="inside the model")
        _write_onnx(encoder, meta, out, size, config.opset)
    else:
        _write_state_dict(state_dict(encoder, in_chans), meta, out)
    return out, meta


LINKS = {
    "logit": "sigmoid(fc output) = P(abnormal)",
    "sigmoid": "sigmoid(fc output) per finding",
    "softmax": "softmax(fc output) over the classes",
    "corn": "CORN (ordinal): P(y > k) = cumprod(sigmoid(fc output))[k]; P(class k) = P(y > k-1) - P(y > k)",
}


def _head_meta(meta: dict[str, str], model: nn.Module, to: str, in_chans: int, arch: str) -> dict[str, str]:
    """The metadata of an export with its head: the task, its classes, and how outputs become probabilities."""
    task, n = model.task, model.head.out_features
    if to == "timm":
        load = f"timm.create_model('{arch}', num_classes={n}, in_chans={in_chans}).load_state_dict(sd, strict=True)"
    else:
        load = f"m = torchvision.models.{arch}(); m.fc = torch.nn.Linear(m.fc.in_features, {n}); m.load_state_dict(sd)"
    kind = "logit" if task.kind == "binary" else model.kind
    return {
        **meta,
        "task": json.dumps(task.to_json()),
        "classes": ",".join(task.classes),
        "outputs": ",".join(task.prob_columns()),
        "head": f"fc: {n} output(s); {LINKS[kind]}",
        "load": load if to != "onnx" else meta["load"],
    }


def export_with_head(config: ExportConfig) -> tuple[Path, dict[str, str]]:
    """Encoder plus head: ONNX ``image`` -> ``probabilities`` (batch, outputs), the task's link included; or the
    torchvision/timm state dict with the head as ``fc.weight``/``fc.bias`` (the probe's standardisation folded
    in), its task and link in the metadata."""
    from xrayssl.evaluate.heads import Probabilities, load_head_model

    model, run_config, _ = load_head_model(config.run)
    encoder = model.backbone
    if config.to != "onnx" and (getattr(encoder, "kind", "resnet") != "resnet" or model.pool != "avg"):
        raise XraySSLError(
            f"{config.run}: a state dict's fc reads globally averaged features of a ResNet; this head reads "
            f"{model.pool} pooling of {run_config['backbone']}: export it --to onnx"
        )
    in_chans = 1 if config.to == "onnx" else config.in_chans
    norm = None if config.to == "onnx" else input_norm(encoder, in_chans)
    default = _default_out(config)  # RUN/encoder-TO.EXT -> RUN/classifier-TO.EXT
    out = Path(config.out) if config.out else default.with_name(default.name.replace("encoder-", "classifier-", 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = metadata(run_config, config.run, config.to, in_chans, norm)
    meta = _head_meta(meta, model, config.to, in_chans, run_config["backbone"])
    if config.to == "onnx":
        size = config.size or int(run_config["size"])
        meta.update(image_size=str(size), mean="inside the model", std="inside the model")
        _write_onnx(Probabilities(model).eval(), meta, out, size, config.opset, output="probabilities")
    else:
        sd = state_dict(encoder, in_chans)
        sd["fc.weight"] = model.head.weight.detach().clone().contiguous()
        sd["fc.bias"] = model.head.bias.detach().clone().contiguous()
        _write_state_dict(sd, meta, out)
    return out, meta
