"""What a label is, and everything that depends on it: the metrics, the primary one, the chance level.

A low module beside ``metrics`` (see ARCHITECTURE.md, "Tasks"): the prepared dataset records its ``Task``, and
the probe, the supervised baseline, the study and the report ask it instead of branching on label types.

- ``binary``: labels 0/1 (normal/abnormal); primary metric AUROC (the metrics of ``xrayssl.metrics``).
- ``multiclass``: labels 0..K-1; primary macro one-vs-rest AUROC, with accuracy, balanced accuracy, per class.
- ``ordinal``: grades 0..K-1 in order (Kellgren-Lawrence); primary quadratic-weighted kappa (the field's
  metric for grades, Tiulpin et al. 2018), with accuracy, mean absolute error in grades, macro AUROC.
- ``multilabel``: K findings per image, each 0/1 or -1 (missing: masked); primary mean AUROC over findings.

Scores are probabilities: (n,) of the abnormal class for ``binary``, (n, K) otherwise (rows summing to one for
``multiclass``/``ordinal``, one independent probability per finding for ``multilabel``). Intervals are 95 %
percentile intervals of a bootstrap that resamples whole patients, as everywhere in xrayssl.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from xrayssl.catalog import N_BOOT
from xrayssl.metrics import auroc, bootstrap_metrics, knn_neighbours, knn_scores, youden_threshold

TaskKind = Literal["binary", "multiclass", "ordinal", "multilabel"]
TASK_KINDS: tuple[str, ...] = ("binary", "multiclass", "ordinal", "multilabel")
PRIMARY = {"binary": "auroc", "multiclass": "macro_auroc", "ordinal": "qwk", "multilabel": "mean_auroc"}
# how tables, plots and sentences name each primary metric
METRIC_LABELS = {"auroc": "AUROC", "macro_auroc": "macro AUROC", "qwk": "QWK", "mean_auroc": "mean AUROC"}
# what a model that knows nothing scores: AUROC 0.5 whatever the prevalence, kappa 0
CHANCE = {"auroc": 0.5, "macro_auroc": 0.5, "mean_auroc": 0.5, "qwk": 0.0, "normal_vs_rest_auroc": 0.5}


@dataclass(frozen=True)
class Task:
    """A prepared dataset's label task: its kind, its class (or finding) names in label order, the normal ones."""

    kind: TaskKind = "binary"
    classes: tuple[str, ...] = ("normal", "abnormal")
    normal: tuple[int, ...] = field(default=(0,))  # class indices meaning normal; empty: none named

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"unknown task '{self.kind}'; tasks: {', '.join(TASK_KINDS)}")
        if len(self.classes) < 2 and self.kind != "multilabel":
            raise ValueError(f"a {self.kind} task needs at least two classes, got {list(self.classes)}")
        if any(not 0 <= i < len(self.classes) for i in self.normal):
            raise ValueError(f"normal class index out of range for classes {list(self.classes)}")

    @property
    def primary(self) -> str:
        return PRIMARY[self.kind]

    @property
    def metric_label(self) -> str:
        """The primary metric as a reader sees it: "AUROC", "QWK", "macro AUROC", "mean AUROC"."""
        return METRIC_LABELS[self.primary]

    @property
    def chance(self) -> float:
        return CHANCE[self.primary]

    @property
    def has_normal(self) -> bool:
        """Whether a normal-vs-rest AUROC (and the study's imbalance arm) exists."""
        return self.kind == "binary" or (self.kind != "multilabel" and bool(self.normal))

    @property
    def single_label(self) -> bool:
        """One class per image (binary, multiclass, ordinal), as opposed to K findings each 0/1."""
        return self.kind != "multilabel"

    @property
    def link(self) -> str:
        """How a linear model's outputs become probabilities: one sigmoid per output (binary: the abnormal
        class's logit; multilabel: one per finding) or a softmax over the classes."""
        return "softmax" if self.kind in ("multiclass", "ordinal") else "sigmoid"

    @property
    def n_outputs(self) -> int:
        """Columns of the scores: 1 for binary (the abnormal probability), K otherwise."""
        return 1 if self.kind == "binary" else len(self.classes)

    def prob_columns(self) -> list[str]:
        """Per-image prediction columns: ``prob`` for binary (as always), ``prob:<class>`` otherwise."""
        return ["prob"] if self.kind == "binary" else [f"prob:{c}" for c in self.classes]

    def label_name(self, label: int) -> str:
        """The name of a manifest label: a class, or for multilabel whether any finding is present."""
        if label < 0:
            return "unlabelled"
        if self.kind == "multilabel":
            return "any finding" if label else "no finding"
        return self.classes[label]

    def abnormal(self, labels: np.ndarray) -> np.ndarray:
        """(n,) 1 where an image is not of a normal class (any finding, for multilabel), 0 where it is, -1 where
        that is unknown (unlabelled, all findings missing, or no normal class named)."""
        labels = np.asarray(labels)
        if self.kind == "multilabel":
            out = np.where((labels == 1).any(1), 1, np.where((labels == 0).all(1), 0, -1))
            return out.astype(np.int64)
        if not self.has_normal:
            return np.full(len(labels), -1, np.int64)
        return np.where(labels < 0, -1, (~np.isin(labels, self.normal)).astype(np.int64)).astype(np.int64)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "classes": list(self.classes), "normal": list(self.normal)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Task:
        """A cache's recorded task; caches written before tasks existed are binary."""
        if not data:
            return cls()
        return cls(str(data["kind"]), tuple(map(str, data["classes"])), tuple(int(i) for i in data.get("normal", ())))


