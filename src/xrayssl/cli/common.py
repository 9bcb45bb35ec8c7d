"""Options shared by several commands, declared once."""

from __future__ import annotations

import argparse

from xrayssl.data.formats import ReadOptions
from xrayssl.data.splits import SplitConfig
from xrayssl.errors import XraySSLError


def add_dataset_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dataset")
    g.add_argument("root", help="dataset folder, CSV manifest, .npz or DICOM file")
    g.add_argument("--format", default="auto", help="mura, aihub, csv, folder, medmnist, dicom or auto (default)")
    g.add_argument(
        "--body-part",
        action="append",
        dest="body_parts",
        metavar="PART",
        help="keep only this body part (repeatable), e.g. --body-part shoulder",
    )
    g.add_argument(
        "--patient-regex",
        help="folder/DICOM layouts: regex whose first group is the patient id "
        r"in the file name, e.g. '^(\d+)[LR]$'",
    )
    g.add_argument("--normal-classes", help="MedMNIST: comma-separated class ids meaning normal (default 0)")
    g.add_argument("--seed", type=int, default=0, help="seed of the patient-level split (default 0)")
    g.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of patients for validation, when the dataset has no validation split (default 0.1)",
    )
    g.add_argument(
        "--test-fraction",
        type=float,
        default=0.15,
        help="share of patients for test, when the dataset has no test split (default 0.15)",
    )
    g.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    g.add_argument("--strict", action="store_true", help="exit with status 1 when any problem was found")
    g.add_argument("--quiet", action="store_true", help="no progress bars")


def read_options(args: argparse.Namespace) -> ReadOptions:
    try:
        normal = tuple(int(x) for x in args.normal_classes.split(",")) if args.normal_classes else None
    except ValueError as exc:
        raise XraySSLError(f"--normal-classes takes comma-separated integers, got {args.normal_classes!r}") from exc
    return ReadOptions(patient_regex=args.patient_regex, normal_classes=normal)


def split_config(args: argparse.Namespace) -> SplitConfig:
    return SplitConfig(seed=args.seed, val_fraction=args.val_fraction, test_fraction=args.test_fraction)
