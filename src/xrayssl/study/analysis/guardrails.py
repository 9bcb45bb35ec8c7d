"""What a study's numbers cannot support, said before anything else: encoders at chance or below the untrained
network, choices made on a validation split too small (or too flat) to decide, runs too short to have trained, and
recipes whose two views are the same image. Each warning carries its evidence; ``report --json`` prints them as
``warnings`` and the report's answer opens with them.

Chance is the task's (xrayssl.tasks; a study without a recorded task is binary: 0.5 AUROC)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from xrayssl.study.analysis.frame import METHOD_NAMES
from xrayssl.study.analysis.ranking import chosen

# a validation split on which a 95 % interval of an AUROC (Hanley & McNeil at 0.75) is wider than +-this cannot
# tell recipes (or probe settings) apart whose AUROCs differ by a few hundredths
VAL_HALF_WIDTH = 0.1
SHORT_RUN_STEPS = 50  # pretraining runs of fewer optimiser steps than this have barely moved from random weights


@dataclass(frozen=True)
class Guardrail:
    kind: str  # at_chance | below_untrained | small_validation | validation_at_chance | probe_at_chance | ...
    message: str  # one sentence, as the report's answer shows it
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "evidence": self.evidence}


def auroc_half_width(n_pos: int, n_neg: int, auc: float = 0.75) -> float:
    """Half the width of a 95 % interval of an AUROC over n_pos positives and n_neg negatives (Hanley & McNeil
    1982); inf without both classes."""
    if n_pos < 1 or n_neg < 1:
        return math.inf
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return 1.96 * math.sqrt(max(var, 0.0))


def covers(lo: Any, hi: Any, value: float) -> bool:
    return not _missing(lo) and not _missing(hi) and lo <= value <= hi


def at_chance(row: Any, chance: float) -> bool:
    """An encoder whose test interval covers chance."""
    return covers(row.test_lo, row.test_hi, chance)


def random_floor(refs: pd.DataFrame, body_part: str) -> Any | None:
    """The random-encoder (untrained network) floor of a body part, or None where it did not run."""
    if refs.empty or "key" not in refs:
        return None
    hit = refs[(refs["body_part"] == body_part) & (refs["key"] == "random_floor")]
    return next(hit.itertuples(), None)


def below_untrained(row: Any, refs: pd.DataFrame) -> Any | None:
    """The random floor a chosen encoder scored below, or None."""
    floor = random_floor(refs, row.body_part)
    if floor is None or _missing(floor.test_score) or _missing(row.test_score):
        return None
    return floor if row.test_score < floor.test_score else None


def interval_kind(n_seeds: int) -> str:
    """What a leaderboard interval is: over seeds (t), or, with one seed, the run's patient bootstrap."""
    return "over seeds" if n_seeds > 1 else "patient bootstrap"


def guardrails(
    frame: pd.DataFrame,
    board: pd.DataFrame,
    refs: pd.DataFrame,
    runs: list[dict[str, Any]],
    dataset: dict[str, Any] | None,
    chance: float = 0.5,
    metric: str = "AUROC",
) -> list[Guardrail]:
    """Every guardrail the study's finished runs trip, most serious first; ``metric`` names the task's primary
    metric in the messages (the validation's noise is estimated as for an AUROC whatever the task)."""
    out: list[Guardrail] = []
    for r in chosen(board).itertuples() if len(board) else []:
        out += _chosen_row(r, refs, chance)
    val = _validation(dataset, runs)
    if val is not None:
        out += _small_validation(val)
    out += _validation_at_chance(board, chance, val)
    out += _probe_at_chance(runs, chance)
    out += _short_runs(runs)
    out += _identical_views(frame)
    return [replace(g, message=g.message.replace("test AUROC", f"test {metric}")) for g in out]


def _who(r: Any) -> str:
    where = "" if r.body_part == "all" else f" on {r.body_part}"
    return f"{METHOD_NAMES.get(r.method, r.method)}'s recipe chosen on validation ({r.recipe}){where}"


def _chosen_row(r: Any, refs: pd.DataFrame, chance: float) -> list[Guardrail]:
    out = []
    shown = f"{r.test_score:.3f}" + ("" if _missing(r.test_lo) else f" [{r.test_lo:.3f}, {r.test_hi:.3f}]")
    evidence = {"method": r.method, "recipe": r.recipe, "body_part": r.body_part, "test_score": r.test_score,
                "test_lo": r.test_lo, "test_hi": r.test_hi, "interval": interval_kind(int(r.n_seeds))}  # fmt: skip
    if at_chance(r, chance):
        out.append(
            Guardrail(
                "at_chance",
                f"{_who(r)} is at chance: test AUROC {shown} ({interval_kind(int(r.n_seeds))}) covers {chance:g}; "
                "nothing it is compared with, and no effect on it, can be read as a finding.",
                {**evidence, "chance": chance},
            )
        )
    floor = below_untrained(r, refs)
    if floor is not None:
        apart = not _missing(r.test_hi) and not _missing(floor.test_lo) and r.test_hi < floor.test_lo
        out.append(
            Guardrail(
                "below_untrained",
                f"{_who(r)} is below the untrained network: test AUROC {r.test_score:.3f} against the random-encoder "
                f"floor's {floor.test_score:.3f}"
                + (" (intervals apart): pretraining made the features worse." if apart else
                   " (intervals overlap): pretraining did not beat random weights."),
                {**evidence, "floor_score": floor.test_score, "floor_lo": floor.test_lo, "floor_hi": floor.test_hi,
                 "intervals_apart": bool(apart)},
            )
        )  # fmt: skip
    return out


