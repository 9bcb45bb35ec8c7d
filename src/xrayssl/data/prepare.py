"""``xrayssl data prepare``: decode, grayscale, resize, CLAHE, and write the cache once.

Streaming: images are decoded by worker processes and written straight into the new array file, so
memory does not grow with the dataset. A rerun reuses every image by its identity (source path, source
size and mtime, pixel settings; recorded in rows.npy), never by its row position, and only from files
that match cache.json; whatever does not is rebuilt. With nothing changed it only re-reads the folder
listing and checks the cache (``verify`` also digests images.npy).
"""

from __future__ import annotations

import hashlib
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
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from xrayssl.data.cache import (
    CACHE_JSON,
    CACHE_VERSION,
    EXTRA_COLUMNS,
    IMAGES,
    MANIFEST,
    PROBLEMS,
    REPAIR,
    ROW_DTYPE,
    ROWS,
    file_problems,
    npy_header,
    read_cache_info,
    read_manifest_csv,
    read_rows,
)
from xrayssl.data.cache_write import CacheWriter, remove_stale_temps
from xrayssl.data.dataset import load_dataset
from xrayssl.data.formats import ReadOptions, ScanResult
from xrayssl.data.imageio import DEFAULT_MAX_PIXELS, NPZ_REF
from xrayssl.data.manifest import COLUMNS, Problem
from xrayssl.data.process import ProcessConfig, load_and_process, pixel_settings
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
    repaired: list[str] = field(default_factory=list)  # what of the previous cache did not verify, rebuilt


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


def _work(item: tuple[str, ProcessConfig | None, int]) -> tuple[np.ndarray | None, str, str]:
    return load_and_process(*item)


def decode_all(
    paths: list[str],
    config: ProcessConfig | None,
    workers: int,
    desc: str,
    progress: bool,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[tuple[np.ndarray | None, str, str]]:
    """(image, hash, error) per path, in order; parallel over processes, with a progress bar.

    Without a config (verifying only) images above ``max_pixels`` are refused; with one, its own limit."""
    items = [(p, config, max_pixels) for p in paths]
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


def row_key(path: str, source_fingerprint: str, settings: str) -> str:
    """The identity of one cached image: which file, which version of it, which pixel settings."""
    text = "\0".join((path, source_fingerprint, settings))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass
class OldCache:
    """What a previous cache in the output folder offers for reuse: only parts that verified."""

    info: dict[str, Any] | None = None
    rows: dict[str, int] = field(default_factory=dict)  # image identity -> row of images.npy
    content: np.ndarray | None = None  # content hash per row of images.npy
    manifest: pd.DataFrame | None = None
    failed: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, fingerprint) -> problem
    damaged: list[str] = field(default_factory=list)


def read_old_cache(out: Path, process: ProcessConfig, verify: bool) -> OldCache:
    old = OldCache()
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
            old.manifest = read_manifest_csv(out / MANIFEST)
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