BINARY = Task()


def probabilities(task: Task, logits: np.ndarray) -> np.ndarray:
    """A linear model's outputs (n, task.n_outputs) -> the task's scores: (n,) for binary, (n, K) otherwise."""
    z = np.asarray(logits, dtype=float).reshape(len(logits), -1)
    if task.link == "softmax":
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)
    p = 1 / (1 + np.exp(-z))
    return p[:, 0] if task.kind == "binary" else p


def primary_score(task: Task, y: np.ndarray, prob: np.ndarray) -> float:
    """The task's primary metric on one sample, without intervals: what a C, an epoch or a monitor reading is
    chosen by (unlabelled rows of single-label tasks left out)."""
    y, prob = np.asarray(y).astype(int), np.asarray(prob, dtype=float)
    if task.kind == "binary":
        keep = y >= 0
        return auroc(y[keep], prob[keep])
    keep = y >= 0 if y.ndim == 1 else np.ones(len(y), bool)
    y, prob = y[keep], prob[keep]
    if task.kind == "multilabel":
        return _nanmean(_per_finding(y, prob))
    if task.primary == "qwk":  # the primary alone: this runs inside every paired bootstrap draw
        return quadratic_kappa(y, prob.argmax(1), prob.shape[1])
    return _nanmean(_one_vs_rest(y, prob))


def knn_probabilities(task: Task, train: np.ndarray, labels: np.ndarray, query: np.ndarray, k: int = 20) -> np.ndarray:
    """The kNN vote as the task's scores: binary, the abnormal share of the ``k`` nearest training images (as
    always); single-label, each class's share (n, K); multilabel, per finding the positive share among the
    neighbours whose finding is known (0.5 where none is)."""
    if task.kind == "binary":
        return knn_scores(train, labels, query, k)
    near = np.asarray(labels).astype(int)[knn_neighbours(train, query, k)]  # (m, k) or (m, k, K)
    if task.kind == "multilabel":
        known = (near >= 0).sum(1)
        return np.where(known > 0, (near == 1).sum(1) / np.maximum(known, 1), 0.5)
    return (near[:, :, None] == np.arange(len(task.classes))[None, None, :]).mean(1)


def decision_threshold(task: Task, y_val: np.ndarray, prob_val: np.ndarray) -> float | None:
    """Binary's cut on the abnormal probability, chosen on validation (Youden); other tasks predict the
    highest-scoring class (or read each finding's probability) and have none."""
    return youden_threshold(np.asarray(y_val), np.asarray(prob_val)) if task.kind == "binary" else None


METRIC_RANGE = {"qwk": (-1.0, 1.0), "mae": (0.0, float("inf"))}  # every other metric lies in [0, 1]


def metric_range(name: str) -> tuple[float, float]:
    """Where a metric's values can lie (to clip a t-interval over seeds to)."""
    return METRIC_RANGE.get(name, (0.0, 1.0))


def class_weights(task: Task, y: np.ndarray) -> np.ndarray:
    """Loss weights that balance the training labels: for binary the one ``pos_weight`` (normals over
    abnormals, as the baseline always had); for multiclass/ordinal n / (K * n_c) per class (0 for a class with no
    image); for multilabel, per finding, negatives over positives among its labelled images (1 where it lacks
    one kind)."""
    y = np.asarray(y).astype(int)
    if task.kind == "binary":
        return np.array([float((y == 0).sum()) / max(1.0, float((y == 1).sum()))])
    if task.kind == "multilabel":
        pos, neg = (y == 1).sum(0), (y == 0).sum(0)
        return np.where((pos > 0) & (neg > 0), neg / np.maximum(pos, 1), 1.0).astype(float)
    k = len(task.classes)
    counts = np.bincount(y[y >= 0], minlength=k).astype(float)
    return np.where(counts > 0, counts.sum() / (k * np.maximum(counts, 1)), 0.0)


