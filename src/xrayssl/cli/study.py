"""``xrayssl study`` (plan, run, resume, shard): a parser of its own, since a study resumes from its folder alone
(no cache, no settings) and its factors are edited with ``--aug``; it runs through the steps' table as the rest."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

from xrayssl.cli.options import (
    KeyValue,
    add_config_options,
    add_fields,
    add_positional,
    field_help,
    given,
    kebab,
    print_config,
)
from xrayssl.configfile import merge, split_list
from xrayssl.errors import XraySSLError
from xrayssl.steps import Step, load


def add_study_parser(sub: argparse._SubParsersAction, step: Step) -> argparse.ArgumentParser:
    from xrayssl.study.config import (
        SET_BY_STUDY,
        SHARED_WITH_SUPERVISED,
        STUDY_AUGMENTATIONS,
        STUDY_PRETRAIN,
        SUPERVISED_SET_BY_STUDY,
        StudyConfig,
    )
    from xrayssl.train.config import PretrainConfig, SupervisedConfig

    p = sub.add_parser(
        step.name,
        help=step.help,
        description="Create, run or resume an augmentation study. Rerun with only --out to resume; "
        "--workers runs several runs at once; --shard i/n splits it over machines sharing the folder.",
    )
    add_positional(p, "cache", help=field_help(StudyConfig, "cache") + " (required to start or grow a study)",
                   optional=True)  # fmt: skip
    p.add_argument("--out", required=True, help=field_help(StudyConfig, "out"))
    add_config_options(p)
    add_fields(p, StudyConfig, exclude=("cache", "out", "augmentations", "pretrain", "supervised"))
    p.add_argument(
        "--augmentations",
        dest="augmentation_names",
        type=split_list,
        help=f"comma-separated factor names (default: the study's {len(STUDY_AUGMENTATIONS)}: "
        f"{', '.join(STUDY_AUGMENTATIONS)})",
    )
    p.add_argument("--aug", action=KeyValue, metavar="NAME=SPEC", help="define or redefine a factor (repeatable)")
    g = p.add_argument_group("each pretraining run (any `xrayssl pretrain` setting the study does not set per run)")
    add_fields(g, PretrainConfig, exclude=SET_BY_STUDY, into="pretrain", defaults=STUDY_PRETRAIN,
               default_words={"budget": "none; a budget without --epochs bounds the runs by time only"})  # fmt: skip
    g = p.add_argument_group("supervised baseline (`xrayssl supervised` settings)")
    words = {k: "as the pretraining runs" for k in SHARED_WITH_SUPERVISED}
    add_fields(g, SupervisedConfig, exclude=SUPERVISED_SET_BY_STUDY, into="supervised", prefix="supervised-",
               default_words={**words, "augs": "the study's augmentations, all on"})  # fmt: skip
    g.add_argument("--no-supervised", action="store_true", help="skip the supervised baseline")
    g = p.add_argument_group("execution")
    g.add_argument("--workers", type=int, default=1, help="runs at once on this machine (default: 1)")
    g.add_argument("--shard", help="i/n: this process takes every n-th run, for machines sharing the folder")
    g.add_argument(
        "--store",
        help="postgresql://USER@HOST/DATABASE: keep the runs in PostgreSQL, for studies over many machines "
        "(default: study.sqlite in --out; docs/studies.md)",
    )
    g.add_argument("--status", action="store_true", help="print the study's progress and exit")
    g.add_argument(
        "--plan",
        action="store_true",
        help="print every run the study would make and its estimated time (from the run length and a few steps "
        "timed on this machine), then exit: runs nothing, writes nothing",
    )
    g.add_argument("--no-report", action="store_true", help="do not write report.html at the end")
    g.add_argument(
        "--quiet", action="store_true", help="no progress lines from the final step (one line per run stays)"
    )
    p.set_defaults(func=partial(study_command, step))
    return p


def _flag(key: str, value: Any) -> str:
    """The flag that set a config key (for messages)."""
    if isinstance(value, dict):
        pre = "--" if key == "pretrain" else f"--{key}-"
        return ", ".join(f"{pre}{kebab(k)}" for k in value)
    return key if key == "cache" else f"--{kebab(key)}"


def build_config(args: argparse.Namespace):
    """YAML (if any), then flags; None when resuming an existing study with no settings given."""
    from xrayssl.study.config import STUDY_AUGMENTATIONS, StudyConfig, load_yaml

    flags = given(args)
    data: dict[str, Any] = load_yaml(args.config) if args.config else {}
    if "cache" not in flags and not data:
        typed = [_flag(k, v) for k, v in flags.items()]
        typed += [f for f, on in (("--augmentations", args.augmentation_names), ("--aug", args.aug),
                                  ("--no-supervised", args.no_supervised)) if on]  # fmt: skip
        if typed:
            raise XraySSLError(
                f"{', '.join(typed)}: settings are fixed when a study starts; to resume give only --out "
                "(and --workers, --shard); to grow it (more seeds, recipes, methods, references) repeat its command "
                "with the cache and the new settings; or start another study with a cache"
            )
        return None
    data = merge(data, flags)
    if not data.get("cache"):
        raise XraySSLError("give the prepared cache (argument or 'cache:' in the YAML file)")
    data["cache"] = str(Path(data["cache"]).resolve())
    data["out"] = args.out
    augs = dict(data.get("augmentations") or STUDY_AUGMENTATIONS)
    augs.update(args.aug or {})
    if args.augmentation_names:
        missing = [n for n in args.augmentation_names if n not in augs]
        if missing:
            raise XraySSLError(f"unknown augmentation(s) {missing}; known: {', '.join(augs)} (define more with --aug)")
        augs = {n: augs[n] for n in args.augmentation_names}
    data["augmentations"] = augs
    if args.no_supervised:
        data["supervised"] = None
    return StudyConfig(**data)


def study_command(step: Step, args: argparse.Namespace) -> int:
    from xrayssl.study.runner import open_study, status

    if args.status:
        print("\n".join(status(args.out, args.store)))
        return 0
    config = build_config(args)
    if args.plan:
        print("\n".join(plan_of(config, args.out, args.store)))
        return 0
    if args.print_config:
        print_config(config or open_study(None, args.out, args.store)[0])
        return 0
    report = not args.no_report
    counts = step(config, out=args.out, workers=args.workers, shard=args.shard, quiet=args.quiet, report=report,
                  store=args.store)  # fmt: skip
    return load(step.printer)(counts, config, out=args.out, report=report)


def plan_of(config: Any, out: str, store: str | None) -> list[str]:
    """``--plan``: the study a command would run (or, with only --out, the study in the folder), checked as a new
    study is, with the runs already done in the folder marked; nothing is written."""
    from xrayssl.study.backend import DB_NAME, LOCATION
    from xrayssl.study.config import StudyConfig
    from xrayssl.study.plan import describe_plan
    from xrayssl.study.store import Store, StoreConfig

    folder = Path(out)
    existing = (folder / DB_NAME).is_file() or (folder / LOCATION).is_file()
    opened = Store(folder, StoreConfig(url=store or "")) if existing else None
    if config is None:
        stored = opened.get_meta("config") if opened else None
        if stored is None:
            raise XraySSLError(f"{out}: no study here yet; give a cache (and options or --config) to plan one")
        config = StudyConfig.from_dict({**stored, "out": out})
    config.check_cache()
    config.check_recipes()
    config.check_views()
    stored = opened.get_meta("config") if opened else None
    wanted = {k: v for k, v in config.to_dict().items() if k != "out"}
    if stored is not None and stored != wanted:  # growing: refused now as the run would refuse it
        from xrayssl.study.plan import plan
        from xrayssl.study.runner import check_growth

        check_growth(folder, stored, wanted, opened, plan(config))
    done = {r["id"] for r in opened.runs(status="done")} if opened else set()
    return describe_plan(config, done)
