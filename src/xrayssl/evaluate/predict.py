"""``xrayssl predict RUN IMAGES``: a trained model's probabilities for new images.

RUN is a pretraining run with its fitted probe (``RUN/probe-run.npz``, written by ``xrayssl probe RUN``) or a
supervised run. Each image goes through exactly what the images it was trained on went through: decoding
(``data.imageio.read_gray``), the square fit and CLAHE of the cache the run was trained on
(``data.process.process`` with the ProcessConfig its ``cache.json`` records), then the run's image size (as
``data.cache.load_images`` shrinks cached images) and the encoder's own normalisation. One row per image with
a probability per class or finding (``prob`` for binary); a file that cannot be read gets its reason in
``error`` and no probabilities: reported, never fatal.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from xrayssl import runs
from xrayssl.data.cache import load_images, read_cache_info
from xrayssl.data.imageio import DICOM_SUFFIXES, IMAGE_SUFFIXES, is_dicom_file, is_regular_file, is_resource_fork
from xrayssl.data.process import ProcessConfig, load_and_process
from xrayssl.errors import XraySSLError
from xrayssl.evaluate.config import PredictConfig
from xrayssl.evaluate.features import encode
from xrayssl.evaluate.probe import LinearProbe
from xrayssl.fileio import atomic_write
from xrayssl.tasks import Task

PROBE_FILE = "probe-run.npz"


def list_images(images: str | Path) -> list[str]:
    """The files to predict: every image or DICOM file under a folder (sorted), the ``path`` column of a CSV
    (relative paths from the CSV's folder), or one image file."""
    source = Path(images)
    if source.is_dir():
        found = [
            p
            for p in sorted(source.rglob("*"))
            if is_regular_file(p)
            and not is_resource_fork(p)
            and (p.suffix.lower() in IMAGE_SUFFIXES | DICOM_SUFFIXES or (not p.suffix and is_dicom_file(p)))
        ]
        return [str(p) for p in found]
    if source.suffix.lower() == ".csv":
        try:
            table = pd.read_csv(source, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise XraySSLError(f"{source}: not a readable CSV ({' '.join(str(exc).split())[:120]})") from None
        if "path" not in table.columns:
            raise XraySSLError(f"{source}: no 'path' column; name the image files in a column called path")
        return [str(p if Path(p).is_absolute() else source.parent / p) for p in table["path"]]
    if source.is_file():
        return [str(source)]
    raise XraySSLError(f"{source}: no such folder, CSV or image file")


class Predictor:
    """A run's model as images -> probabilities: the supervised classifier, or the encoder with its fitted probe."""

    def __init__(self, run: str | Path) -> None:
        self.run = Path(run)
        kind, self.config = runs.read_config(run)
        if kind == "supervised":
            self.model, _ = runs.load_classifier(run)
            self.task: Task = self.model.task
            self.probe = None
        else:
            if not (self.run / PROBE_FILE).is_file():
                raise XraySSLError(f"{run}: no fitted probe ({PROBE_FILE}); run 'xrayssl probe {run}' first")
            self.probe, self.pool = LinearProbe.load(self.run / PROBE_FILE)
            self.model, _ = runs.load_encoder(run)
            self.task = self.probe.task
        self.size = int(self.config["size"])
        self.process = process_config(self.config)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """uint8 (N, 1, size, size) -> the task's scores: (N,) binary, (N, K) otherwise."""
        if self.probe is not None:
            return self.probe.predict_proba(encode(self.model, images, self.pool))
        return np.asarray(self.model.probabilities(self.model(images.float() / 255)))


def process_config(run_config: dict[str, Any]) -> ProcessConfig:
    """The decoding, square fit and CLAHE of the cache a run was trained on, from its cache.json."""
    cache = Path(run_config["cache"])
    info = read_cache_info(cache)
    if not isinstance(info.get("process"), dict):
        raise XraySSLError(f"{cache}: cache.json records no 'process' settings; prepare the cache again")
    return ProcessConfig(**info["process"])


class _Stack:
    """Processed images in the shape ``load_images`` reads a cache by, so that they are resized the same way."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images

    def batch(self, indices: np.ndarray) -> np.ndarray:
        return self.images[np.asarray(indices)]


def predict(config: PredictConfig) -> dict[str, Any]:
    """Probabilities for every image of ``config.images``, written to ``config.out`` (CSV: path, error, the
    task's probability columns)."""
    model = Predictor(config.run)
    paths = list_images(config.images)
    if not paths:
        raise XraySSLError(f"{config.images}: no image files found")
    columns = model.task.prob_columns()
    rows: list[dict[str, Any]] = []
    for start in range(0, len(paths), config.batch_size):
        rows.extend(_predict_batch(model, paths[start : start + config.batch_size], columns))
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out, "w") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "error", *columns], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    problems = [(r["path"], r["error"]) for r in rows if r["error"]]  # the printer shows them
    return {
        "out": str(out),
        "run": str(config.run),
        "task": model.task.to_json(),
        "n": len(paths),
        "n_failed": len(problems),
        "problems": problems,
        "columns": columns,
    }


def _predict_batch(model: Predictor, paths: list[str], columns: list[str]) -> list[dict[str, Any]]:
    decoded = [load_and_process(p, model.process) for p in paths]
    good = [i for i, (img, _, error) in enumerate(decoded) if not error and img is not None]
    rows = [{"path": p, "error": error} for p, (_, _, error) in zip(paths, decoded, strict=True)]
    if good:
        stack = _Stack(np.stack([decoded[i][0] for i in good]))
        scores = model(load_images(stack, np.arange(len(good)), model.size)).reshape(len(good), -1)
        for i, score in zip(good, scores, strict=True):
            rows[i].update({c: float(v) for c, v in zip(columns, score, strict=True)})
    return rows
