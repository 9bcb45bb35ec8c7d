"""The embedded synthetic radiographs: seeded, patient-structured, and not trivially separable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xrayssl.data.synthetic import SynthConfig, generate, patient_images
from xrayssl.errors import XraySSLError


def test_seed_fixes_images_and_patients_are_independent_of_count():
    a = [img for img, _ in generate(SynthConfig(n_patients=4, size=64, seed=1))]
    b = [img for img, _ in generate(SynthConfig(n_patients=4, size=64, seed=1), workers=2)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    c = [img for img, _ in patient_images(SynthConfig(n_patients=99, size=64, seed=1), 2)]
    start = sum(len(patient_images(SynthConfig(size=64, seed=1), p)) for p in range(2))
    assert all(np.array_equal(x, y) for x, y in zip(c, a[start : start + len(c)], strict=True))
    d = [img for img, _ in generate(SynthConfig(n_patients=4, size=64, seed=2))]
    assert not np.array_equal(a[0], d[0])


def test_structure_patients_studies_views_and_labels():
    recs = pd.DataFrame([r for _, r in generate(SynthConfig(n_patients=40, size=48, seed=0))])
    assert recs["patient_id"].nunique() == 40
    assert recs.groupby("patient_id")["study_id"].nunique().max() > 1  # several studies per patient
    assert recs.groupby("study_id").size().max() > 1  # several views per study
    assert (recs.groupby("study_id")["label"].nunique() == 1).all()  # the label belongs to the study
    assert 0.3 < recs.drop_duplicates("study_id")["label"].mean() < 0.7
    assert set(recs["body_part"]) == {"knee", "forearm", "hand"}
    assert set(recs[recs["label"] == 1]["finding"]) <= {"narrowing", "fracture", "lesion", "implant"}


def test_images_look_like_radiographs():
    img, _ = next(generate(SynthConfig(n_patients=1, size=128, seed=0)))
    assert img.shape == (128, 128) and img.dtype == np.uint8
    assert img.std() > 20  # structure, not a flat field
    assert np.percentile(img, 5) < 60 and np.percentile(img, 99) > 150  # dark background, bright bone


def test_raw_pixel_logistic_regression_is_not_perfect():
    """The label is planted as a finding (shown in most views of an abnormal study, never in a normal one) that
    a linear model on raw pixels cannot read off (issue: not trivial), nor the overall grey level can."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    pairs = list(generate(SynthConfig(n_patients=120, size=32, seed=4), workers=2))
    x = np.stack([img.ravel() for img, _ in pairs]).astype(np.float32) / 255
    y = np.array([r["label"] for _, r in pairs])
    visible = np.array([r["visible"] for _, r in pairs])
    assert 0.75 < visible[y == 1].mean() < 0.95 and not visible[y == 0].any()  # visible_probability = 0.85
    patient = np.array([int(r["patient_id"][7:]) for _, r in pairs])
    train = patient < 90
    model = LogisticRegression(C=0.1, max_iter=3000).fit(x[train], y[train])
    auroc = roc_auc_score(y[~train], model.predict_proba(x[~train])[:, 1])
    assert auroc < 0.9
    assert abs(roc_auc_score(y, x.mean(1)) - 0.5) < 0.1  # exposure is drawn per patient, not per label


@pytest.mark.parametrize("part", ["knee", "forearm", "hand"])
def test_a_finding_is_a_visible_local_change(part):
    """The same view drawn with and without its finding: the finding changes some pixels strongly (seen at
    48 px), not the whole image; without a finding the drawing is the same."""
    from xrayssl.data.synthetic import _finding, draw_exposure, render_view

    for seed in range(3):
        exposure = draw_exposure(np.random.default_rng(seed), 1.0)
        anatomy = {"scale": 1.0, "density": 0.9, "tissue": 0.08, "gap": 0.045, "heel": 0.0, "layout_seed": seed,
                   "exposure": exposure, "side": "L", "marker": None}  # fmt: skip
        finding = _finding(part, np.random.default_rng(100 + seed))
        plain, again, shown = (
            render_view(part, anatomy, f, np.random.default_rng(7), 48).astype(int) for f in (None, None, finding)
        )
        assert np.array_equal(plain, again)
        changed = np.abs(shown - plain) > 10
        assert 0.005 < changed.mean() < 0.6, (finding["kind"], changed.mean())
        assert np.abs(shown - plain).max() > 40, finding["kind"]


