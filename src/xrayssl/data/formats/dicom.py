"""DICOM files (``.dcm`` or files with the DICM preamble) in any folder tree.

Patient, study and body part come from the DICOM header (PatientID, StudyInstanceUID, BodyPartExamined);
label and split come from folder names as in the ``folder`` format; without class folders images are
unlabelled. Pixels are decoded in ``imageio`` (modality LUT, window, MONOCHROME1 inversion).
"""

from __future__ import annotations

from pathlib import Path

from xrayssl.data.formats import ReadOptions, register
from xrayssl.data.formats._walk import image_files
from xrayssl.data.formats.folder import read_tree
from xrayssl.data.imageio import is_dicom_file
from xrayssl.data.manifest import Problem, Record


def _detect(root: Path) -> bool:
    if root.is_file():
        return is_dicom_file(root)
    files = []
    for path in image_files(root, []):
        files.append(path)
        if len(files) >= 50:
            break
    return bool(files) and sum(is_dicom_file(p) for p in files) > len(files) / 2


@register("dicom", detect=_detect, priority=60, description="DICOM files (.dcm), ids from the header")
def read(root: Path, options: ReadOptions) -> tuple[list[Record], list[Problem]]:
    import pydicom

    problems: list[Problem] = []
    base = root.parent if root.is_file() else root
    records: list[Record] = read_tree(base, options, problems, dicom_only=True)
    if root.is_file():
        records = [r for r in records if r.path == str(root)]
    kept: list[Record] = []
    for r in records:
        try:
            ds = pydicom.dcmread(r.path, stop_before_pixels=True)
        except Exception as exc:
            problems.append(Problem(r.path, f"unreadable DICOM header ({exc}), skipped"))
            continue
        r.patient_id = str(getattr(ds, "PatientID", "") or "")
        r.study_id = str(getattr(ds, "StudyInstanceUID", "") or "")
        r.body_part = str(getattr(ds, "BodyPartExamined", "") or r.body_part)
        r.meta.update({k: str(getattr(ds, k)) for k in ("Modality", "ViewPosition", "SeriesDescription") if k in ds})
        if not r.patient_id:
            problems.append(Problem(r.path, "DICOM without PatientID: treated as its own patient"))
        kept.append(r)
    return kept, problems
