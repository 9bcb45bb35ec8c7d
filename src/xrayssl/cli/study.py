"""``xrayssl study`` (plan, run, resume, shard) and ``xrayssl report``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xrayssl.errors import XraySSLError


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise XraySSLError(f"'{text}': expected comma-separated numbers") from None


def _named(items: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip():
            raise XraySSLError(f"{flag} '{item}': write NAME=SPEC, e.g. {flag} 'crop=crop(scale=0.5..1)'")
        out[name.strip()] = spec.strip()
    return out


SETTINGS = ("methods", "design", "augmentations", "aug", "recipe", "base", "seeds", "abnormal_fractions", "body_parts",
            "epochs", "budget", "backbone", "size", "batch_size", "lr", "supervised_epochs", "supervised_budget",
            "no_supervised", "no_floors", "label_fractions", "bootstrap")  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    from xrayssl.train.config import PretrainConfig

    p = sub.add_parser(
        "study",
        help="which augmentations work: methods x recipes x seeds, pretrain + probe each, resumable",
        description="Create, run or resume an augmentation study. Rerun with only --out to resume; "
        "--workers runs several runs at once; --shard i/n splits it over machines sharing the folder.",
    )
    p.add_argument("cache", nargs="?", help="prepared cache (omit to resume the study in --out)")
    p.add_argument("--out", required=True, help="study folder (holds study.sqlite or store.json, runs/, report.html)")
    p.add_argument("--config", help="YAML file with study settings (flags override it)")
    p.add_argument("--methods", help="comma-separated SSL methods (default simclr,byol)")
    p.add_argument("--design", help="full, fractional, one-at-a-time (default), pairwise or list")
    p.add_argument(
        "--augmentations",
        help="comma-separated factor names from the study's five: flip, rotate, chessboard, blur, erase (default all)",
    )
    p.add_argument("--aug", action="append", metavar="NAME=SPEC", help="define or redefine a factor (repeatable)")
    p.add_argument("--recipe", action="append", metavar="NAME=SPEC", help="design 'list': one recipe (repeatable)")
    p.add_argument("--base", help="applied before every recipe, e.g. 'crop(scale=0.5..1)' (default none)")
    p.add_argument("--seeds", type=int, help="seeds per recipe (default 3)")
    p.add_argument("--abnormal-fractions", help="pretraining pool abnormal shares, e.g. 0.1,0.5 (default: as is)")
    p.add_argument("--body-parts", help="comma-separated body parts, one study per part (default all together)")
    g = p.add_argument_group("each pretraining run")
    g.add_argument("--epochs", type=int, help="epochs per run (default 5)")
    g.add_argument("--budget", help="wall-clock budget per run, e.g. 2m (epochs are more reproducible)")
    g.add_argument("--backbone", help="resnet18 (default), resnet34 or resnet50")
    g.add_argument("--size", type=int, help=f"image side in px (default {PretrainConfig.size})")
    g.add_argument("--batch-size", type=int, help=f"default {PretrainConfig.batch_size}")
    g.add_argument("--lr", type=float, help=f"default {PretrainConfig.lr:g}")
    g = p.add_argument_group("references")
    g.add_argument("--supervised-epochs", type=int, help="supervised baseline epochs (default 30, early stopping)")
    g.add_argument("--supervised-budget", help="supervised baseline wall-clock budget (default 15m)")
    g.add_argument("--no-supervised", action="store_true", help="skip the supervised baseline")
    g.add_argument("--no-floors", action="store_true", help="skip the random-encoder and raw-pixel floors")
    g.add_argument("--label-fractions", help="label shares for the efficiency curves (default 0.1,1)")
    g.add_argument("--bootstrap", type=int, help="bootstrap resamples per metric interval (default 1000)")
    g = p.add_argument_group("execution")
    g.add_argument("--workers", type=int, default=1, help="runs at once on this machine (default 1)")
    g.add_argument("--shard", help="i/n: this process takes every n-th run, for machines sharing the folder")
    g.add_argument(
        "--store",
        help="postgresql://USER@HOST/DATABASE: keep the runs in PostgreSQL, for studies over many machines "
        "(default: study.sqlite in --out; docs/studies.md)",
    )
    g.add_argument("--status", action="store_true", help="print the study's progress and exit")
    g.add_argument("--no-report", action="store_true", help="do not write report.html at the end")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=study_command)

    r = sub.add_parser("report", help="write a study's self-contained HTML report")
    r.add_argument("study", help="study folder")
    r.add_argument("--out", help="HTML file (default STUDY/report.html)")
    r.set_defaults(func=report_command)


def build_config(args: argparse.Namespace):
    """YAML (if any) then flags; None when resuming an existing study with no settings given."""
    from xrayssl.study.config import STUDY_AUGMENTATIONS, StudyConfig, load_yaml

    data: dict[str, Any] = load_yaml(args.config) if args.config else {}
    if args.cache:
        data["cache"] = args.cache
    if not data:
        given = [f"--{k.replace('_', '-')}" for k in SETTINGS if getattr(args, k) not in (None, False)]
        if given:
            raise XraySSLError(
                f"{', '.join(given)}: settings are fixed when a study starts; to resume give only --out "
                "(and --workers, --shard), or start another study with a cache"
            )
        return None
    if "cache" not in data:
        raise XraySSLError("give the prepared cache (argument or 'cache:' in the YAML file)")
    data["cache"] = str(Path(data["cache"]).resolve())
    data["out"] = args.out
    if args.methods:
        data["methods"] = [m.strip() for m in args.methods.split(",") if m.strip()]
    for key in ("design", "base", "seeds"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    augs = dict(data.get("augmentations") or STUDY_AUGMENTATIONS)
    augs.update(_named(args.aug, "--aug"))
    if args.augmentations:
        names = [n.strip() for n in args.augmentations.split(",") if n.strip()]
        missing = [n for n in names if n not in augs]
        if missing:
            raise XraySSLError(f"unknown augmentation(s) {missing}; known: {', '.join(augs)} (define more with --aug)")
        augs = {n: augs[n] for n in names}
    data["augmentations"] = augs
    if args.recipe:
        data["recipes"] = _named(args.recipe, "--recipe")
    if args.abnormal_fractions:
        data["abnormal_fractions"] = _floats(args.abnormal_fractions)
    if args.body_parts:
        data["body_parts"] = [b.strip() for b in args.body_parts.split(",") if b.strip()]
    pretrain = dict(data.get("pretrain") or {})
    for key in ("epochs", "budget", "backbone", "size", "batch_size", "lr"):
        if getattr(args, key) is not None:
            pretrain[key] = getattr(args, key)
    if args.budget and args.epochs is None:
        pretrain["epochs"] = None
    data["pretrain"] = pretrain
    if args.no_supervised:
        data["supervised"] = None
    else:
        supervised = dict(data.get("supervised") or {})
        if args.supervised_epochs is not None:
            supervised["epochs"] = args.supervised_epochs
        if args.supervised_budget is not None:
            supervised["budget"] = args.supervised_budget
        data["supervised"] = supervised
    if args.no_floors:
        data["floors"] = False
    if args.label_fractions:
        data["label_fractions"] = _floats(args.label_fractions)
    if args.bootstrap is not None:
        data["n_boot"] = args.bootstrap
    return StudyConfig(**data)


def study_command(args: argparse.Namespace) -> int:
    from xrayssl.study.runner import run_study, status
    from xrayssl.train.quiet import quiet_lightning

    if args.status:
        print("\n".join(status(args.out, args.store)))
        return 0
    quiet_lightning()
    counts = run_study(
        build_config(args), args.out, workers=args.workers, shard=args.shard, progress=not args.quiet, store=args.store
    )
    if not args.no_report:
        from xrayssl.report.html import build_report

        print(f"report: {build_report(args.out)}")
    return 1 if counts.get("failed") else 0


def report_command(args: argparse.Namespace) -> int:
    from xrayssl.report.html import build_report

    print(build_report(args.study, args.out))
    return 0
