"""Effects from stored test predictions: every pair of runs that differ by one augmentation alone, with an interval
from resampling test patients (one draw shared by every run, so each pair stays paired) and seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xrayssl.catalog import N_BOOT
from xrayssl.data.cache import targets
from xrayssl.study.analysis.frame import GROUP
from xrayssl.study.store import Store
from xrayssl.tasks import BINARY, Task, primary_score


def run_predictions(study: str | Path, result: dict[str, Any] | None) -> pd.DataFrame | None:
    """A finished run's per-image test predictions (index, patient_id, label, prob), or None where the run
    stored none (studies from before predictions were kept)."""
    name = (result or {}).get("predictions")
    if not name or not result.get("run"):
        return None
    path = Path(study) / result["run"] / name
    return pd.read_csv(path) if path.is_file() else None


def ssl_predictions(study: str | Path, store: Store) -> dict[str, pd.DataFrame]:
    """Stored test predictions of every finished SSL run, keyed by run id."""
    return ssl_predictions_of(study, store.runs(kind="ssl", status="done"))


def ssl_predictions_of(study: str | Path, runs: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """ssl_predictions from runs already read from the store."""
    out = {}
    for r in runs:
        if r["kind"] != "ssl" or r["status"] != "done":
            continue
        pred = run_predictions(study, r["result"])
        if pred is not None:
            out[r["id"]] = pred
    return out


def paired_effects(
    frame: pd.DataFrame,
    predictions: dict[str, pd.DataFrame],
    factors: list[str],
    n_boot: int = N_BOOT,
    seed: int = 0,
    task: Task = BINARY,
) -> pd.DataFrame:
    """What adding each augmentation does to the task's primary metric on test (binary: AUROC; grades: QWK), from
    every pair of runs that differ by it alone (same
    seed, same method): the mean change over the pairs, with a 95 % percentile interval from resampling test
    patients (one draw shared by every run, so each pair stays paired) and, with several seeds, seeds as well.

    Unlike the t-interval over seeds this gives an interval from a single seed; it then covers the test
    sample's noise but not the seed-to-seed spread of training."""
    out = []
    rng = np.random.default_rng(seed)
    for key, g in frame[frame["run_id"].isin(predictions)].groupby(GROUP, sort=False):
        runs: dict[tuple[frozenset, int], list[str]] = {}  # several runs per set: pairwise's a>b and b>a
        for p, s, rid in zip(g["parts"], g["seed"], g["run_id"]):
            runs.setdefault((frozenset(p), s), []).append(rid)
        pairs = {f: _pairs(runs, f) for f in factors}
        used = sorted({rid for ps in pairs.values() for pair in ps for rid in pair[:2]})
        if not used:
            continue
        y, probs, members = _aligned(predictions, used, task)
        col = {rid: i for i, rid in enumerate(used)}
        seeds = sorted(set(g["seed"]))
        draws = []
        for _ in range(n_boot):
            idx = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
            picked = rng.choice(seeds, len(seeds)) if len(seeds) > 1 else seeds
            scores = np.array([primary_score(task, y[idx], probs[c][idx]) for c in range(len(used))])
            if np.isfinite(scores).all():  # a draw with one class only scores nothing
                draws.append((scores, picked))
        full = np.array([primary_score(task, y, probs[c]) for c in range(len(used))])
        for f, ps in pairs.items():
            if not ps:
                continue
            effect = float(np.mean([full[col[a]] - full[col[b]] for a, b, _ in ps]))
            boot = [_pair_mean(scores, ps, col, picked) for scores, picked in draws]
            boot = np.array([b for b in boot if np.isfinite(b)])
            lo, hi = (float(np.quantile(boot, q)) for q in (0.025, 0.975)) if len(boot) else (None, None)
            out.append(
                {**dict(zip(GROUP, key)), "term": f, "effect": effect, "lo": lo, "hi": hi, "n_pairs": len(ps),
                 "n_seeds": len({s for _, _, s in ps})}
            )  # fmt: skip
    return pd.DataFrame(out)


def _pairs(runs: dict[tuple[frozenset, int], list[str]], factor: str) -> list[tuple[str, str, int]]:
    """(run with the factor, a run of the same augmentations and seed without it, seed) for every such pair."""
    return [
        (rid, other, s)
        for (parts, s), ids in runs.items()
        if factor in parts and (parts - {factor}, s) in runs
        for rid in ids
        for other in runs[(parts - {factor}, s)]
    ]


def _aligned(
    predictions: dict[str, pd.DataFrame], runs: list[str], task: Task = BINARY
) -> tuple[np.ndarray, list[np.ndarray], list]:
    """Labels shaped for the task, each run's scores ((n,) or (n, K)) and each patient's rows, over the images all
    runs share."""
    first = predictions[runs[0]].set_index("index")
    common = first.index
    for rid in runs[1:]:
        common = common.intersection(predictions[rid]["index"])
    base = first.loc[common]
    columns = [c for c in task.prob_columns() if c in first.columns] or ["prob"]
    probs = [predictions[rid].set_index("index").loc[common, columns].to_numpy(float).squeeze(1)
             if len(columns) == 1 else predictions[rid].set_index("index").loc[common, columns].to_numpy(float)
             for rid in runs]  # fmt: skip
    # a CSV reader makes a single finding's "1" a number: the findings column is text
    y = targets(base.assign(findings=base["findings"].astype(str)) if task.kind == "multilabel" else base, task)
    codes, uniq = pd.factorize(base["patient_id"])
    return y, probs, [np.flatnonzero(codes == i) for i in range(len(uniq))]


def _pair_mean(scores: np.ndarray, pairs: list, col: dict[str, int], seeds) -> float:
    diffs = [scores[col[a]] - scores[col[b]] for s in seeds for a, b, ps in pairs if ps == s]
    return float(np.mean(diffs)) if diffs else float("nan")
