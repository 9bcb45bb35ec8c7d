"""Metrics, bootstrap by patient, study-level pooling, the probe and patient-grouped label fractions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xrayssl.data.selection import patient_fraction
from xrayssl.evaluate.probe import LinearProbe
from xrayssl.metrics import bootstrap_metrics, point_metrics, study_level, youden_threshold


def test_point_metrics_exact():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.1, 0.4])
    m = point_metrics(y, p, 0.5)
    assert m["sensitivity"] == pytest.approx(2 / 3) and m["specificity"] == pytest.approx(4 / 5)
    assert m["accuracy"] == pytest.approx(6 / 8) and m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert m["auroc"] == pytest.approx(13 / 15)  # 0.3 ranks above three of the five normals
    po, pe = 6 / 8, (3 / 8) * (3 / 8) + (5 / 8) * (5 / 8)
    assert m["kappa"] == pytest.approx((po - pe) / (1 - pe))


def test_fast_auroc_and_kappa_match_scikit_learn_with_ties():
    from sklearn.metrics import cohen_kappa_score, roc_auc_score

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 80))
        y = rng.integers(0, 2, n)
        p = np.round(rng.random(n), 1)  # many ties
        m = point_metrics(y, p, 0.5)
        if len(set(y)) == 2:
            assert m["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
            assert m["kappa"] == pytest.approx(cohen_kappa_score(y, (p >= 0.5).astype(int)), abs=1e-12)


def test_bootstrap_resamples_whole_patients():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    p = np.clip(y * 0.3 + rng.random(40) * 0.7, 0, 1)
    one = bootstrap_metrics(y, p, np.arange(40), n_boot=300, seed=1)
    # the same data with every patient imaged three times: resampling patients must give the same intervals
    three = bootstrap_metrics(np.repeat(y, 3), np.repeat(p, 3), np.repeat(np.arange(40), 3), n_boot=300, seed=1)
    for m in ("auroc", "accuracy", "sensitivity", "kappa"):
        assert three[m] == pytest.approx(one[m])
        assert three[f"{m}_ci"] == pytest.approx(one[f"{m}_ci"])
    assert one["auroc_ci"][0] < one["auroc"] < one["auroc_ci"][1]
    assert three["n"] == 120 and three["n_patients"] == 40


def test_study_level_is_the_mean_of_views():
    frame = pd.DataFrame(
        {
            "study_id": ["a", "a", "b", "c", "c", "c"],
            "patient_id": ["p1", "p1", "p1", "p2", "p2", "p2"],
            "label": [1, 1, 0, 1, 1, 1],
            "prob": [0.2, 0.6, 0.3, 0.9, 0.6, 0.3],
        }
    )
    s = study_level(frame).set_index("study_id")
    assert s.loc["a", "prob"] == pytest.approx(0.4) and s.loc["c", "prob"] == pytest.approx(0.6)
    assert list(s["label"]) == [1, 0, 1] and list(s["patient_id"]) == ["p1", "p1", "p2"]


def test_youden_threshold_separates():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    t = youden_threshold(y, p)
    assert 0.3 < t <= 0.7
    assert point_metrics(y, p, t)["accuracy"] == 1.0


def _split(n, d, rng, separable):
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, d))
    if separable:
        x[:, 0] += 6 * (2 * y - 1)
    return x, y


@pytest.mark.parametrize(("separable", "lo", "hi"), [(False, 0.35, 0.65), (True, 0.99, 1.0)])
def test_probe_on_noise_and_on_separable_features(separable, lo, hi):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    (xt, yt), (xv, yv), (xs, ys) = (_split(n, 32, rng, separable) for n in (400, 200, 400))
    probe = LinearProbe().fit(xt, yt, xv, yv)
    assert lo <= roc_auc_score(ys, probe.predict_proba(xs)) <= hi
    assert probe.c_ in probe.cs and 0 <= probe.threshold_ <= 1


def test_patient_fraction_keeps_patients_whole_and_stratified():
    frame = pd.DataFrame(
        {
            "patient_id": np.repeat([f"p{i}" for i in range(100)], 3),
            "label": np.repeat((np.arange(100) < 20).astype(int), 3),
        }
    )
    rows = patient_fraction(frame, 0.1, seed=3)
    chosen = frame.iloc[rows]
    assert chosen.groupby("patient_id").size().eq(3).all()  # every image of a chosen patient
    per_class = chosen.drop_duplicates("patient_id")["label"].value_counts().to_dict()
    assert per_class == {0: 8, 1: 2}
    assert np.array_equal(rows, patient_fraction(frame, 0.1, seed=3))
    assert not np.array_equal(rows, patient_fraction(frame, 0.1, seed=4))
    tiny = patient_fraction(frame, 0.001, seed=0)
    assert set(frame.iloc[tiny]["label"]) == {0, 1}  # at least one patient of each kind
