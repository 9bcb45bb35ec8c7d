"""``xrayssl probe``: frozen features -> logistic regression chosen on validation -> test metrics."""

from __future__ import annotations

import json
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from xrayssl import runs
from xrayssl.data.cache import CACHE_JSON, PreparedCache, load_images
from xrayssl.data.selection import LabelledSplits, labelled_splits
from xrayssl.errors import XraySSLError
from xrayssl.evaluate.config import ProbeConfig, is_start
from xrayssl.evaluate.evaluation import label_efficiency, metrics_report
from xrayssl.evaluate.features import encode, pixels
from xrayssl.evaluate.probe import LinearProbe
from xrayssl.fileio import atomic_write, write_text_atomic
from xrayssl.models.backbones import build_backbone
from xrayssl.runs import load_encoder
from xrayssl.tasks import Task

PREDICTION_COLUMNS = ["index", "patient_id", "label", "prob"]  # predictions*.csv: one row per image of the split


def prediction_frame(held: pd.DataFrame, task: Task, prob: np.ndarray) -> pd.DataFrame:
    """predictions*.csv: index, patient_id, label (findings for multilabel) and one probability column per
    class or finding (``prob`` for binary, as before; ``prob:<class>`` otherwise)."""
    frame = held[["index", "patient_id", "label"] + (["findings"] if task.kind == "multilabel" else [])].copy()
    scores = np.asarray(prob).reshape(len(held), -1)
    for j, column in enumerate(task.prob_columns()):
        frame[column] = scores[:, j]
    return frame.reset_index(drop=True)


def task_labels(rows: LabelledSplits) -> tuple[Task, dict[str, np.ndarray]]:
    """The task the splits can be scored on (the cache's, less the findings a split cannot score) and each split's
    labels for it ((n,) classes, or (n, K) findings with -1 missing)."""
    return rows.task, {s: rows.targets(s) for s in rows}


def resolve_source(config: ProbeConfig) -> dict[str, Any]:
    """What to evaluate: a run folder (its cache, size and backbone; ``config.cache``: another prepared dataset,
    for transfer) or a cache with the config's options."""
    source, cache = Path(config.source), config.cache
    if (source / "config.json").is_file():
        if is_start(config.encoder):
            raise XraySSLError(f"{source}: --encoder {config.encoder} probes a pretrained start on a prepared cache")
        kind, run_config = runs.read_config(source)
        if cache is not None and not (Path(cache) / CACHE_JSON).is_file():
            raise XraySSLError(f"{cache}: not a prepared cache (no {CACHE_JSON}; run xrayssl data prepare)")
        return {
            "run": source,
            "kind": kind,
            "cache": str(cache) if cache is not None else run_config["cache"],
            "size": run_config["size"],
            "backbone": run_config["backbone"],
            "small_stem": run_config.get("small_stem", False),
            "args": runs.read_encoder(source)["timm_args"] or None,  # a timm backbone's (a Hugging Face start's)
            "body_part": config.body_part if cache is not None else run_config.get("body_part"),
            "seed": run_config.get("seed", 0),
            "transfer": cache is not None,
        }
    if cache is not None:
        raise XraySSLError(f"{source}: --cache needs a run folder (config.json) to take the encoder from")
    if (source / CACHE_JSON).is_file():
        if config.encoder == "run":
            raise XraySSLError(
                f"{source} is a cache, not a run folder: use --encoder random, pixels, imagenet, timm:NAME or "
                "hf:PATH, or pass a run folder"
            )
        return {
            "run": None,
            "kind": None,
            "cache": str(source),
            "size": config.size,
            "backbone": start_backbone(config.encoder) if is_start(config.encoder) else config.backbone,
            "small_stem": config.small_stem,
            "body_part": config.body_part,
            "seed": 0,
        }
    raise XraySSLError(f"{source}: neither a run folder (config.json) nor a prepared cache (cache.json)")


def featurize(
    src: dict[str, Any], config: ProbeConfig, cache: PreparedCache, rows: dict[str, pd.DataFrame]
) -> dict[str, np.ndarray]:
    """Features per split: raw pixels, or the chosen encoder's pooled feature maps."""
    if config.encoder == "pixels":
        model = None
    elif config.encoder == "imagenet":
        from xrayssl.models.imagenet import imagenet_backbone

        model = imagenet_backbone(src["backbone"], config.weights)
    elif is_start(config.encoder):
        from xrayssl.models.starts import frozen_start

        model = frozen_start(config.encoder, src["size"], config.weights)
    elif config.encoder == "random":
        torch.manual_seed(src["seed"])
        model = build_backbone(src["backbone"], src["small_stem"], src["size"], args=src.get("args"))
    else:
        model = load_encoder(src["run"])[0]
    out = {}
    for split, r in rows.items():
        images = load_images(cache, r["index"].to_numpy(), src["size"])
        out[split] = pixels(images, config.pixels_size) if model is None else encode(model, images, config.pool)
    return out


def start_backbone(encoder: str) -> str:
    """The backbone a start is: timm:NAME itself, or the timm ViT a Hugging Face folder maps onto."""
    if encoder.startswith("hf:"):
        from xrayssl.models.hf_dinov2 import hf_architecture

        return hf_architecture(encoder)["backbone"]
    return encoder


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


