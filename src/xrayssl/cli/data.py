"""``xrayssl data inspect|prepare|verify|synth``."""

from __future__ import annotations

import argparse
import json
import sys

from xrayssl.cli.common import add_dataset_options, read_options, split_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="read, check and prepare datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)

    p = dsub.add_parser("inspect", help="what a dataset holds, per split x body part x label, and its problems")
    add_dataset_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--quick", action="store_true", help="read the layout and labels only; do not decode images")
    add_max_pixels(p)
    p.set_defaults(func=inspect_command)

    p = dsub.add_parser("prepare", help="decode, grayscale, resize, CLAHE and cache a dataset for training")
    add_dataset_options(p)
    p.add_argument("--out", required=True, help="cache folder (created, or updated in place)")
    p.add_argument("--size", type=int, default=224, help="side of the square cached images in px (default 224)")
    p.add_argument(
        "--resize",
        choices=["pad", "crop"],
        default="pad",
        help="pad: keep the whole image (default); crop: fill the square from the centre",
    )
    p.add_argument("--no-clahe", action="store_true", help="skip CLAHE contrast enhancement")
    p.add_argument("--clahe-clip", type=float, default=2.0, help="CLAHE clip limit (default 2.0)")
    p.add_argument("--clahe-tiles", type=int, default=8, help="CLAHE tile grid size (default 8 = 8x8)")
    add_max_pixels(p)
    p.add_argument(
        "--verify",
        action="store_true",
        help="also check the digest of the existing images.npy before reusing it (reads it in full)",
    )
    p.set_defaults(func=prepare_command)

    p = dsub.add_parser("verify", help="check every file of a prepared cache against its recorded digest")
    p.add_argument("cache", help="cache folder written by 'xrayssl data prepare'")
    p.set_defaults(func=verify_command)

    p = dsub.add_parser("synth", help="write a synthetic radiograph dataset (the embedded default)")
    p.add_argument("out", help="folder to write")
    p.add_argument("--patients", type=int, default=60, help="number of patients (default 60)")
    p.add_argument("--size", type=int, default=256, help="image side in px (default 256)")
    p.add_argument("--abnormal-fraction", type=float, default=0.5, help="share of abnormal studies")
    p.add_argument("--layout", choices=["csv", "mura"], default="csv", help="csv manifest or a MURA v1.1 tree")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.set_defaults(func=synth_command)


def add_max_pixels(p: argparse.ArgumentParser) -> None:
    from xrayssl.data.imageio import DEFAULT_MAX_PIXELS

    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse (report) source images with more pixels, read from their header (default {DEFAULT_MAX_PIXELS})",
    )


def inspect_command(args: argparse.Namespace) -> int:
    from xrayssl.data.inspect import inspect_dataset
    from xrayssl.data.summary import format_summary

    summary = inspect_dataset(
        args.root,
        args.format,
        verify=not args.quick,
        split=split_config(args),
        body_parts=args.body_parts,
        options=read_options(args),
        workers=args.workers,
        progress=not args.quiet and not args.json,
        max_pixels=args.max_pixels,
    )
    print(json.dumps(summary, indent=2, ensure_ascii=False) if args.json else format_summary(summary))
    return 1 if args.strict and summary["problems"] else 0


def prepare_command(args: argparse.Namespace) -> int:
    from xrayssl.data.prepare import prepare
    from xrayssl.data.process import ProcessConfig

    process = ProcessConfig(
        size=args.size,
        resize=args.resize,
        clahe=not args.no_clahe,
        clahe_clip=args.clahe_clip,
        clahe_tiles=args.clahe_tiles,
        max_pixels=args.max_pixels,
    )
    result = prepare(
        args.root,
        args.out,
        fmt=args.format,
        process=process,
        split=split_config(args),
        body_parts=args.body_parts,
        options=read_options(args),
        workers=args.workers,
        progress=not args.quiet,
        verify=args.verify,
    )
    for line in result.repaired:
        print(f"  repaired: {line}", file=sys.stderr)
    state = "up to date" if result.up_to_date else f"{result.n_processed} processed, {result.n_reused} reused"
    print(
        f"{result.cache}: {result.n_images} images ({state}) in {result.seconds:.1f} s; "
        f"{len(result.problems)} problem(s)"
    )
    for p in result.problems[:20]:
        print(f"  {p.path}: {p.problem}", file=sys.stderr)
    if len(result.problems) > 20:
        print(f"  ... and {len(result.problems) - 20} more in {result.cache / 'problems.csv'}", file=sys.stderr)
    return 1 if args.strict and result.problems else 0


def verify_command(args: argparse.Namespace) -> int:
    from xrayssl.data.cache import PreparedCache

    cache = PreparedCache(args.cache, verify=True)  # a file that does not verify raises a one-line error
    print(f"{cache.path}: {len(cache)} images of {cache.size} px; every file matches cache.json")
    return 0


def synth_command(args: argparse.Namespace) -> int:
    from xrayssl.data.prepare import default_workers
    from xrayssl.data.synthetic import SynthConfig, write_dataset

    config = SynthConfig(
        n_patients=args.patients, size=args.size, abnormal_fraction=args.abnormal_fraction, seed=args.seed
    )
    root = write_dataset(args.out, config, layout=args.layout, workers=args.workers or default_workers())
    print(f"wrote synthetic dataset to {root}")
    return 0
