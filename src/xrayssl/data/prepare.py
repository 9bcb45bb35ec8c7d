"""``xrayssl data prepare``: decode, grayscale, resize, CLAHE, and write the cache once.

Streaming: images are decoded by worker processes and written straight into the new array file, so
memory does not grow with the dataset. A rerun reuses every image by its identity (source path, source
size and mtime, pixel settings; recorded in rows.npy), never by its row position, and only from files
that match cache.json; whatever does not is rebuilt. With nothing changed it only re-reads the folder
listing and checks the cache (``verify`` also digests images.npy).
"""

from __future__ import annotations

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
    CACHE_VERSION,
    EXTRA_COLUMNS,
    IMAGES,
    MANIFEST,
    PROBLEMS,
    REPAIR,
    ROW_DTYPE,
    ROWS,
)
from xrayssl.data.cache_write import CacheWriter, remove_stale_temps
from xrayssl.data.dataset import load_dataset
from xrayssl.data.formats import ReadOptions, ScanResult
from xrayssl.data.imageio import DEFAULT_MAX_PIXELS
from xrayssl.data.manifest import COLUMNS, Problem
from xrayssl.data.process import ProcessConfig, equalised_warning, load_and_process
from xrayssl.data.reuse import PreviousCache, PreviousImages, ReusePlan, fingerprint, plan_reuse, read_previous_cache
from xrayssl.data.splits import SplitConfig, duplicate_problems
from xrayssl.data.summary import summarize
from xrayssl.errors import XraySSLError
from xrayssl.tasks import BINARY
from xrayssl.version import __version__


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
    warnings: list[str] = field(default_factory=list)  # e.g. CLAHE about to run on already equalised images


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _decode_one(item: tuple[str, ProcessConfig | None, int]) -> tuple[np.ndarray | None, str, str]:
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
    items = [(path, config, max_pixels) for path in paths]
    bar = tqdm(total=len(items), desc=desc, unit="img", disable=not progress or not items, leave=False)
    try:
        if workers <= 1 or len(items) < 64:
            for item in items:
                yield _decode_one(item)
                bar.update()
        else:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            # at most two blocks in flight: finished images cannot pile up while the writer catches up
            block = 64 * workers
            with mp.get_context(method).Pool(workers) as pool:
                pending = deque(
                    pool.imap(_decode_one, items[i : i + block], chunksize=8)
                    for i in range(0, min(len(items), 2 * block), block)
                )
                next_start = 2 * block
                while pending:
                    for result in pending.popleft():
                        yield result
                        bar.update()
                    if next_start < len(items):
                        pending.append(pool.imap(_decode_one, items[next_start : next_start + block], chunksize=8))
                        next_start += block
    finally:
        bar.close()


def check_out(out: Path) -> None:
    """The cache folder must be a folder, or creatable: say so before reading a whole dataset."""
    if out.exists() and not out.is_dir():
        raise XraySSLError(f"{out}: exists and is not a folder; --out names the cache folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise XraySSLError(f"{out}: cannot create the cache folder, {parent} is a file")
            break


def check_apart(root: Path, out: Path) -> None:
    """The cache never shares a folder with its dataset: prepare would write over files it did not create (a
    dataset's own manifest.csv), and the next read of the dataset would find the cache's files in it."""
    data, cache = root.expanduser().resolve(), out.expanduser().resolve()
    folder = data if data.is_dir() else data.parent  # a CSV or .npz names its folder
    if cache == folder or folder.is_relative_to(cache) or cache.is_relative_to(folder):
        raise XraySSLError(
            f"{out}: the cache folder overlaps the dataset at {folder}; give --out a folder outside the dataset"
        )


@dataclass
class CacheBuild:
    """One build of a cache: the scanned dataset, its settings, what the previous cache offers (and the plan
    to reuse it), and the problems and decode failures found on the way."""

    scan: ScanResult
    df: pd.DataFrame  # the manifest + fingerprint
    process: ProcessConfig
    split: SplitConfig
    body_parts: list[str] | None
    old: PreviousCache
    plan: ReusePlan
    workers: int
    progress: bool
    problems: list[Problem] = field(default_factory=list)
    fails: dict[int, str] = field(default_factory=dict)  # manifest row -> why it failed to decode
    allow_empty: bool = False  # a cache of no image is an error unless asked for

    def up_to_date(self) -> bool:
        old, plan = self.old, self.plan
        if old.damaged or old.info is None or old.manifest is None or not plan.keeps_old_images:
            return False
        if old.info.get("process") != asdict(self.process) or old.info.get("split") != asdict(self.split):
            return False
        if old.info.get("task", BINARY.to_json()) != self.scan.task.to_json():
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
    allow_empty: bool = False,
) -> PrepareResult:
    """Prepare ``root`` into the cache folder ``out`` (created, updated or repaired in place).

    ``verify`` also compares the previous images.npy with its digest before reusing it (reads it in full)."""
    start = time.perf_counter()
    process = process or ProcessConfig()
    out = Path(out)
    check_out(out)
    check_apart(Path(root), out)
    scan = load_dataset(root, fmt, split=split, body_parts=body_parts, options=options)
    df = scan.manifest.copy()
    df["fingerprint"] = [fingerprint(path) for path in df["path"]]
    stale = remove_stale_temps(out) if out.is_dir() else []
    old = read_previous_cache(out, process, verify)
    build = CacheBuild(
        scan=scan,
        df=df,
        process=process,
        split=split or SplitConfig(),
        body_parts=body_parts,
        old=old,
        plan=plan_reuse(df, process, old),
        workers=workers or default_workers(),
        progress=progress,
        problems=list(scan.problems),
        allow_empty=allow_empty,
    )
    repaired = [f"{tmp}: temporary file of a stopped run, removed" for tmp in stale] + old.damaged
    build.known_failures()
    notes = [w for w in [equalised_warning(df["path"].tolist())] if w] if process.clahe else []
    if build.up_to_date():
        n = len(df) - len(build.fails)
        return PrepareResult(out, n, 0, n, True, time.perf_counter() - start, build.problems, repaired, notes)
    fresh = not out.exists()
    try:
        n, n_reused = write_and_commit(out, build)
    except XraySSLError:
        if fresh and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a refused cache leaves no folder behind
        raise
    seconds = time.perf_counter() - start
    return PrepareResult(out, n, n - n_reused, n_reused, False, seconds, build.problems, repaired, notes)