def missing_classes(task: Task, y_train: np.ndarray, y_other: np.ndarray) -> list[str]:
    """Classes (single-label) or findings (multilabel: no positive) present in ``y_other`` but absent from the
    training labels: a model cannot learn them, so the probe and the baseline name them in a warning."""
    y_train, y_other = np.asarray(y_train).astype(int), np.asarray(y_other).astype(int)
    if task.kind == "multilabel":
        return [c for j, c in enumerate(task.classes) if (y_other[:, j] == 1).any() and not (y_train[:, j] == 1).any()]
    return [c for j, c in enumerate(task.classes) if (y_other == j).any() and not (y_train == j).any()]


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """K x K counts, rows the true class, columns the predicted one."""
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def quadratic_kappa(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Cohen's kappa with quadratic weights (equals sklearn's ``cohen_kappa_score(weights="quadratic")``),
    from the confusion matrix: cheap inside a bootstrap."""
    observed = confusion(y, pred, k).astype(float)
    n = observed.sum()
    if n == 0:
        return float("nan")
    expected = np.outer(observed.sum(1), observed.sum(0)) / n
    grid = np.arange(k)
    weights = (grid[:, None] - grid[None, :]) ** 2
    denominator = (weights * expected).sum()
    return float(1 - (weights * observed).sum() / denominator) if denominator > 0 else float("nan")


def _one_vs_rest(y: np.ndarray, prob: np.ndarray) -> list[float]:
    return [auroc((y == c).astype(int), prob[:, c]) for c in range(prob.shape[1])]


def _per_finding(y: np.ndarray, prob: np.ndarray) -> list[float]:
    """Each finding's AUROC over the images whose label for it is known."""
    return [auroc(y[:, j][y[:, j] >= 0], prob[:, j][y[:, j] >= 0]) for j in range(y.shape[1])]


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def point_metrics(task: Task, y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """The task's scalar metrics on one sample (binary: see ``xrayssl.metrics.point_metrics``)."""
    if task.kind == "multilabel":
        per = _per_finding(y, prob)
        return {"mean_auroc": _nanmean(per), **{f"auroc:{j}": v for j, v in enumerate(per)}}
    k = prob.shape[1]
    pred = prob.argmax(1)
    per = _one_vs_rest(y, prob)
    out = {"macro_auroc": _nanmean(per), "accuracy": float((pred == y).mean()) if len(y) else float("nan")}
    recalls = [float((pred[y == c] == c).mean()) for c in range(k) if (y == c).any()]
    out["balanced_accuracy"] = float(np.mean(recalls)) if recalls else float("nan")
    out.update({f"auroc:{c}": v for c, v in enumerate(per)})
    if task.kind == "ordinal":
        out["qwk"] = quadratic_kappa(y, pred, k)
        out["mae"] = float(np.abs(pred - y).mean()) if len(y) else float("nan")
    if task.normal:
        abnormal = (~np.isin(y, task.normal)).astype(int)
        out["normal_vs_rest_auroc"] = auroc(abnormal, 1 - prob[:, list(task.normal)].sum(1))
    return out


def _interval(values: list[float]) -> list[float] | None:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if len(v) else None


def _patient_draws(groups: np.ndarray, n_boot: int, seed: int):
    codes, uniq = pd.factorize(np.asarray(groups))
    members = [np.flatnonzero(codes == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        pick = rng.integers(0, len(members), len(members))
        yield np.concatenate([members[g] for g in pick])


def evaluate(
    task: Task, y: np.ndarray, prob: np.ndarray, groups: np.ndarray, n_boot: int = N_BOOT, seed: int = 0, **binary: Any
) -> dict[str, Any]:
    """The task's metrics with patient-bootstrap 95 % intervals: ``out["primary"]`` names the primary metric,
    ``out[name]`` and ``out[name + "_ci"]`` hold each metric; per class or per finding, and the confusion
    matrix, where the task has them. ``binary`` keywords (threshold) go to ``xrayssl.metrics``."""
    if task.kind == "binary":
        return {"primary": "auroc", **bootstrap_metrics(y, prob, groups, n_boot=n_boot, seed=seed, **binary)}
    y, prob = np.asarray(y).astype(int), np.asarray(prob, dtype=float)
    keep = y >= 0 if y.ndim == 1 else np.ones(len(y), bool)  # unlabelled images take no part
    y, prob, groups = y[keep], prob[keep], np.asarray(groups)[keep]
    point = point_metrics(task, y, prob)
    draws: dict[str, list[float]] = {name: [] for name in point}
    for idx in _patient_draws(groups, n_boot, seed):
        for name, value in point_metrics(task, y[idx], prob[idx]).items():
            draws[name].append(value)
    out: dict[str, Any] = {"primary": task.primary, "n": len(y), "n_patients": int(pd.Series(groups).nunique())}
    for name, value in point.items():
        if ":" not in name:
            out[name], out[f"{name}_ci"] = value, _interval(draws[name])
    out["per_finding" if task.kind == "multilabel" else "per_class"] = _per_class(task, y, point, draws)
    if task.kind != "multilabel":
        out["confusion"] = confusion(y, prob.argmax(1), prob.shape[1]).tolist()
    return out


def _per_class(task: Task, y: np.ndarray, point: dict, draws: dict) -> dict[str, dict[str, Any]]:
    out = {}
    for j, name in enumerate(task.classes):
        labels = y[:, j][y[:, j] >= 0] if y.ndim == 2 else (y == j).astype(int)
        out[name] = {
            "auroc": point[f"auroc:{j}"],
            "auroc_ci": _interval(draws[f"auroc:{j}"]),
            "n": len(labels),
            "prevalence": float(labels.mean()) if len(labels) else float("nan"),
        }
    return out
