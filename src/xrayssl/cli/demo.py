"""``xrayssl demo``: the embedded default, end to end on synthetic radiographs (no download)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the pipeline on generated radiographs (no data or download needed)")
    p.add_argument("--out", default="xrayssl-demo", help="output folder (default ./xrayssl-demo)")
    p.add_argument("--patients", type=int, default=120, help="synthetic patients (default 120)")
    p.add_argument("--size", type=int, default=128, help="cached image side in px (default 128)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    from xrayssl.demo import DemoConfig, run_demo

    run_demo(
        DemoConfig(out=args.out, n_patients=args.patients, size=args.size, seed=args.seed), progress=not args.quiet
    )
    return 0
