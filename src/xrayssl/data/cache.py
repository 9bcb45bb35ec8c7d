"""The prepared cache: a folder that training reads without decoding image files again.

Layout (format version 1):
  cache.json     {"format_version": 1, "xrayssl_version", "created", "dataset": {root, format},
                  "process": ProcessConfig, "split": SplitConfig, "body_parts", "n_images", "size",
                  "counts", "n_problems"}
  images.npy     uint8 array (N, size, size), a standard .npy opened memory-mapped (np.load(mmap_mode="r"))
  manifest.csv   N rows in image order: the manifest columns + fingerprint (source size:mtime) + content_hash
  problems.csv   path,problem for everything reported while reading and preparing
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch

from xrayssl.data.manifest import COLUMNS, check_manifest
from xrayssl.errors import XraySSLError

CACHE_VERSION = 1
CACHE_JSON, IMAGES, MANIFEST, PROBLEMS = "cache.json", "images.npy", "manifest.csv", "problems.csv"
EXTRA_COLUMNS = ["fingerprint", "content_hash"]


def read_cache_info(path: Path) -> dict[str, Any]:
    info_path = Path(path) / CACHE_JSON
    if not info_path.is_file():
        raise XraySSLError(f"{path}: not a prepared cache (no {CACHE_JSON}); run 'xrayssl data prepare' first")
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError) as exc:
        raise XraySSLError(f"{info_path}: unreadable ({exc})") from exc
    version = info.get("format_version")
    if version != CACHE_VERSION:
        raise XraySSLError(
            f"{path}: cache format version {version}, this xrayssl reads version {CACHE_VERSION}; "
            "run 'xrayssl data prepare' again to rebuild it"
        )
    return info


def read_manifest_csv(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    check_manifest(df, str(path))
    df["label"] = df["label"].astype("int64")
    return df


class PreparedCache:
    """Read access to a prepared cache: ``images`` (memory-mapped), ``manifest``, ``info``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.info = read_cache_info(self.path)
        self.manifest = read_manifest_csv(self.path / MANIFEST)
        self.images: np.ndarray = np.load(self.path / IMAGES, mmap_mode="r")
        if self.images.shape[0] != len(self.manifest):
            raise XraySSLError(
                f"{self.path}: {self.images.shape[0]} images but {len(self.manifest)} manifest rows; "
                "the cache is damaged, run 'xrayssl data prepare' again"
            )

    def __len__(self) -> int:
        return len(self.manifest)

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def labels(self) -> np.ndarray:
        return self.manifest["label"].to_numpy()

    def indices(self, split: str | None = None, body_part: str | None = None) -> np.ndarray:
        mask = np.ones(len(self), dtype=bool)
        if split:
            mask &= (self.manifest["split"] == split).to_numpy()
        if body_part:
            mask &= (self.manifest["body_part"].str.lower() == body_part.lower()).to_numpy()
        return np.flatnonzero(mask)

    def batch(self, indices: np.ndarray) -> np.ndarray:
        """Images at ``indices`` (any order) as a new uint8 array; one gather from the page cache."""
        return np.asarray(self.images[np.asarray(indices)])

    def problems(self) -> pd.DataFrame:
        p = self.path / PROBLEMS
        return (
            pd.read_csv(p, dtype=str, keep_default_na=False)
            if p.is_file()
            else pd.DataFrame(columns=["path", "problem"])
        )


def load_images(cache: PreparedCache, indices: np.ndarray, size: int, chunk: int = 2048) -> torch.Tensor:
    """uint8 (N, 1, size, size); area-averaged when shrinking (no aliasing)."""
    out = np.empty((len(indices), size, size), np.uint8)
    for start in range(0, len(indices), chunk):
        part = cache.batch(indices[start : start + chunk])
        if part.shape[-1] != size:
            interp = cv2.INTER_AREA if part.shape[-1] > size else cv2.INTER_LINEAR
            part = np.stack([cv2.resize(im, (size, size), interpolation=interp) for im in part])
        out[start : start + len(part)] = part
    return torch.from_numpy(out).unsqueeze(1)


__all__ = ["CACHE_VERSION", "COLUMNS", "EXTRA_COLUMNS", "PreparedCache", "load_images", "read_cache_info"]
