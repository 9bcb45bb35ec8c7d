"""The linear probe: standardise frozen features, fit a logistic regression, choose C on validation.

Scikit-learn's estimator style: the constructor holds parameters, ``fit`` learns, results are attributes.
The task (``xrayssl.tasks.Task``) decides the rest: one logistic regression for binary (scored by AUROC, with a
Youden threshold), one multinomial regression for multiclass and ordinal, one regression per finding for
multilabel with missing (-1) labels left out of that finding's fit; C is chosen by the task's primary metric on
validation. The test split is used for nothing but the final report.

Once fitted, the probe is a matrix: ``coef_`` (outputs x features) and ``intercept_`` on standardised features,
with the task's link (``tasks.probabilities``): what ``save``/``load`` write and read (an .npz, no pickle), what
Grad-CAM, ``xrayssl predict`` and ``export --with-head`` apply.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from xrayssl.errors import XraySSLError
from xrayssl.tasks import BINARY, Task, decision_threshold, missing_classes, primary_score, probabilities

DEFAULT_CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
ABSENT_LOGIT = -1e4  # a class no training image has: its softmax probability is 0


def warn_absent(task: Task, y_train: np.ndarray, y_other: np.ndarray, where: str) -> None:
    """A warning naming each class (or finding) that ``where`` has and the training labels lack."""
    absent = missing_classes(task, y_train, y_other)
    if absent:
        warnings.warn(
            f"no training image of {', '.join(absent)} (present in {where}): the probe cannot predict it; its "
            "probability is 0 (a finding's: constant)",
            stacklevel=4,
        )


class LinearProbe:
    def __init__(self, task: Task = BINARY, cs: tuple[float, ...] = DEFAULT_CS, max_iter: int = 3000) -> None:
        self.task, self.cs, self.max_iter = task, cs, max_iter

    def fit(self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> LinearProbe:
        y_train, y_val = np.asarray(y_train).astype(int), np.asarray(y_val).astype(int)
        self._check(y_train, y_val)
        self.scaler_ = StandardScaler().fit(x_train)
        xt, xv = self.scaler_.transform(x_train), self.scaler_.transform(x_val)
        self.val_score_by_c_: dict[float, float] = {}
        best = None
        # one convex problem per C, solved from weak to strong C, each starting from the previous solution
        # (the same optimum, in about half the iterations)
        self._constant: dict[int, float] = {}
        models = self._models(y_train)
        for c in sorted(self.cs):
            for j, model in models:
                known = slice(None) if j is None else y_train[:, j] >= 0  # a finding's missing labels: left out
                model.set_params(C=c).fit(xt[known], y_train[known] if j is None else y_train[known, j])
            coef, intercept = self._matrix(models, xt.shape[1])
            score = primary_score(self.task, y_val, probabilities(self.task, xv @ coef.T + intercept))
            self.val_score_by_c_[c] = float(score)
            if best is None or score > best[0] or not np.isfinite(best[0]):
                best = (float(score), c, coef, intercept)
        self.val_score_, self.c_, self.coef_, self.intercept_ = best
        self.threshold_ = decision_threshold(self.task, y_val, self.predict_proba(x_val))
        return self

    def _check(self, y_train: np.ndarray, y_val: np.ndarray) -> None:
        if self.task.kind == "binary" and (len(np.unique(y_train)) < 2 or len(np.unique(y_val)) < 2):
            raise XraySSLError("the probe needs normal and abnormal images in both train and validation splits")
        if self.task.kind != "binary" and len(np.unique(y_train[y_train >= 0])) < 2:
            raise XraySSLError(f"the probe needs at least two {self.task.kind} labels among the training images")
        warn_absent(self.task, y_train, y_val, "validation")

    def _models(self, y_train: np.ndarray) -> list[tuple[int | None, LogisticRegression]]:
        """(finding or None, model) per regression to fit; a finding with one kind of label has none."""

        def model() -> LogisticRegression:
            return LogisticRegression(max_iter=self.max_iter, class_weight="balanced", warm_start=True)

        if self.task.kind != "multilabel":
            return [(None, model())]
        out = []
        for j in range(y_train.shape[1]):
            known = y_train[:, j][y_train[:, j] >= 0]
            if len(np.unique(known)) == 2:
                out.append((j, model()))
            else:
                self._constant[j] = float(known.mean()) if len(known) else 0.5
        return out

    def _matrix(self, models: list, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """The fitted regressions as one (outputs, features) matrix and intercepts, in the task's class order."""
        k = self.task.n_outputs
        coef, intercept = np.zeros((k, dim)), np.zeros(k)
        if self.task.kind == "multilabel":
            for j, p in self._constant.items():  # a finding it cannot learn: its prevalence
                intercept[j] = np.log(max(p, 1e-6) / max(1 - p, 1e-6))
            for j, m in models:
                coef[j], intercept[j] = m.coef_[0], m.intercept_[0]
            return coef, intercept
        m = models[0][1]
        if self.task.kind == "binary":
            return m.coef_.copy(), m.intercept_.copy()
        intercept[:] = ABSENT_LOGIT
        classes = m.classes_.astype(int)
        if len(classes) == 2:  # scikit-learn fits two classes as one logit: class b's, against class a at 0
            coef[classes[1]], intercept[classes[1]], intercept[classes[0]] = m.coef_[0], m.intercept_[0], 0.0
        else:
            coef[classes], intercept[classes] = m.coef_, m.intercept_
        return coef, intercept

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return self.scaler_.transform(x) @ self.coef_.T + self.intercept_

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n,) abnormal probability for binary, (n, K) class or finding probabilities otherwise."""
        return probabilities(self.task, self.decision_function(x))

    # the fitted probe as arrays: saved beside the encoder, applied by Grad-CAM, predict and export --with-head
    def save(self, f: str | Path | IO[bytes], pool: str) -> None:
        np.savez(
            f,
            mean=self.scaler_.mean_,
            scale=self.scaler_.scale_,
            coef=self.coef_,
            intercept=self.intercept_,
            threshold=np.nan if self.threshold_ is None else self.threshold_,
            pool=np.array(pool),
            task=np.array(json.dumps(self.task.to_json())),
            classes=np.array(list(self.task.classes)),
            C=self.c_,
        )

    @classmethod
    def load(cls, path: str | Path) -> tuple[LinearProbe, str]:
        """A saved probe and its pooling; probes saved before tasks existed (a 1-D coef) are binary."""
        try:
            p = np.load(path, allow_pickle=False)
            task = Task.from_json(json.loads(str(p["task"]))) if "task" in p else BINARY
            probe = cls(task)
            probe.scaler_ = StandardScaler()
            probe.scaler_.mean_, probe.scaler_.scale_ = p["mean"].astype(float), p["scale"].astype(float)
            probe.coef_ = np.atleast_2d(p["coef"]).astype(float)
            probe.intercept_ = np.atleast_1d(p["intercept"]).astype(float)
            threshold = float(p["threshold"])
            probe.threshold_ = None if np.isnan(threshold) else threshold
            probe.c_ = float(p["C"]) if "C" in p else None
            pool = str(p["pool"]) if "pool" in p else "avg"
        except (OSError, ValueError, KeyError) as exc:
            raise XraySSLError(f"{path}: not a readable fitted probe ({exc}); run 'xrayssl probe RUN' again") from None
        if probe.coef_.shape[0] != task.n_outputs or probe.coef_.shape[1] != len(probe.scaler_.mean_):
            raise XraySSLError(f"{path}: probe arrays do not fit its task; run 'xrayssl probe RUN' again")
        return probe, pool

    def standardised_head(self) -> tuple[np.ndarray, np.ndarray]:
        """Standardisation folded into the regression: (weight (outputs, features), bias) on raw features."""
        w = self.coef_ / self.scaler_.scale_
        return w, self.intercept_ - (self.coef_ * self.scaler_.mean_ / self.scaler_.scale_).sum(1)
