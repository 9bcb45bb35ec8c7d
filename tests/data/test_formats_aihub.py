"""AI Hub synthetic X-ray layout: label JSONs beside source images, Korean names in NFC or NFD."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from conftest import write_png

from xrayssl.data.formats import detect_format, read_dataset

SRC, LAB = "01.원천데이터", "02.라벨링데이터"


def label_json(path: Path, filename: str, label: str, **extra) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {"filepath": "D:/labelling/machine/Foot_Abnormal", "filename": filename, "label": label, **extra}
    path.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")


def build_aihub(base: Path, images, nfd: bool = False) -> Path:
    norm = (lambda s: unicodedata.normalize("NFD", s)) if nfd else (lambda s: s)
    root = base / "aihub"
    k = 0
    for split in ("Train", "Validation"):
        for cls, label in (("Foot_Normal", "Normal"), ("Foot_Abnormal", "Flat_Foot"), ("ChestPA_Abnormal", "Nodule")):
            n = 2 if split == "Train" else 1
            for i in range(n):
                name = f"{cls}_{split}_{i:08d}"
                write_png(root / split / norm(SRC) / cls / f"{name}.png", images[k % len(images)])
                label_json(root / split / norm(LAB) / cls / f"{name}.json", f"{name}.png", label, age="40s")
                k += 1
    return root


def test_reads_pairs_labels_and_splits(tmp_path, radiographs):
    root = build_aihub(tmp_path, radiographs)
    assert detect_format(root) == "aihub"
    scan = read_dataset(root)
    m = scan.manifest
    assert scan.problems == []
    assert len(m) == 9
    assert m.groupby("split").size().to_dict() == {"train": 6, "test": 3}
    assert set(m["body_part"]) == {"foot", "chestpa"}
    assert m.groupby("label").size().to_dict() == {0: 3, 1: 6}
    meta = json.loads(m[m["path"].str.contains("Foot_Abnormal_Train_00000000")]["meta"].iat[0])
    assert meta["finding"] == "Flat_Foot" and meta["age"] == "40s"  # unknown keys are kept as metadata


def test_nfd_names_and_zip_style_folders(tmp_path, radiographs):
    root = build_aihub(tmp_path, radiographs, nfd=True)
    # zip-derived names: TS_ (training source) / TL_ (training labels), no numeric prefix
    write_png(root / "Train" / "원천데이터" / "TS_Foot_Normal" / "extra.png", radiographs[0])
    label_json(root / "Train" / "라벨링데이터" / "TL_Foot_Normal" / "extra.json", "extra.png", "Normal")
    scan = read_dataset(root, "aihub")
    assert scan.problems == []
    assert len(scan.manifest) == 10


def test_orphans_are_reported_not_fatal(tmp_path, radiographs):
    root = build_aihub(tmp_path, radiographs)
    write_png(root / "Train" / SRC / "Foot_Normal" / "no_label.png", radiographs[1])
    label_json(root / "Train" / LAB / "Foot_Abnormal" / "ghost.json", "ghost.png", "Flat_Foot")
    (root / "Train" / LAB / "Foot_Abnormal" / "broken.json").write_text("{not json")
    label_json(
        root / "Train" / LAB / "Foot_Normal" / "Foot_Normal_Train_00000001.json",
        "Foot_Normal_Train_00000001.png",
        "Hallux_Valgus",
    )  # disagrees with its folder
    scan = read_dataset(root)
    problems = {Path(p.path).name: p.problem for p in scan.problems}
    assert "image without label file" in problems["no_label.png"]
    assert "label without image" in problems["ghost.json"]
    assert "unreadable label file" in problems["broken.json"]
    assert "disagrees with folder" in problems["Foot_Normal_Train_00000001.json"]
    m = scan.manifest
    assert len(m) == 10  # the unlabelled image is kept with its folder's label
    assert int(m[m["path"].str.endswith("no_label.png")]["label"].iat[0]) == 0
    assert int(m[m["path"].str.endswith("Foot_Normal_Train_00000001.png")]["label"].iat[0]) == 1
