"""``xrayssl demo``: the embedded default, end to end on synthetic radiographs (no download)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="a small augmentation study on generated radiographs, with its report (no data needed)"
    )
    p.add_argument("--out", default="xrayssl-demo", help="output folder (default ./xrayssl-demo)")
    p.add_argument("--patients", type=int, default=160, help="synthetic patients (default 160)")
    p.add_argument("--size", type=int, default=48, help="training image side in px (default 48)")
    p.add_argument("--epochs", type=int, default=3, help="pretraining epochs per run (default 3)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per recipe (default 1)")
    p.add_argument(
        "--augmentations", default=None, help="subset of flip,rotate,chessboard,blur,erase (default all five)"
    )
    p.add_argument("--batch-size", type=int, default=64, help="batch size of every run (default 64)")
    p.add_argument("--workers", type=int, default=2, help="runs at once (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars while preparing")
    p.set_defaults(func=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    from xrayssl.demo import DemoConfig, run_demo

    extra = {}
    if args.augmentations:
        extra["augmentations"] = tuple(a.strip() for a in args.augmentations.split(",") if a.strip())
    config = DemoConfig(
        out=args.out,
        n_patients=args.patients,
        train_size=args.size,
        size=max(64, args.size),
        epochs=args.epochs,
        seeds=args.seeds,
        workers=args.workers,
        batch_size=args.batch_size,
        seed=args.seed,
        **extra,
    )
    run_demo(config, progress=not args.quiet)
    return 0
