"""The linear probe: standardise frozen features, fit a logistic regression, choose C on validation.

Scikit-learn's estimator style: the constructor holds parameters, ``fit`` learns, results are attributes.
The test split is used for nothing but the final report.
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from xrayssl.errors import XraySSLError
from xrayssl.metrics import youden_threshold

DEFAULT_CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


class LinearProbe:
    def __init__(self, cs: tuple[float, ...] = DEFAULT_CS, max_iter: int = 3000) -> None:
        self.cs, self.max_iter = cs, max_iter

    def fit(self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> LinearProbe:
        if len(np.unique(y_train)) < 2 or len(np.unique(y_val)) < 2:
            raise XraySSLError("the probe needs normal and abnormal images in both train and validation splits")
        self.scaler_ = StandardScaler().fit(x_train)
        xt, xv = self.scaler_.transform(x_train), self.scaler_.transform(x_val)
        self.val_auroc_by_c_ = {}
        best = None
        # one convex problem per C, solved from weak to strong C, each starting from the previous solution
        # (the same optimum, in about half the iterations)
        model = LogisticRegression(max_iter=self.max_iter, class_weight="balanced", warm_start=True)
        for c in sorted(self.cs):
            model.set_params(C=c).fit(xt, y_train)
            auc = roc_auc_score(y_val, model.predict_proba(xv)[:, 1])
            self.val_auroc_by_c_[c] = float(auc)
            if best is None or auc > best[0]:
                best = (auc, c, copy.deepcopy(model))
        self.val_auroc_, self.c_, self.model_ = best
        self.threshold_ = youden_threshold(y_val, self.model_.predict_proba(xv)[:, 1])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(self.scaler_.transform(x))[:, 1]