def probe(config: ProbeConfig) -> dict[str, Any]:
    """Probe a run's encoder (or, given a cache, a floor or the ImageNet encoder, read from ``config.weights`` or
    torchvision's download); ``config.body_part`` restricts a cache to one body part; ``config.cache`` probes a
    run's encoder on another prepared dataset (transfer)."""
    start = time.perf_counter()
    src = resolve_source(config)
    if config.encoder == "imagenet":  # the run's backbone, once resolved: one line before any image is read
        from xrayssl.catalog import check_imagenet

        check_imagenet(src["backbone"], src["small_stem"])
    cache = PreparedCache(src["cache"])
    rows = labelled_splits(cache.manifest, src["body_part"], str(cache.path), cache.task)
    task, y = task_labels(rows)
    x = featurize(src, config, cache, rows)
    with warnings.catch_warnings():  # labelled_splits has named any class that train lacks
        warnings.filterwarnings("ignore", "no training image of", UserWarning)
        fitted = LinearProbe(task).fit(x["train"], y["train"], x["val"], y["val"])
    held, prob = rows[config.split], fitted.predict_proba(x[config.split])
    frame = held[["patient_id", "study_id", "body_part"]]
    result = {
        **_describe(config, src, x, rows, fitted),
        **metrics_report(frame, fitted.threshold_, config.n_boot, task=task, y=y[config.split], prob=prob),
    }
    if config.label_fractions:
        split_rows = {"train": rows["train"], "val": rows["val"], "test": held}
        features = {"train": x["train"], "val": x["val"], "test": x[config.split]}
        labels = {"train": y["train"], "val": y["val"], "test": y[config.split]}
        result["label_fractions"] = label_efficiency(
            features, split_rows, config.label_fractions, config.seeds, task=task, y=labels
        )
    result["seconds"] = round(time.perf_counter() - start, 2)
    if config.encoder == "run" and not src.get("transfer"):
        save_fitted_probe(Path(src["run"]) / "probe-run.npz", fitted, config.pool)
    target = Path(config.out) if config.out else default_output(src, config.encoder)
    if target:
        _write(result, prediction_frame(held, task, prob), target)
    return result


def _describe(
    config: ProbeConfig,
    src: dict[str, Any],
    x: dict[str, np.ndarray],
    rows: dict[str, pd.DataFrame],
    fitted: LinearProbe,
) -> dict[str, Any]:
    """What was probed and the fitted probe, the head of the result (the metrics follow)."""
    features = config.encoder != "pixels"
    return {
        "encoder": config.encoder,
        "source": str(config.source),
        "cache": src["cache"],
        "split": config.split,
        "size": src["size"],
        "backbone": src["backbone"] if features else None,
        "pool": config.pool if features else None,
        "weights": _weights_of(config, src),
        "feature_dim": int(x["train"].shape[1]),
        "n": {s: len(r) for s, r in rows.items()},
        "task": fitted.task.to_json(),
        "probe": _fitted(fitted),
    }


def _fitted(fitted: LinearProbe) -> dict[str, Any]:
    """The probe's choice of C: by the task's primary metric on validation (``metric``); binary keeps its
    ``val_auroc`` keys."""
    metric = fitted.task.primary
    by_c = {str(k): v for k, v in fitted.val_score_by_c_.items()}
    out = {"C": fitted.c_, "metric": metric, "val_score": fitted.val_score_, "val_score_by_C": by_c}
    out.update({"threshold": fitted.threshold_, f"val_{metric}": fitted.val_score_, f"val_{metric}_by_C": by_c})
    return out


def _weights_of(config: ProbeConfig, src: dict[str, Any]) -> str | None:
    """Where a start's weights came from: the file, the folder, or the URL of the download."""
    if config.encoder == "imagenet":
        return config.weights or _imagenet_url(src["backbone"])
    if config.encoder.startswith("hf:"):
        return config.encoder[3:]
    if is_start(config.encoder):
        from xrayssl.models.timm_backbones import weights_url

        return config.weights or weights_url(config.encoder)
    return None


def save_fitted_probe(path: Path, fitted: LinearProbe, pool: str) -> None:
    """The fitted probe beside the run (its task, class names, matrix), so that Grad-CAM, ``xrayssl predict``
    and ``export --with-head`` apply encoder + probe as one classifier."""
    with atomic_write(path) as f:
        fitted.save(f, pool)


def _write(result: dict[str, Any], predictions: pd.DataFrame, target: Path) -> None:
    """The JSON, and per-image predictions beside it for ROC curves and paired comparisons between runs: named
    after the JSON (probe-run.json -> predictions-run.csv), so that other encoders or poolings keep their own."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stem = target.stem.replace("probe", "predictions", 1) if "probe" in target.stem else f"{target.stem}-predictions"
    result["predictions"] = f"{stem}.csv"
    with atomic_write(target.parent / result["predictions"], "w") as f:
        predictions.to_csv(f, index=False)
    write_text_atomic(target, json.dumps(result, indent=2))
    result["written_to"] = str(target)
