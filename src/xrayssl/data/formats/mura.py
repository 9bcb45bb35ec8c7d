"""MURA v1.1 (Stanford): ``<root>/{train,valid}/XR_<PART>/patient<N>/study<K>_<positive|negative>/image<M>.png``.

Labels are per study; ``<split>_labeled_studies.csv`` is authoritative when present, the folder suffix
otherwise. Paths inside the CSVs start with ``MURA-v1.1/`` and are resolved against the folder that holds
the CSVs, so a moved or renamed root still works. ``valid`` is MURA's public test set.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from xrayssl.data.formats import ReadOptions, register
from xrayssl.data.formats._walk import image_files
from xrayssl.data.manifest import Problem, Record

SPLITS = {"train": "train", "valid": "test"}
STUDY = re.compile(r"^study(\d+)_(positive|negative)$")


def find_root(root: Path) -> Path | None:
    if not root.is_dir():
        return None
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    for c in candidates:
        if any((c / f"{s}_image_paths.csv").is_file() for s in SPLITS):
            return c
        if any(next((c / s).glob("XR_*"), None) is not None for s in SPLITS if (c / s).is_dir()):
            return c
    return None


def _key(csv_path: str) -> str | None:
    """'MURA-v1.1/train/XR_X/patient1/study1_positive/image1.png' -> 'train/XR_X/patient1/...' ."""
    parts = [p for p in csv_path.strip().replace("\\", "/").split("/") if p]
    for i, p in enumerate(parts):
        if p in SPLITS:
            return "/".join(parts[i:])
    return None


def _read_csv(path: Path, problems: list[Problem]) -> list[list[str]]:
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return [row for row in csv.reader(f) if row]
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), f"cannot read: {exc}"))
        return []


@register("mura", detect=lambda root: find_root(root) is not None, priority=10, description="MURA v1.1")
def read(root: Path, options: ReadOptions) -> tuple[list[Record], list[Problem]]:
    root = find_root(root) or root
    problems: list[Problem] = []
    records: list[Record] = []
    for folder, split in SPLITS.items():
        study_labels: dict[str, int] = {}
        studies_csv = root / f"{folder}_labeled_studies.csv"
        for row in _read_csv(studies_csv, problems):
            key = _key(row[0])
            if key is None or len(row) < 2 or row[1].strip() not in ("0", "1"):
                problems.append(Problem(str(studies_csv), f"unreadable line {row!r}, skipped"))
                continue
            study_labels[key.rstrip("/")] = int(row[1])
        images_csv = root / f"{folder}_image_paths.csv"
        listed = {k for row in _read_csv(images_csv, problems) if (k := _key(row[0]))}
        on_disk: set[str] = set()
        if (root / folder).is_dir():
            for path in image_files(root / folder, problems):
                rel = path.relative_to(root).as_posix()
                parts = rel.split("/")
                m = STUDY.match(parts[3]) if len(parts) == 5 else None
                if not (m and parts[1].startswith("XR_") and parts[2].startswith("patient")):
                    problems.append(
                        Problem(str(path), "not in the MURA layout XR_<PART>/patient<N>/study<K>_<label>/, skipped")
                    )
                    continue
                on_disk.add(rel)
                study_key = "/".join(parts[:4])
                label = 1 if m.group(2) == "positive" else 0
                if study_key in study_labels and study_labels[study_key] != label:
                    problems.append(
                        Problem(
                            str(path),
                            f"{studies_csv.name} says {study_labels[study_key]}, folder says "
                            f"{label}; using {studies_csv.name}",
                        )
                    )
                    label = study_labels[study_key]
                if listed and rel not in listed:
                    problems.append(Problem(str(path), f"on disk but not listed in {images_csv.name}; kept"))
                records.append(
                    Record(
                        path=str(path),
                        label=label,
                        body_part=parts[1][3:],
                        patient_id=parts[2],
                        study_id="/".join(parts[1:4]),
                        split=split,
                        meta={"view": Path(parts[4]).stem},
                    )
                )
        for rel in sorted(listed - on_disk):
            problems.append(Problem(str(root / rel), f"listed in {images_csv.name} but not found"))
    return records, problems
