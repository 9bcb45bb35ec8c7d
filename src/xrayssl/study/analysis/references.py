"""The references a study's SSL recipes are judged against (floors, supervised baselines, ImageNet features) and
the seed study's per-body-part table that sets them side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from xrayssl.study.store import Store

REFERENCE_NAMES = {"imagenet": "ImageNet features + LR"}


def _reference_key(kind: str, p: dict[str, Any]) -> str:
    """A stable column name per reference: random_floor, pixels_floor, supervised, imagenet."""
    if kind == "floor":
        return f"{p['encoder']}_floor"
    return "supervised" if kind == "supervised" else p["reference"]


def references(store: Store) -> pd.DataFrame:
    """Floors, supervised baselines and frozen-feature references (ImageNet) as rows comparable with the
    leaderboard; a reference that was skipped (no weights offline) has no numbers and is left out here."""
    return references_of(store.runs(status="done"))


def references_of(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """references from runs already read from the store."""
    rows = []
    for r in runs:
        if r["status"] != "done" or r["kind"] not in ("floor", "supervised", "reference"):
            continue
        p, res = r["params"], r["result"]
        if res.get("test_score") is None:
            continue
        if r["kind"] == "floor":
            name = f"{p['encoder']} floor"
        elif r["kind"] == "supervised":
            name = f"supervised, {p['label_fraction']:.0%} labels"
        else:
            name = REFERENCE_NAMES.get(p["reference"], p["reference"])
        lo, hi = res["test_score_ci"] or (None, None)
        rows.append(
            {
                "body_part": p["body_part"] or "all",
                "model": name,
                "kind": r["kind"],
                "val_score": res["val_score"],
                "test_score": res["test_score"],
                "test_lo": lo,
                "test_hi": hi,
                "run_id": r["id"],
                "key": _reference_key(r["kind"], p),
                "label_fraction": p.get("label_fraction"),
            }
        )
    return pd.DataFrame(rows)


def skipped_references(store: Store) -> list[dict[str, Any]]:
    """References recorded as skipped, with their one-line reason (e.g. no network for the ImageNet weights)."""
    return skipped_references_of(store.runs(kind="reference", status="done"))


def skipped_references_of(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """skipped_references from runs already read from the store."""
    return [
        {"body_part": r["params"]["body_part"] or "all", "reference": r["params"]["reference"],
         "reason": r["result"]["skipped"]}
        for r in runs
        if r["kind"] == "reference" and r["status"] == "done" and r["result"].get("skipped")
    ]  # fmt: skip


PER_PART_REFERENCES = ("imagenet", "supervised", "random_floor", "pixels_floor")


def _pool(board: pd.DataFrame) -> str | None:
    """The pretraining pool the per-part table reads: as it is, when the study also varied it."""
    pools = sorted(set(board["abnormal_fraction"])) if len(board) else []
    return "as is" if "as is" in pools else (pools[0] if pools else None)


def per_part_table(board: pd.DataFrame, refs: pd.DataFrame, methods: list[str] | None = None) -> pd.DataFrame:
    """The seed study's table: one row per body part. Per SSL method the recipe chosen on validation (pool as it
    is), its seeds and its test AUROC with the leaderboard's interval; then ImageNet features + LR, the supervised
    baseline with its largest label share, and the floors. Columns: body_part, pool, then KEY_score, KEY_lo,
    KEY_hi per model (SSL methods also KEY_recipe, KEY_seeds; in the order of ``methods``, default: as found);
    a model that did not run is NaN."""
    pool = _pool(board)
    best = board[(board["rank"] == 1) & (board["abnormal_fraction"] == pool)] if len(board) else board
    found = list(dict.fromkeys(best["method"])) if len(best) else []
    methods = [m for m in methods or found if m in found]
    parts = sorted({*(best["body_part"] if len(best) else []), *(refs["body_part"] if len(refs) else [])})
    rows = []
    for part in parts:
        row: dict[str, Any] = {"body_part": part, "pool": pool}
        for method in methods:
            hit = best[(best["body_part"] == part) & (best["method"] == method)]
            r = hit.iloc[0] if len(hit) else None
            row[f"{method}_recipe"] = None if r is None else r["recipe"]
            row[f"{method}_seeds"] = None if r is None else int(r["n_seeds"])
            row.update(_cells(method, r, ("test_score", "test_lo", "test_hi")))
        for key in PER_PART_REFERENCES:
            hit = refs[(refs["body_part"] == part) & (refs["key"] == key)] if len(refs) else refs
            if key == "supervised" and len(hit):
                hit = hit[hit["label_fraction"] == hit["label_fraction"].max()]
            row.update(_cells(key, hit.iloc[0] if len(hit) else None, ("test_score", "test_lo", "test_hi")))
        rows.append(row)
    return pd.DataFrame(rows)


def _cells(key: str, row: Any, names: tuple[str, str, str]) -> dict[str, float]:
    values = [np.nan if row is None or row[n] is None else float(row[n]) for n in names]
    return dict(zip((f"{key}_score", f"{key}_lo", f"{key}_hi"), values))
