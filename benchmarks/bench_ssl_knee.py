"""Quality and cost of the default CPU recipe on the real knee radiographs (../shared/data/knee_oa).

Prepares the knee set at 64 px (patient-level: the author's val split selects, a patient-disjoint part
of train is the test split), then: the two floors (raw 32 px pixels, an untrained ResNet-18), the
default SSL pretraining for a wall-clock budget + probe at 10 % and 100 % of labels, and the supervised
baseline at 100 % and 10 % of labels. Prints one table (AUROC with 95 % patient-bootstrap intervals).

    python benchmarks/bench_ssl_knee.py [--budget 15m] [--method byol] [--out runs/knee-bench]

Other pretraining settings, to compare recipes under the same budget (``--set`` repeats; any
PretrainConfig field), e.g. with the floors and the supervised baseline measured once:

    python benchmarks/bench_ssl_knee.py --skip floors,supervised --budget 10m --method vicreg \
        --set precision=32-true --set lr=1e-3 --name vicreg-fp32
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

KNEE = Path(__file__).resolve().parents[2] / "shared" / "data" / "knee_oa"


def settings(pairs: list[str]) -> dict[str, object]:
    """``["lr=1e-3", "precision=32-true"]`` -> typed PretrainConfig overrides."""
    from dataclasses import fields

    from xrayssl.train.config import PretrainConfig

    types = {f.name: f.type for f in fields(PretrainConfig)}
    out: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in types:
            raise SystemExit(f"--set {pair}: unknown field; valid: {', '.join(types)}")
        kind = str(types[key])
        if kind.startswith("bool"):
            out[key] = value.lower() in ("1", "true", "yes")
        else:
            out[key] = int(value) if kind.startswith("int") else float(value) if kind.startswith("float") else value
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="15m")
    ap.add_argument("--size", type=int, default=64, help="image side in px (cache, floors, SSL and supervised)")
    ap.add_argument("--cache", default=None, help="an already prepared knee cache (e.g. carried to a GPU machine)")
    ap.add_argument("--supervised-budget", default="15m")
    ap.add_argument("--supervised-fractions", default="1,0.1", help="label shares of the supervised baseline")
    ap.add_argument("--supervised-init", default=None, metavar="RUN", help="fine-tune this run's encoder instead")
    ap.add_argument("--method", default=None, help="SSL method (default: pretrain's default)")
    ap.add_argument("--augs", default=None)
    ap.add_argument("--out", default="runs/knee-bench")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="other PretrainConfig fields")
    ap.add_argument("--name", default=None, help="SSL run folder name under --out (default ssl-METHOD)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: floors,ssl,supervised")
    ap.add_argument(
        "--pools", default="avg", help="probe poolings of the SSL run and the untrained floor: avg,grid2,multi"
    )
    args = ap.parse_args()
    from xrayssl.api import supervised as supervised_baseline
    from xrayssl.data.prepare import prepare
    from xrayssl.data.process import ProcessConfig
    from xrayssl.evaluate.config import ProbeConfig
    from xrayssl.evaluate.run_probe import probe
    from xrayssl.train.config import PretrainConfig, SupervisedConfig
    from xrayssl.train.pretrain import pretrain
    from xrayssl.train.quiet import quiet_lightning

    quiet_lightning()
    out = Path(args.out)
    skip = set(args.skip.split(","))
    size = args.size
    if args.cache:
        cache = args.cache
    else:
        cache = prepare(KNEE, out / f"cache{size}", process=ProcessConfig(size=size, clahe=False), progress=False).cache
    tag_size = "" if size == 64 else f"-{size}px"
    rows = []

    def add(name, result, seconds, extra=""):
        o = result["overall"]
        rows.append((name, o["auroc"], o["auroc_ci"], seconds, extra))
        print(f"{name}: {o['auroc']:.3f} {o['auroc_ci']} ({seconds:.0f} s) {extra}", flush=True)

    pools = args.pools.split(",")
    if "floors" not in skip:
        for enc, pool in [("pixels", "avg"), *(("random", p) for p in pools)]:
            t = time.perf_counter()
            tag = f"{tag_size}" + ("" if pool == "avg" else f"-{pool}")
            floor = ProbeConfig(
                source=str(cache), encoder=enc, size=size, label_fractions=[0.1], pool=pool,
                out=str(out / f"floor-{enc}{tag}.json"),
            )  # fmt: skip
            r = probe(floor)
            name = f"floor: {enc}" + ("" if enc == "pixels" else f" ({pool})")
            add(name, r, time.perf_counter() - t, f"10 % labels: {r['label_fractions'][0]['auroc']:.3f}")
    if "ssl" not in skip:
        kw = {k: v for k, v in {"method": args.method, "augs": args.augs}.items() if v}
        kw.update(settings(args.set))
        name = args.name or f"ssl-{args.method or 'default'}{tag_size}"
        budget = None if args.budget.lower() == "none" else args.budget  # none: --set epochs=N bounds the run
        config = PretrainConfig(cache=str(cache), out=str(out / name), budget=budget, size=size, **kw)
        t = time.perf_counter()
        run = pretrain(config, resume=(out / name / "config.json").is_file(), progress_bar=False)
        seconds = time.perf_counter() - t
        rec = json.loads((run / "record.json").read_text())
        knn = (rec.get("monitor") or {}).get("knn_val_auroc")
        for pool in pools:
            r = probe(
                ProbeConfig(source=str(run), label_fractions=[0.1], pool=pool, out=str(run / f"probe-run-{pool}.json"))
            )
            add(
                f"SSL {name} + probe ({pool})",
                r,
                seconds,
                f"val {r['probe']['val_auroc']:.3f}; 10 % labels: {r['label_fractions'][0]['auroc']:.3f}; "
                f"{rec['steps']} steps, {rec['throughput']['pairs_per_second']:.0f} pairs/s, "
                f"{rec['peak_rss_mib']:.0f} MiB" + (f"; final kNN val {knn:.3f}" if knn is not None else ""),
            )
    if "supervised" not in skip:
        for fraction in (float(f) for f in args.supervised_fractions.split(",")):
            t = time.perf_counter()
            tag = f"-init-{Path(args.supervised_init).name}" if args.supervised_init else ""
            r = supervised_baseline(
                SupervisedConfig(
                    cache=str(cache),
                    out=str(out / f"supervised-{fraction:g}{tag}{tag_size}"),
                    size=size,
                    budget=args.supervised_budget,
                    label_fraction=fraction,
                    init=args.supervised_init,
                ),
                progress_bar=False,
            )
            add(f"supervised{tag}, {fraction:g} of labels", r, time.perf_counter() - t)
    print("\n| model | test AUROC [95 % CI] | wall s | notes |\n|---|---|---|---|")
    for name, auc, ci, sec, extra in rows:
        print(f"| {name} | {auc:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] | {sec:.0f} | {extra} |")


if __name__ == "__main__":
    main()
