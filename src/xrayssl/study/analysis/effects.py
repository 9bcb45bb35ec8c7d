"""Augmentation effects: each design's own contrasts (the one place that says which analysis a design gets), the
effects a study's answer is built from, and their check against a planted truth.

Intervals are 95 %: over seeds (t distribution) for one-at-a-time contrasts, from the regression's residuals for
factorial effects, from resampling test patients (and seeds) for effects from paired runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from xrayssl.augment.spec import format_value, parse_spec
from xrayssl.catalog import N_BOOT
from xrayssl.metrics import mean_ci
from xrayssl.study.analysis.frame import GROUP
from xrayssl.study.analysis.paired import paired_effects
from xrayssl.study.designs import resolve
from xrayssl.tasks import BINARY, Task


def factorial_effects(frame: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """Main effects and two-way interactions (on minus off, in AUROC) per method from a +-1 coded regression
    with seed blocks; interactions are left out where the design cannot separate them."""
    out = []
    for key, g in frame.groupby(GROUP, sort=False):
        fit = _factorial_fit(g, factors)
        if fit is None:
            continue  # not a factorial design over these factors
        names, beta, se, df = fit
        t = stats.t.ppf(0.975, df) if df > 0 else np.nan
        for i, name in enumerate(names, start=1):
            effect, half = 2 * beta[i], 2 * t * se[i]
            out.append(
                {
                    **dict(zip(GROUP, key)),
                    "term": name,
                    "kind": "main" if i <= len(factors) else "interaction",
                    "effect": float(effect),
                    "lo": float(effect - half) if df > 0 else None,
                    "hi": float(effect + half) if df > 0 else None,
                    "df": df,
                }
            )
    return pd.DataFrame(out)


def _factorial_fit(g: pd.DataFrame, factors: list[str]) -> tuple[list[str], np.ndarray, np.ndarray, int] | None:
    """Term names, coefficients, standard errors and residual df of one method's regression; None when the runs
    cannot separate the main effects."""
    x = np.array([[1.0 if f in parts else -1.0 for f in factors] for parts in g["parts"]])
    y = g["test_score"].to_numpy(float)
    seeds = pd.get_dummies(g["seed"], drop_first=True).to_numpy(float)
    names, cols = list(factors), [x]
    pairs = list(itertools.combinations(range(len(factors)), 2))
    inter = np.stack([x[:, i] * x[:, j] for i, j in pairs], 1) if pairs else np.empty((len(x), 0))
    full = np.column_stack([np.ones(len(x)), x, inter, seeds])
    if np.linalg.matrix_rank(full) == full.shape[1]:
        cols.append(inter)
        names += [f"{factors[i]} x {factors[j]}" for i, j in pairs]
    design = np.column_stack([np.ones(len(x)), *cols, seeds])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        return None
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    df = len(y) - design.shape[1]
    se = np.full(design.shape[1], np.nan)
    if df > 0:
        sigma2 = float(((y - design @ beta) ** 2).sum() / df)
        se = np.sqrt(np.diag(sigma2 * np.linalg.inv(design.T @ design)))
    return names, beta, se, df


def one_at_a_time_effects(frame: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """Adding each augmentation to none ('alone') and removing it from all ('dropped'), paired by seed."""
    out = []
    all_on = tuple(factors)
    for key, g in frame.groupby(GROUP, sort=False):
        by = {(parts, seed): s for parts, seed, s in zip(g["parts"], g["seed"], g["test_score"])}
        for f in factors:
            without = tuple(x for x in factors if x != f)
            for contrast, on, off in (("alone", (f,), ()), ("dropped", all_on, without)):
                diffs = [by[(on, s)] - by[(off, s)] for s in sorted(set(g["seed"])) if (on, s) in by and (off, s) in by]
                if diffs:
                    m, lo, hi = mean_ci(diffs)
                    out.append(
                        {**dict(zip(GROUP, key)), "term": f, "contrast": contrast, "effect": m, "lo": lo, "hi": hi}
                    )
    return pd.DataFrame(out)


def pairwise_matrix(frame: pd.DataFrame, factors: list[str], method: str) -> pd.DataFrame:
    """Mean test AUROC of 'first then second' (rows: first); the diagonal is the augmentation alone."""
    g = frame[frame["method"] == method]
    m = pd.DataFrame(np.nan, index=factors, columns=factors)
    for parts, s in g.groupby("parts")["test_score"].mean().items():
        if len(parts) == 1 and parts[0] in factors:
            m.loc[parts[0], parts[0]] = s
        elif len(parts) == 2 and set(parts) <= set(factors):
            m.loc[parts[0], parts[1]] = s
    return m


@dataclass(frozen=True)
class DesignEffects:
    """A design's own contrasts: a table of effects (one-at-a-time, factorial) or, for pairwise, one matrix per
    method; ``answer`` holds the rows an answer falls back on where no run kept its predictions."""

    design: str
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    matrices: dict[str, pd.DataFrame] = field(default_factory=dict)
    note: str = ""  # how the contrasts were made, for the report
    xlabel: str = ""  # what the table's effects measure, for a plot's axis
    answer: pd.DataFrame = field(default_factory=pd.DataFrame)
    answer_note: str = ""

    def plain(self) -> object:
        """As ``report --json`` has carried it: the table's rows, or pairwise: method -> first -> second -> AUROC."""
        if self.matrices:
            return {m: x.to_dict(orient="index") for m, x in self.matrices.items()}
        return self.table


