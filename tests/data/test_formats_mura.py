"""MURA v1.1 layout: a moved root, CSVs with the original prefix, and the traps DATASETS.md lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_corrupt, write_png

from xrayssl.data.dataset import load_dataset
from xrayssl.data.formats import detect_format, read_dataset

# (split folder, part, patient, study, label, n views)
STUDIES = [
    ("train", "XR_SHOULDER", "patient00001", 1, 1, 2),
    ("train", "XR_SHOULDER", "patient00001", 2, 0, 1),
    ("train", "XR_SHOULDER", "patient00002", 1, 0, 3),
    ("train", "XR_WRIST", "patient00003", 1, 1, 1),
    ("train", "XR_WRIST", "patient00004", 1, 0, 2),
    ("train", "XR_WRIST", "patient00005", 1, 1, 1),
    ("valid", "XR_SHOULDER", "patient11185", 1, 1, 1),
    ("valid", "XR_WRIST", "patient11186", 1, 0, 2),
]


def build_mura(base: Path, images, with_csvs: bool = True) -> Path:
    root = base / "renamed_mura"  # the user moved and renamed MURA-v1.1: CSV paths must still resolve
    lines = {"train": [], "valid": []}
    studies = {"train": [], "valid": []}
    k = 0
    for split, part, patient, study, label, views in STUDIES:
        folder = f"{split}/{part}/{patient}/study{study}_{'positive' if label else 'negative'}"
        for v in range(1, views + 1):
            write_png(root / folder / f"image{v}.png", images[k % len(images)])
            k += 1
            lines[split].append(f"MURA-v1.1/{folder}/image{v}.png")
        studies[split].append(f"MURA-v1.1/{folder}/,{label}")
    if with_csvs:
        for split in ("train", "valid"):
            (root / f"{split}_image_paths.csv").write_text("\n".join(lines[split]) + "\n")
            (root / f"{split}_labeled_studies.csv").write_text("\n".join(studies[split]) + "\n")
    return root


def test_reads_layout_labels_patients_and_studies(tmp_path, radiographs):
    root = build_mura(tmp_path, radiographs)
    assert detect_format(root) == "mura"
    assert detect_format(tmp_path) == "mura"  # the parent of the MURA folder works too
    scan = read_dataset(root)
    m = scan.manifest
    assert len(m) == 13
    assert scan.problems == []
    assert set(m["body_part"]) == {"shoulder", "wrist"}
    assert m.groupby("split").size().to_dict() == {"train": 10, "test": 3}
    study = m[m["study_id"] == "XR_SHOULDER/patient00001/study1_positive"]
    assert len(study) == 2 and set(study["label"]) == {1} and set(study["patient_id"]) == {"patient00001"}
    assert m["study_id"].nunique() == 8
    assert int(m["label"].sum()) == 2 + 1 + 1 + 1  # positive studies' views


def test_works_without_csvs(tmp_path, radiographs):
    root = build_mura(tmp_path, radiographs, with_csvs=False)
    m = read_dataset(root, "mura").manifest
    assert len(m) == 13 and int(m["label"].sum()) == 5


def test_traps_are_reported_and_the_rest_loads(tmp_path, radiographs):
    root = build_mura(tmp_path, radiographs)
    study = root / "train/XR_WRIST/patient00004/study1_negative"
    (study / "._image1.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
    write_corrupt(study / "image3.png")
    (study / "notes.docx").write_bytes(b"PK")
    with open(root / "train_image_paths.csv", "a") as f:
        f.write("MURA-v1.1/train/XR_WRIST/patient00009/study1_positive/image1.png\n")
    # the studies CSV disagrees with the folder name: the CSV is MURA's ground truth
    text = (root / "train_labeled_studies.csv").read_text()
    (root / "train_labeled_studies.csv").write_text(
        text.replace("patient00005/study1_positive/,1", "patient00005/study1_positive/,0")
    )
    scan = read_dataset(root)
    problems = {Path(p.path).name: p.problem for p in scan.problems}
    assert "resource-fork" in problems["._image1.png"]
    assert "not an image" in problems["notes.docx"]
    assert "listed in train_image_paths.csv but not found" in problems["image1.png"]
    assert any("says 0, folder says 1" in p.problem for p in scan.problems)
    m = scan.manifest
    assert len(m) == 14  # the 13 images plus the corrupt one, which decoding reports later
    assert int(m[m["patient_id"] == "patient00005"]["label"].iat[0]) == 0


def test_valid_is_test_and_val_is_carved_by_patient(tmp_path, radiographs):
    root = build_mura(tmp_path, radiographs)
    m = load_dataset(root, split=None).manifest
    assert set(m["split"]) == {"train", "val", "test"}
    assert set(m[m["split"] == "test"]["patient_id"]) == {"patient11185", "patient11186"}
    assert (m.groupby("patient_id")["split"].nunique() == 1).all()


@pytest.mark.parametrize("part", ["shoulder", "XR_SHOULDER", "Shoulder"])
def test_body_part_selection(tmp_path, radiographs, part):
    m = load_dataset(build_mura(tmp_path, radiographs), body_parts=[part]).manifest
    assert set(m["body_part"]) == {"shoulder"} and len(m) == 7
