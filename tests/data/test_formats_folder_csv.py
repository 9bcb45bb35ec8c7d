"""Class folders and CSV manifests, including odd image modes and broken entries."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import write_png
from PIL import Image

from xrayssl.data.formats import ReadOptions, detect_format, read_dataset
from xrayssl.data.imageio import ImageError, read_gray
from xrayssl.errors import XraySSLError


def test_class_folders_with_splits_and_body_parts(tmp_path, radiographs):
    root = tmp_path / "ds"
    for i, rel in enumerate(
        [
            "knee/train/normal/a.png",
            "knee/train/abnormal/b.png",
            "knee/test/Normal/c.png",
            "hip/train/positive/d.png",
            "hip/val/negative/e.png",
        ]
    ):
        write_png(root / rel, radiographs[i])
    (root / "knee" / "train" / "unsure").mkdir(parents=True)
    write_png(root / "knee" / "train" / "doubtful" / "f.png", radiographs[5])
    (root / "knee" / "readme.pdf").write_bytes(b"%PDF")
    assert detect_format(root) == "folder"
    scan = read_dataset(root)
    m = scan.manifest.set_index(scan.manifest["path"].map(lambda p: Path(p).name))
    assert m.loc["a.png", "label"] == 0 and m.loc["b.png", "label"] == 1 and m.loc["d.png", "label"] == 1
    assert m.loc["c.png", "split"] == "test" and m.loc["e.png", "split"] == "val"
    assert m.loc["d.png", "body_part"] == "hip"
    assert m.loc["f.png", "label"] == -1  # unknown class: kept, unlabelled, reported
    problems = {Path(p.path).name: p.problem for p in scan.problems}
    assert "kept unlabelled" in problems["doubtful"]
    assert problems["unsure"] == "empty folder"
    assert "not an image" in problems["readme.pdf"]
    assert "no patient ids" in problems["ds"]


def test_patient_regex_groups_views(tmp_path, radiographs):
    root = tmp_path / "ds"
    for i, name in enumerate(["900L.png", "900R.png", "901L.png"]):
        write_png(root / "normal" / name, radiographs[i])
    m = read_dataset(root, "folder", ReadOptions(patient_regex=r"^(\d+)[LR]$")).manifest
    assert sorted(m["patient_id"]) == ["900", "900", "901"]


def test_odd_modes_and_depths_become_8bit_gray(tmp_path):
    grad = np.tile(np.arange(64, dtype=np.uint16) * 1000, (32, 1))
    paths = {
        "rgba": tmp_path / "rgba.png",
        "palette": tmp_path / "palette.png",
        "gray16": tmp_path / "g16.png",
        "rgb_jpg": tmp_path / "rgb.jpg",
    }
    rgba = np.zeros((32, 64, 4), np.uint8)
    rgba[..., :3] = (grad // 256).astype(np.uint8)[..., None]
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(paths["rgba"])
    Image.fromarray((grad // 256).astype(np.uint8)).convert("P").save(paths["palette"])
    assert cv2.imwrite(str(paths["gray16"]), grad)
    Image.fromarray(np.repeat((grad // 256).astype(np.uint8)[..., None], 3, axis=2)).save(paths["rgb_jpg"])
    for name, path in paths.items():
        g = read_gray(path)
        assert g.dtype == np.uint8 and g.shape == (32, 64), name
        assert g[0, -1] > g[0, 0] + 150, name  # the gradient survives
    g16 = read_gray(paths["gray16"])
    assert g16[0, 0] == 0 and g16[0, -1] == 255  # 16-bit is stretched to the full 8-bit range


def test_broken_files_raise_image_error(tmp_path, radiographs):
    good = write_png(tmp_path / "good.png", radiographs[0])
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    for name, reason in [
        ("truncated.png", "truncated"),
        ("empty.png", "empty"),
        ("text.png", "not a decodable"),
        ("missing.png", "not found"),
    ]:
        try:
            read_gray(tmp_path / name)
        except ImageError as exc:
            assert reason in str(exc), (name, exc)
        else:
            raise AssertionError(f"{name} decoded")


def test_csv_manifest_resolves_paths_and_reports_missing(tmp_path, radiographs):
    root = tmp_path / "csvds"
    for i in range(4):
        write_png(root / "img" / f"{i}.png", radiographs[i])
    pd.DataFrame(
        {
            "path": ["img/0.png", "img/1.png", "img/2.png", "img/3.png", "img/missing.png"],
            "label": ["normal", "abnormal", "1", "", "0"],
            "patient_id": ["p1", "p1", "p2", "p3", "p4"],
            "split": ["train", "train", "test", "holdout", "train"],
            "kl_grade": [0, 3, 2, 1, 0],
        }
    ).to_csv(root / "labels.csv", index=False)
    assert detect_format(root) == "csv"
    scan = read_dataset(root / "labels.csv")
    m = scan.manifest
    assert list(m["label"]) == [0, 1, 1, -1]
    assert list(m["split"]) == ["train", "train", "test", ""]
    assert '"kl_grade": "3"' in m["meta"].iat[1]
    text = " | ".join(f"{Path(p.path).name}: {p.problem}" for p in scan.problems)
    assert "missing.png: named in labels.csv line 6 but not found" in text
    assert "3.png: no label; kept unlabelled" in text and "unknown split 'holdout'" in text


def test_a_label_that_is_not_normal_or_abnormal_is_refused_with_the_values(tmp_path, radiographs):
    """A third value is never read as normal/abnormal nor dropped quietly: the column is refused, naming --task."""
    root = tmp_path / "csvds"
    for i in range(3):
        write_png(root / "img" / f"{i}.png", radiographs[i])
    paths = [f"img/{i}.png" for i in range(3)]
    pd.DataFrame({"path": paths, "label": ["normal", "abnormal", "maybe"]}).to_csv(root / "labels.csv", index=False)
    with pytest.raises(XraySSLError, match=r"holds 3 values \('abnormal', 'maybe', 'normal'\).*--task"):
        read_dataset(root / "labels.csv")


def test_real_knee_demo_csv(knee_demo):
    scan = read_dataset(knee_demo)
    m = scan.manifest
    assert scan.format == "csv" and scan.problems == []
    assert len(m) == 240
    assert m.groupby(["split", "label"]).size().to_dict() == {
        ("test", 0): 40,
        ("test", 1): 40,
        ("train", 0): 80,
        ("train", 1): 80,
    }
    assert m["patient_id"].nunique() < 240  # both knees of some patients are present
    assert '"kl_grade"' in m["meta"].iat[0]
