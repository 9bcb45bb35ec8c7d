"""From labels as a dataset spells them to the dataset's task (``xrayssl.tasks.Task``) and class indices.

Readers that can carry any task (CSV, ...) keep each image's label as spelled (``Record.value``, or
``Record.findings`` for one column per finding); ``resolve_task`` then decides the task once for the whole
dataset and writes every record's ``label`` (and, for multilabel, its encoded findings). Readers of binary-only
layouts (MURA, AI Hub) set ``label`` themselves and leave ``value`` empty.

Without ``--task`` a label column may hold only two values, both spelled as normal/abnormal: graded or
multi-class labels are refused with their values listed, never read as normal/abnormal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from xrayssl.data.manifest import Problem, Record, parse_label
from xrayssl.errors import XraySSLError
from xrayssl.tasks import BINARY, TASK_KINDS, Task

UNCERTAIN = {"ignore": -1, "zero": 0, "one": 1}  # CheXpert's policies for an uncertain (-1) finding
POSITIVE, NEGATIVE = {"1", "1.0", "true", "yes", "positive", "pos"}, {"0", "0.0", "false", "no", "negative", "neg"}
MAX_LISTED = 12


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def class_order(values: Iterable[str]) -> list[str]:
    """Distinct values in their natural order: numbers numerically (as grades are), otherwise alphabetically."""
    distinct = sorted(set(values))
    if distinct and all(_number(v) is not None for v in distinct):
        return sorted(distinct, key=lambda v: _number(v))
    return sorted(distinct, key=str.lower)


def _listed(values: list[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:MAX_LISTED])
    return shown + (f" and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else "")


def resolve_task(
    records: list[Record], where: str, task: str | None = None, normal: str | None = None, uncertain: str = "ignore"
) -> tuple[Task, list[Problem]]:
    """The task of ``records`` (``task``: the kind asked for; None: binary, if the labels allow it) and the
    problems found; every record's ``label`` is set. ``normal`` names the normal class(es), comma-separated."""
    if task is not None and task not in TASK_KINDS:
        raise XraySSLError(f"unknown task '{task}'; tasks: {', '.join(TASK_KINDS)}")
    if task == "multilabel":
        return _multilabel(records, where, uncertain)
    spelled = [r for r in records if r.value is not None]
    if not spelled:
        if task not in (None, "binary"):
            raise XraySSLError(f"{where}: this layout carries normal/abnormal labels only; --task {task} needs a "
                               "label file (a CSV with a label column)")  # fmt: skip
        return BINARY, []
    values = class_order(v for r in spelled if (v := r.value.strip()))
    if task is None or task == "binary":
        return _binary(spelled, values, where, task, normal)
    return _classes(spelled, values, where, task, normal)


def _binary(records: list[Record], values: list[str], where: str, task: str | None, normal: str | None):
    # "0", "normal" and "negative" are one class: the values are counted by meaning
    if normal is None and all(parse_label(v) is not None for v in values):
        problems = [_unlabelled(r, "no label") for r in records if not r.value.strip()]
        for r in records:
            r.label = -1 if not r.value.strip() else parse_label(r.value)
        return BINARY, problems
    if task is None:
        raise XraySSLError(
            f"{where}: the label column holds {len(values)} values ({_listed(values)}), not normal/abnormal; "
            "pass --task multiclass, ordinal or multilabel (and --normal VALUE to name the normal class), "
            "or --task binary --normal VALUE for two classes"
        )
    if len(values) != 2 or normal is None:
        raise XraySSLError(
            f"{where}: --task binary needs two label values and --normal naming one of them; found {_listed(values)}"
        )
    normal_index = _normal_indices(values, normal, where)
    if len(normal_index) != 1:
        raise XraySSLError(f"{where}: --task binary needs exactly one --normal value of {_listed(values)}")
    ordered = [values[normal_index[0]], values[1 - normal_index[0]]]
    task_ = Task("binary", tuple(ordered), (0,))
    return task_, _assign(records, ordered)


def _normal_indices(classes: list[str], normal: str | None, where: str) -> tuple[int, ...]:
    if not normal:
        return ()
    names = [n.strip() for n in normal.split(",") if n.strip()]
    by_number = {_number(c): i for i, c in enumerate(classes) if _number(c) is not None}
    found = []
    for name in names:
        if name in classes:
            found.append(classes.index(name))
        elif _number(name) is not None and _number(name) in by_number:
            found.append(by_number[_number(name)])
        else:
            raise XraySSLError(f"{where}: --normal '{name}' is not a label value; values: {_listed(classes)}")
    return tuple(sorted(set(found)))


def _classes(records: list[Record], values: list[str], where: str, task: str, normal: str | None):
    problems: list[Problem] = []
    if task == "ordinal":  # grades are numbers; anything else in a grade column is a mistake in the file
        bad = {v for v in values if _number(v) is None}
        values = [v for v in values if v not in bad]
        problems += [
            _unlabelled(r, f"value '{r.value.strip()}' is not a grade (a number) in an ordinal label column")
            for r in records
            if r.value.strip() in bad
        ]
    if len(values) < 2:
        raise XraySSLError(f"{where}: a {task} task needs at least two label values; found {_listed(values)}")
    result = Task(task, tuple(values), _normal_indices(values, normal, where))  # type: ignore[arg-type]
    return result, problems + _assign(records, values)


def _assign(records: list[Record], classes: list[str]) -> list[Problem]:
    index = {c: i for i, c in enumerate(classes)}
    problems = []
    for r in records:
        text = r.value.strip()
        if not text:
            problems.append(_unlabelled(r, "no label"))
        r.label = index.get(text, -1)
    return problems


def _unlabelled(record: Record, why: str) -> Problem:
    return Problem(record.path, f"{why}; kept unlabelled (still used for pretraining)")


def _finding(text: str, uncertain: str) -> int | None:
    """1, 0 or -1 (missing) for one finding's value; None when it is not a value a finding can have."""
    t = text.strip().lower()
    if t == "":
        return -1
    if t in POSITIVE:
        return 1
    if t in NEGATIVE:
        return 0
    if t in ("-1", "-1.0", "uncertain"):
        return UNCERTAIN[uncertain]
    return None


def _multilabel(records: list[Record], where: str, uncertain: str) -> tuple[Task, list[Problem]]:
    if uncertain not in UNCERTAIN:
        raise XraySSLError(f"unknown --uncertain policy '{uncertain}'; valid: {', '.join(UNCERTAIN)}")
    with_findings = [r for r in records if r.findings is not None]
    if not with_findings:
        raise XraySSLError(f"{where}: --task multilabel needs one label column per finding (--label A,B,C)")
    names = list(with_findings[0].findings)
    problems = []
    for r in with_findings:
        coded = []
        for name in names:
            value = _finding(str(r.findings.get(name, "")), uncertain)
            if value is None:
                problems.append(Problem(r.path, f"finding '{name}': value '{r.findings[name]}' is not 1, 0, -1 "
                                                "or blank; counted as missing"))  # fmt: skip
                value = -1
            coded.append(value)
        r.encoded_findings = "|".join(map(str, coded))
        r.label = 1 if 1 in coded else 0 if all(v == 0 for v in coded) else -1
    return Task("multilabel", tuple(names), ()), problems
