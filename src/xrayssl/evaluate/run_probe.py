"""``xrayssl probe``: frozen features -> logistic regression chosen on validation -> test metrics."""

from __future__ import annotations

import json
import re
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
from xrayssl.evaluate.config import ENCODERS, SPLITS, ProbeConfig
from xrayssl.evaluate.evaluation import label_efficiency, report
from xrayssl.evaluate.features import encode, pixels
from xrayssl.evaluate.probe import LinearProbe
from xrayssl.models.backbones import POOLS, build_backbone
from xrayssl.runs import load_encoder

_D = ProbeConfig  # the probe's defaults are ProbeConfig's, written once there
PREDICTION_COLUMNS = ["index", "patient_id", "label", "prob"]  # predictions*.csv: one row per image of the split


def resolve_source(
    source: str | Path,
    encoder: str,
    backbone: str,
    size: int,
    small_stem: bool,
    body_part: str | None = None,
    cache: str | Path | None = None,
) -> dict[str, Any]:
    """What to evaluate: a run folder (its cache, size and backbone; ``cache``: another prepared dataset,
    for transfer) or a cache with the given options."""
    source = Path(source)
    if (source / "config.json").is_file():
        kind, config = runs.read_config(source)
        if cache is not None and not (Path(cache) / CACHE_JSON).is_file():
            raise XraySSLError(f"{cache}: not a prepared cache (no {CACHE_JSON}; run xrayssl data prepare)")
        return {
            "run": source,
            "kind": kind,
            "cache": str(cache) if cache is not None else config["cache"],
            "size": config["size"],
            "backbone": config["backbone"],
            "small_stem": config.get("small_stem", False),
            "body_part": body_part if cache is not None else config.get("body_part"),
            "seed": config.get("seed", 0),
            "transfer": cache is not None,
        }
    if cache is not None:
        raise XraySSLError(f"{source}: --cache needs a run folder (config.json) to take the encoder from")
    if (source / CACHE_JSON).is_file():
        if encoder == "run":
            raise XraySSLError(
                f"{source} is a cache, not a run folder: use --encoder random, pixels or imagenet, or pass a run folder"
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
    src: dict[str, Any],
    encoder: str,
    cache: PreparedCache,
    rows: dict[str, pd.DataFrame],
    pixels_size: int,
    pool: str = "avg",
    weights: str | None = None,
) -> dict[str, np.ndarray]:
    if encoder == "pixels":
        model = None
    elif encoder == "imagenet":
        from xrayssl.models.imagenet import imagenet_backbone

        model = imagenet_backbone(src["backbone"], weights)
    elif encoder == "random":
        torch.manual_seed(src["seed"])
        model = build_backbone(src["backbone"], src["small_stem"], src["size"])
    else:
        model = load_encoder(src["run"])[0]
    out = {}
    for split, r in rows.items():
        images = load_images(cache, r["index"].to_numpy(), src["size"])
        out[split] = pixels(images, pixels_size) if model is None else encode(model, images, pool)
    return out


def _imagenet_url(backbone: str) -> str:
    from xrayssl.models.imagenet import weights_url

    return weights_url(backbone)


def default_output(src: dict[str, Any], encoder: str) -> Path | None:
    """RUN/probe-ENCODER.json; a transfer probe names the other cache (sanitised: it comes from the user)."""
    if not src["run"]:
        return None
    if src.get("transfer"):
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(src["cache"]).resolve().name).strip("._") or "cache"
        return Path(src["run"]) / f"probe-transfer-{name}.json"
    return Path(src["run"]) / f"probe-{encoder}.json"


def probe(
    source: str | Path,
    *,
    encoder: str = _D.encoder,
    cache: str | Path | None = _D.cache,
    split: str = _D.split,
    label_fractions: list[float] | None = _D.label_fractions,
    seeds: int = _D.seeds,
    n_boot: int = _D.n_boot,
    backbone: str = _D.backbone,
    size: int = _D.size,
    small_stem: bool = _D.small_stem,
    weights: str | None = _D.weights,
    pixels_size: int = _D.pixels_size,
    body_part: str | None = _D.body_part,
    pool: str = _D.pool,
    out: str | Path | None = _D.out,
) -> dict[str, Any]:
    """Probe a run's encoder (or, given a cache, a floor or the ImageNet encoder, read from ``weights`` or
    torchvision's download); ``body_part`` restricts a cache to one body part; ``cache`` probes a run's encoder
    on another prepared dataset (transfer)."""
    if encoder not in ENCODERS:
        raise XraySSLError(f"unknown encoder '{encoder}'; valid: {', '.join(ENCODERS)}")
    if pool not in POOLS:
        raise XraySSLError(f"unknown pooling '{pool}'; valid: {', '.join(POOLS)}")
    if split not in SPLITS:
        raise XraySSLError("--split must be val or test (the probe is fitted on train)")
    start = time.perf_counter()
    src = resolve_source(source, encoder, backbone, size, small_stem, body_part, cache)
    if encoder == "imagenet":  # before any image is read: a backbone without ImageNet weights is one line
        from xrayssl.models.imagenet import check_imagenet

        check_imagenet(src["backbone"], src["small_stem"])
    cache = PreparedCache(src["cache"])
    rows = labelled_splits(cache.manifest, src["body_part"], str(cache.path))
    x = featurize(src, encoder, cache, rows, pixels_size, pool, weights)
    fitted = LinearProbe().fit(x["train"], rows["train"]["label"].to_numpy(), x["val"], rows["val"]["label"].to_numpy())
    frame = rows[split][["patient_id", "study_id", "body_part", "label"]].assign(prob=fitted.predict_proba(x[split]))
    result: dict[str, Any] = {
        "encoder": encoder,
        "source": str(source),
        "cache": src["cache"],
        "split": split,
        "size": src["size"],
        "backbone": None if encoder == "pixels" else src["backbone"],
        "pool": None if encoder == "pixels" else pool,
        "weights": (weights or _imagenet_url(src["backbone"])) if encoder == "imagenet" else None,
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
    if encoder == "run" and not src.get("transfer"):
        # the fitted probe, so that Grad-CAM can explain encoder + probe as one classifier
        np.savez(
            Path(src["run"]) / "probe-run.npz",
            mean=fitted.scaler_.mean_,
            scale=fitted.scaler_.scale_,
            coef=fitted.model_.coef_[0],
            intercept=fitted.model_.intercept_,
            threshold=fitted.threshold_,
            pool=np.array(pool),
        )
    target = Path(out) if out else default_output(src, encoder)
    if target:
        target.parent.mkdir(parents=True, exist_ok=True)
        # per-image test predictions beside the JSON, for ROC curves and paired comparisons between runs
        # named after the JSON (probe-run.json -> predictions-run.csv): other encoders or poolings keep their own
        stem = target.stem
        stem = stem.replace("probe", "predictions", 1) if "probe" in stem else f"{stem}-predictions"
        result["predictions"] = f"{stem}.csv"
        frame.assign(index=rows[split]["index"])[PREDICTION_COLUMNS].to_csv(
            target.parent / result["predictions"], index=False
        )
        target.write_text(json.dumps(result, indent=2))
        result["written_to"] = str(target)
    return result
