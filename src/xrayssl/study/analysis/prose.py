"""The report's sentences: the study's answer (one per method) and its chosen recipes against the references."""

from __future__ import annotations

from typing import Any

import pandas as pd

from xrayssl.study.analysis.frame import GROUP, METHOD_NAMES
from xrayssl.study.analysis.guardrails import at_chance, below_untrained
from xrayssl.study.analysis.ranking import chosen


def _signed(v: float) -> str:
    return f"{v:+.2f}"


def _interval(r: Any) -> str:
    if r.lo is None or r.hi is None or pd.isna(r.lo):
        return f"{_signed(r.effect)}, no interval"
    return f"{_signed(r.effect)} [{_signed(r.lo)}, {_signed(r.hi)}]"


def _names(rows: pd.DataFrame) -> str:
    terms = [f"{r.term} ({_interval(r)})" for r in rows.itertuples()]
    return terms[0] if len(terms) == 1 else ", ".join(terms[:-1]) + " and " + terms[-1]


def headline(effects: pd.DataFrame, images: str = "these images") -> list[str]:
    """The study's answer, one sentence per method (and body part or pool where there are several): the
    augmentations whose 95 % interval lies above zero help, those below hurt, the rest did nothing beyond
    noise. ``effects`` has method, term, effect, lo, hi (body_part and abnormal_fraction optional)."""
    if effects.empty:
        return []
    keys = [c for c in GROUP if c in effects and effects[c].nunique() > 1 and c != "method"]
    out = []
    for key, g in effects.groupby([*keys, "method"], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        method = METHOD_NAMES.get(key[-1], key[-1])
        where = "".join(f", {c.replace('_', ' ')} {v}" for c, v in zip(keys, key[:-1]))
        sure = g["lo"].notna() & g["hi"].notna()
        helps = g[sure & (g["lo"] > 0)].sort_values("effect", ascending=False)
        hurts = g[sure & (g["hi"] < 0)].sort_values("effect")
        rest = g.drop(helps.index.union(hurts.index))
        parts = []
        if len(helps):
            parts.append(f"{_names(helps)} {'helps' if len(helps) == 1 else 'help'}")
        if len(hurts):
            parts.append(f"{_names(hurts)} {'hurts' if len(hurts) == 1 else 'hurt'}")
        if not parts:
            out.append(
                f"For {method} on {images}{where}, no augmentation changed the result beyond noise ({_names(g)})."
            )
            continue
        if len(rest):
            parts.append(f"{_names(rest)} changed nothing beyond noise")
        out.append(f"For {method} on {images}{where}, " + "; ".join(parts) + ".")
    return out


def versus_references(board: pd.DataFrame, refs: pd.DataFrame, chance: float = 0.5) -> list[str]:
    """One sentence per method: its recipe chosen on validation against the floors and the supervised models,
    'above' or 'below' a reference only where the two 95 % intervals are apart, else 'level with' it. An encoder
    whose interval covers chance is 'at chance', and one that scores under the random-encoder floor is 'below the
    untrained network': neither is ever 'level with' anything."""
    if board.empty:
        return []
    out = []
    for r in chosen(board).itertuples():
        others = refs[refs["body_part"] == r.body_part] if len(refs) else refs
        flagged = at_chance(r, chance) or below_untrained(r, others)
        if others.empty and not flagged:
            continue
        groups: dict[str, list[str]] = {"above": [], "level with": [], "below": []}
        for ref in others.itertuples():
            groups[_compare(r, ref)].append(f"{ref.model} ({ref.test_score:.3f}{_ci_text(ref.test_lo, ref.test_hi)})")
        clauses = []
        if at_chance(r, chance):
            clauses.append(f"at chance (its interval covers {chance:g})")
        floor = below_untrained(r, others)
        if floor is not None:
            clauses.append(f"below the untrained network ({floor.model} {floor.test_score:.3f})")
        if flagged:  # a model at chance or under random weights is compared with nothing else
            groups = {"above": groups["above"], "below": [x for x in groups["below"] if floor is None or
                                                          not x.startswith(f"{floor.model} (")]}  # fmt: skip
        clauses += [f"{k} {_join(v)}" for k, v in groups.items() if v]
        where = f" on {r.body_part}" if board["body_part"].nunique() > 1 else ""
        out.append(
            f"{METHOD_NAMES.get(r.method, r.method)}'s recipe chosen on validation ({r.recipe}){where} reaches test "
            f"AUROC {r.test_score:.3f}{_ci_text(r.test_lo, r.test_hi)}: " + "; ".join(clauses) + "."
        )
    return out


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _ci_text(lo: Any, hi: Any) -> str:
    return "" if lo is None or hi is None or pd.isna(lo) else f" [{lo:.3f}, {hi:.3f}]"


def _compare(a: Any, b: Any) -> str:
    """'above' or 'below' when the intervals are apart; 'level with' when they overlap (or one is missing)."""
    if any(v is None or pd.isna(v) for v in (a.test_lo, a.test_hi, b.test_lo, b.test_hi)):
        return "level with"
    if a.test_lo > b.test_hi:
        return "above"
    if a.test_hi < b.test_lo:
        return "below"
    return "level with"


PLANTED_NOTE = (
    "These images carry planted nuisance factors whose effect is known in advance (docs/augmentations.md): the "
    "verdict says whether the study found it."
)
