"""Labels beyond normal/abnormal on the real knee radiographs (../shared/data/knee_oa): KL grade as an ordinal
task, KL findings as a multilabel task, beside the binary task of the same images.

Prepares the knee set three times at the same size and processing (96 px by default): ``kl_grade`` as an ordinal
task (grades 0, 2, 3, 4; KL 0 named normal), the usual normal/abnormal label (binary), and three findings
KL >= 2, KL >= 3, KL = 4 as one multilabel task. Then, on the CPU:

- the floors: raw 32 px pixels and an untrained ResNet-18, probed on each task;
- the default SSL pretraining on the ordinal cache for ``--budget``, its encoder probed on each task (on the
  binary and multilabel caches as a transfer probe: the same images, other labels);
- the supervised ResNet-18 (CORN head for the grades) with all labels and with 10 % of the patients, and the
  binary supervised baseline at the same fractions.

Prints one table: the primary metric with its 95 % patient-bootstrap interval, for grades QWK, accuracy, MAE,
macro AUROC and normal-vs-rest AUROC (KL 0 against the rest: the binary task's question, answered by the grade
model), beside the binary AUROC of the same images; for findings the mean and per-finding AUROC.

    python benchmarks/bench_tasks_knee.py [--budget 15m] [--supervised-budget 15m] [--size 96] [--out runs/tasks]

A check that it runs (about a minute on two cores, the small demo set):

    python benchmarks/bench_tasks_knee.py --root ../shared/data/knee_oa_demo --size 32 --budget 10s \
        --supervised-budget 10s --bootstrap 50 --out /tmp/tasks-check
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

KNEE = Path(__file__).resolve().parents[2] / "shared" / "data" / "knee_oa"
FINDINGS = {"kl_ge2": lambda g: g >= 2, "kl_ge3": lambda g: g >= 3, "kl4": lambda g: g == 4}


def prepare_caches(root: Path, out: Path, size: int) -> dict[str, Path]:
    """The ordinal, binary and multilabel caches of the same images and processing."""
    from xrayssl.data.config import PrepareConfig, run_prepare

    table = pd.read_csv(root / "labels.csv")
    findings = out / "findings"
    findings.mkdir(parents=True, exist_ok=True)
    derived = table.assign(path=[str((root / p).resolve()) for p in table["path"]])
    for name, rule in FINDINGS.items():
        derived[name] = rule(derived["kl_grade"]).astype(int)
    derived.drop(columns=["label", "label_int"]).to_csv(findings / "labels.csv", index=False)
    specs = {
        "ordinal": dict(root=str(root), label="kl_grade", task="ordinal", normal="0"),
        "binary": dict(root=str(root)),
        "multilabel": dict(root=str(findings), label=",".join(FINDINGS), task="multilabel", allow_outside_root=True),
    }
    caches = {}
    for task, spec in specs.items():
        caches[task] = run_prepare(
            PrepareConfig(out=str(out / f"cache-{task}-{size}"), size=size, **spec), quiet=True
        ).cache
    return caches


def _ci(o: dict, name: str) -> str:
    if o.get(name) is None:
        return ""
    ci = o.get(f"{name}_ci") or [float("nan")] * 2
    return f"{o[name]:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


class Table:
    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def add(self, model: str, task: str, result: dict, seconds: float) -> None:
        o = result["overall"]
        row = {"model": model, "task": task, "primary": f"{o['primary']} {_ci(o, o['primary'])}"}
        if task == "ordinal":
            row.update(
                accuracy=_ci(o, "accuracy"),
                mae=_ci(o, "mae"),
                macro_auroc=_ci(o, "macro_auroc"),
                normal_vs_rest=_ci(o, "normal_vs_rest_auroc"),
            )
        elif task == "multilabel":
            row["per_finding"] = ", ".join(f"{k} {v['auroc']:.3f}" for k, v in o["per_finding"].items())
        else:
            row["accuracy"] = _ci(o, "accuracy")
        fractions = result.get("label_fractions") or []
        if fractions:
            f = fractions[0]
            row["10 % labels"] = f"{f[f['metric']]:.3f}"
        row["seconds"] = f"{seconds:.0f}"
        self.rows.append(row)
        print(json.dumps(row), flush=True)

    def show(self) -> None:
        columns = ["model", "task", "primary", "accuracy", "mae", "macro_auroc", "normal_vs_rest", "per_finding",
                   "10 % labels", "seconds"]  # fmt: skip
        print("\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
        for r in self.rows:
            print("| " + " | ".join(r.get(c, "") for c in columns) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(KNEE), help="the knee dataset (labels.csv with kl_grade)")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--budget", default="15m", help="SSL pretraining budget")
    ap.add_argument("--supervised-budget", default="15m")
    ap.add_argument("--fractions", default="1,0.1", help="label shares of the supervised runs")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--out", default="runs/tasks-knee")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: floors,ssl,supervised,binary")
    args = ap.parse_args()
    from xrayssl.api import supervised
    from xrayssl.evaluate.config import ProbeConfig
    from xrayssl.evaluate.run_probe import probe
    from xrayssl.train.config import PretrainConfig, SupervisedConfig
    from xrayssl.train.pretrain import pretrain
    from xrayssl.train.quiet import quiet_lightning

    quiet_lightning()
    out, size, skip = Path(args.out), args.size, set(args.skip.split(","))
    t = time.perf_counter()
    caches = prepare_caches(Path(args.root), out, size)
    print(f"caches prepared in {time.perf_counter() - t:.0f} s: {caches}", flush=True)
    tasks = [k for k in caches if not (k == "binary" and "binary" in skip)]
    table = Table()

    def probed(model: str, task: str, **settings) -> None:
        start = time.perf_counter()
        name = f"{model}-{task}".replace(" ", "_")
        result = probe(
            ProbeConfig(n_boot=args.bootstrap, label_fractions=[0.1], out=str(out / f"{name}.json"), **settings)
        )
        table.add(model, task, result, time.perf_counter() - start)

    if "floors" not in skip:
        for encoder in ("pixels", "random"):
            for task in tasks:
                probed(f"floor: {encoder}", task, source=str(caches[task]), encoder=encoder, size=size)
    if "ssl" not in skip:
        start = time.perf_counter()
        run = out / f"ssl-default-{size}"
        config = PretrainConfig(cache=str(caches["ordinal"]), out=str(run), budget=args.budget, size=size)
        pretrain(config, resume=(run / "config.json").is_file(), progress_bar=False)
        print(f"SSL pretraining: {time.perf_counter() - start:.0f} s", flush=True)
        for task in tasks:
            other = None if task == "ordinal" else str(caches[task])  # the same images: a transfer probe
            probed("SSL default + probe", task, source=str(run), cache=other)
    if "supervised" not in skip:
        for task in [t for t in ("ordinal", "binary") if t in tasks]:
            for fraction in (float(f) for f in args.fractions.split(",")):
                start = time.perf_counter()
                config = SupervisedConfig(
                    cache=str(caches[task]),
                    out=str(out / f"supervised-{task}-{fraction:g}-{size}"),
                    size=size,
                    budget=args.supervised_budget,
                    label_fraction=fraction,
                )
                result = supervised(config, progress_bar=False, n_boot=args.bootstrap)
                table.add(f"supervised ResNet-18, {fraction:g} of labels", task, result, time.perf_counter() - start)
    table.show()


if __name__ == "__main__":
    main()