def check_out(out: Path) -> None:
    """The cache folder must be a folder, or creatable: say so before reading a whole dataset."""
    if out.exists() and not out.is_dir():
        raise XraySSLError(f"{out}: exists and is not a folder; --out names the cache folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise XraySSLError(f"{out}: cannot create the cache folder, {parent} is a file")
            break


@dataclass
class Plan:
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


def make_plan(df: pd.DataFrame, process: ProcessConfig, old: OldCache) -> Plan:
    settings = json.dumps(pixel_settings(process), sort_keys=True)
    keys = [row_key(p, f, settings) for p, f in zip(df["path"], df["fingerprint"], strict=True)]
    n_old = len(old.content) if old.content is not None else 0
    if len(old.rows) != n_old:  # two rows with one identity: not a cache this code wrote, reuse nothing
        n_old, old.rows = 0, {}
    source_rows = np.array([old.rows.get(k, -1) for k in keys], dtype=np.int64)
    known_bad = np.array([k in old.failed for k in zip(df["path"], df["fingerprint"], strict=True)], dtype=bool)
    todo = np.flatnonzero((source_rows < 0) & ~known_bad)
    return Plan(keys, source_rows, known_bad, todo, n_old)


@dataclass
class Job:
    """One run of prepare: the scanned dataset, its settings, and what the previous cache offers."""

    scan: ScanResult
    df: pd.DataFrame  # the manifest + fingerprint
    process: ProcessConfig
    split: SplitConfig
    body_parts: list[str] | None
    old: OldCache
    plan: Plan
    workers: int
    progress: bool
    problems: list[Problem] = field(default_factory=list)
    fails: dict[int, str] = field(default_factory=dict)  # manifest row -> why it failed to decode

    def up_to_date(self) -> bool:
        old, plan = self.old, self.plan
        if old.damaged or old.info is None or old.manifest is None or not plan.keeps_old_images:
            return False
        if old.info.get("process") != asdict(self.process) or old.info.get("split") != asdict(self.split):
            return False
        kept = self.df[~plan.known_bad]
        return len(kept) == len(old.manifest) and bool(
            (kept[COLUMNS].astype(str).to_numpy() == old.manifest[COLUMNS].astype(str).to_numpy()).all()
        )

    def known_failures(self) -> None:
        for i in np.flatnonzero(self.plan.known_bad):
            self.fails[int(i)] = self.old.failed[(self.df["path"].iat[i], self.df["fingerprint"].iat[i])]
            self.problems.append(Problem(self.df["path"].iat[i], self.fails[int(i)]))


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
    verify: bool = False,
) -> PrepareResult:
    """Prepare ``root`` into the cache folder ``out`` (created, updated or repaired in place).

    ``verify`` also compares the previous images.npy with its digest before reusing it (reads it in full)."""
    start = time.perf_counter()
    process = process or ProcessConfig()
    out = Path(out)
    check_out(out)
    scan = load_dataset(root, fmt, split=split, body_parts=body_parts, options=options)
    df = scan.manifest.copy()
    df["fingerprint"] = [fingerprint(p) for p in df["path"]]
    stale = remove_stale_temps(out) if out.is_dir() else []
    old = read_old_cache(out, process, verify)
    job = Job(
        scan=scan,
        df=df,
        process=process,
        split=split or SplitConfig(),
        body_parts=body_parts,
        old=old,
        plan=make_plan(df, process, old),
        workers=workers or default_workers(),
        progress=progress,
        problems=list(scan.problems),
    )
    repaired = [f"{p}: temporary file of a stopped run, removed" for p in stale] + old.damaged
    job.known_failures()
    if job.up_to_date():
        n = len(df) - len(job.fails)
        return PrepareResult(out, n, 0, n, True, time.perf_counter() - start, job.problems, repaired)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XraySSLError(f"{out}: cannot create the cache folder ({exc.strerror or exc})") from exc
    writer = CacheWriter(out)
    try:
        n, n_reused = write_cache(writer, job)
    except OSError as exc:  # disk full, quota, a folder turned read-only: the old cache is untouched
        writer.discard()
        raise XraySSLError(
            f"{out}: cannot write the cache ({exc.strerror or exc}); "
            "its temporary files were removed and the previous cache is left as it was"
        ) from exc
    except BaseException:
        writer.discard()
        raise
    try:
        writer.commit()
    except OSError as exc:
        raise XraySSLError(f"{out}: cannot finish writing the cache ({exc.strerror or exc}); {REPAIR}") from exc
    return PrepareResult(out, n, n - n_reused, n_reused, False, time.perf_counter() - start, job.problems, repaired)


