"""Labels as they come, per reader: NIH finding lists, class folders of any name, MedMNIST of every task type,
and what is built on the task: stratified splits, per-class and per-finding counts, task-aware selection."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import write_png

from xrayssl.data.cache import PreparedCache
from xrayssl.data.formats import ReadOptions, read_dataset
from xrayssl.data.formats.medmnist import MEDMNIST
from xrayssl.data.inspect import inspect_dataset
from xrayssl.data.prepare import prepare
from xrayssl.data.sample import label_names
from xrayssl.data.selection import labelled_splits, patient_fraction
from xrayssl.data.splits import SplitConfig, assign_splits
from xrayssl.data.summary import format_summary
from xrayssl.errors import XraySSLError
from xrayssl.tasks import BINARY, Task


def _csv(tmp_path, radiographs, columns: dict[str, list[str]]):
    n = len(next(iter(columns.values())))
    root = tmp_path / "ds"
    for i in range(n):
        write_png(root / f"{i}.png", radiographs[i % len(radiographs)])
    pd.DataFrame({"path": [f"{i}.png" for i in range(n)], **columns}).to_csv(root / "labels.csv", index=False)
    return root / "labels.csv"


def _by_name(scan, column):
    return [v for _, v in sorted(zip(scan.manifest["path"].map(lambda p: int(p.split("/")[-1][:-4])),
                                     scan.manifest[column], strict=True))]  # fmt: skip


# --- readers -------------------------------------------------------------------------------------------------


def test_nih_finding_lists_in_one_column(tmp_path, radiographs):
    """NIH ChestX-ray14's 'Finding Labels': the findings are the distinct names, 'No Finding' is all 0."""
    labels = ["Effusion|Mass", "No Finding", "Mass", "", "Cardiomegaly|Effusion"]
    csv = _csv(tmp_path, radiographs, {"Finding Labels": labels, "Patient ID": ["1", "1", "3", "4", "5"]})
    frame = pd.read_csv(csv).rename(columns={"path": "Image Index"})  # NIH's own column names
    frame.to_csv(csv, index=False)
    scan = read_dataset(csv, options=ReadOptions(label="Finding Labels", task="multilabel"))
    assert _by_name(scan, "patient_id") == ["1", "1", "3", "4", "5"]
    assert scan.task == Task("multilabel", ("Cardiomegaly", "Effusion", "Mass"), ())
    assert _by_name(scan, "findings") == ["0|1|1", "0|0|0", "0|0|1", "-1|-1|-1", "1|1|0"]
    assert _by_name(scan, "label") == [1, 0, 1, -1, 1]
    assert [p.problem for p in scan.problems] == ["'Finding Labels' is blank; every finding counted as missing"]


def test_a_finding_spelled_two_ways_is_one_and_no_finding_with_findings_is_said(tmp_path, radiographs):
    csv = _csv(tmp_path, radiographs, {"findings": ["Mass|effusion", "Effusion", "No Finding|Mass", "Mass|Mass"]})
    scan = read_dataset(csv, options=ReadOptions(label="findings", task="multilabel"))
    assert scan.task.classes == ("effusion", "Mass")
    assert _by_name(scan, "findings") == ["1|1", "1|0", "0|1", "0|1"]
    said = sorted(p.problem for p in scan.problems)
    assert said == ["'findings' lists findings and no finding at once; the findings kept",
                    "finding spelled 2 ways ('effusion', 'Effusion'); read as one, 'effusion'"]  # fmt: skip


def test_one_finding_column_of_zeros_and_ones_stays_one_finding(tmp_path, radiographs):
    csv = _csv(tmp_path, radiographs, {"effusion": ["1", "0", "", "0"]})
    scan = read_dataset(csv, options=ReadOptions(label="effusion", task="multilabel"))
    assert scan.task.classes == ("effusion",) and _by_name(scan, "findings") == ["1", "0", "-1", "0"]


