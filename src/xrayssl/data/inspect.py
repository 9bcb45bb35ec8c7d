"""``xrayssl data inspect``: what a dataset holds and every problem in it, without writing anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xrayssl.data.dataset import load_dataset
from xrayssl.data.formats import ReadOptions
from xrayssl.data.imageio import DEFAULT_MAX_PIXELS
from xrayssl.data.manifest import Problem
from xrayssl.data.prepare import decode_all, default_workers
from xrayssl.data.splits import SplitConfig, duplicate_problems
from xrayssl.data.summary import summarize


def inspect_dataset(
    root: str | Path,
    fmt: str = "auto",
    *,
    verify: bool = True,
    split: SplitConfig | None = None,
    body_parts: list[str] | None = None,
    options: ReadOptions | None = None,
    workers: int | None = None,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> dict[str, Any]:
    """Summary dict (see ``summarize``). ``verify`` decodes every image to find corrupt files and
    identical images across splits; without it only the folder layout and label files are read."""
    scan = load_dataset(root, fmt, split=split, body_parts=body_parts, options=options)
    manifest, problems = scan.manifest, list(scan.problems)
    if verify:
        paths = manifest["path"].tolist()
        results = list(decode_all(paths, None, workers or default_workers(), "verify", progress, max_pixels))
        ok = [not err for _, _, err in results]
        problems += [Problem(p, f"{err}; skipped") for p, (_, _, err) in zip(paths, results) if err]
        manifest = manifest[ok].reset_index(drop=True)
        hashes = [h for (_, h, err) in results if not err]
        manifest["content_hash"] = hashes
        problems += duplicate_problems(manifest, manifest["content_hash"])
    summary = summarize(manifest, problems, scan.format, str(scan.root), scan.task, scan.task_note)
    if scan.format == "csv":  # which CSV of the folder was read: a folder may hold several
        from xrayssl.data.formats.csv_manifest import find_csv

        summary["csv"] = str(find_csv(Path(scan.root)) or scan.root)
    return summary
