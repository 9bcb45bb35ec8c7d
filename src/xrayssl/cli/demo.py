"""``xrayssl demo``: the embedded default, end to end on synthetic radiographs (no download)."""

from __future__ import annotations

import argparse

# flag -> (DemoConfig field, help); defaults are read from DemoConfig, never repeated here
FLAGS = {
    "--out": ("out", "output folder"),
    "--patients": ("n_patients", "synthetic patients"),
    "--size": ("train_size", "image side in px that every run trains and probes at"),
    "--epochs": ("epochs", "pretraining epochs per run"),
    "--seeds": ("seeds", "seeds per recipe"),
    "--methods": ("methods", "SSL methods, comma-separated"),
    "--augmentations": ("augmentations", "augmentations switched on and off, comma-separated"),
    "--batch-size": ("batch_size", "batch size of every run"),
    "--workers": ("workers", "runs at once"),
    "--seed": ("seed", "seed of the synthetic data and the splits"),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    from xrayssl.demo import DEMO_AUGMENTATIONS, field_default

    p = sub.add_parser(
        "demo",
        help="a small augmentation study on generated radiographs with planted effects, and its report "
        "(no data needed)",
    )
    for flag, (name, text) in FLAGS.items():
        default = field_default(name)
        if isinstance(default, tuple):
            extra = f"; any of {', '.join(DEMO_AUGMENTATIONS)}" if name == "augmentations" else ""
            p.add_argument(flag, default=",".join(default), help=f"{text} (default {','.join(default)}{extra})")
        else:
            p.add_argument(flag, type=type(default), default=default, help=f"{text} (default {default})")
    p.add_argument("--quiet", action="store_true", help="no progress bars while preparing")
    p.set_defaults(func=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    from xrayssl.demo import DemoConfig, field_default, run_demo

    values = {}
    for flag, (name, _) in FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if isinstance(field_default(name), tuple):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        values[name] = value
    # the cache keeps at least 64 px so that a smaller training size is a resize, not a new cache
    config = DemoConfig(**values, size=max(field_default("size"), values["train_size"]))
    run_demo(config, progress=not args.quiet)
    return 0
