"""Plain class folders: ``<root>/[<body_part>/][<split>/]<class>/<image>``.

Class folders named normal/negative/0 are normal, abnormal/positive/1 abnormal; a folder with any other
name keeps its images as unlabelled (usable for pretraining) and is reported once. Split folders
(train/val/valid/test...) keep the dataset's split. A single other folder level is taken as the body part.

With ``--task multiclass`` or ``ordinal`` (or ``--task binary --normal NAME``) every class folder is a class,
whatever its name: the deepest folder that is not a split folder (ordinal: folder names are grades, numbers).
``data/labels.py`` then orders the classes as it does a CSV's label values.
"""

from __future__ import annotations

from pathlib import Path

from xrayssl.data.formats import ReadOptions, register
from xrayssl.data.formats._walk import (
    classify_parts,
    image_files,
    nfc,
    patient_from_stem,
    report_empty_folders,
    split_of,
)
from xrayssl.data.manifest import Problem, Record


def _detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    for _path in image_files(root, []):
        return True
    return False


def read_tree(root: Path, options: ReadOptions, problems: list[Problem], dicom_only: bool = False) -> list[Record]:
    """Records for every image below root, labelled and split by folder names."""
    records: list[Record] = []
    unrecognised: dict[str, int] = {}
    any_name = options.task in ("multiclass", "ordinal") or (options.task == "binary" and bool(options.normal))
    for path in image_files(root, problems, dicom_only=dicom_only):
        parts = list(path.relative_to(root).parts[:-1])
        if any_name:
            records.append(_named_class_record(path, parts, options))
            continue
        split, label, rest = classify_parts(parts)
        if label is None:
            folder = str(path.parent)
            unrecognised[folder] = unrecognised.get(folder, 0) + 1
        body_part = rest[0] if len(rest) == 1 else ""
        records.append(
            Record(
                path=str(path),
                label=-1 if label is None else label,
                body_part=body_part,
                patient_id=patient_from_stem(path.stem, options.patient_regex),
                split=split or "",
                meta={"class_folder": parts[-1]} if parts else {},
            )
        )
    for folder, n in unrecognised.items():
        problems.append(
            Problem(folder, f"folder name is not a known class (normal/abnormal); its {n} images kept unlabelled")
        )
    report_empty_folders(root, problems)
    return records


def _named_class_record(path: Path, parts: list[str], options: ReadOptions) -> Record:
    """An image whose deepest non-split folder names its class, as spelled (``Record.value``)."""
    split = next((s for p in parts if (s := split_of(p))), None)
    others = [p for p in parts if split_of(p) is None]
    value = nfc(others[-1]) if others else ""  # no class folder: unlabelled (data/labels.py reports it)
    rest = others[:-1]
    return Record(
        path=str(path),
        label=-1,
        value=value,
        body_part=rest[0] if len(rest) == 1 else "",
        patient_id=patient_from_stem(path.stem, options.patient_regex),
        split=split or "",
        meta={"class_folder": parts[-1]} if parts else {},
    )


@register("folder", detect=_detect, priority=90, description="class folders <root>/[split/]<class>/*.png")
def read(root: Path, options: ReadOptions) -> tuple[list[Record], list[Problem]]:
    problems: list[Problem] = []
    records = read_tree(root, options, problems)
    if records and not options.patient_regex:
        problems.append(
            Problem(
                str(root),
                "no patient ids in a folder layout: each image is its own patient, so two views of one patient "
                "may land in different splits; use a CSV manifest with patient_id or --patient-regex",
            )
        )
    return records, problems
