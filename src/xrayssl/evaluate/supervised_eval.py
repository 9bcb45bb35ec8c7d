"""The supervised baseline, trained and then evaluated by the same code and metrics as the probe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sklearn.metrics import roc_auc_score

from xrayssl.data.cache import PreparedCache
from xrayssl.data.selection import labelled_splits
from xrayssl.evaluate.evaluation import report
from xrayssl.evaluate.metrics import youden_threshold
from xrayssl.train.config import SupervisedConfig
from xrayssl.train.data import load_images
from xrayssl.train.supervised import load_classifier, predict, train_supervised


def evaluate_supervised(run: str | Path, split: str = "test", n_boot: int = 1000) -> dict[str, Any]:
    """Threshold chosen on validation (Youden), metrics on ``split``; written to ``evaluation.json``."""
    model, config = load_classifier(run)
    cache = PreparedCache(config["cache"])
    rows = labelled_splits(cache.manifest, config.get("body_part"), str(cache.path))
    val_p = predict(model, load_images(cache, rows["val"]["index"].to_numpy(), config["size"]))
    threshold = youden_threshold(rows["val"]["label"].to_numpy(), val_p)
    test_p = predict(model, load_images(cache, rows[split]["index"].to_numpy(), config["size"]))
    frame = rows[split][["patient_id", "study_id", "body_part", "label"]].assign(prob=test_p)
    result = {
        "kind": "supervised",
        "source": str(run),
        "split": split,
        "label_fraction": config["label_fraction"],
        "init": config.get("init"),
        "val_auroc": float(roc_auc_score(rows["val"]["label"], val_p)),
        "threshold": threshold,
        **report(frame, threshold, n_boot=n_boot),
    }
    (Path(run) / "evaluation.json").write_text(json.dumps(result, indent=2))
    return result


def supervised_baseline(config: SupervisedConfig, progress_bar: bool = True, n_boot: int = 1000) -> dict[str, Any]:
    run = train_supervised(config, progress_bar=progress_bar)
    return evaluate_supervised(run, n_boot=n_boot)