def _one_at_a_time(design: str, frame: pd.DataFrame, factors: list[str], methods: list[str]) -> DesignEffects:
    eff = one_at_a_time_effects(frame, factors)
    return DesignEffects(
        design,
        table=eff,
        xlabel="change in test AUROC",
        note="alone: the augmentation alone minus none; dropped: all minus all but it. "
        "Paired by seed; 95 % t-interval over seeds.",
        answer=eff[eff["contrast"] == "alone"].reset_index(drop=True) if len(eff) else eff,
        answer_note="the augmentation alone minus none, paired by seed; 95 % t-interval over seeds",
    )


def _factorial(design: str, frame: pd.DataFrame, factors: list[str], methods: list[str]) -> DesignEffects:
    eff = factorial_effects(frame, factors)
    return DesignEffects(
        design,
        table=eff,
        xlabel="effect on test AUROC",
        note="Effect = mean test AUROC with the augmentation on minus off (interactions: the usual +-1 contrast), "
        "from a regression with seed blocks; 95 % CI from its residuals.",
        answer=eff[eff["kind"] == "main"].reset_index(drop=True) if len(eff) else eff,
        answer_note="main effect (on minus off), regression with seed blocks; 95 % interval from its residuals",
    )


def _pairwise(design: str, frame: pd.DataFrame, factors: list[str], methods: list[str]) -> DesignEffects:
    return DesignEffects(design, matrices={m: pairwise_matrix(frame, factors, m) for m in methods})


def op_parts(spec: str, base: str = "") -> tuple[str, ...]:
    """A recipe's augmentations as written in its spec, the base left out: 'crop(scale=0.5..1)+flip' after that
    base is ('flip',). Each op keeps its arguments ('rotate(15)'), so that rotate(10) and rotate(15) differ."""
    terms = [_op_text(t) for t in parse_spec(resolve(spec))]
    start = [_op_text(t) for t in parse_spec(resolve(base))] if base else []
    return tuple(terms[len(start) :] if terms[: len(start)] == start else terms)


def _op_text(term: tuple[str, list, dict]) -> str:
    name, args, kwargs = term
    inner = [format_value(a) for a in args] + [f"{k}={format_value(v)}" for k, v in kwargs.items()]
    return f"{name}({','.join(inner)})" if inner else name


def by_ops(frame: pd.DataFrame, base: str = "") -> tuple[pd.DataFrame, list[str]]:
    """The frame with each run's parts read from its spec (design 'list': a recipe is a name, not a set of
    factors), and the augmentations that tell some two of its recipes apart."""
    if frame.empty or "spec" not in frame:
        return frame, []
    parts = [op_parts(s or "", base) for s in frame["spec"]]
    out = frame.assign(parts=parts)
    factors = sorted({f for p in parts for f in p})
    return out, factors


