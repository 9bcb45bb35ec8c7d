"""``xrayssl export``: a run's encoder as a torchvision or timm state dict, or an ONNX model."""

from __future__ import annotations

import argparse

from xrayssl.cli.options import add_config_options, add_fields, add_positional, build, field_help


def add_parser(sub: argparse._SubParsersAction) -> None:
    from xrayssl.export import ExportConfig

    p = sub.add_parser(
        "export",
        help="a run's encoder for torchvision, timm or ONNX Runtime",
        description="State dicts hold the plain ResNet (no classifier) and say in their metadata how to "
        "prepare inputs (grayscale in [0, 1] replicated to the channels, then (x - mean) / std with the encoder's "
        "numbers: 0.5 and 0.25, or ImageNet's for an ImageNet start); "
        "the ONNX model takes (batch, 1, size, size) in [0, 1], normalisation included.",
    )
    add_positional(p, "run", help=field_help(ExportConfig, "run"), optional=True)
    add_fields(p, ExportConfig, exclude=("run",))
    add_config_options(p)
    p.set_defaults(func=export_command)


def export_command(args: argparse.Namespace) -> int:
    from xrayssl import api
    from xrayssl.export import ExportConfig

    config = build(ExportConfig, args)
    if config is None:
        return 0
    out, meta = api.export(config)
    print(f"wrote {out} ({meta['library']}, {meta['arch']})")
    if config.to == "onnx":
        print(f"  input 'image': float32 (batch, 1, {meta['image_size']}, {meta['image_size']}) in [0, 1]")
    else:
        print(f"  inputs: {meta['input']}; mean {meta['mean']}, std {meta['std']}")
        print(f"  load: {meta['load']}")
        if meta["stem"] != "standard":
            print(f"  stem: {meta['stem']}")
    return 0