def _validation(dataset: dict[str, Any] | None, runs: list[dict[str, Any]]) -> dict[str, int] | None:
    """Validation images per class: from the stored dataset summary, else from a finished probe's counts."""
    if dataset and dataset.get("counts"):
        rows = [c for c in dataset["counts"] if c["split"] == "val"]
        return {
            "images": sum(c["images"] for c in rows),
            "abnormal": sum(c["images"] for c in rows if c["label"] == 1),
            "normal": sum(c["images"] for c in rows if c["label"] == 0),
        }
    for r in runs:
        n = (r.get("result") or {}).get("n") if r["status"] == "done" else None
        if n and "val" in n:
            return {"images": int(n["val"]), "abnormal": -1, "normal": -1}
    return None


def _half_width(val: dict[str, int], auc: float = 0.75) -> float:
    if val["abnormal"] < 0:  # counts per class unknown: as if balanced
        return auroc_half_width(val["images"] // 2, val["images"] - val["images"] // 2, auc)
    return auroc_half_width(val["abnormal"], val["normal"], auc)


def _small_validation(val: dict[str, int]) -> list[Guardrail]:
    half = _half_width(val)
    if half <= VAL_HALF_WIDTH:
        return []
    classes = f" ({val['normal']} normal, {val['abnormal']} abnormal)" if val["abnormal"] >= 0 else ""
    return [
        Guardrail(
            "small_validation",
            f"The validation split holds {val['images']} images{classes}: an AUROC on it is uncertain by about "
            f"+-{min(half, 1):.2f}, so the recipe and the probe's C chosen on it are too noisy to tell apart.",
            {**val, "auroc_half_width": round(min(half, 1.0), 3), "threshold": VAL_HALF_WIDTH},
        )
    ]


def _validation_at_chance(board: pd.DataFrame, chance: float, val: dict[str, int] | None) -> list[Guardrail]:
    """Groups in which every recipe's validation AUROC is at chance: the choice among them says nothing."""
    if board.empty:
        return []
    band = _half_width(val, 0.5) if val is not None else 0.0
    out = []
    for key, g in board.groupby(["body_part", "abnormal_fraction", "method"], sort=False):
        scores = g["val_score"].dropna()
        if len(scores) and (scores <= chance + band).all():
            part, pool, method = key
            out.append(
                Guardrail(
                    "validation_at_chance",
                    f"Every recipe of {METHOD_NAMES.get(method, method)}"
                    + ("" if part == "all" else f" on {part}")
                    + f" scored at chance on validation (best {scores.max():.3f}): the recipe chosen is a coin toss.",
                    {"method": method, "body_part": part, "pool": pool, "best_val_score": float(scores.max()),
                     "chance": chance, "band": round(min(band, 1.0), 3)},
                )
            )  # fmt: skip
    return out


def _probe_at_chance(runs: list[dict[str, Any]], chance: float) -> list[Guardrail]:
    """SSL runs whose probe chose its C where every candidate C scored at or below chance on validation."""
    flat = [
        r["id"]
        for r in runs
        if r["kind"] == "ssl"
        and r["status"] == "done"
        and (by_c := (r["result"] or {}).get("val_score_by_C"))
        and all(v is not None and v <= chance for v in by_c.values())
    ]
    if not flat:
        return []
    return [
        Guardrail(
            "probe_at_chance",
            f"{len(flat)} run(s) chose the probe's C where every candidate scored at or below chance on validation "
            f"(e.g. {flat[0]}): their probe settings were not chosen on any signal.",
            {"runs": flat, "chance": chance},
        )
    ]


def _short_runs(runs: list[dict[str, Any]]) -> list[Guardrail]:
    steps = [
        ((r["result"] or {}).get("pretrain") or {}).get("steps")
        for r in runs
        if r["kind"] == "ssl" and r["status"] == "done"
    ]
    steps = [s for s in steps if s is not None]
    if not steps or max(steps) >= SHORT_RUN_STEPS:
        return []
    return [
        Guardrail(
            "short_runs",
            f"Each pretraining run took at most {max(steps)} optimiser step(s): the encoders have barely moved from "
            "their random weights; pretrain longer (--epochs, --budget) before reading the recipes' effects.",
            {"max_steps": max(steps), "threshold": SHORT_RUN_STEPS},
        )
    ]


def _identical_views(frame: pd.DataFrame) -> list[Guardrail]:
    """Runs (of studies planned before such recipes were refused) whose two views were the same image."""
    if frame.empty or "spec" not in frame:
        return []
    same = sorted(set(frame.loc[frame["spec"].fillna("").str.strip() == "", "recipe"]))
    if not same:
        return []
    return [
        Guardrail(
            "identical_views",
            f"Recipe(s) {', '.join(same)} gave two identical views (no augmentation and no base): the SSL loss is "
            "trivial for them and their scores say nothing about augmentation.",
            {"recipes": same},
        )
    ]


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))