def test_knee_csv_reads_as_binary_by_default(knee_demo):
    """labels.csv has label, label_int and kl_grade: without --label the binary label_int is the label."""
    scan = read_dataset(knee_demo)
    assert scan.task == BINARY and scan.task_note == ""
    truth = pd.read_csv(knee_demo / "labels.csv")
    want = dict(zip(truth["path"].map(lambda p: p.split("/")[-1]), truth["label_int"], strict=True))
    assert [want[p.split("/")[-1]] for p in scan.manifest["path"]] == scan.manifest["label"].tolist()


def _class_tree(root, radiographs, names, per=2):
    i = 0
    for split in ("train", "test"):
        for name in names:
            for _ in range(per):
                write_png(root / split / name / f"{name}_{i}.png", radiographs[i % len(radiographs)])
                i += 1
    return root


def test_class_folders_of_any_name_with_a_task(tmp_path, radiographs):
    root = _class_tree(tmp_path / "organs", radiographs, ["liver", "Heart", "spleen"])
    plain = read_dataset(root)  # binary default unchanged: unknown folder names are unlabelled, said once each
    assert plain.task == BINARY and set(plain.manifest["label"]) == {-1}
    assert sum("not a known class" in p.problem for p in plain.problems) == 6
    scan = read_dataset(root, options=ReadOptions(task="multiclass", normal="liver"))
    assert scan.task == Task("multiclass", ("Heart", "liver", "spleen"), (1,))
    m = scan.manifest
    folder = m["path"].map(lambda p: p.split("/")[-2])
    assert (folder.map({"Heart": 0, "liver": 1, "spleen": 2}) == m["label"]).all()
    assert set(m["split"]) == {"train", "test"} and not any("not a known class" in p.problem for p in scan.problems)


def test_grade_folders_are_ordinal_and_a_non_grade_folder_is_a_problem(tmp_path, radiographs):
    root = _class_tree(tmp_path / "kl", radiographs, ["0", "2", "10", "x"], per=1)
    scan = read_dataset(root, options=ReadOptions(task="ordinal"))
    assert scan.task.kind == "ordinal" and scan.task.classes == ("0", "2", "10")  # numbers in numeric order
    bad = [p for p in scan.problems if "is not a grade" in p.problem]
    assert len(bad) == 2 and all("/x/" in p.path for p in bad)
    assert (scan.manifest[scan.manifest["path"].str.contains("/x/")]["label"] == -1).all()


def _npz(path, labels_by_split: dict[str, np.ndarray]):
    arrays = {}
    for split, labels in labels_by_split.items():
        arrays[f"{split}_images"] = np.zeros((len(labels), 8, 8), np.uint8)
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    np.savez(path, **arrays)
    return path


def test_chestmnist_is_multilabel_with_medmnist_finding_names(tmp_path):
    rng = np.random.default_rng(0)
    labels = {s: (rng.random((n, 14)) < 0.3).astype(int) for s, n in (("train", 8), ("val", 3), ("test", 4))}
    labels["train"][0] = 0
    scan = read_dataset(_npz(tmp_path / "chestmnist.npz", labels))
    assert scan.task.kind == "multilabel" and scan.task.classes == MEDMNIST["chestmnist"][1]
    assert scan.task.classes[:3] == ("atelectasis", "cardiomegaly", "effusion")
    train = scan.manifest[scan.manifest["split"] == "train"]
    assert list(train["findings"]) == ["|".join(map(str, row)) for row in labels["train"]]
    assert train["label"].iat[0] == 0 and "multi-label, binary-class" in scan.task_note
    binary = read_dataset(tmp_path / "chestmnist.npz", options=ReadOptions(task="binary"))
    assert binary.task == BINARY and list(binary.manifest["label"][:8]) == labels["train"].any(1).astype(int).tolist()


