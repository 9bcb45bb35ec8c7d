"""The report's first screen: the answer in sentences, the effects behind it and the chosen recipes against the
references."""

from __future__ import annotations

from typing import Any

from xrayssl.report.markup import ci, esc, signed_ci, table
from xrayssl.report.results import StudyResults
from xrayssl.study.analysis import chosen, planted_check
from xrayssl.study.analysis.effects import named
from xrayssl.study.analysis.prose import PLANTED_NOTE, headline, versus_references
from xrayssl.study.config import StudyConfig

EXPECTED_WORDS = {1: "helps", -1: "hurts", 0: "no effect"}  # a planted truth's sign, as the answer's table says it
EFFECT_HEAD = "change in test AUROC [95 % CI]"  # the answer table's effect column for binary tasks (tests read it)


def effect_head(res: StudyResults) -> str:
    return named(EFFECT_HEAD, res.metric)


def answer(res: StudyResults) -> str:
    """One sentence per method, then the numbers behind it (against the planted truth where the data has one)
    and the chosen recipes against the references."""
    sentences = headline(res.effects) or [no_effect(res)]
    out = ["<h2>Answer</h2>", warnings(res), _metric_line(res)] + [f"<p class='lead'>{esc(s)}</p>" for s in sentences]
    later = [*versus_references(res.board, res.refs, res.chance), *res.starts.get("sentences", [])]  # starts: inits
    out += [f"<p>{esc(named(s, res.metric))}</p>" for s in later]
    out.append("<h3>The numbers behind it</h3>")
    if res.effects_note:
        out.append(f"<p class='note'>Effect: {esc(res.effects_note)}.</p>")
    if res.expected:
        out.append(f"<p class='note'>{esc(PLANTED_NOTE)}</p>")
    out.append(answer_table(res) + _best_vs_references(res) + _study_line(res))
    return "".join(out)


def _metric_line(res: StudyResults) -> str:
    """What every score of the study is: the task's primary metric, with its chance level."""
    task = res.task
    what = f"{len(task.classes)} {'findings' if task.kind == 'multilabel' else 'classes'}: {', '.join(task.classes)}"
    return (
        f"<p class='note'>Every score is the test <b>{esc(res.metric)}</b>, the primary metric of this "
        f"{esc(task.kind)} task ({esc(what)}; chance {res.chance:g}).</p>"
    )


def warnings(res: StudyResults) -> str:
    """What the numbers cannot support, before anything they seem to say (study.analysis.guardrails)."""
    if not res.warnings:
        return ""
    items = "".join(f"<li>{esc(w.message)}</li>" for w in res.warnings)
    return f"<div class='warnings'><p class='bad'>Read with care:</p><ul>{items}</ul></div>"


def no_effect(res: StudyResults) -> str:
    """Why the answer states no effect: runs still to do, or no two recipes that differ by one augmentation."""
    left = res.counts.get("pending", 0) + res.counts.get("running", 0)
    if left:
        return f"No augmentation effect can be estimated yet: {left} run(s) still to do."
    return (
        "No augmentation effect can be estimated: no two recipes of this study differ by one augmentation alone "
        "(see the leaderboard)."
    )


def answer_table(res: StudyResults) -> str:
    """One row per effect of the answer: where, method, augmentation, the change with its interval (and the
    planted truth with the verdict where the data has one)."""
    effects = res.effects
    if effects.empty:
        return ""
    keys = [c for c in ("body_part", "abnormal_fraction", "start") if c in effects and effects[c].nunique() > 1]
    truth: dict[tuple, Any] = {}
    if res.expected:
        check = planted_check(effects, {k: v["sign"] for k, v in res.expected.items()})
        truth = {(r.method, r.term, *(getattr(r, k) for k in keys)): r for r in check.itertuples()}
    rows = []
    for r in effects.itertuples():
        row = {k.replace("_", " "): esc(getattr(r, k)) for k in keys}
        row |= {"method": esc(r.method), "augmentation": esc(r.term), effect_head(res): signed_ci(r.effect, r.lo, r.hi)}
        if res.expected:
            t = truth.get((r.method, r.term, *(getattr(r, k) for k in keys)))
            planted = res.expected.get(r.term, {})
            row["planted nuisance"] = esc(planted.get("factor", "none"))
            row["expected"] = EXPECTED_WORDS[t.expected] if t else "-"
            cls = "ok" if t and t.verdict.startswith("recovered") else "bad"
            row["verdict"] = f"<span class='{cls}'>{esc(t.verdict)}</span>" if t else "-"
        rows.append(row)
    left = (*[k.replace("_", " ") for k in keys], "method", "augmentation", "planted nuisance", "expected", "verdict")
    return table(rows, left=left)


def _best_vs_references(res: StudyResults) -> str:
    head = f"test {esc(res.metric)} [95 % CI]"
    rows = [
        {"model": f"{esc(r.method)}{_from(r)}, best recipe on validation: <b>{esc(r.recipe)}</b>",
         "body part": esc(r.body_part),
         head: ci(r.test_score, r.test_lo, r.test_hi)}
        for r in chosen(res.board).itertuples()
    ]  # fmt: skip
    rows += [
        {"model": esc(r.model), "body part": esc(r.body_part), head: ci(r.test_score, r.test_lo, r.test_hi)}
        for r in res.refs.itertuples()
    ]
    return table(rows, left=("model", "body part"))


def _from(r: Any) -> str:
    """' from START' where the study varies the start (inits)."""
    start = getattr(r, "start", "as configured")
    return "" if start == "as configured" else f" from {esc(start)}"


def _study_line(res: StudyResults) -> str:
    c, n = res.config, res.counts
    shared = c.shared_pretrain()  # the study's run length rule, not a copy of its default
    budget = " or ".join(x for x in (f"{shared['epochs']} epochs" if shared["epochs"] else "", shared["budget"]) if x)
    return (
        f"<p class='note'><b>methods</b> {esc(', '.join(c.methods))}; <b>design</b> {esc(design_words(c))}"
        + (f" (after <code>{esc(c.base)}</code>)" if c.base else "")
        + f"; <b>seeds</b> {c.seeds}; <b>pretraining</b> {esc(budget)} per run; <b>runs</b> {n.get('done', 0)} "
        f"done, {n.get('pending', 0) + n.get('running', 0)} to do, {n.get('failed', 0)} failed. Recipes are chosen "
        "on the validation split; the test split is only reported.</p>"
    )


def design_words(config: StudyConfig) -> str:
    """The design and exactly what it ran: a list design's recipes with their specs, else its factors."""
    if config.design == "list":
        return "list of recipes " + ", ".join(f"{k} ({v or 'nothing'})" for k, v in config.recipes.items())
    used = {p for r in config.recipe_list() for p in r.parts}
    return f"{config.design} over {', '.join(f for f in config.augmentations if f in used)}"
