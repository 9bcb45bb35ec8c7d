"""How the CLI shows each step's result: ``printer(result, config, **shows) -> exit status`` (steps.py names them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from xrayssl.paths import printable


def nothing(result: Any, config: Any) -> int:
    """The step printed as it went (the demo)."""
    return 0


def wrote(result: Path, config: Any) -> int:
    print(f"wrote {result}")
    return 0


def inspect(summary: dict[str, Any], config: Any, *, json: bool = False, strict: bool = False) -> int:
    from xrayssl.data.summary import format_summary

    print(_json(summary) if json else printable(format_summary(summary)))  # names from the data: no escapes
    return 1 if strict and summary["problems"] else 0


def prepare(result: Any, config: Any, *, strict: bool = False) -> int:
    for line in result.repaired:
        print(printable(f"  repaired: {line}"), file=sys.stderr)
    for line in getattr(result, "warnings", []):
        print(printable(f"warning: {line}"), file=sys.stderr)
    state = "up to date" if result.up_to_date else f"{result.n_processed} processed, {result.n_reused} reused"
    problems = [*result.problems, *_split_problems(result.cache)]
    print(f"{result.cache}: {result.n_images} images ({state}) in {result.seconds:.1f} s; {len(problems)} problem(s)")
    for p in problems[:20]:
        print(printable(f"  {p.path}: {p.problem}"), file=sys.stderr)
    if len(result.problems) > 20:
        print(f"  ... and {len(result.problems) - 20} more in {result.cache / 'problems.csv'}", file=sys.stderr)
    return 1 if strict and problems else 0


def _split_problems(cache: Path) -> list[Any]:
    """The prepared splits' problems (one class, too few patients), which the files' problems do not cover."""
    from xrayssl.data.cache import PreparedCache
    from xrayssl.data.summary import split_problems
    from xrayssl.errors import XraySSLError

    try:
        prepared = PreparedCache(cache)
        return split_problems(prepared.manifest, prepared.task)
    except (XraySSLError, OSError):
        return []


def verify(cache: Any, config: Any) -> int:
    print(f"{cache.path}: {len(cache)} images of {cache.size} px; every file matches cache.json")
    return 0


def synth(root: Path, config: Any) -> int:
    print(f"wrote synthetic dataset to {root}")
    return 0


def pretrain(run: Path, config: Any) -> int:
    record = json.loads((run / "record.json").read_text())
    t = record["throughput"]
    print(
        f"{run}: {record['steps']} steps in {t['fit_seconds']:.0f} s, {t['pairs_per_second']:.0f} pairs/s, "
        f"peak memory {record['peak_rss_mib']:.0f} MiB; encoder in {run / 'encoder.pt'}"
    )
    return 0


METRIC_NAMES = {
    "auroc": "AUROC",
    "macro_auroc": "macro AUROC",
    "mean_auroc": "mean AUROC",
    "qwk": "QWK",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "mae": "MAE",
    "kappa": "kappa",
    "normal_vs_rest_auroc": "normal-vs-rest AUROC",
}
SHOWN_BESIDE = ("accuracy", "balanced_accuracy", "mae", "qwk", "macro_auroc", "normal_vs_rest_auroc")


def _with_ci(r: dict, name: str) -> str:
    ci = r.get(f"{name}_ci") or [float("nan")] * 2
    return f"{METRIC_NAMES.get(name, name)} {r[name]:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def evaluation(result: dict, title: str) -> None:
    """An evaluation (probe or supervised) as a few lines: the task's primary metric first, overall, study
    level, per body part, label fractions."""
    o = result["overall"]
    primary = o.get("primary", "auroc")
    if primary == "auroc":  # binary: the lines as they always were
        line = f"{_with_ci(o, 'auroc')}, accuracy {o['accuracy']:.3f}, kappa {o['kappa']:.3f}"
    else:
        beside = [f"{METRIC_NAMES[m]} {o[m]:.3f}" for m in SHOWN_BESIDE if m != primary and m in o]
        line = ", ".join([f"{_with_ci(o, primary)} (primary)", *beside])
    print(f"{title}: {line} ({o['n']} images, {o['n_patients']} patients)")
    if o.get("study_level"):
        s = o["study_level"]
        print(f"  study level: AUROC {s['auroc']:.3f}, kappa {s['kappa']:.3f} ({s['n']} studies)")
    for name, r in (o.get("per_finding") or {}).items():
        print(printable(f"  {name}: {_with_ci(r, 'auroc')} (prevalence {r['prevalence']:.2f}, {r['n']} images)"))
    for part, r in result.get("per_body_part", {}).items():
        print(printable(f"  {part}: {_with_ci(r, primary)} ({r['n']} images)"))
    for f in result.get("label_fractions", []):
        metric = f.get("metric", "auroc")
        ci = f[f"{metric}_ci"]
        interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        print(
            f"  {f['fraction']:g} of labels ({f['n_train_patients']} patients): "
            f"{METRIC_NAMES.get(metric, metric)} {f[metric]:.3f}{interval}"
        )


def probe(result: dict, config: Any, *, json: bool = False) -> int:
    if json:
        print(_json(result, ensure_ascii=True))
    else:
        on = f" on {config.cache}" if config.cache else ""
        evaluation(result, f"probe ({config.encoder} encoder{on}, {config.split})")
    return 0


def supervised(result: dict, config: Any, *, json: bool = False) -> int:
    if json:
        print(_json(result, ensure_ascii=True))
    else:
        evaluation(result, f"supervised ({config.label_fraction:g} of labels, test)")
    return 0


def gradcam(result: dict, config: Any) -> int:
    f = result["faithfulness"]
    print(
        f"{len(result['images'])} grids in {config.out} (Grad-CAM at {result['layer']}); faithfulness "
        f"{f['score']:+.3f} (deletion AUC {f['deletion_auc_gradcam']:.3f} vs random {f['deletion_auc_random']:.3f})"
    )
    return 0


def predict(result: dict, config: Any, *, json: bool = False) -> int:
    if json:
        print(_json(result, ensure_ascii=True))
        return 0
    columns = ", ".join(result["columns"])
    print(printable(f"{result['out']}: {result['n'] - result['n_failed']} of {result['n']} images scored ({columns})"))
    for path, problem in result["problems"][:20]:
        print(printable(f"  {path}: {problem}"), file=sys.stderr)
    if len(result["problems"]) > 20:
        print(f"  ... and {len(result['problems']) - 20} more (column 'error' of {result['out']})", file=sys.stderr)
    return 0


def export(result: tuple[Path, dict[str, str]], config: Any) -> int:
    out, meta = result
    print(f"wrote {out} ({meta['library']}, {meta['arch']})")
    if config.to == "onnx":
        print(f"  input 'image': float32 (batch, 1, {meta['image_size']}, {meta['image_size']}) in [0, 1]")
    else:
        print(f"  inputs: {meta['input']}; mean {meta['mean']}, std {meta['std']}")
        print(f"  load: {meta['load']}")
        if meta["stem"] != "standard":
            print(f"  stem: {meta['stem']}")
    if "outputs" in meta:  # --with-head
        print(printable(f"  head: {meta['head']}; outputs {meta['outputs']}"))
    return 0


def study(counts: dict[str, int], config: Any, *, out: str | Path, report: bool = True) -> int:
    if report:
        print(f"report: {Path(out) / 'report.html'}")
    return 1 if counts.get("failed") else 0


def report(result: Path | dict[str, Any], config: Any) -> int:
    print(json.dumps(result, indent=2, allow_nan=False) if config.json else result)
    return 0


def _json(data: Any, ensure_ascii: bool = False) -> str:
    return json.dumps(data, indent=2, ensure_ascii=ensure_ascii)
