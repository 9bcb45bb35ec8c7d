"""The supervised baseline, trained and then evaluated by the same code and metrics as the probe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xrayssl.catalog import INFERENCE_BATCH
from xrayssl.data.cache import PreparedCache, load_images
from xrayssl.data.selection import labelled_splits
from xrayssl.errors import XraySSLError
from xrayssl.evaluate.config import SupervisedEvalConfig
from xrayssl.evaluate.evaluation import metrics_report
from xrayssl.evaluate.run_probe import prediction_frame, task_labels
from xrayssl.fileio import atomic_write, write_text_atomic
from xrayssl.models.classifier import Classifier
from xrayssl.runs import load_classifier
from xrayssl.tasks import decision_threshold, primary_score


@torch.no_grad()
def predict(model: Classifier, images: torch.Tensor, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """The classifier's scores of uint8 images: (N,) for binary, (N, K) otherwise."""
    model.eval()
    return np.concatenate(
        [
            model.probabilities(model(images[i : i + batch_size].float() / 255)).numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


def evaluate_supervised(config: SupervisedEvalConfig) -> dict[str, Any]:
    """Metrics of the run's task on ``config.split`` (binary: threshold chosen on validation, Youden); written to
    ``evaluation.json``, with per-image predictions in ``predictions.csv``."""
    run, split = Path(config.run), config.split
    model, run_config = load_classifier(run)
    cache = PreparedCache(run_config["cache"])
    rows = labelled_splits(cache.manifest, run_config.get("body_part"), str(cache.path), cache.task)
    task, y = task_labels(rows)
    if task != model.task:
        raise XraySSLError(f"{cache.path}: its task is not the one {run} was trained for; prepare it again")
    val_p = predict(model, load_images(cache, rows["val"]["index"].to_numpy(), run_config["size"]))
    threshold = decision_threshold(task, y["val"], val_p)
    test_p = predict(model, load_images(cache, rows[split]["index"].to_numpy(), run_config["size"]))
    frame = rows[split][["patient_id", "study_id", "body_part"]]
    result = {
        "kind": "supervised",
        "source": str(config.run),
        "split": split,
        "label_fraction": run_config["label_fraction"],
        "init": run_config.get("init"),
        "task": task.to_json(),
        f"val_{task.primary}": primary_score(task, y["val"], val_p),
        "threshold": threshold,
        **metrics_report(frame, threshold, config.n_boot, task=task, y=y[split], prob=test_p),
    }
    result["predictions"] = "predictions.csv"  # per-image predictions beside the JSON, as the probe writes them
    with atomic_write(run / "predictions.csv", "w") as f:
        prediction_frame(rows[split], task, test_p).to_csv(f, index=False)
    write_text_atomic(run / "evaluation.json", json.dumps(result, indent=2))
    return result