def list_effects(frame: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """Every pair of recipes that differ by one augmentation alone: the one with it minus the one without, paired
    by seed; 95 % t-interval over seeds (one seed: no interval)."""
    out = []
    for key, g in frame.groupby(GROUP, sort=False):
        by: dict[tuple[frozenset, int], list[float]] = {}
        for p, s, v in zip(g["parts"], g["seed"], g["test_score"]):
            by.setdefault((frozenset(p), s), []).append(v)
        for f in factors:
            diffs = [v - w for (parts, s), vs in by.items() if f in parts and (parts - {f}, s) in by
                     for v in vs for w in by[(parts - {f}, s)]]  # fmt: skip
            if diffs:
                m, lo, hi = mean_ci(diffs)
                out.append({**dict(zip(GROUP, key)), "term": f, "effect": m, "lo": lo, "hi": hi, "n_pairs": len(diffs)})
    return pd.DataFrame(out)


def _list(design: str, frame: pd.DataFrame, factors: list[str], methods: list[str]) -> DesignEffects:
    eff = list_effects(frame, factors)
    note = (
        "Recipes that differ by one augmentation alone: with it minus without, paired by seed; 95 % t-interval "
        "over seeds (one seed: none)."
    )
    return DesignEffects(design, table=eff, xlabel="change in test AUROC", note=note, answer=eff,
                         answer_note=note[:-1].lower().replace("recipes that", "between recipes that"))  # fmt: skip


# which analysis each study design gets (design 'list' reads its recipes' specs: see by_ops)
DESIGNS: dict[str, Callable[[str, pd.DataFrame, list[str], list[str]], DesignEffects]] = {
    "list": _list,
    "one-at-a-time": _one_at_a_time,
    "full": _factorial,
    "fractional": _factorial,
    "pairwise": _pairwise,
}


def contrast_frame(design: str, frame: pd.DataFrame, base: str, factors: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The frame and factors the contrasts are made over: the design's factors, or, for design 'list', the
    augmentations read from its recipes' specs (by_ops), so that 'none' and 'flip' give a flip contrast."""
    return by_ops(frame, base) if design == "list" else (frame, factors)


def design_effects(
    design: str, frame: pd.DataFrame, factors: list[str], methods: list[str], metric: str = "AUROC"
) -> DesignEffects:
    """The design's own contrasts over the study's finished SSL runs; ``metric`` names the task's primary metric
    (the designs' texts are written for AUROC)."""
    make = DESIGNS.get(design)
    if frame.empty or make is None:
        return DesignEffects(design)
    made = make(design, frame, factors, methods)
    return replace(made, **{k: named(getattr(made, k), metric) for k in ("note", "xlabel", "answer_note")})


def named(text: str, metric: str) -> str:
    """A text written for AUROC, about the task's primary metric instead."""
    return text if metric == "AUROC" else text.replace("AUROCs", f"{metric}s").replace("AUROC", metric)


def answer_effects(
    design: str,
    frame: pd.DataFrame,
    predictions: dict[str, pd.DataFrame],
    factors: list[str],
    n_boot: int = N_BOOT,
    own: DesignEffects | None = None,
    task: Task = BINARY,
) -> tuple[pd.DataFrame, str]:
    """The effects a study's answer is built from, and how their intervals were made: paired runs with a
    patient (and seed) bootstrap where the runs kept their predictions, else the design's own analysis
    (``own``, computed here when not given)."""
    if frame.empty:
        return pd.DataFrame(), ""
    effects = paired_effects(frame, predictions, factors, n_boot=n_boot, task=task) if predictions else pd.DataFrame()
    if len(effects):
        return effects, (
            f"change in test {task.metric_label} when the augmentation is added to a recipe, averaged over every pair "
            "of runs that differ by it alone; 95 % interval from resampling test patients"
            + (" and seeds" if effects["n_seeds"].max() > 1 else " (one seed: the seed-to-seed spread is not in it)")
        )
    own = own or design_effects(design, frame, factors, sorted(set(frame["method"])), task.metric_label)
    return own.answer, own.answer_note


def planted_check(effects: pd.DataFrame, expected: dict[str, int]) -> pd.DataFrame:
    """Effects set against a known truth (``expected``: augmentation -> +1, -1 or 0 for no effect), e.g. the
    synthetic radiographs' planted nuisance factors: recovered, missed, wrong sign or a false alarm."""
    rows = []
    for r in effects[effects["term"].isin(expected)].itertuples():
        sign = expected[r.term]
        if r.lo is None or r.hi is None or pd.isna(r.lo):
            verdict = "no interval"
        elif r.lo > 0 or r.hi < 0:
            found = 1 if r.lo > 0 else -1
            verdict = "recovered" if found == sign else ("false alarm" if sign == 0 else "wrong sign")
        else:
            verdict = "recovered (no effect)" if sign == 0 else "missed"
        rows.append({**{c: getattr(r, c) for c in GROUP if c in effects}, "term": r.term, "expected": sign,
                     "effect": r.effect, "lo": r.lo, "hi": r.hi, "verdict": verdict})  # fmt: skip
    return pd.DataFrame(rows)