def test_organamnist_is_multiclass_in_medmnist_order_and_inspect_says_whose_task(tmp_path):
    labels = {s: (np.arange(n) % 11).reshape(n, 1) for s, n in (("train", 22), ("val", 11), ("test", 11))}
    f = _npz(tmp_path / "organamnist.npz", labels)
    scan = read_dataset(f)
    assert scan.task.kind == "multiclass" and scan.task.classes == MEDMNIST["organamnist"][1]
    assert scan.task.classes[3] == "heart" and list(scan.manifest["label"][:12]) == [*range(11), 0]
    text = format_summary(inspect_dataset(f, verify=False, progress=False))
    assert "task: multiclass (classes: bladder, femur-left" in text and "MedMNIST's own task for organamnist" in text
    # normal classes by index or name, and the older normal_classes flag as an alias
    assert read_dataset(f, options=ReadOptions(normal="heart,0")).task.normal == (0, 3)
    assert read_dataset(f, options=ReadOptions(normal_classes=(3,))).task.normal == (3,)
    as_binary = read_dataset(f, options=ReadOptions(task="binary", normal="heart"))
    assert as_binary.task == BINARY and list(as_binary.manifest["label"][:5]) == [1, 1, 1, 0, 1]
    with pytest.raises(XraySSLError, match=r"organamnist.npz: --task multilabel needs labels with one column"):
        read_dataset(f, options=ReadOptions(task="multilabel"))


def test_retinamnist_is_ordinal_and_pneumoniamnist_stays_binary(tmp_path):
    grades = {s: (np.arange(n) % 5).reshape(n, 1) for s, n in (("train", 10), ("val", 5), ("test", 5))}
    scan = read_dataset(_npz(tmp_path / "retinamnist.npz", grades), options=ReadOptions(normal="0"))
    assert scan.task == Task("ordinal", ("0", "1", "2", "3", "4"), (0,))
    assert list(scan.manifest["label"][:5]) == [0, 1, 2, 3, 4]
    binary = {s: (np.arange(n) % 2).reshape(n, 1) for s, n in (("train", 4), ("val", 2), ("test", 2))}
    pneumonia = read_dataset(_npz(tmp_path / "pneumoniamnist.npz", binary))
    assert pneumonia.task == BINARY and list(pneumonia.manifest["label"][:4]) == [0, 1, 0, 1]


def test_an_npz_of_another_name_takes_its_task_from_its_labels(tmp_path):
    scan = read_dataset(_npz(tmp_path / "mine.npz", {"train": np.array([[0], [3], [1], [2]])}))
    assert scan.task == Task("multiclass", ("0", "1", "2", "3"), ()) and "not a MedMNIST name" in scan.task_note
    (tmp_path / "b").mkdir()
    two = read_dataset(_npz(tmp_path / "b" / "mine.npz", {"train": np.array([[1], [2], [1]])}))
    assert two.task.kind == "multiclass" and two.task.classes == ("1", "2")  # not 0/1: never normal/abnormal


def test_medmnist_labels_that_cannot_be_used_leave_their_split_unlabelled(tmp_path):
    f = tmp_path / "organamnist.npz"
    images = {f"{s}_images": np.zeros((3, 8, 8), np.uint8) for s in ("train", "val", "test")}
    np.savez(f, **images, train_labels=np.array([[0], [1], [2]]), val_labels=np.array([[0.0], [np.nan], [1.0]]),
             test_labels=np.array([[0], [1]], dtype=object))  # fmt: skip
    scan = read_dataset(f)
    said = sorted(p.problem for p in scan.problems)
    assert said[0].startswith("test: labels not readable (") and said[0].endswith("; images kept unlabelled")
    assert said[1] == "val: labels that are not all numbers (float64); images kept unlabelled"
    assert scan.task.classes == ("bladder", "femur-left", "femur-right")
    assert list(scan.manifest["label"]) == [0, 1, 2, -1, -1, -1, -1, -1, -1]


def test_medmnist_files_of_different_tasks_are_refused_together(tmp_path):
    _npz(tmp_path / "organamnist.npz", {"train": np.arange(4).reshape(4, 1)})
    _npz(tmp_path / "pneumoniamnist.npz", {"train": np.array([[0], [1]])})
    with pytest.raises(XraySSLError, match=r"MedMNIST files of different tasks .*prepare one file at a time"):
        read_dataset(tmp_path)


# --- splits, counts, selection ---------------------------------------------------------------------------------


