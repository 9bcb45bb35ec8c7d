"""Patient-level splits are exact, stratified, seeded, and never share a patient."""

from __future__ import annotations

import pandas as pd
import pytest

from xrayssl.data.manifest import Record, make_manifest
from xrayssl.data.splits import SplitConfig, assign_splits, duplicate_problems
from xrayssl.errors import XraySSLError


def manifest(n_patients=200, views=3, given=None):
    records = []
    for p in range(n_patients):
        for v in range(views):
            records.append(
                Record(
                    f"/d/p{p}_{v}.png",
                    label=int(p % 4 == 0),
                    body_part="knee" if p % 2 else "hand",
                    patient_id=f"p{p}",
                    split=(given(p) if given else ""),
                )
            )
    return make_manifest(records)


def patients_per_split(df):
    return df.groupby("split")["patient_id"].nunique().to_dict()


def test_unsplit_dataset_gets_exact_patient_fractions():
    df, problems = assign_splits(manifest(), SplitConfig(seed=1, val_fraction=0.1, test_fraction=0.2))
    assert problems == []
    assert patients_per_split(df) == {"train": 140, "val": 20, "test": 40}
    assert (df.groupby("patient_id")["split"].nunique() == 1).all()
    # stratified: each split has both body parts and both labels in about the overall proportion
    for _, part in df.groupby("split"):
        share = part.drop_duplicates("patient_id")["label"].mean()
        assert 0.15 <= share <= 0.35


def test_seed_fixes_the_split_and_changes_it():
    a, _ = assign_splits(manifest(), SplitConfig(seed=3))
    b, _ = assign_splits(manifest(), SplitConfig(seed=3))
    c, _ = assign_splits(manifest(), SplitConfig(seed=4))
    assert a["split"].tolist() == b["split"].tolist()
    assert a["split"].tolist() != c["split"].tolist()


def test_given_splits_are_kept_and_missing_val_is_carved_from_train():
    df, _ = assign_splits(manifest(given=lambda p: "test" if p >= 150 else "train"), SplitConfig(val_fraction=0.1))
    assert patients_per_split(df) == {"train": 130, "val": 20, "test": 50}
    assert set(df[df["patient_id"].isin([f"p{p}" for p in range(150, 200)])]["split"]) == {"test"}


def test_patient_in_two_given_splits_moves_to_the_held_out_one():
    df0 = manifest(n_patients=20, views=2, given=lambda p: "train")
    df0.loc[df0["path"] == "/d/p3_1.png", "split"] = "test"
    df, problems = assign_splits(df0, SplitConfig(val_fraction=0, test_fraction=0.1))
    assert set(df[df["patient_id"] == "p3"]["split"]) == {"test"}
    assert len(problems) == 1 and "moved to test" in problems[0].problem and problems[0].path == "p3"
    assert len(df) == 40  # nothing lost


def test_bad_fractions_are_a_user_error():
    with pytest.raises(XraySSLError):
        assign_splits(manifest(), SplitConfig(val_fraction=0.6, test_fraction=0.5))


def test_identical_content_across_splits_is_reported():
    df = pd.DataFrame({"path": ["a", "b", "c", "d"], "split": ["train", "test", "train", "train"]})
    problems = duplicate_problems(df, pd.Series(["h1", "h1", "h2", "h2"]))
    assert [(p.path, "train" in p.problem and "test" in p.problem) for p in problems] == [("b", True)]
