"""``xrayssl data prepare``: decode, grayscale, resize, CLAHE, and write the cache once.

Streaming: images are decoded by worker processes and written straight into a memory-mapped array,
so memory does not grow with the dataset. A rerun reuses every image whose source file (size, mtime)
and processing settings are unchanged; with nothing changed it only re-reads the folder listing.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from xrayssl.data.cache import (
    CACHE_JSON,
    CACHE_VERSION,
    IMAGES,
    MANIFEST,
    PROBLEMS,
    read_cache_info,
    read_manifest_csv,
)
from xrayssl.data.dataset import load_dataset
from xrayssl.data.formats import ReadOptions
from xrayssl.data.imageio import NPZ_REF
from xrayssl.data.manifest import COLUMNS, Problem
from xrayssl.data.process import ProcessConfig, load_and_process
from xrayssl.data.splits import SplitConfig, duplicate_problems
from xrayssl.data.summary import summarize
from xrayssl.errors import XraySSLError


@dataclass
class PrepareResult:
    cache: Path
    n_images: int
    n_processed: int
    n_reused: int
    up_to_date: bool
    seconds: float
    problems: list[Problem] = field(default_factory=list)


def fingerprint(path: str) -> str:
    """Cheap change detector: size and modification time of the file (the .npz for array entries)."""
    m = NPZ_REF.match(path)
    try:
        st = os.stat(m["file"] if m else path)
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _work(item: tuple[str, ProcessConfig | None]) -> tuple[np.ndarray | None, str, str]:
    return load_and_process(*item)


def decode_all(
    paths: list[str], config: ProcessConfig | None, workers: int, desc: str, progress: bool
) -> Iterator[tuple[np.ndarray | None, str, str]]:
    """(image, hash, error) per path, in order; parallel over processes, with a progress bar."""
    items = [(p, config) for p in paths]
    bar = tqdm(total=len(items), desc=desc, unit="img", disable=not progress or not items, leave=False)
    try:
        if workers <= 1 or len(items) < 64:
            for item in items:
                yield _work(item)
                bar.update()
        else:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            # at most two blocks in flight: finished images cannot pile up while the writer catches up
            block = 64 * workers
            with mp.get_context(method).Pool(workers) as pool:
                pending = deque(
                    pool.imap(_work, items[i : i + block], chunksize=8)
                    for i in range(0, min(len(items), 2 * block), block)
                )
                next_start = 2 * block
                while pending:
                    for result in pending.popleft():
                        yield result
                        bar.update()
                    if next_start < len(items):
                        pending.append(pool.imap(_work, items[next_start : next_start + block], chunksize=8))
                        next_start += block
    finally:
        bar.close()


NPY_HEADER_BYTES = 128  # fixed, so the header can be rewritten with the final row count


def write_npy_header(f, shape: tuple[int, ...]) -> None:
    """A .npy (format 1.0) header for uint8 data of ``shape``, padded to a fixed length."""
    text = repr({"descr": "|u1", "fortran_order": False, "shape": tuple(shape)})
    pad = NPY_HEADER_BYTES - 10 - len(text) - 1
    f.write(b"\x93NUMPY\x01\x00" + (NPY_HEADER_BYTES - 10).to_bytes(2, "little") + text.encode() + b" " * pad + b"\n")


class NpyRows:
    """Row reads from an existing cache array by plain file reads (no mapping kept around)."""

    def __init__(self, path: Path) -> None:
        arr = np.load(path, mmap_mode="r")
        self.offset, self.row_bytes = arr.offset, int(np.prod(arr.shape[1:]))
        del arr
        self.file = open(path, "rb")  # noqa: SIM115 - closed by close()

    def read(self, row: int) -> bytes:
        self.file.seek(self.offset + row * self.row_bytes)
        return self.file.read(self.row_bytes)

    def close(self) -> None:
        self.file.close()


def _old_cache(out: Path, process: ProcessConfig) -> tuple[dict, pd.DataFrame, dict[tuple[str, str], str]] | None:
    """The previous cache at ``out`` when it was made with the same processing, else None."""
    try:
        info = read_cache_info(out)
        if info.get("process") != asdict(process):
            return None
        manifest = read_manifest_csv(out / MANIFEST)
        failed: dict[tuple[str, str], str] = {}
        if (out / PROBLEMS).is_file():
            probs = pd.read_csv(out / PROBLEMS, dtype=str, keep_default_na=False)
            if "fingerprint" in probs:
                failed = {(r.path, r.fingerprint): r.problem for r in probs.itertuples() if r.fingerprint}
        return info, manifest, failed
    except (XraySSLError, OSError, ValueError, KeyError):
        return None


def prepare(
    root: str | Path,
    out: str | Path,
    *,
    fmt: str = "auto",
    process: ProcessConfig | None = None,
    split: SplitConfig | None = None,
    body_parts: list[str] | None = None,
    options: ReadOptions | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> PrepareResult:
    """Prepare ``root`` into the cache folder ``out`` (created or updated in place)."""
    start = time.perf_counter()
    process = process or ProcessConfig()
    split = split or SplitConfig()
    workers = workers or default_workers()
    out = Path(out)
    scan = load_dataset(root, fmt, split=split, body_parts=body_parts, options=options)
    df = scan.manifest.copy()
    df["fingerprint"] = [fingerprint(p) for p in df["path"]]
    problems = list(scan.problems)

    old = _old_cache(out, process) if out.exists() else None
    reuse_index: dict[tuple[str, str], int] = {}
    old_hash: list[str] = []
    failed: dict[tuple[str, str], str] = {}
    if old:
        _, old_manifest, failed = old
        reuse_index = {(p, f): i for i, (p, f) in enumerate(zip(old_manifest["path"], old_manifest["fingerprint"]))}
        old_hash = old_manifest["content_hash"].tolist()
    keys = list(zip(df["path"], df["fingerprint"]))
    source_rows = np.array([reuse_index.get(k, -1) for k in keys])
    known_bad = np.array([k in failed for k in keys], dtype=bool)
    todo = np.flatnonzero((source_rows < 0) & ~known_bad)
    n = len(df)

    if old and not len(todo):
        ok = ~known_bad
        kept = df[ok].reset_index(drop=True)
        same = (
            len(kept) == len(old[1])
            and (source_rows[ok] == np.arange(len(kept))).all()
            and (kept[COLUMNS].astype(str).to_numpy() == old[1][COLUMNS].astype(str).to_numpy()).all()
        )
        if same and old[0].get("split") == asdict(split):
            problems += [Problem(p, failed[(p, f)]) for p, f in np.array(keys, dtype=object)[known_bad]]
            return PrepareResult(out, len(kept), 0, len(kept), True, time.perf_counter() - start, problems)

    out.mkdir(parents=True, exist_ok=True)
    tmp_images = out / f".{IMAGES}.{os.getpid()}.tmp"
    size = process.size
    hashes = np.array([""] * n, dtype=object)
    good = ~known_bad
    fail_fp: dict[int, str] = {}
    for i, key in enumerate(keys):
        if known_bad[i]:
            problems.append(Problem(key[0], failed[key]))
            fail_fp[i] = failed[key]
    paths = df["path"].to_numpy()[todo].tolist()
    decoded = decode_all(paths, process, workers, "prepare", progress)
    old_rows = NpyRows(out / IMAGES) if old and (source_rows >= 0).any() else None
    try:
        # rows are written in manifest order as they arrive: memory stays flat whatever the dataset size
        with open(tmp_images, "wb") as f:
            write_npy_header(f, (n, size, size))
            for i in range(n):
                if known_bad[i]:
                    continue
                if source_rows[i] >= 0:
                    f.write(old_rows.read(source_rows[i]))
                    hashes[i] = old_hash[source_rows[i]]
                    continue
                img, digest, error = next(decoded)
                if error:
                    good[i] = False
                    problems.append(Problem(df["path"].iat[i], f"{error}; skipped"))
                    fail_fp[i] = f"{error}; skipped"
                else:
                    f.write(img.tobytes())
                    hashes[i] = digest
            f.seek(0)
            write_npy_header(f, (int(good.sum()), size, size))
    except BaseException:
        decoded.close()
        tmp_images.unlink(missing_ok=True)
        raise
    finally:
        if old_rows:
            old_rows.close()

    final = df[good].reset_index(drop=True)
    final["content_hash"] = hashes[good]
    problems += duplicate_problems(final, final["content_hash"])
    summary = summarize(final, problems, scan.format, str(scan.root))
    info = {
        "format_version": CACHE_VERSION,
        "xrayssl_version": _version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": {"root": str(scan.root), "format": scan.format},
        "process": asdict(process),
        "split": asdict(split),
        "body_parts": body_parts or [],
        "n_images": len(final),
        "size": size,
        "host": {"python": platform.python_version(), "machine": platform.machine(), "workers": workers},
        "counts": summary["counts"],
        "n_problems": len(problems),
    }
    # write everything beside the old files, then swap them in: an interrupted run leaves a usable cache
    final[[*COLUMNS, "fingerprint", "content_hash"]].to_csv(out / f".{MANIFEST}.tmp", index=False)
    # a decode failure keeps its source fingerprint, so an unchanged bad file is not decoded again next run
    failed_at = {df["path"].iat[i]: (text, df["fingerprint"].iat[i]) for i, text in fail_fp.items()}
    prob_df = pd.DataFrame(
        [
            {
                "path": p.path,
                "problem": p.problem,
                "fingerprint": failed_at[p.path][1] if failed_at.get(p.path, ("",))[0] == p.problem else "",
            }
            for p in problems
        ],
        columns=["path", "problem", "fingerprint"],
    )
    prob_df.to_csv(out / f".{PROBLEMS}.tmp", index=False)
    (out / f".{CACHE_JSON}.tmp").write_text(json.dumps(info, indent=2, ensure_ascii=False))
    os.replace(tmp_images, out / IMAGES)
    os.replace(out / f".{MANIFEST}.tmp", out / MANIFEST)
    os.replace(out / f".{PROBLEMS}.tmp", out / PROBLEMS)
    os.replace(out / f".{CACHE_JSON}.tmp", out / CACHE_JSON)
    n_reused = int((source_rows[good] >= 0).sum())
    return PrepareResult(out, len(final), len(final) - n_reused, n_reused, False, time.perf_counter() - start, problems)


def _version() -> str:
    from xrayssl import __version__

    return __version__