def _knee_manifest(knee_root) -> pd.DataFrame:
    """The knee labels as a manifest with KL grades as ordinal labels, no splits (every patient re-split)."""
    truth = pd.read_csv(knee_root / "labels.csv", dtype=str)
    grades = sorted(truth["kl_grade"].unique(), key=int)
    return pd.DataFrame({
        "path": truth["path"], "label": truth["kl_grade"].map({g: i for i, g in enumerate(grades)}).astype("int64"),
        "findings": "", "body_part": "knee", "patient_id": truth["patient_id"], "study_id": truth["path"],
        "split": "", "source": "csv", "meta": "{}",
    })  # fmt: skip


def test_splits_keep_the_knee_grades_proportions_and_patients_whole(knee):
    """Stratified on the grade (a patient's worst knee), every split's grade shares stay within 2 points of the
    whole set's for every seed (stratified on normal/abnormal only, seeds 3 and 4 were 2.5 and 3.7 points off)."""
    manifest = _knee_manifest(knee)
    for seed in range(5):
        df, _ = assign_splits(manifest, SplitConfig(seed=seed))
        assert df.groupby("patient_id")["split"].nunique().max() == 1
        overall = df["label"].value_counts(normalize=True)
        for split, rows in df.groupby("split"):
            share = rows["label"].value_counts(normalize=True).reindex(overall.index, fill_value=0)
            assert (share - overall).abs().max() < 0.02, (seed, split, share.round(3).to_dict())
        patients = df.drop_duplicates("patient_id")["split"].value_counts(normalize=True)
        assert abs(patients["test"] - 0.15) < 0.01 and abs(patients["val"] - 0.10) < 0.01


def test_a_rare_finding_reaches_every_split(tmp_path):
    n = 200
    findings = ["1|0" if i < 6 else ("0|1" if i % 2 else "0|0") for i in range(n)]  # 'a' in 6 patients only
    df = pd.DataFrame({"path": [f"{i}" for i in range(n)], "label": [int("1" in f) for f in findings],
                       "findings": findings, "body_part": "", "patient_id": [f"p{i}" for i in range(n)],
                       "study_id": [f"{i}" for i in range(n)], "split": "", "source": "csv", "meta": "{}"})  # fmt: skip
    for seed in range(3):
        out, _ = assign_splits(df, SplitConfig(seed=seed, val_fraction=0.2, test_fraction=0.2))
        rare = out[out["findings"].str.startswith("1")]
        assert set(rare["split"]) == {"train", "val", "test"}


def test_a_multilabel_cache_counts_each_finding_per_split(tmp_path, radiographs):
    rows = 12
    a = [str(i % 2) for i in range(rows)]
    b = ["1" if i % 3 == 0 else "" if i == 1 else "0" for i in range(rows)]
    csv = _csv(tmp_path, radiographs, {"a": a, "b": b, "patient_id": [f"p{i}" for i in range(rows)]})
    out = tmp_path / "cache"
    prepare(csv, out, options=ReadOptions(label="a,b", task="multilabel"), progress=False)
    info = json.loads((out / "cache.json").read_text())
    counts = {(c["split"], c["finding"]): c for c in info["finding_counts"]}
    assert sum(c["positive"] for (s, f), c in counts.items() if f == "a") == 6
    assert sum(c["missing"] for (s, f), c in counts.items() if f == "b") == 1
    assert sum(c["positive"] + c["negative"] + c["missing"] for (s, f), c in counts.items() if f == "b") == rows
    text = format_summary(inspect_dataset(csv, verify=False, options=ReadOptions(label="a,b", task="multilabel")))
    assert "task: multilabel (findings: a, b)" in text and "positive negative  missing" in text
    cache = PreparedCache(out)
    names = label_names(cache.manifest, cache.task)
    assert all(n in ("a", "b", "a, b", "no finding", "unlabelled") for n in names) and "a, b" in names


def _manifest(labels, splits, findings=None):
    n = len(labels)
    return pd.DataFrame({"path": [str(i) for i in range(n)], "label": labels, "findings": findings or [""] * n,
                         "body_part": "", "patient_id": [f"p{i}" for i in range(n)], "split": splits})  # fmt: skip


