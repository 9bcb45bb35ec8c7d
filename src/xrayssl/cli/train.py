"""``xrayssl pretrain``, ``xrayssl supervised`` and ``xrayssl probe``."""

from __future__ import annotations

import argparse
import json

from xrayssl.train.quiet import quiet_lightning


def _fractions(text: str | None) -> list[float] | None:
    from xrayssl.errors import XraySSLError

    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise XraySSLError(f"--label-fractions takes comma-separated numbers, got {text!r}") from exc
    if not all(0 < v <= 1 for v in values):
        raise XraySSLError("label fractions must be in (0, 1]")
    return values


def add_parser(sub: argparse._SubParsersAction) -> None:
    from xrayssl.train.config import PretrainConfig, SupervisedConfig

    d = PretrainConfig.__dataclass_fields__
    p = sub.add_parser("pretrain", help="self-supervised pretraining of a backbone on a prepared cache")
    p.add_argument("cache", help="prepared cache folder (xrayssl data prepare)")
    p.add_argument("--out", required=True, help="run folder to create (or to continue with --resume)")
    p.add_argument(
        "--method",
        default=d["method"].default,
        help="simclr, byol, moco, simsiam, barlowtwins or vicreg (default %(default)s)",
    )
    p.add_argument("--augs", default=d["augs"].default, help="augmentation recipe or preset (default %(default)s)")
    p.add_argument("--augs2", default=None, help="a different recipe for the second view (asymmetric views)")
    p.add_argument("--backbone", default="resnet18", help="resnet18, resnet34 or resnet50 (default %(default)s)")
    p.add_argument("--small-stem", action="store_true", help="3x3 stem without max-pool (inputs of 96 px or less)")
    p.add_argument("--size", type=int, default=d["size"].default, help="image side in px (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=d["batch_size"].default)
    p.add_argument("--epochs", type=int, default=None, help="number of epochs (and/or --budget)")
    p.add_argument(
        "--budget", default=None, help="wall-clock budget, e.g. 10m, 90s, 1h (default 15m when no --epochs is given)"
    )
    p.add_argument("--lr", type=float, default=d["lr"].default)
    p.add_argument("--weight-decay", type=float, default=d["weight_decay"].default)
    p.add_argument(
        "--temperature", type=float, default=None, help="softmax temperature of simclr (default 0.1) or moco (0.2)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--body-part", default=None, help="pretrain on one body part only")
    p.add_argument(
        "--pretrain-abnormal-fraction",
        type=float,
        default=None,
        help="subsample the unlabelled pool to this share of abnormal images (imbalance experiments)",
    )
    p.add_argument("--accelerator", default="auto", help="auto, cpu or gpu")
    p.add_argument("--devices", default="auto", help="number of devices (several GPUs: DDP)")
    p.add_argument(
        "--precision",
        default=None,
        help="Lightning precision (default: bf16-mixed on GPU, 32-true on CPU; bf16-mixed is faster on CPUs with "
        "AVX-512 BF16 or AMX but learned slightly worse in our CPU runs)",
    )
    p.add_argument("--positives", default=d["positives"].default, help="image, study or patient (default %(default)s)")
    p.add_argument("--monitor-every", type=int, default=None, help="steps between kNN monitor readings (0: off)")
    p.add_argument("--monitor-images", type=int, default=d["monitor_images"].default)
    p.add_argument("--keep", default=d["keep"].default, help="last or best-knn (default %(default)s)")
    p.add_argument("--logger", default=None, help="tensorboard or mlflow (a CSV log is always written)")
    p.add_argument("--checkpoint-every", default=d["checkpoint_every"].default, help="default %(default)s")
    p.add_argument("--compile", action="store_true", help="torch.compile the backbone")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=pretrain_command)

    s = SupervisedConfig.__dataclass_fields__
    p = sub.add_parser("supervised", help="the supervised baseline: the same backbone trained with labels")
    p.add_argument("cache")
    p.add_argument("--out", required=True)
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--small-stem", action="store_true")
    p.add_argument("--size", type=int, default=s["size"].default)
    p.add_argument("--augs", default=s["augs"].default)
    p.add_argument("--batch-size", type=int, default=s["batch_size"].default)
    p.add_argument(
        "--epochs",
        type=int,
        default=s["epochs"].default,
        help="epochs of the full training split's size: a --label-fraction run repeats its images as often",
    )
    p.add_argument("--budget", default=s["budget"].default)
    p.add_argument("--lr", type=float, default=s["lr"].default)
    p.add_argument("--label-fraction", type=float, default=1.0, help="share of training patients with labels")
    p.add_argument(
        "--init", default=None, metavar="RUN", help="start from this run's encoder (fine-tune an SSL encoder)"
    )
    p.add_argument("--patience", type=int, default=s["patience"].default)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--body-part", default=None)
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--devices", default="auto")
    p.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=supervised_command)

    p = sub.add_parser("probe", help="logistic-regression probe on frozen features, with intervals")
    p.add_argument("source", help="a run folder, or a cache with --encoder random|pixels")
    p.add_argument(
        "--encoder",
        default="run",
        choices=["run", "random", "pixels"],
        help="run: the run's encoder; random: an untrained backbone; pixels: raw pixels (floors)",
    )
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument("--label-fractions", default=None, help="e.g. 0.01,0.1,1: probe with a share of patients")
    p.add_argument("--seeds", type=int, default=3, help="draws per label fraction (default 3)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--backbone", default="resnet18", help="with a cache: backbone of the random encoder")
    p.add_argument("--size", type=int, default=64, help="with a cache: image size")
    p.add_argument("--pixels-size", type=int, default=32, help="image side of the raw-pixel floor")
    p.add_argument("--pool", default="avg", help="probe features: avg, grid2 or multi (default %(default)s)")
    p.add_argument("--out", default=None, help="JSON file to write (default RUN/probe-ENCODER.json)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=probe_command)
    add_gradcam_parser(sub)


def pretrain_command(args: argparse.Namespace) -> int:
    from xrayssl.train.config import PretrainConfig
    from xrayssl.train.pretrain import pretrain

    quiet_lightning()
    budget = args.budget if args.budget or args.epochs else "15m"
    config = PretrainConfig(
        cache=args.cache,
        out=args.out,
        method=args.method,
        augs=args.augs,
        augs2=args.augs2,
        backbone=args.backbone,
        small_stem=args.small_stem,
        size=args.size,
        batch_size=args.batch_size,
        epochs=args.epochs,
        budget=budget,
        lr=args.lr,
        weight_decay=args.weight_decay,
        temperature=args.temperature,
        seed=args.seed,
        body_part=args.body_part,
        pretrain_abnormal_fraction=args.pretrain_abnormal_fraction,
        positives=args.positives,
        monitor_every=args.monitor_every,
        monitor_images=args.monitor_images,
        keep=args.keep,
        logger=args.logger,
        checkpoint_every=args.checkpoint_every,
        compile=args.compile,
        accelerator=args.accelerator,
        devices=args.devices,
        precision=args.precision,
    )
    run = pretrain(config, resume=args.resume, progress_bar=not args.quiet)
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
    from xrayssl.evaluate.run_probe import probe

    result = probe(
        args.source,
        encoder=args.encoder,
        split=args.split,
        label_fractions=_fractions(args.label_fractions),
        seeds=args.seeds,
        n_boot=args.bootstrap,
        backbone=args.backbone,
        size=args.size,
        pixels_size=args.pixels_size,
        pool=args.pool,
        out=args.out,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_eval(result, f"probe ({args.encoder} encoder, {args.split})")
    return 0


def supervised_command(args: argparse.Namespace) -> int:
    from xrayssl.api import supervised as supervised_baseline
    from xrayssl.train.config import SupervisedConfig

    quiet_lightning()
    config = SupervisedConfig(
        cache=args.cache,
        out=args.out,
        backbone=args.backbone,
        small_stem=args.small_stem,
        size=args.size,
        augs=args.augs,
        batch_size=args.batch_size,
        epochs=args.epochs,
        budget=args.budget,
        lr=args.lr,
        label_fraction=args.label_fraction,
        init=args.init,
        patience=args.patience,
        seed=args.seed,
        body_part=args.body_part,
        accelerator=args.accelerator,
        devices=args.devices,
    )
    result = supervised_baseline(config, progress_bar=not args.quiet)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_eval(result, f"supervised ({args.label_fraction:g} of labels, test)")
    return 0


def add_gradcam_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gradcam", help="Grad-CAM overlays per body part and outcome, and a faithfulness score")
    p.add_argument("run", help="a pretraining run (after 'xrayssl probe RUN') or a supervised run")
    p.add_argument("--out", required=True, help="folder for the PNG grids and faithfulness.json")
    p.add_argument("--n", type=int, default=16, help="images per body part and outcome (default 16)")
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=gradcam_command)


def gradcam_command(args: argparse.Namespace) -> int:
    from xrayssl.evaluate.gradcam import gradcam

    result = gradcam(args.run, args.out, n=args.n, split=args.split, seed=args.seed)
    f = result["faithfulness"]
    print(
        f"{len(result['images'])} grids in {args.out} (Grad-CAM at {result['layer']}); faithfulness "
        f"{f['score']:+.3f} (deletion AUC {f['deletion_auc_gradcam']:.3f} vs random {f['deletion_auc_random']:.3f})"
    )
    return 0
