"""A CSV manifest: one row per image with a path and a label, optional patient/study/body part/split.

Recognised column names (first match wins): path | filepath | file | image | image_path | filename;
label_int | label | target | class; patient_id | patient | subject_id; study_id | study;
body_part | bodypart | part; split. Other columns are kept as metadata. Relative paths are resolved
against the CSV's folder; a path outside that folder (absolute, ``..`` or through a link) is reported
and skipped unless ``ReadOptions.allow_outside_root`` (``--allow-outside-root``) is set.

Rows naming the same file (after resolving the path) are reported: with the same label they are kept
once (the first row; the report names any other column that differs), with different labels the file
is dropped, since either label may be the wrong one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from xrayssl.data.formats import ReadOptions, register
from xrayssl.data.formats._walk import outside_root, split_of
from xrayssl.data.imageio import is_regular_file
from xrayssl.data.manifest import Problem, Record
from xrayssl.errors import XraySSLError

ALIASES = {
    "path": ["path", "filepath", "file_path", "file", "image", "image_path", "filename"],
    "label": ["label_int", "label", "target", "class", "y"],
    "patient_id": ["patient_id", "patient", "patientid", "subject_id", "subject"],
    "study_id": ["study_id", "study", "studyid"],
    "body_part": ["body_part", "bodypart", "part"],
    "split": ["split", "subset"],
}


def _columns(df: pd.DataFrame) -> dict[str, str]:
    lower = {c.strip().lower(): c for c in df.columns}
    found = {}
    for key, names in ALIASES.items():
        for name in names:
            if name in lower:
                found[key] = lower[name]
                break
    return found


def find_csv(root: Path) -> Path | None:
    """The CSV itself, or the one CSV in a folder that has a path-like column."""
    if root.is_file():
        return root if root.suffix.lower() in (".csv", ".tsv") else None
    for csv in sorted(root.glob("*.csv")):
        try:
            head = pd.read_csv(csv, nrows=2)
        except UnicodeDecodeError as exc:
            raise XraySSLError(_not_utf8(csv, exc)) from None
        except Exception:
            continue
        if "path" in _columns(head):
            return csv
    return None


def _not_utf8(csv: Path, exc: UnicodeDecodeError) -> str:
    return (
        f"{csv}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
        "save it as UTF-8 (e.g. from latin-1: iconv -f latin1 -t utf-8)"
    )


def _detect(root: Path) -> bool:
    return find_csv(root) is not None


@register("csv", detect=_detect, priority=40, description="CSV manifest with path,label[,patient_id,...]")
def read(root: Path, options: ReadOptions) -> tuple[list[Record], list[Problem]]:
    csv = find_csv(root)
    if csv is None:
        raise XraySSLError(f"{root}: no CSV manifest with a path column found")
    try:
        df = pd.read_csv(csv, sep="\t" if csv.suffix.lower() == ".tsv" else ",", dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise XraySSLError(_not_utf8(csv, exc)) from None
    except Exception as exc:
        raise XraySSLError(f"{csv}: cannot read CSV: {exc}") from exc
    cols = _columns(df)
    if "path" not in cols:
        raise XraySSLError(f"{csv}: no path column (expected one of {ALIASES['path']})")
    findings = _label_columns(df, cols, options, csv)
    # a text label next to label_int is kept as metadata (it is the same information, spelled out)
    meta_cols = [c for c in df.columns if c not in cols.values() and c not in findings]
    records: list[tuple[int, Record]] = []
    problems: list[Problem] = []
    for i, row in enumerate(df.to_dict("records"), start=2):  # row 1 is the header
        path = _row_path(row, cols, csv, f"{csv.name} line {i}", options, problems)
        if path is not None:
            records.append((i, _row_record(row, cols, findings, meta_cols, path, f"{csv.name} line {i}", problems)))
    return one_row_per_file(records, csv.name, problems), problems


def _label_columns(df: pd.DataFrame, cols: dict[str, str], options: ReadOptions, csv: Path) -> list[str]:
    """Choose the label column(s): ``--label`` names them (several: one per finding), or the first alias found.
    Returns the finding columns (empty for a single label column, which goes in ``cols["label"]``)."""
    found = ", ".join(map(str, df.columns))
    if options.label is None:
        if "label" not in cols:
            raise XraySSLError(f"{csv}: no label column (expected one of {ALIASES['label']} or --label); "
                               f"columns found: {found}")  # fmt: skip
        return []
    lower = {str(c).strip().lower(): c for c in df.columns}
    names = [n.strip() for n in options.label.split(",") if n.strip()]
    missing = [n for n in names if n.lower() not in lower]
    if missing:
        raise XraySSLError(f"{csv}: no label column '{missing[0]}'; columns found: {found}")
    chosen = [lower[n.lower()] for n in names]
    if len(chosen) > 1 or options.task == "multilabel":
        cols.pop("label", None)
        return chosen
    cols["label"] = chosen[0]
    return []


def _row_path(
    row: dict, cols: dict[str, str], csv: Path, where: str, options: ReadOptions, problems: list[Problem]
) -> Path | None:
    """The image a row names, if it is a regular file inside the CSV's folder (or outside, when allowed)."""
    raw = str(row[cols["path"]]).strip()
    if not raw:
        problems.append(Problem(str(csv), f"{where}: empty path, row skipped"))
        return None
    base = csv.parent
    path = Path(raw) if Path(raw).is_absolute() else base / raw
    if outside_root(path, base) and not options.allow_outside_root:
        text = f"named in {where} but outside the dataset folder {base}, row skipped (--allow-outside-root reads it)"
        problems.append(Problem(str(path), text))
        return None
    if not is_regular_file(path):
        state = "not a regular file" if path.exists() else "not found"
        problems.append(Problem(str(path), f"named in {where} but {state}, row skipped"))
        return None
    return path


