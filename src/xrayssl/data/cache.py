"""The prepared cache: a folder that training reads without decoding image files again.

A cache is a set of files checked together. ``cache.json`` records the length and a SHA-256 digest of
each of the others (and the array shape of ``images.npy``), so a truncated, replaced or edited file is
found before anything reads a wrong row.

Layout (format version 2):
  cache.json     {"format_version": 2, "xrayssl_version", "created", "dataset": {root, format},
                  "task": Task (kind, classes, normal; absent: binary),
                  "process": ProcessConfig, "split": SplitConfig, "body_parts", "n_images", "size",
                  "counts", "finding_counts" (multilabel only), "n_problems",
                  "files": {name: {"bytes", "sha256"[, "shape", "dtype"]}}}
  images.npy     uint8 array (N, size, size), a standard .npy opened memory-mapped (np.load(mmap_mode="r"));
                 its digest covers the pixel data after the .npy header
  rows.npy       (N,) records: ``key``, the identity of image i (source path, source size:mtime, pixel
                 settings), and ``content_hash``, the hash of its decoded pixels; what ``prepare`` reuses by
  manifest.csv   N rows in image order: the manifest columns + fingerprint (source size:mtime) + content_hash
  problems.csv   path,problem,fingerprint for everything reported while reading and preparing

Checks: opening a cache always compares every file's length (and the array's shape and dtype) with
cache.json and the digests of the small files (rows.npy, manifest.csv, problems.csv); ``verify=True``
adds the digest of images.npy (it reads every byte).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pandas as pd

from xrayssl.data.manifest import COLUMNS, check_manifest, decode_findings
from xrayssl.errors import XraySSLError
from xrayssl.tasks import BINARY, Task

if TYPE_CHECKING:
    import torch

CACHE_VERSION = 2
CACHE_JSON, IMAGES, ROWS, MANIFEST, PROBLEMS = "cache.json", "images.npy", "rows.npy", "manifest.csv", "problems.csv"
FILES = (IMAGES, ROWS, MANIFEST, PROBLEMS)  # the files cache.json vouches for
SMALL_FILES = (ROWS, MANIFEST, PROBLEMS)  # digested on every open: a few bytes per image
EXTRA_COLUMNS = ["fingerprint", "content_hash"]
ROW_DTYPE = np.dtype([("key", "S32"), ("content_hash", "S24")])  # hex digests: never a trailing NUL byte
REPAIR = "run 'xrayssl data prepare' again to repair the cache"
_BLOCK = 1 << 22


DIGEST = "sha256"  # hardware-accelerated on current x86 and ARM CPUs: about twice BLAKE2b's speed there


class Digest:
    """The checksum recorded for every cache file."""

    def __init__(self) -> None:
        self._h = hashlib.new(DIGEST)

    def update(self, data: bytes | memoryview) -> None:
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def file_digest(path: Path, offset: int = 0) -> str:
    """Digest of the bytes of ``path`` from ``offset`` on, read in 4 MB blocks."""
    h, buf = Digest(), bytearray(_BLOCK)
    view = memoryview(buf)
    with open(path, "rb") as f:
        f.seek(offset)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def file_record(path: Path) -> dict[str, Any]:
    """What cache.json records for a small file: its length and digest."""
    return {"bytes": path.stat().st_size, DIGEST: file_digest(path)}


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of a .npy file from its header only (no pickle, no mapping)."""
    fmt = np.lib.format
    with open(path, "rb") as f:
        version = fmt.read_magic(f)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(f)
        if fortran:
            raise ValueError("Fortran-ordered array")
        return tuple(shape), dtype, f.tell()


