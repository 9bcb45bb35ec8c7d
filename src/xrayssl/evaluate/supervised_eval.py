"""The supervised baseline, trained and then evaluated by the same code and metrics as the probe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from xrayssl.data.cache import PreparedCache, load_images
from xrayssl.data.selection import labelled_splits
from xrayssl.evaluate.evaluation import report
from xrayssl.evaluate.run_probe import PREDICTION_COLUMNS
from xrayssl.metrics import youden_threshold
from xrayssl.models.classifier import Classifier
from xrayssl.runs import load_classifier


@torch.no_grad()
def predict(model: Classifier, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    model.eval()
    return np.concatenate(
        [
            torch.sigmoid(model(images[i : i + batch_size].float() / 255)).numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


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
    result["predictions"] = "predictions.csv"  # per-image predictions beside the JSON, as the probe writes them
    frame.assign(index=rows[split]["index"])[PREDICTION_COLUMNS].to_csv(Path(run) / "predictions.csv", index=False)
    (Path(run) / "evaluation.json").write_text(json.dumps(result, indent=2))
    return result
