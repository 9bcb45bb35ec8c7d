"""The probe for every task on realistic arrays: C chosen by the primary metric, findings masked, a saved probe
reproducing its probabilities, and the metrics report under ``overall``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xrayssl.evaluate.evaluation import label_efficiency, metrics_report
from xrayssl.evaluate.probe import LinearProbe
from xrayssl.tasks import BINARY, Task, quadratic_kappa

GRADES = Task("ordinal", ("0", "2", "3", "4"), normal=(0,))
ORGANS = Task("multiclass", ("liver", "lung", "heart"), normal=())
FINDINGS = Task("multilabel", ("kl2", "kl3", "kl4"), normal=())


def _features(y_latent: np.ndarray, dim: int = 24, signal: float = 1.0, seed: int = 0) -> np.ndarray:
    """Noisy features with a few directions that carry ``y_latent`` (n, m): like pooled encoder features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(y_latent), dim))
    x[:, : y_latent.shape[1]] += signal * y_latent
    return x


def _graded(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(4, n, p=[0.4, 0.25, 0.2, 0.15])
    return _features(np.stack([y, y == 3], 1).astype(float), seed=seed), y


def _splits(make, sizes=(300, 150, 150)):
    return [make(n, seed) for seed, n in enumerate(sizes)]


@pytest.mark.parametrize("task", [GRADES, ORGANS])
def test_single_label_probe_gives_class_probabilities_and_chooses_c_by_the_primary_metric(task):
    k = len(task.classes)
    (xt, yt), (xv, yv), (xs, ys) = _splits(lambda n, s: (lambda x_y: (x_y[0], x_y[1] % k))(_graded(n, s)))
    probe = LinearProbe(task).fit(xt, yt, xv, yv)
    prob = probe.predict_proba(xs)
    assert prob.shape == (len(xs), k)
    np.testing.assert_allclose(prob.sum(1), 1, atol=1e-9)
    scores = list(probe.val_score_by_c_.values())
    assert probe.c_ == list(probe.val_score_by_c_)[int(np.argmax(scores))]
    assert probe.val_score_ == max(scores)
    assert probe.threshold_ is None
    if task.kind == "ordinal":
        assert quadratic_kappa(ys, prob.argmax(1), k) > 0.3  # the grades are learnt, not guessed


def test_binary_probe_is_unchanged_auroc_and_youden():
    rng = np.random.default_rng(0)
    y = [rng.integers(0, 2, n) for n in (200, 100)]
    x = [_features(v[:, None].astype(float), signal=2.0, seed=i) for i, v in enumerate(y)]
    probe = LinearProbe(BINARY).fit(x[0], y[0], x[1], y[1])
    assert probe.predict_proba(x[1]).shape == (100,)
    assert 0 < probe.threshold_ < 1 and probe.val_score_ > 0.7


def test_a_class_missing_from_train_is_named_and_gets_no_probability():
    (xt, yt), (xv, yv) = _splits(_graded, (300, 150))
    keep = yt != 2
    with pytest.warns(UserWarning, match="no training image of 3"):
        probe = LinearProbe(GRADES).fit(xt[keep], yt[keep], xv, yv)
    prob = probe.predict_proba(xv)
    assert prob[:, 2].max() < 1e-6
    np.testing.assert_allclose(prob.sum(1), 1, atol=1e-9)


def _findings(n: int, seed: int, missing: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """KL >= 2, KL >= 3, KL = 4 as three findings, a share of them missing (-1)."""
    x, grade = _graded(n, seed)
    y = np.stack([grade >= 1, grade >= 2, grade == 3], 1).astype(int)
    y[np.random.default_rng(seed + 9).random(y.shape) < missing] = -1
    return x, y


def test_multilabel_probe_masks_missing_findings():
    (xt, yt), (xv, yv), (xs, ys) = _splits(_findings)
    probe = LinearProbe(FINDINGS).fit(xt, yt, xv, yv)
    prob = probe.predict_proba(xs)
    assert prob.shape == (len(xs), 3) and ((prob > 0) & (prob < 1)).all()
    # the fit with missing labels masked equals a fit on the known labels of that finding alone
    from sklearn.linear_model import LogisticRegression

    known = yt[:, 1] >= 0
    alone = LogisticRegression(C=probe.c_, class_weight="balanced", max_iter=3000)
    alone.fit(probe.scaler_.transform(xt)[known], yt[known, 1])
    np.testing.assert_allclose(probe.coef_[1], alone.coef_[0], atol=2e-3)
    report = metrics_report(_frame(len(xs)), None, n_boot=20, task=FINDINGS, y=ys, prob=prob)["overall"]
    assert report["primary"] == "mean_auroc" and report["mean_auroc"] > 0.7
    assert set(report["per_finding"]) == {"kl2", "kl3", "kl4"}
    assert report["per_finding"]["kl2"]["n"] == int((ys[:, 0] >= 0).sum())


def _frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": np.arange(n) // 2, "study_id": np.arange(n), "body_part": "", "label": 0})


@pytest.mark.parametrize("task,make", [(GRADES, _graded), (FINDINGS, _findings), (BINARY, None)])
def test_saved_probe_reloads_and_reproduces_its_probabilities(task, make, tmp_path):
    if make is None:
        make = lambda n, s: (lambda x_y: (x_y[0], (x_y[1] > 0).astype(int)))(_graded(n, s))  # noqa: E731
    (xt, yt), (xv, yv) = _splits(make, (200, 100))
    probe = LinearProbe(task).fit(xt, yt, xv, yv)
    probe.save(tmp_path / "probe-run.npz", "avg")
    again, pool = LinearProbe.load(tmp_path / "probe-run.npz")
    assert pool == "avg" and again.task == task and again.threshold_ == probe.threshold_
    np.testing.assert_allclose(again.predict_proba(xv), probe.predict_proba(xv), rtol=1e-12)
    w, b = probe.standardised_head()  # standardisation folded in: the same logits on raw features
    np.testing.assert_allclose(xv @ w.T + b, probe.decision_function(xv), atol=1e-9)
    with np.load(tmp_path / "probe-run.npz", allow_pickle=False) as f:
        assert list(f["classes"]) == list(task.classes)


def test_ordinal_report_has_its_metrics_under_overall():
    (xt, yt), (xv, yv), (xs, ys) = _splits(_graded)
    prob = LinearProbe(GRADES).fit(xt, yt, xv, yv).predict_proba(xs)
    o = metrics_report(_frame(len(xs)), None, n_boot=50, task=GRADES, y=ys, prob=prob)["overall"]
    assert o["primary"] == "qwk"
    for name in ("qwk", "accuracy", "mae", "macro_auroc", "normal_vs_rest_auroc"):
        lo, hi = o[f"{name}_ci"]
        assert lo <= o[name] <= hi
    assert np.asarray(o["confusion"]).sum() == len(ys)


def test_label_fractions_use_the_primary_metric():
    (xt, yt), (xv, yv), (xs, ys) = _splits(_graded)
    rows = {s: _frame(n) for s, n in (("train", len(xt)), ("val", len(xv)), ("test", len(xs)))}
    rows["train"]["label"] = yt
    out = label_efficiency(
        {"train": xt, "val": xv, "test": xs}, rows, [0.2, 1.0], 2, task=GRADES, y={"train": yt, "val": yv, "test": ys}
    )
    assert [f["metric"] for f in out] == ["qwk", "qwk"]
    assert len(out[0]["qwk_per_seed"]) == 2 and out[1]["qwk"] > out[0]["qwk"] - 0.2


def test_a_probe_saved_before_tasks_loads_as_binary_and_a_pickled_one_is_refused(tmp_path):
    from xrayssl.errors import XraySSLError

    rng = np.random.default_rng(0)
    mean, scale, coef = rng.normal(size=5), rng.uniform(0.5, 2, 5), rng.normal(size=5)
    old = tmp_path / "old.npz"
    np.savez(old, mean=mean, scale=scale, coef=coef, intercept=np.array([0.3]), threshold=0.4, pool=np.array("avg"))
    probe, pool = LinearProbe.load(old)
    x = rng.normal(size=(7, 5))
    want = 1 / (1 + np.exp(-(((x - mean) / scale) @ coef + 0.3)))
    assert probe.task == BINARY and pool == "avg" and probe.threshold_ == 0.4
    np.testing.assert_allclose(probe.predict_proba(x), want)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, mean=np.array([{"a": 1}], dtype=object), scale=scale, coef=coef, intercept=[0.0], threshold=0.5)
    with pytest.raises(XraySSLError, match="not a readable fitted probe"):
        LinearProbe.load(pickled)
