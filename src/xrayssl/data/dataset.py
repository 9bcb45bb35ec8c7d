"""Read a dataset and make it ready to prepare: manifest, patient-level splits, body-part selection."""

from __future__ import annotations

from pathlib import Path

from xrayssl.data.formats import ReadOptions, ScanResult, read_dataset
from xrayssl.data.splits import SplitConfig, assign_splits, check_patient_disjoint, select_body_parts
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
    selected = select_body_parts(manifest, body_parts)
    if selected.empty:
        found = sorted(set(manifest["body_part"]) - {""})
        raise XraySSLError(f"{scan.root}: no images of body part(s) {body_parts}; found: {found or 'none named'}")
    return ScanResult(scan.root, scan.format, selected, scan.problems + problems)