def test_bad_config_is_a_user_error():
    with pytest.raises(XraySSLError, match="unknown synthetic body part"):
        SynthConfig(body_parts=("skull",))


def _means(exposure: float) -> pd.DataFrame:
    pairs = generate(SynthConfig(n_patients=60, size=48, seed=3, exposure=exposure))
    return pd.DataFrame([{"patient": r["patient_id"], "mean": img.mean(), **r} for img, r in pairs])


def test_planted_exposure_differs_between_patients_by_the_documented_amount():
    """docs/augmentations.md: exposure raises the between-patient SD of an image's mean grey level from about 7 to
    about 28 (of 255), while the views of one patient stay within about 4 of each other."""
    plain, exposed = _means(0.0), _means(1.0)
    between = {k: d.groupby("patient")["mean"].mean().std() for k, d in (("plain", plain), ("exposed", exposed))}
    assert between["plain"] < 12 and between["exposed"] > 20 and between["exposed"] > 2.5 * between["plain"]
    assert exposed.groupby("patient")["mean"].std().mean() < 8  # a patient's own views share the exposure
    params = exposed.groupby("patient")[["exposure_gamma", "exposure_contrast", "exposure_brightness"]]
    assert (params.nunique() == 1).all().all()  # one exposure per patient
    first = params.first()
    assert first["exposure_gamma"].between(np.exp(-0.5), np.exp(0.5)).all() and first["exposure_gamma"].std() > 0.2
    assert first["exposure_brightness"].between(-0.05, 0.2).all()
    assert (plain[["exposure_gamma", "exposure_contrast"]] == 1).all().all()
    assert (plain["exposure_brightness"] == 0).all()


def test_exposure_and_side_change_nothing_else():
    """The nuisance has its own random stream: the same patient with and without it has the same anatomy,
    finding and noise; exposure is the documented curve, the other side is the mirror image."""
    from xrayssl.data.synthetic import expose

    base = SynthConfig(n_patients=1, size=64, seed=7, exposure=0.0, mirror=0.0)
    plain = patient_images(base, 0)
    exposed = patient_images(SynthConfig(n_patients=1, size=64, seed=7, exposure=1.0, mirror=0.0), 0)
    mirrored = patient_images(SynthConfig(n_patients=1, size=64, seed=7, exposure=0.0, mirror=1.0), 0)
    below_marker = slice(20, None)  # the L/R marker sits in the top fifth
    for (a, ra), (b, rb), (c, rc) in zip(plain, exposed, mirrored, strict=True):
        assert ra["finding"] == rb["finding"] == rc["finding"] and (ra["side"], rc["side"]) == ("L", "R")
        params = {k: rb[f"exposure_{k}"] for k in ("gamma", "contrast", "brightness")}
        want = expose(a[below_marker].astype(float) / 255, params) * 255
        bright = a[below_marker] > 30  # uint8 rounding is magnified where a gamma < 1 is steep, near black
        assert np.abs(b[below_marker].astype(float) - want)[bright].max() <= 3
        assert np.array_equal(c[below_marker], a[below_marker][:, ::-1])
    sides = pd.DataFrame([r for _, r in generate(SynthConfig(n_patients=80, size=32, seed=1))]).groupby("patient_id")
    assert (sides["side"].nunique() == 1).all() and 0.3 < (sides["side"].first() == "R").mean() < 0.7
