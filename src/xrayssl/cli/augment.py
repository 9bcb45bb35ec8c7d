"""``xrayssl augment show``."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    aug = sub.add_parser("augment", help="look at augmentation recipes")
    asub = aug.add_subparsers(dest="augment_command", required=True)
    p = asub.add_parser("show", help="save a grid of images and augmented views of each")
    p.add_argument("source", help="a prepared cache or a dataset folder/CSV")
    p.add_argument(
        "--augs",
        required=True,
        help="recipe, e.g. 'flip+rotate(15)+erase(p=0.3)', or a preset: seed, moco-cxr, simclr, none",
    )
    p.add_argument("--n", type=int, default=8, help="number of images (rows, default 8)")
    p.add_argument("--views", type=int, default=4, help="augmented views per image (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=224, help="image size when reading a dataset folder")
    p.add_argument("--out", default="augmentations.png", help="PNG to write (default augmentations.png)")
    p.set_defaults(func=show_command)


def show_command(args: argparse.Namespace) -> int:
    from xrayssl.augment.show import show

    out = show(args.source, args.augs, args.out, n=args.n, views=args.views, seed=args.seed, size=args.size)
    print(f"wrote {out}")
    return 0
