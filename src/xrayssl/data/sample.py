"""A few images from a prepared cache or straight from a dataset, for previews."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from xrayssl.data.cache import CACHE_JSON, PreparedCache
from xrayssl.data.formats import read_dataset
from xrayssl.data.imageio import ImageError, read_gray
from xrayssl.data.process import ProcessConfig, process
from xrayssl.errors import XraySSLError
from xrayssl.tasks import Task


def label_names(rows: pd.DataFrame, task: Task) -> list[str]:
    """Each row's label as the task names it: its class, or for multilabel its positive findings
    ("no finding" when every finding is negative)."""
    if task.kind != "multilabel":
        return [task.label_name(int(v)) for v in rows["label"]]
    out = []
    for label, coded in zip(rows["label"], rows["findings"], strict=True):
        positive = [name for name, v in zip(task.classes, coded.split("|"), strict=False) if v == "1"]
        out.append(", ".join(positive) if positive else task.label_name(int(label)))
    return out


def sample_images(
    source: str | Path, n: int, seed: int = 0, size: int = 224, split: str | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """(uint8 (n, size, size), their manifest rows): from a cache as stored, from a dataset processed
    with the default preparation (CLAHE) at ``size``. Undecodable files are skipped. The rows carry a
    ``label_name`` column: the label named by the dataset's task (``label_names``), for captions."""
    source = Path(source)
    rng = np.random.default_rng(seed)
    if (source / CACHE_JSON).is_file():
        cache = PreparedCache(source)
        pool = cache.indices(split=split)
        idx = np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))
        rows = cache.manifest.iloc[idx].reset_index(drop=True)
        return cache.batch(idx), rows.assign(label_name=label_names(rows, cache.task))
    scan = read_dataset(source)
    manifest = scan.manifest.assign(label_name=label_names(scan.manifest, scan.task))
    if split:
        manifest = manifest[manifest["split"] == split]
    images, rows = [], []
    for i in rng.permutation(len(manifest)):
        try:
            images.append(process(read_gray(manifest["path"].iat[i]), ProcessConfig(size=size)))
        except ImageError:
            continue
        rows.append(i)
        if len(images) == n:
            break
    if not images:
        raise XraySSLError(f"{source}: no decodable images to show")
    return np.stack(images), manifest.iloc[rows].reset_index(drop=True)
