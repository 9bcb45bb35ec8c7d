"""What a rerun of prepare reuses from the cache already in its output folder: only parts that verified.

An image is reused by its identity (source path, source size and mtime, pixel settings; recorded in rows.npy),
never by its row position; an unchanged file that failed to decode with the same settings is not decoded again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xrayssl.data.cache import (
    CACHE_JSON,
    IMAGES,
    MANIFEST,
    PROBLEMS,
    REPAIR,
    ROWS,
    file_problems,
    npy_header,
    read_cache_info,
    read_manifest_csv,
    read_rows,
    read_task,
)
from xrayssl.data.imageio import NPZ_REF
from xrayssl.data.process import ProcessConfig, pixel_settings
from xrayssl.errors import XraySSLError


def fingerprint(path: str) -> str:
    """Cheap change detector: size and modification time of the file (the .npz for array entries)."""
    m = NPZ_REF.match(path)
    try:
        st = os.stat(m["file"] if m else path)
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def row_key(path: str, source_fingerprint: str, settings: str) -> str:
    """The identity of one cached image: which file, which version of it, which pixel settings."""
    text = "\0".join((path, source_fingerprint, settings))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass
class PreviousCache:
    """What a previous cache in the output folder offers for reuse: only parts that verified."""

    info: dict[str, Any] | None = None
    rows: dict[str, int] = field(default_factory=dict)  # image identity -> row of images.npy
    content: np.ndarray | None = None  # content hash per row of images.npy
    manifest: pd.DataFrame | None = None
    failed: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, fingerprint) -> problem
    damaged: list[str] = field(default_factory=list)


def read_previous_cache(out: Path, process: ProcessConfig, verify: bool) -> PreviousCache:
    old = PreviousCache()
    if not (out / CACHE_JSON).exists():
        return old
    try:
        old.info = read_cache_info(out)
    except XraySSLError as exc:
        old.damaged.append(str(exc).split("; ")[0])
        return old
    bad = file_problems(out, old.info, verify)
    old.damaged += bad.values()
    old_process = old.info.get("process") or {}
    same_pixels = {k: v for k, v in old_process.items() if k != "max_pixels"} == pixel_settings(process)
    if same_pixels and not {IMAGES, ROWS, CACHE_JSON} & set(bad):
        try:
            rows = read_rows(out / ROWS)
            old.rows = {k.decode(): i for i, k in enumerate(rows["key"])}
            old.content = rows["content_hash"].astype(str)
        except (OSError, ValueError) as exc:
            old.damaged.append(f"{out / ROWS}: unreadable ({exc})")
    if MANIFEST not in bad:
        try:
            old.manifest = read_manifest_csv(out / MANIFEST, read_task(old.info, out))
        except XraySSLError as exc:
            old.damaged.append(str(exc).split("; ")[0])
    if PROBLEMS not in bad and old_process == asdict(process):
        # an unchanged file that failed to decode with the same settings is not decoded again
        try:
            probs = pd.read_csv(out / PROBLEMS, dtype=str, keep_default_na=False)
            if {"path", "problem", "fingerprint"} <= set(probs.columns):
                old.failed = {(r.path, r.fingerprint): r.problem for r in probs.itertuples() if r.fingerprint}
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            old.damaged.append(f"{out / PROBLEMS}: unreadable ({exc})")
    return old


@dataclass
class ReusePlan:
    """Where each manifest row's image comes from: an old cache row, a decode, or nowhere (known bad)."""

    keys: list[str]
    source_rows: np.ndarray  # row of the old images.npy, or -1
    known_bad: np.ndarray  # failed before with the same file and settings: not decoded again
    todo: np.ndarray  # manifest rows to decode
    n_old: int  # rows of the old images.npy that verified (0 when none can be reused)

    @property
    def keeps_old_images(self) -> bool:
        """Nothing to decode and the good rows are exactly the old images.npy, in order."""
        kept = self.source_rows[~self.known_bad]
        return not len(self.todo) and 0 < len(kept) == self.n_old and bool((kept == np.arange(len(kept))).all())


def plan_reuse(df: pd.DataFrame, process: ProcessConfig, old: PreviousCache) -> ReusePlan:
    settings = json.dumps(pixel_settings(process), sort_keys=True)
    keys = [row_key(path, source, settings) for path, source in zip(df["path"], df["fingerprint"], strict=True)]
    n_old = len(old.content) if old.content is not None else 0
    if len(old.rows) != n_old:  # two rows with one identity: not a cache this code wrote, reuse nothing
        n_old, old.rows = 0, {}
    source_rows = np.array([old.rows.get(k, -1) for k in keys], dtype=np.int64)
    known_bad = np.array([k in old.failed for k in zip(df["path"], df["fingerprint"], strict=True)], dtype=bool)
    todo = np.flatnonzero((source_rows < 0) & ~known_bad)
    return ReusePlan(keys, source_rows, known_bad, todo, n_old)


class PreviousImages:
    """Row reads from the previous (verified) images.npy by plain file reads (no mapping kept around)."""

    def __init__(self, path: Path) -> None:
        shape, _dtype, self.offset = npy_header(path)
        self.row_bytes = int(np.prod(shape[1:]))
        self.file = open(path, "rb")  # noqa: SIM115 - closed by close()

    def read(self, row: int) -> bytes:
        self.file.seek(self.offset + int(row) * self.row_bytes)
        data = self.file.read(self.row_bytes)
        if len(data) != self.row_bytes:  # the file changed under us since it was checked
            raise XraySSLError(f"{self.file.name}: shorter than its header says; {REPAIR}")
        return data

    def close(self) -> None:
        self.file.close()
