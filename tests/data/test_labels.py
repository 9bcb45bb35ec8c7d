"""Labels as they come: graded, multi-class and multi-finding CSV columns become the dataset's task."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import write_png

from xrayssl.data.cache import PreparedCache
from xrayssl.data.formats import ReadOptions, read_dataset
from xrayssl.data.prepare import prepare
from xrayssl.errors import XraySSLError


def test_knee_grades_are_refused_without_a_task_and_read_as_grades_with_one(knee_demo):
    with pytest.raises(XraySSLError, match=r"holds 4 values \('0', '2', '3', '4'\).*--task"):
        read_dataset(knee_demo, options=ReadOptions(label="kl_grade"))
    scan = read_dataset(knee_demo, options=ReadOptions(label="kl_grade", task="ordinal", normal="0"))
    assert scan.task.kind == "ordinal" and scan.task.classes == ("0", "2", "3", "4") and scan.task.normal == (0,)
    truth = pd.read_csv(knee_demo / "labels.csv")
    grades = dict(zip(truth["path"].map(lambda p: p.split("/")[-1]), truth["kl_grade"], strict=True))
    read = scan.manifest.assign(name=scan.manifest["path"].map(lambda p: p.split("/")[-1]))
    assert [scan.task.classes[i] for i in read["label"]] == [str(grades[n]) for n in read["name"]]
    assert scan.problems == []


def test_a_missing_label_column_lists_the_columns(knee_demo):
    with pytest.raises(XraySSLError, match=r"labels.csv: no label column 'grade'; columns found: path, split, label"):
        read_dataset(knee_demo, options=ReadOptions(label="grade"))


def test_normal_must_be_a_label_value(knee_demo):
    with pytest.raises(XraySSLError, match=r"--normal '1' is not a label value; values: '0', '2', '3', '4'"):
        read_dataset(knee_demo, options=ReadOptions(label="kl_grade", task="ordinal", normal="1"))


def _findings_csv(tmp_path, radiographs, rows):
    root = tmp_path / "ds"
    for i in range(len(rows)):
        write_png(root / f"{i}.png", radiographs[i % len(radiographs)])
    frame = pd.DataFrame(rows)
    frame.insert(0, "path", [f"{i}.png" for i in range(len(rows))])
    frame.to_csv(root / "labels.csv", index=False)
    return root / "labels.csv"


def test_one_column_per_finding_with_missing_and_uncertain_values(tmp_path, radiographs):
    rows = [
        {"effusion": "1", "nodule": "0"},
        {"effusion": "0", "nodule": "0"},
        {"effusion": "", "nodule": "-1"},
        {"effusion": "-1", "nodule": "1"},
    ]
    csv = _findings_csv(tmp_path, radiographs, rows)
    scan = read_dataset(csv, options=ReadOptions(label="effusion,nodule", task="multilabel"))
    assert scan.task.kind == "multilabel" and scan.task.classes == ("effusion", "nodule")
    assert list(scan.manifest["findings"]) == ["1|0", "0|0", "-1|-1", "-1|1"]
    assert list(scan.manifest["label"]) == [1, 0, -1, 1]  # any finding / none / unknown
    zero = read_dataset(csv, options=ReadOptions(label="effusion,nodule", task="multilabel", uncertain="one"))
    assert list(zero.manifest["findings"]) == ["1|0", "0|0", "-1|1", "1|1"]


def test_a_cache_records_its_task_and_gives_task_shaped_targets(tmp_path, radiographs):
    rows = [{"a": str(i % 2), "b": str((i // 2) % 2), "patient_id": f"p{i}"} for i in range(12)]
    csv = _findings_csv(tmp_path, radiographs, rows)
    out = tmp_path / "cache"
    prepare(csv, out, options=ReadOptions(label="a,b", task="multilabel"), progress=False)
    info = json.loads((out / "cache.json").read_text())
    assert info["task"] == {"kind": "multilabel", "classes": ["a", "b"], "normal": []}
    cache = PreparedCache(out)
    assert cache.task.classes == ("a", "b")
    names = cache.manifest["path"].map(lambda p: int(p.rsplit("/", 1)[1].split(".")[0]))
    want = np.array([[i % 2, (i // 2) % 2] for i in names])
    assert np.array_equal(cache.targets, want)
    assert np.array_equal(cache.task.abnormal(cache.targets), want.max(1))


def test_an_ordinal_cache_round_trips_and_a_non_grade_is_a_problem(tmp_path, radiographs):
    grades = ["0", "2", "3", "4", "0", "2", "x", "3", "4", "0", "2", "3"]
    rows = [{"label": g, "patient_id": f"p{i}"} for i, g in enumerate(grades)]
    csv = _findings_csv(tmp_path, radiographs, rows)
    out = tmp_path / "cache"
    result = prepare(csv, out, options=ReadOptions(task="ordinal", normal="0"), progress=False)
    assert any("value 'x' is not a grade" in p.problem for p in result.problems)
    cache = PreparedCache(out)
    assert cache.task.kind == "ordinal" and cache.task.classes == ("0", "2", "3", "4")
    assert sorted(cache.labels.tolist()) == sorted([-1, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3])
    assert set(cache.task.abnormal(cache.labels).tolist()) == {-1, 0, 1}
