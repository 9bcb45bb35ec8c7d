"""The supervised baseline, trained and then evaluated by the same code and metrics as the probe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from xrayssl.catalog import INFERENCE_BATCH
from xrayssl.data.cache import PreparedCache, load_images
from xrayssl.data.selection import labelled_splits
from xrayssl.evaluate.config import SupervisedEvalConfig
from xrayssl.evaluate.evaluation import metrics_report
from xrayssl.evaluate.run_probe import PREDICTION_COLUMNS
from xrayssl.fileio import atomic_write, write_text_atomic
from xrayssl.metrics import youden_threshold
from xrayssl.models.classifier import Classifier
from xrayssl.runs import load_classifier


@torch.no_grad()
def predict(model: Classifier, images: torch.Tensor, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    model.eval()
    return np.concatenate(
        [
            torch.sigmoid(model(images[i : i + batch_size].float() / 255)).numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


def evaluate_supervised(config: SupervisedEvalConfig) -> dict[str, Any]:
    """Threshold chosen on validation (Youden), metrics on ``config.split``; written to ``evaluation.json``."""
    run, split = Path(config.run), config.split
    model, run_config = load_classifier(run)
    cache = PreparedCache(run_config["cache"])
    rows = labelled_splits(cache.manifest, run_config.get("body_part"), str(cache.path))
    val_p = predict(model, load_images(cache, rows["val"]["index"].to_numpy(), run_config["size"]))
    threshold = youden_threshold(rows["val"]["label"].to_numpy(), val_p)
    test_p = predict(model, load_images(cache, rows[split]["index"].to_numpy(), run_config["size"]))
    frame = rows[split][["patient_id", "study_id", "body_part", "label"]].assign(prob=test_p)
    result = {
        "kind": "supervised",
        "source": str(config.run),
        "split": split,
        "label_fraction": run_config["label_fraction"],
        "init": run_config.get("init"),
        "val_auroc": float(roc_auc_score(rows["val"]["label"], val_p)),
        "threshold": threshold,
        **metrics_report(frame, threshold, n_boot=config.n_boot),
    }
    result["predictions"] = "predictions.csv"  # per-image predictions beside the JSON, as the probe writes them
    with atomic_write(run / "predictions.csv", "w") as f:
        frame.assign(index=rows[split]["index"])[PREDICTION_COLUMNS].to_csv(f, index=False)
    write_text_atomic(run / "evaluation.json", json.dumps(result, indent=2))
    return result