def write_cache(writer: CacheWriter, job: Job) -> tuple[int, int]:
    """Write every file of the new cache to its temporary name; return (images, images reused)."""
    files: dict[str, Any] = {}
    plan = job.plan
    if plan.keeps_old_images:
        # only the small files need rewriting (say, after an edited manifest.csv): the pixels stay
        good, hashes = ~plan.known_bad, np.array(job.old.content, dtype=object)
        files[IMAGES], files[ROWS] = job.old.info["files"][IMAGES], job.old.info["files"][ROWS]
    else:
        good, hashes, files[IMAGES] = write_images(writer, job)
        keys = np.array(plan.keys, dtype=object)[good]
        files[ROWS] = writer.rows(np.array(list(zip(keys, hashes, strict=True)), dtype=ROW_DTYPE))
    final = job.df[good].reset_index(drop=True)
    final["content_hash"] = hashes
    job.problems += duplicate_problems(final, final["content_hash"])
    files[MANIFEST] = writer.text(MANIFEST, final[[*COLUMNS, *EXTRA_COLUMNS]].to_csv(index=False))
    files[PROBLEMS] = writer.text(PROBLEMS, _problems_csv(job.df, job.problems, job.fails))
    writer.info(_info(final, job, files))
    return len(final), int((plan.source_rows[good] >= 0).sum())


def write_images(writer: CacheWriter, job: Job) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Stream images.npy in manifest order (memory stays flat): reused rows copied, the rest decoded.
    Returns (good manifest rows, their content hashes, the file's record for cache.json)."""
    df, plan = job.df, job.plan
    good = ~plan.known_bad
    hashes = np.array([""] * len(df), dtype=object)
    paths = df["path"].to_numpy()[plan.todo].tolist()
    decoded = decode_all(paths, job.process, job.workers, "prepare", job.progress)
    old_rows = OldRows(writer.folder / IMAGES) if (plan.source_rows >= 0).any() else None
    images = writer.images(job.process.size)
    try:
        for i in np.flatnonzero(good):
            if plan.source_rows[i] >= 0:
                images.add(old_rows.read(plan.source_rows[i]))
                hashes[i] = job.old.content[plan.source_rows[i]]
                continue
            img, digest, error = next(decoded)
            if error:
                good[i] = False
                job.fails[int(i)] = f"{error}; skipped"
                job.problems.append(Problem(df["path"].iat[i], job.fails[int(i)]))
            else:
                images.add(img.tobytes())
                hashes[i] = digest
        record = images.finish()
    finally:
        decoded.close()
        images.close()
        if old_rows:
            old_rows.close()
    return good, hashes[good], record


class OldRows:
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


def _problems_csv(df: pd.DataFrame, problems: list[Problem], fails: dict[int, str]) -> str:
    """problems.csv; a decode failure keeps its source fingerprint, so an unchanged bad file is not
    decoded again next run."""
    failed_at = {df["path"].iat[i]: (text, df["fingerprint"].iat[i]) for i, text in fails.items()}
    rows = [
        {
            "path": p.path,
            "problem": p.problem,
            "fingerprint": failed_at[p.path][1] if failed_at.get(p.path, ("",))[0] == p.problem else "",
        }
        for p in problems
    ]
    return pd.DataFrame(rows, columns=["path", "problem", "fingerprint"]).to_csv(index=False)


def _info(final: pd.DataFrame, job: Job, files: dict[str, Any]) -> dict[str, Any]:
    scan = job.scan
    summary = summarize(final, job.problems, scan.format, str(scan.root))
    return {
        "format_version": CACHE_VERSION,
        "xrayssl_version": _version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": {"root": str(scan.root), "format": scan.format},
        "process": asdict(job.process),
        "split": asdict(job.split),
        "body_parts": job.body_parts or [],
        "n_images": len(final),
        "size": job.process.size,
        "host": {"python": platform.python_version(), "machine": platform.machine(), "workers": job.workers},
        "counts": summary["counts"],
        "n_problems": len(job.problems),
        "files": files,
    }


def _version() -> str:
    from xrayssl.version import __version__

    return __version__
