"""Task metrics against scikit-learn on constructed predictions, and intervals around their estimates."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    mean_absolute_error,
    roc_auc_score,
)

from xrayssl.tasks import Task, evaluate, quadratic_kappa

GRADES = Task("ordinal", ("KL0", "KL2", "KL3", "KL4"), normal=(0,))


def _graded(n: int = 300, k: int = 4, seed: int = 0, skill: float = 1.5):
    """Grades and softmax scores that know the grade to a degree ``skill``; three images per patient."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + skill * (np.arange(k)[None, :] == y[:, None])
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, prob, np.arange(n) // 3


def test_ordinal_metrics_match_scikit_learn():
    y, prob, groups = _graded()
    out = evaluate(GRADES, y, prob, groups, n_boot=200)
    pred = prob.argmax(1)
    assert out["primary"] == "qwk"
    assert out["qwk"] == pytest.approx(cohen_kappa_score(y, pred, weights="quadratic"))
    assert out["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert out["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert out["mae"] == pytest.approx(mean_absolute_error(y, pred))
    assert out["macro_auroc"] == pytest.approx(roc_auc_score(y, prob, multi_class="ovr", average="macro"))
    assert out["normal_vs_rest_auroc"] == pytest.approx(roc_auc_score(y != 0, 1 - prob[:, 0]))
    assert out["confusion"] == confusion_matrix(y, pred).tolist()
    for name in ("KL0", "KL4"):
        c = GRADES.classes.index(name)
        assert out["per_class"][name]["auroc"] == pytest.approx(roc_auc_score(y == c, prob[:, c]))


def test_intervals_hold_their_estimates_and_shrink_with_data():
    small = evaluate(GRADES, *_graded(n=90, seed=1), n_boot=300)
    large = evaluate(GRADES, *_graded(n=900, seed=1), n_boot=300)
    for out in (small, large):
        for name in ("qwk", "accuracy", "mae", "macro_auroc", "normal_vs_rest_auroc"):
            lo, hi = out[f"{name}_ci"]
            assert lo <= out[name] <= hi, name
    width = lambda out: out["qwk_ci"][1] - out["qwk_ci"][0]  # noqa: E731
    assert width(large) < width(small)


def test_multiclass_primary_is_macro_auroc_and_chance_is_half():
    task = Task("multiclass", ("AP", "PA", "lateral"), normal=())
    y, prob, groups = _graded(k=3, skill=0.0, seed=2)  # scores that know nothing
    out = evaluate(task, y, prob, groups, n_boot=200)
    assert out["primary"] == "macro_auroc" and task.chance == 0.5 and not task.has_normal
    assert "normal_vs_rest_auroc" not in out and "qwk" not in out
    lo, hi = out["macro_auroc_ci"]
    assert lo < 0.5 < hi


def test_multilabel_masks_missing_labels_per_finding():
    rng = np.random.default_rng(3)
    n = 240
    y = rng.integers(0, 2, (n, 3))
    prob = np.clip(y * 0.6 + rng.uniform(0, 0.5, (n, 3)), 0, 1)
    y_missing = y.copy()
    y_missing[rng.random((n, 3)) < 0.2] = -1  # CheXpert's "not mentioned"
    task = Task("multilabel", ("KL>=2", "KL>=3", "KL=4"), normal=())
    out = evaluate(task, y_missing, prob, np.arange(n) // 2, n_boot=200)
    per = out["per_finding"]
    for j, name in enumerate(task.classes):
        seen = y_missing[:, j] >= 0
        assert per[name]["auroc"] == pytest.approx(roc_auc_score(y[seen, j], prob[seen, j]))
        assert per[name]["n"] == seen.sum() and per[name]["prevalence"] == pytest.approx(y[seen, j].mean())
    assert out["mean_auroc"] == pytest.approx(np.mean([per[name]["auroc"] for name in task.classes]))


def test_binary_is_todays_metrics_with_the_primary_named():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 120)
    p = np.clip(y * 0.3 + rng.uniform(0, 0.7, 120), 0, 1)
    out = evaluate(Task(), y, p, np.arange(120), n_boot=100)
    assert out["primary"] == "auroc" and out["auroc"] == pytest.approx(roc_auc_score(y, p))
    assert {"kappa", "sensitivity", "specificity"} <= set(out)


def test_quadratic_kappa_of_perfect_and_reversed_grades():
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    assert quadratic_kappa(y, y, 4) == pytest.approx(1.0)
    assert quadratic_kappa(y, 3 - y, 4) == pytest.approx(cohen_kappa_score(y, 3 - y, weights="quadratic"))


def test_a_task_round_trips_and_refuses_nonsense():
    assert Task.from_json(GRADES.to_json()) == GRADES and Task.from_json(None) == Task()
    with pytest.raises(ValueError, match="unknown task"):
        Task("graded")
    with pytest.raises(ValueError, match="out of range"):
        Task("multiclass", ("a", "b"), normal=(2,))
