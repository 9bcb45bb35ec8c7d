"""``xrayssl probe``: frozen features -> logistic regression chosen on validation -> test metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from xrayssl import runs
from xrayssl.data.cache import CACHE_JSON, PreparedCache, load_images
from xrayssl.data.selection import labelled_splits
from xrayssl.errors import XraySSLError
from xrayssl.evaluate.evaluation import label_efficiency, report
from xrayssl.evaluate.features import encode, pixels
from xrayssl.evaluate.probe import LinearProbe
from xrayssl.models.backbones import Backbone
from xrayssl.runs import load_encoder

ENCODERS = ("run", "random", "pixels")
PREDICTION_COLUMNS = ["index", "patient_id", "label", "prob"]  # predictions*.csv: one row per image of the split


def resolve_source(
    source: str | Path, encoder: str, backbone: str, size: int, small_stem: bool, body_part: str | None = None
) -> dict[str, Any]:
    """What to evaluate: a run folder (its cache, size and backbone) or a cache with the given options."""
    source = Path(source)
    if (source / "config.json").is_file():
        kind, config = runs.read_config(source)
        return {
            "run": source,
            "kind": kind,
            "cache": config["cache"],
            "size": config["size"],
            "backbone": config["backbone"],
            "small_stem": config.get("small_stem", False),
            "body_part": config.get("body_part"),
            "seed": config.get("seed", 0),
        }
    if (source / CACHE_JSON).is_file():
        if encoder == "run":
            raise XraySSLError(
                f"{source} is a cache, not a run folder: use --encoder random or pixels, or pass a run folder"
            )
        return {
            "run": None,
            "kind": None,
            "cache": str(source),
            "size": size,
            "backbone": backbone,
            "small_stem": small_stem,
            "body_part": body_part,
            "seed": 0,
        }
    raise XraySSLError(f"{source}: neither a run folder (config.json) nor a prepared cache (cache.json)")


def featurize(
    src: dict[str, Any], encoder: str, cache: PreparedCache, rows: dict[str, pd.DataFrame], pixels_size: int
) -> dict[str, np.ndarray]:
    if encoder == "pixels":
        model = None
    elif encoder == "random":
        torch.manual_seed(src["seed"])
        model = Backbone(src["backbone"], src["small_stem"])
    else:
        model = load_encoder(src["run"])[0]
    out = {}
    for split, r in rows.items():
        images = load_images(cache, r["index"].to_numpy(), src["size"])
        out[split] = pixels(images, pixels_size) if model is None else encode(model, images)
    return out


def probe(
    source: str | Path,
    *,
    encoder: str = "run",
    split: str = "test",
    label_fractions: list[float] | None = None,
    seeds: int = 3,
    n_boot: int = 1000,
    backbone: str = "resnet18",
    size: int = 64,
    small_stem: bool = False,
    pixels_size: int = 32,
    body_part: str | None = None,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Probe a run's encoder (or, given a cache, a floor); ``body_part`` restricts a cache to one body part."""
    if encoder not in ENCODERS:
        raise XraySSLError(f"unknown encoder '{encoder}'; valid: {', '.join(ENCODERS)}")
    if split not in ("val", "test"):
        raise XraySSLError("--split must be val or test (the probe is fitted on train)")
    start = time.perf_counter()
    src = resolve_source(source, encoder, backbone, size, small_stem, body_part)
    cache = PreparedCache(src["cache"])
    rows = labelled_splits(cache.manifest, src["body_part"], str(cache.path))
    x = featurize(src, encoder, cache, rows, pixels_size)
    fitted = LinearProbe().fit(x["train"], rows["train"]["label"].to_numpy(), x["val"], rows["val"]["label"].to_numpy())
    frame = rows[split][["patient_id", "study_id", "body_part", "label"]].assign(prob=fitted.predict_proba(x[split]))
    result: dict[str, Any] = {
        "encoder": encoder,
        "source": str(source),
        "cache": src["cache"],
        "split": split,
        "size": src["size"],
        "backbone": None if encoder == "pixels" else src["backbone"],
        "feature_dim": int(x["train"].shape[1]),
        "n": {s: len(r) for s, r in rows.items()},
        "probe": {
            "C": fitted.c_,
            "val_auroc": fitted.val_auroc_,
            "threshold": fitted.threshold_,
            "val_auroc_by_C": {str(k): v for k, v in fitted.val_auroc_by_c_.items()},
        },
        **report(frame, fitted.threshold_, n_boot=n_boot),
    }
    if label_fractions:
        held = {"train": rows["train"], "val": rows["val"], "test": rows[split]}
        result["label_fractions"] = label_efficiency(
            {"train": x["train"], "val": x["val"], "test": x[split]}, held, label_fractions, seeds
        )
    result["seconds"] = round(time.perf_counter() - start, 2)
    if encoder == "run":  # the fitted probe, so that Grad-CAM can explain encoder + probe as one classifier
        np.savez(
            Path(src["run"]) / "probe-run.npz",
            mean=fitted.scaler_.mean_,
            scale=fitted.scaler_.scale_,
            coef=fitted.model_.coef_[0],
            intercept=fitted.model_.intercept_,
            threshold=fitted.threshold_,
        )
    target = Path(out) if out else (Path(src["run"]) / f"probe-{encoder}.json" if src["run"] else None)
    if target:
        target.parent.mkdir(parents=True, exist_ok=True)
        # per-image test predictions beside the JSON, for ROC curves and paired comparisons between runs
        result["predictions"] = "predictions.csv" if encoder == "run" else f"predictions-{encoder}.csv"
        frame.assign(index=rows[split]["index"])[PREDICTION_COLUMNS].to_csv(
            target.parent / result["predictions"], index=False
        )
        target.write_text(json.dumps(result, indent=2))
        result["written_to"] = str(target)
    return result