def check_file(folder: Path, name: str, record: dict[str, Any] | None, digest: bool) -> str | None:
    """Why ``folder/name`` does not match its record in cache.json (one line), or None when it does.

    Length, and shape and dtype for arrays, are always compared; the digest only with ``digest``."""
    path = folder / name
    if not record:
        return f"{path}: not recorded in {CACHE_JSON}"
    if not path.is_file():
        return f"{path}: missing"
    size = path.stat().st_size
    offset = 0
    if "shape" in record:
        try:
            shape, dtype, offset = npy_header(path)
        except (OSError, ValueError, SyntaxError) as exc:
            return f"{path}: not a readable .npy array ({exc})"
        want_shape, want_dtype = tuple(record["shape"]), np.dtype(record["dtype"])
        if shape != want_shape or dtype != want_dtype:
            return f"{path}: array {shape} {dtype}, {CACHE_JSON} records {want_shape} {want_dtype}"
    if size != record["bytes"]:
        return f"{path}: {size} bytes, {CACHE_JSON} records {record['bytes']} (truncated or replaced)"
    if digest and file_digest(path, offset) != record.get(DIGEST):
        return f"{path}: content differs from {CACHE_JSON} (checksum mismatch: damaged or edited)"
    return None


def read_cache_info(path: Path) -> dict[str, Any]:
    info_path = Path(path) / CACHE_JSON
    if not info_path.is_file():
        raise XraySSLError(f"{path}: not a prepared cache (no {CACHE_JSON}); run 'xrayssl data prepare' first")
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError) as exc:
        raise XraySSLError(f"{info_path}: unreadable ({exc}); {REPAIR}") from exc
    version = info.get("format_version") if isinstance(info, dict) else None
    if version != CACHE_VERSION:
        raise XraySSLError(
            f"{path}: cache format version {version}, this xrayssl reads version {CACHE_VERSION}; "
            "run 'xrayssl data prepare' again to rebuild it"
        )
    files = info.get("files")
    if not isinstance(files, dict) or not all(isinstance(record, dict) for record in files.values()):
        raise XraySSLError(f"{info_path}: no readable 'files' section; {REPAIR}")
    for key, kind in (("process", dict), ("split", dict), ("dataset", dict), ("counts", list), ("task", dict)):
        if key in info and not isinstance(info[key], kind):  # valid JSON of the wrong shape: damaged all the same
            raise XraySSLError(f"{info_path}: its '{key}' section is damaged; {REPAIR}")
    return info


def parse_manifest(data: bytes, where: str, task: Task = BINARY) -> pd.DataFrame:
    """The cache's manifest table from the bytes of manifest.csv; a malformed one is a one-line error."""
    try:
        df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise XraySSLError(f"{where}: not a readable CSV ({exc}); {REPAIR}") from exc
    if "findings" not in df.columns:  # written before tasks existed: binary, no findings
        df.insert(2, "findings", "")
    check_manifest(df, where)
    labels = pd.to_numeric(df["label"], errors="coerce")
    highest = 1 if task.kind == "multilabel" else len(task.classes) - 1
    bad = labels.isna() | (labels < -1) | (labels > highest) | (labels != labels.round())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise XraySSLError(f"{where} line {i + 2}: label {df['label'].iat[i]!r} is not -1 to {highest}; {REPAIR}")
    df["label"] = labels.astype("int64")
    if task.kind == "multilabel":
        _check_findings(df, task, where)
    return df


def _check_findings(df: pd.DataFrame, task: Task, where: str) -> None:
    ok = df["findings"].str.fullmatch(r"-?[01](\|-?[01])*") & (df["findings"].str.count(r"\|") == len(task.classes) - 1)
    if not ok.all():
        i = int(np.flatnonzero(~ok.to_numpy())[0])
        raise XraySSLError(
            f"{where} line {i + 2}: findings {df['findings'].iat[i]!r} are not {len(task.classes)} values of "
            f"1, 0 or -1; {REPAIR}"
        )


def targets(rows: pd.DataFrame, task: Task) -> np.ndarray:
    """The labels of manifest ``rows`` shaped for ``task``: (n,) class indices (-1 unlabelled), or for multilabel
    (n, K) of 1, 0 and -1 (missing)."""
    if task.kind != "multilabel":
        return rows["label"].to_numpy(dtype=np.int64)
    return decode_findings(rows["findings"], len(task.classes))


def read_manifest_csv(path: Path, task: Task = BINARY) -> pd.DataFrame:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise XraySSLError(f"{path}: unreadable ({exc.strerror or exc}); {REPAIR}") from exc
    return parse_manifest(data, str(path), task)