def _row_record(
    row: dict,
    cols: dict[str, str],
    findings: list[str],
    meta_cols: list[str],
    path: Path,
    where: str,
    problems: list[Problem],
) -> Record:
    split = ""
    if "split" in cols and str(row[cols["split"]]).strip():
        split = split_of(str(row[cols["split"]])) or ""
        if not split:
            problems.append(Problem(str(path), f"{where}: unknown split '{row[cols['split']]}', will be re-split"))
    return Record(
        path=str(path),
        label=-1,  # set for the whole dataset at once by data/labels.py, from the value as spelled
        value=None if findings else str(row[cols["label"]]),
        findings={c: str(row[c]) for c in findings} if findings else None,
        body_part=str(row.get(cols.get("body_part", ""), "")),
        patient_id=str(row.get(cols.get("patient_id", ""), "")),
        study_id=str(row.get(cols.get("study_id", ""), "")),
        split=split,
        meta={c: row[c] for c in meta_cols if str(row[c]) != ""},
    )


COMPARED = ("body_part", "patient_id", "study_id", "split", "meta")  # the fields a repeated row may differ in


def one_row_per_file(rows: list[tuple[int, Record]], name: str, problems: list[Problem]) -> list[Record]:
    """Apply the duplicate rule of the module docstring to (line, record) pairs; report what it did."""
    by_file: dict[str, list[tuple[int, Record]]] = {}
    for line, record in rows:
        # by real path: a symlink or a second spelling of the same file is the same file
        by_file.setdefault(os.path.realpath(record.path), []).append((line, record))
    kept = []
    for group in by_file.values():
        first_line, first = group[0]
        if len({r.label_key for _, r in group}) > 1:
            labels = ", ".join(f"line {line}: {r.label_text()}" for line, r in group)
            problems.append(Problem(first.path, f"{name} labels this file two ways ({labels}); all its rows dropped"))
            continue
        kept.append(first)
        for line, other in group[1:]:
            differ = [f for f in COMPARED if getattr(other, f) != getattr(first, f)]
            detail = f" with a different {', '.join(differ)}" if differ else ""
            text = f"{name} line {line} repeats line {first_line}{detail}; kept once, as line {first_line}"
            problems.append(Problem(first.path, text))
    return kept
