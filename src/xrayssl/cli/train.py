"""``xrayssl pretrain``, ``xrayssl supervised`` and ``xrayssl probe``."""

from __future__ import annotations

import argparse
import json

from xrayssl.cli.options import add_config_options, add_fields, add_positional, build, field_help
from xrayssl.train.quiet import quiet_lightning


def add_parser(sub: argparse._SubParsersAction) -> None:
    from xrayssl.evaluate.config import ProbeConfig
    from xrayssl.train.config import PretrainConfig, SupervisedConfig

    p = sub.add_parser("pretrain", help="self-supervised pretraining of a backbone on a prepared cache")
    add_positional(p, "cache", help=field_help(PretrainConfig, "cache"), optional=True)
    add_fields(p, PretrainConfig, exclude=("cache",))
    add_config_options(p)
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its newest loadable checkpoint"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=pretrain_command)

    p = sub.add_parser("supervised", help="the supervised baseline: the same backbone trained with labels")
    add_positional(p, "cache", help=field_help(SupervisedConfig, "cache"), optional=True)
    add_fields(p, SupervisedConfig, exclude=("cache",))
    add_config_options(p)
    p.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=supervised_command)

    p = sub.add_parser("probe", help="logistic-regression probe on frozen features, with intervals")
    add_positional(p, "source", help=field_help(ProbeConfig, "source"), optional=True)
    add_fields(p, ProbeConfig, exclude=("source",))
    add_config_options(p)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=probe_command)
    add_gradcam_parser(sub)


def pretrain_command(args: argparse.Namespace) -> int:
    from xrayssl import api
    from xrayssl.train.config import PretrainConfig

    config = build(PretrainConfig, args)
    if config is None:
        return 0
    quiet_lightning()
    run = api.pretrain(config, resume=args.resume, progress_bar=not args.quiet)
    record = json.loads((run / "record.json").read_text())
    t = record["throughput"]
    print(
        f"{run}: {record['steps']} steps in {t['fit_seconds']:.0f} s, {t['pairs_per_second']:.0f} pairs/s, "
        f"peak memory {record['peak_rss_mib']:.0f} MiB; encoder in {run / 'encoder.pt'}"
    )
    return 0


def _print_eval(result: dict, title: str) -> None:
    o = result["overall"]
    ci = o["auroc_ci"] or [float("nan")] * 2
    print(
        f"{title}: AUROC {o['auroc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}], accuracy {o['accuracy']:.3f}, "
        f"kappa {o['kappa']:.3f} ({o['n']} images, {o['n_patients']} patients)"
    )
    if o.get("study_level"):
        s = o["study_level"]
        print(f"  study level: AUROC {s['auroc']:.3f}, kappa {s['kappa']:.3f} ({s['n']} studies)")
    for part, r in result.get("per_body_part", {}).items():
        print(f"  {part}: AUROC {r['auroc']:.3f} [{r['auroc_ci'][0]:.3f}, {r['auroc_ci'][1]:.3f}] ({r['n']} images)")
    for f in result.get("label_fractions", []):
        ci = f["auroc_ci"]
        interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        print(f"  {f['fraction']:g} of labels ({f['n_train_patients']} patients): AUROC {f['auroc']:.3f}{interval}")


def probe_command(args: argparse.Namespace) -> int:
    from xrayssl import api
    from xrayssl.evaluate.config import ProbeConfig

    config = build(ProbeConfig, args)
    if config is None:
        return 0
    result = api.probe(config)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        on = f" on {config.cache}" if config.cache else ""
        _print_eval(result, f"probe ({config.encoder} encoder{on}, {config.split})")
    return 0


def supervised_command(args: argparse.Namespace) -> int:
    from xrayssl import api
    from xrayssl.train.config import SupervisedConfig

    config = build(SupervisedConfig, args)
    if config is None:
        return 0
    quiet_lightning()
    result = api.supervised(config, progress_bar=not args.quiet)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_eval(result, f"supervised ({config.label_fraction:g} of labels, test)")
    return 0


def add_gradcam_parser(sub: argparse._SubParsersAction) -> None:
    from xrayssl.evaluate.config import GradCamConfig

    p = sub.add_parser("gradcam", help="Grad-CAM overlays per body part and outcome, and a faithfulness score")
    add_positional(p, "run", help=field_help(GradCamConfig, "run"), optional=True)
    add_fields(p, GradCamConfig, exclude=("run",))
    add_config_options(p)
    p.set_defaults(func=gradcam_command)


def gradcam_command(args: argparse.Namespace) -> int:
    from xrayssl import api
    from xrayssl.evaluate.config import GradCamConfig

    config = build(GradCamConfig, args)
    if config is None:
        return 0
    result = api.gradcam(config)
    f = result["faithfulness"]
    print(
        f"{len(result['images'])} grids in {config.out} (Grad-CAM at {result['layer']}); faithfulness "
        f"{f['score']:+.3f} (deletion AUC {f['deletion_auc_gradcam']:.3f} vs random {f['deletion_auc_random']:.3f})"
    )
    return 0
