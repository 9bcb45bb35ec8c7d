"""A split that cannot give an answer is a problem of the dataset: inspect and prepare report a split with one
class, or with too few patients for an interval, instead of '0 problem(s)'."""

from __future__ import annotations

import pandas as pd
from conftest import write_png

from xrayssl.data.inspect import inspect_dataset
from xrayssl.data.summary import MIN_SPLIT_PATIENTS, format_summary


def _six_rows(root, radiographs):
    """The issue's CSV: four training images, and val and test holding one abnormal image each."""
    for i in range(6):
        write_png(root / "img" / f"{i}.png", radiographs[i])
    pd.DataFrame(
        {
            "path": [f"img/{i}.png" for i in range(6)],
            "label": ["normal", "abnormal", "normal", "abnormal", "abnormal", "abnormal"],
            "patient_id": [f"p{i}" for i in range(6)],
            "split": ["train", "train", "train", "train", "val", "test"],
        }
    ).to_csv(root / "labels.csv", index=False)
    return root / "labels.csv"


def test_a_single_class_split_is_reported_as_a_problem(tmp_path, radiographs):
    summary = inspect_dataset(_six_rows(tmp_path / "ds", radiographs), verify=False, progress=False)
    problems = {(p["path"], p["problem"].split(":")[0]) for p in summary["problems"]}
    assert ("split val", "holds one class only (1 abnormal image(s))") in problems
    assert ("split test", "holds one class only (1 abnormal image(s))") in problems
    assert not any(p["path"] == "split train" and "one class" in p["problem"] for p in summary["problems"])
    few = [p for p in summary["problems"] if "too few for a patient-bootstrap interval" in p["problem"]]
    assert {p["path"] for p in few} == {"split val", "split test"} and MIN_SPLIT_PATIENTS > 1
    text = format_summary(summary)
    assert "4 problem(s):" in text and "split val: holds one class only" in text


def test_prepare_reports_the_single_class_split(tmp_path, radiographs, capsys):
    from xrayssl.cli.main import main

    csv = _six_rows(tmp_path / "ds", radiographs)
    assert main(["data", "prepare", str(csv), "--out", str(tmp_path / "c"), "--size", "32", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "4 problem(s)" in captured.out and "0 problem(s)" not in captured.out
    assert "split val: holds one class only" in captured.err and "split test: holds one class only" in captured.err


def test_inspect_says_which_csv_it_picked(tmp_path, radiographs):
    csv = _six_rows(tmp_path / "ds", radiographs)
    (tmp_path / "ds" / "notes.csv").write_text("comment,author\nfine,me\n")  # no path column: not a manifest
    summary = inspect_dataset(tmp_path / "ds", verify=False, progress=False)
    assert summary["csv"] == str(csv.resolve())
    assert format_summary(summary).splitlines()[0].endswith(f"(format: csv, read from {csv.resolve()})")