def test_labelled_splits_name_a_single_class_split_and_a_class_train_lacks():
    grades = Task("ordinal", ("0", "2", "3"), (0,))
    splits = ["train"] * 4 + ["val"] * 3 + ["test"] * 3
    ok = _manifest([0, 1, 0, 1, 0, 1, 2, 0, 1, 2], splits)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = labelled_splits(ok, where="c", task=grades)
    assert [str(w.message)[:40] for w in caught] == ["c: class '3' is in split 'val' but not i",
                                                     "c: class '3' is in split 'test' but not "]  # fmt: skip
    assert rows.task == grades and rows.targets("test").tolist() == [0, 1, 2] and len(rows.warnings) == 2
    one = _manifest([0, 1, 0, 1, 2, 2, 2, 0, 1, 2], splits)
    with pytest.raises(XraySSLError, match=r"c: split 'val' holds a single class \('3'\)"):
        labelled_splits(one, where="c", task=grades)
    with pytest.raises(XraySSLError, match=r"split 'val' needs labelled normal and abnormal"):  # binary as before
        labelled_splits(_manifest([0, 1, 0, 1, 1, 1, 1, 0, 1, 0], splits), where="c")


def test_labelled_splits_drop_a_finding_a_split_cannot_score():
    task = Task("multilabel", ("a", "b", "c"), ())
    splits = ["train"] * 4 + ["val"] * 3 + ["test"] * 3
    # 'b' has no positive in val; 'c' is missing everywhere in test; the last row has no known finding at all
    findings = ["1|1|1", "0|0|0", "1|0|1", "0|1|0", "1|0|1", "0|0|0", "1|0|0", "1|1|-1", "0|0|-1", "-1|-1|-1"]
    m = _manifest([1] * 10, splits, findings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = labelled_splits(m, where="c", task=task)
    said = [str(w.message) for w in caught]
    assert said == ["c: finding 'b' dropped: split 'val' has only negatives (3)",
                    "c: finding 'c' dropped: split 'test' has no label for it"]  # fmt: skip
    assert rows.findings == (0,) and rows.dropped == ("b", "c") and rows.task.classes == ("a",)
    assert len(rows["test"]) == 2 and rows.targets("test").tolist() == [[1], [0]]
    none = _manifest([1] * 10, splits, [f.replace("1|", "0|", 1) if i >= 7 else f for i, f in enumerate(findings)])
    with pytest.raises(XraySSLError, match=r"no finding has positive and negative labels"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labelled_splits(none, where="c", task=task)


def test_patient_fraction_is_stratified_by_grade(knee_demo):
    m = _knee_manifest(knee_demo)
    picked = m.iloc[patient_fraction(m, 0.25, seed=0)]
    per_patient = m.groupby("patient_id")["label"].max()
    chosen = per_patient[per_patient.index.isin(set(picked["patient_id"]))]
    for grade, n in per_patient.value_counts().items():
        assert abs((chosen == grade).sum() - max(1, round(0.25 * n))) == 0
    whole = m[m["patient_id"].isin(chosen.index)]
    assert len(picked) == len(whole)  # every image of a chosen patient


def test_a_non_grade_in_an_ordinal_column_names_the_file_line(tmp_path, radiographs):
    csv = _csv(tmp_path, radiographs, {"kl": ["0", "3", "x", "10", "2"]})
    scan = read_dataset(csv, options=ReadOptions(label="kl", task="ordinal"))
    assert scan.task.classes == ("0", "2", "3", "10")
    (bad,) = [p for p in scan.problems if "not a grade" in p.problem]
    assert bad.path.endswith("2.png") and "(labels.csv line 4); kept unlabelled" in bad.problem


def test_preview_rows_carry_the_task_s_label_names(tmp_path, radiographs):
    """augment show and the study's preview caption images by the task's class names, not normal/abnormal."""
    from xrayssl.data.process import ProcessConfig
    from xrayssl.data.sample import sample_images

    root = _class_tree(tmp_path / "organs", radiographs, ["liver", "heart"], per=3)
    out = tmp_path / "cache"
    prepare(root, out, process=ProcessConfig(size=32), options=ReadOptions(task="multiclass"), progress=False)
    images, rows = sample_images(out, 6, size=32)
    folder = rows["path"].map(lambda p: p.split("/")[-2])
    assert len(images) == 6 and (rows["label_name"] == folder).all()
