"""Patient-level splits: keep a dataset's own splits, carve what is missing, never share a patient.

Pure functions over the manifest: the same manifest and seed always give the same splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xrayssl.configfile import check_bounds
from xrayssl.data.manifest import SPLITS, Problem, decode_findings
from xrayssl.errors import XraySSLError

HELD_OUT_ORDER = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class SplitConfig:
    seed: int = field(default=0, metadata={"help": "seed of the patient-level split"})
    val_fraction: float = field(  # share of all patients, carved from train when the dataset has no val split
        default=0.1, metadata={"help": "share of patients for validation, when the dataset has no validation split"}
    )
    test_fraction: float = field(
        default=0.15, metadata={"help": "share of patients for test, when the dataset has no test split"}
    )

    def __post_init__(self) -> None:
        check_fractions(self)
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge


def check_fractions(config: SplitConfig) -> None:
    if config.val_fraction < 0 or config.test_fraction < 0 or config.val_fraction + config.test_fraction >= 1:
        raise XraySSLError("val and test fractions must be >= 0 and sum to less than 1")


def _fix_patient_conflicts(df: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    """A patient found in two given splits is moved whole to the more held-out one (no leakage, no loss)."""
    given = df[df["split"] != ""]
    n_splits = given.groupby("patient_id")["split"].nunique()
    for patient in n_splits[n_splits > 1].index:
        rows = df["patient_id"] == patient
        splits = sorted(set(df.loc[rows, "split"]) - {""}, key=HELD_OUT_ORDER.get)
        target = splits[-1]
        moved = int((rows & (df["split"] != target)).sum())
        df.loc[rows, "split"] = target
        problems.append(
            Problem(str(patient), f"patient appears in splits {splits}; its {moved} other images moved to {target}")
        )
    return df


def patient_strata(rows: pd.DataFrame) -> pd.Series:
    """Each patient's label for stratifying, indexed by patient id: for single-label tasks the patient's highest
    class index (binary: any abnormal image; grades: the worst one; -1 when no image is labelled); for
    multilabel (a ``findings`` column) the patient's rarest positive finding among these rows ("none" when
    every finding is negative, "-" when none is known), so that rare findings spread over the splits."""
    coded = rows["findings"] if "findings" in rows.columns else pd.Series("", index=rows.index)
    if not coded.astype(bool).any():
        return rows.groupby("patient_id")["label"].max()
    width = next(f for f in coded if f).count("|") + 1
    grid = decode_findings(coded, width)
    rarity = np.argsort(np.argsort((grid == 1).sum(0), kind="stable"), kind="stable")  # 0 = the rarest finding
    frame = pd.DataFrame(grid, index=rows.index).assign(patient_id=rows["patient_id"].to_numpy())
    per_patient = frame.groupby("patient_id").max()
    return per_patient.apply(lambda r: _signature(r.to_numpy(), rarity), axis=1)


def _signature(patient: np.ndarray, rarity: np.ndarray) -> str:
    positive = np.flatnonzero(patient == 1)
    if len(positive):
        return f"finding {int(positive[np.argmin(rarity[positive])])}"
    return "none" if (patient == 0).all() else "-"


def _carve(patients: pd.DataFrame, fraction_of_pool: float, rng: np.random.Generator) -> set[str]:
    """Pick a stratified (body part x the task's label, see ``patient_strata``) share of patients."""
    chosen: set[str] = set()
    carry = 0.0  # rounding carried across strata keeps the overall share close to the target
    for _, group in patients.groupby(["body_part", "label"], sort=True):
        ids = np.array(sorted(group.index))
        rng.shuffle(ids)
        want = len(ids) * fraction_of_pool + carry
        k = min(len(ids), int(np.floor(want + 0.5)))
        carry = want - k
        chosen.update(ids[:k].tolist())
    return chosen


def assign_splits(df: pd.DataFrame, config: SplitConfig | None = None) -> tuple[pd.DataFrame, list[Problem]]:
    """Return a copy of the manifest with every row in train/val/test, patient-disjoint."""
    config = config or SplitConfig()
    check_fractions(config)  # a config built with object.__setattr__ or replace() is checked again here
    problems: list[Problem] = []
    df = df.copy()
    df.loc[~df["split"].isin(SPLITS), "split"] = ""
    df = _fix_patient_conflicts(df, problems)
    # patients without a given split join the training pool
    given = df[df["split"] != ""].groupby("patient_id")["split"].first().to_dict()
    unsplit = df["split"] == ""
    df.loc[unsplit, "split"] = [given.get(p, "train") for p in df.loc[unsplit, "patient_id"]]
    rng = np.random.default_rng(config.seed)
    total = df["patient_id"].nunique()
    for split, fraction in (("test", config.test_fraction), ("val", config.val_fraction)):
        if (df["split"] == split).any() or fraction == 0:
            continue
        pool = df[df["split"] == "train"]
        patients = pool.groupby("patient_id").agg(body_part=("body_part", "first"))
        patients["label"] = patient_strata(pool).reindex(patients.index)
        if len(patients) < 2:
            continue
        share = min(1.0, fraction * total / len(patients))
        chosen = _carve(patients, share, rng)
        df.loc[df["patient_id"].isin(chosen) & (df["split"] == "train"), "split"] = split
    return df, problems


def duplicate_problems(df: pd.DataFrame, hashes: pd.Series) -> list[Problem]:
    """Identical pixel content in two different splits: report each pair once (it can inflate scores)."""
    problems = []
    frame = pd.DataFrame({"path": df["path"].values, "split": df["split"].values, "hash": hashes.values})
    frame = frame[frame["hash"].astype(bool)]
    for _, group in frame.groupby("hash"):
        if group["split"].nunique() > 1:
            first = group.iloc[0]
            for _, other in group.iloc[1:].iterrows():
                if other["split"] != first["split"]:
                    problems.append(
                        Problem(
                            other["path"],
                            f"identical image content in {other['split']} and {first['split']} ({first['path']})",
                        )
                    )
    return problems


def check_patient_disjoint(df: pd.DataFrame) -> None:
    """Guard used before writing a cache: a patient in two splits is a bug, never a warning."""
    counts = df.groupby("patient_id")["split"].nunique()
    bad = counts[counts > 1]
    if len(bad):
        raise AssertionError(f"patients in more than one split: {list(bad.index[:5])}")


def part_key(part: str) -> str:
    """How body parts are matched: case, spaces and MURA's XR_ prefix do not count."""
    return str(part).strip().lower().removeprefix("xr_")


def select_body_parts(df: pd.DataFrame, parts: list[str] | None) -> pd.DataFrame:
    if not parts:
        return df
    wanted = {part_key(p) for p in parts}
    return df[df["body_part"].map(part_key).isin(wanted)].reset_index(drop=True)