def read_task(info: dict[str, Any], path: Path) -> Task:
    """The task cache.json records (binary for caches written before tasks existed)."""
    try:
        return Task.from_json(info.get("task"))
    except (KeyError, TypeError, ValueError) as exc:
        raise XraySSLError(f"{path / CACHE_JSON}: its 'task' section is damaged ({exc}); {REPAIR}") from exc


def read_rows(path: Path) -> np.ndarray:
    """rows.npy: the identity and content hash of every image, in image order."""
    rows = np.load(path, allow_pickle=False)
    if rows.dtype != ROW_DTYPE or rows.ndim != 1:
        raise ValueError(f"{path}: unexpected array {rows.dtype} {rows.shape}")
    return rows


def file_problems(path: Path, info: dict[str, Any], verify: bool = False) -> dict[str, str]:
    """{file name: why it does not match cache.json} for every file of the cache that does not."""
    files = info["files"]
    found = {name: check_file(path, name, files.get(name), digest=verify or name in SMALL_FILES) for name in FILES}
    shape = tuple(files.get(IMAGES, {}).get("shape", ()))
    if shape != (info.get("n_images"), info.get("size"), info.get("size")):
        found[CACHE_JSON] = f"{path / CACHE_JSON}: images.npy shape {shape} disagrees with n_images and size"
    return {name: problem for name, problem in found.items() if problem}


def check_cache(path: Path, info: dict[str, Any], verify: bool = False) -> list[str]:
    """One line per cache file that does not match cache.json (empty when the set is whole)."""
    return list(file_problems(path, info, verify).values())


class PreparedCache:
    """Read access to a prepared cache: ``images`` (memory-mapped), ``manifest``, ``info``.

    Every file is checked against cache.json on open (lengths, array shape, small-file digests);
    ``verify=True`` also reads images.npy in full to compare its digest."""

    def __init__(self, path: str | Path, verify: bool = False) -> None:
        self.path = Path(path)
        self.info = read_cache_info(self.path)
        damaged = check_cache(self.path, self.info, verify)
        if damaged:
            more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
            raise XraySSLError(f"{damaged[0]}{more}; {REPAIR}")
        self.task = read_task(self.info, self.path)
        self.manifest = read_manifest_csv(self.path / MANIFEST, self.task)
        self.images: np.ndarray = np.load(self.path / IMAGES, mmap_mode="r")
        if self.images.shape[0] != len(self.manifest):
            raise XraySSLError(
                f"{self.path}: {self.images.shape[0]} images but {len(self.manifest)} manifest rows; {REPAIR}"
            )

    def __len__(self) -> int:
        return len(self.manifest)

    @property
    def identity(self) -> str:
        """What this cache holds, as 16 hex digits: a hash of cache.json's record of every file (lengths and
        digests). Another dataset prepared into the same folder has another identity; runs and studies record it
        so that resuming over a replaced cache is refused."""
        files = json.dumps(self.info["files"], sort_keys=True).encode()
        return hashlib.sha256(files).hexdigest()[:16]

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def labels(self) -> np.ndarray:
        """(N,) the manifest's label column: class index, or for multilabel 1 = any finding; -1 unlabelled."""
        return self.manifest["label"].to_numpy()

    @property
    def targets(self) -> np.ndarray:
        """Every image's labels shaped for the task (see ``targets``)."""
        return targets(self.manifest, self.task)

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
    import torch  # here, not at the top: preparing or verifying a cache needs no torch (0.6 GB, seconds)

    out = np.empty((len(indices), size, size), np.uint8)
    for start in range(0, len(indices), chunk):
        part = cache.batch(indices[start : start + chunk])
        if part.shape[-1] != size:
            interp = cv2.INTER_AREA if part.shape[-1] > size else cv2.INTER_LINEAR
            part = np.stack([cv2.resize(im, (size, size), interpolation=interp) for im in part])
        out[start : start + len(part)] = part
    return torch.from_numpy(out).unsqueeze(1)


__all__ = [
    "CACHE_VERSION",
    "COLUMNS",
    "EXTRA_COLUMNS",
    "PreparedCache",
    "check_cache",
    "load_images",
    "read_cache_info",
    "targets",
]