def write_and_commit(out: Path, build: CacheBuild) -> tuple[int, int]:
    """Write the new cache beside the old one, then commit it; a failed write leaves the old cache as it was.
    Returns (images, images reused)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XraySSLError(f"{out}: cannot create the cache folder ({exc.strerror or exc})") from exc
    writer = CacheWriter(out)
    try:
        counts = write_cache(writer, build)
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
    return counts


def write_cache(writer: CacheWriter, build: CacheBuild) -> tuple[int, int]:
    """Write every file of the new cache to its temporary name; return (images, images reused)."""
    files: dict[str, Any] = {}
    plan = build.plan
    if plan.keeps_old_images:
        # only the small files need rewriting (say, after an edited manifest.csv): the pixels stay
        good, hashes = ~plan.known_bad, np.array(build.old.content, dtype=object)
        files[IMAGES], files[ROWS] = build.old.info["files"][IMAGES], build.old.info["files"][ROWS]
    else:
        good, hashes, files[IMAGES] = write_images(writer, build)
        keys = np.array(plan.keys, dtype=object)[good]
        files[ROWS] = writer.rows(np.array(list(zip(keys, hashes, strict=True)), dtype=ROW_DTYPE))
    final = build.df[good].reset_index(drop=True)
    if final.empty and not build.allow_empty:
        first = build.problems[0] if build.problems else None
        detail = f" (first problem: {first.path}: {first.problem})" if first else ""
        raise XraySSLError(
            f"{build.scan.root}: none of its {len(build.df)} images could be used{detail}; no cache written "
            "(--allow-empty writes an empty one)"
        )
    final["content_hash"] = hashes
    build.problems += duplicate_problems(final, final["content_hash"])
    files[MANIFEST] = writer.text(MANIFEST, final[[*COLUMNS, *EXTRA_COLUMNS]].to_csv(index=False))
    files[PROBLEMS] = writer.text(PROBLEMS, _problems_csv(build.df, build.problems, build.fails))
    writer.info(_info(final, build, files))
    return len(final), int((plan.source_rows[good] >= 0).sum())


def write_images(writer: CacheWriter, build: CacheBuild) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Stream images.npy in manifest order (memory stays flat): reused rows copied, the rest decoded.
    Returns (good manifest rows, their content hashes, the file's record for cache.json)."""
    df, plan = build.df, build.plan
    good = ~plan.known_bad
    hashes = np.array([""] * len(df), dtype=object)
    paths = df["path"].to_numpy()[plan.todo].tolist()
    decoded = decode_all(paths, build.process, build.workers, "prepare", build.progress)
    previous = PreviousImages(writer.folder / IMAGES) if (plan.source_rows >= 0).any() else None
    images = writer.images(build.process.size)
    try:
        for i in np.flatnonzero(good):
            if plan.source_rows[i] >= 0:
                images.add(previous.read(plan.source_rows[i]))
                hashes[i] = build.old.content[plan.source_rows[i]]
                continue
            img, digest, error = next(decoded)
            if error:
                good[i] = False
                build.fails[int(i)] = f"{error}; skipped"
                build.problems.append(Problem(df["path"].iat[i], build.fails[int(i)]))
            else:
                images.add(img.tobytes())
                hashes[i] = digest
        record = images.finish()
    finally:
        decoded.close()
        images.close()
        if previous:
            previous.close()
    return good, hashes[good], record


def _problems_csv(df: pd.DataFrame, problems: list[Problem], fails: dict[int, str]) -> str:
    """problems.csv; a decode failure keeps its source fingerprint, so an unchanged bad file is not
    decoded again next run."""
    failed_at = {df["path"].iat[i]: (text, df["fingerprint"].iat[i]) for i, text in fails.items()}
    rows = [
        {
            "path": problem.path,
            "problem": problem.problem,
            "fingerprint": failed_at[problem.path][1]
            if failed_at.get(problem.path, ("",))[0] == problem.problem
            else "",
        }
        for problem in problems
    ]
    return pd.DataFrame(rows, columns=["path", "problem", "fingerprint"]).to_csv(index=False)


def _info(final: pd.DataFrame, build: CacheBuild, files: dict[str, Any]) -> dict[str, Any]:
    scan = build.scan
    summary = summarize(final, build.problems, scan.format, str(scan.root), scan.task)
    return {
        "format_version": CACHE_VERSION,
        "xrayssl_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": {"root": str(scan.root), "format": scan.format},
        "task": scan.task.to_json(),
        "process": asdict(build.process),
        "split": asdict(build.split),
        "body_parts": build.body_parts or [],
        "n_images": len(final),
        "size": build.process.size,
        "host": {"python": platform.python_version(), "machine": platform.machine(), "workers": build.workers},
        "counts": summary["counts"],
        **({"finding_counts": summary["finding_counts"]} if "finding_counts" in summary else {}),
        "n_problems": len(build.problems),
        "files": files,
    }
