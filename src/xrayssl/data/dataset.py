"""Read a dataset and make it ready to prepare: manifest, patient-level splits, body-part selection."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xrayssl.data.formats import ReadOptions, ScanResult, read_dataset
from xrayssl.data.splits import SplitConfig, assign_splits, check_patient_disjoint, part_key, select_body_parts
from xrayssl.errors import XraySSLError


def load_dataset(
    root: str | Path,
    fmt: str = "auto",
    *,
    split: SplitConfig | None = None,
    body_parts: list[str] | None = None,
    options: ReadOptions | None = None,
) -> ScanResult:
    """Splits are made on the whole dataset before selecting body parts, so a patient's split never
    depends on which parts were asked for."""
    scan = read_dataset(root, fmt, options)
    manifest, problems = assign_splits(scan.manifest, split)
    check_patient_disjoint(manifest)
    check_body_parts(scan.root, manifest, body_parts)
    selected = select_body_parts(manifest, body_parts)
    return ScanResult(scan.root, scan.format, selected, scan.problems + problems, scan.task)


def check_body_parts(root: Path, manifest: pd.DataFrame, body_parts: list[str] | None) -> None:
    """Every body part asked for must be in the dataset: a mistyped one is an error, not a smaller cache."""
    if not body_parts:
        return
    found = set(manifest["body_part"].map(part_key))
    missing = [p for p in body_parts if part_key(p) not in found]
    if missing:
        valid = ", ".join(sorted(set(manifest["body_part"]) - {""})) or "none named"
        raise XraySSLError(f"{root}: no images of body part(s) {', '.join(missing)}; valid body parts: {valid}")
