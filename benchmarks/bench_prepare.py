"""Benchmark ``xrayssl data prepare`` on the real knee radiographs (../shared/data/knee_oa).

Prints one table: cold prepare (images/s), a rerun with nothing changed, random batch reads from the
cache, and peak memory of the parent and of the worst worker. ``--scale K`` also prepares a CSV that
lists every knee image K times (as K pseudo-patients each) to show memory does not grow with size.

    python benchmarks/bench_prepare.py [--size 224] [--scale 8]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KNEE = Path(__file__).resolve().parents[2] / "shared" / "data" / "knee_oa"


def run_prepare(root: Path, out: Path, size: int) -> tuple[float, float, float]:
    """Wall seconds and peak RSS (MiB) of parent and worst child, in a fresh process."""
    code = (
        "import resource, sys, time; from xrayssl.data.prepare import prepare; "
        "from xrayssl.data.process import ProcessConfig; t = time.perf_counter(); "
        f"r = prepare({str(root)!r}, {str(out)!r}, process=ProcessConfig(size={size}), progress=False); "
        "dt = time.perf_counter() - t; "
        # VmHWM, not ru_maxrss: ru_maxrss survives exec and would include the benchmark's own memory
        "import re; hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
        "print(dt, hwm / 1024, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, r.n_images)"
    )
    line = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return float(line[0]), float(line[1]), float(line[2])


def batch_read_ms(cache: Path, n: int = 256, repeats: int = 50) -> float:
    from xrayssl.data.cache import PreparedCache

    c = PreparedCache(cache)
    rng = np.random.default_rng(0)
    c.batch(rng.choice(len(c), n, replace=False))  # warm the page cache once
    times = []
    for _ in range(repeats):
        idx = rng.choice(len(c), n, replace=False)
        t = time.perf_counter()
        c.batch(idx)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--scale", type=int, default=0, help="also prepare the knee set repeated K times")
    args = ap.parse_args()
    if not KNEE.exists():
        sys.exit(f"knee data not found at {KNEE}: the benchmark needs ../shared/data/knee_oa")
    n_images = len((KNEE / "labels.csv").read_text().splitlines()) - 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cache"
        cold, rss, child = run_prepare(KNEE, out, args.size)
        rows.append(("prepare, cold", n_images, cold, n_images / cold, rss, child))
        warm, rss, child = run_prepare(KNEE, out, args.size)
        rows.append(("prepare, rerun unchanged", n_images, warm, n_images / warm, rss, child))
        batch_ms = batch_read_ms(out)
        if args.scale:
            import pandas as pd

            big = Path(tmp) / "big"
            big.mkdir()
            labels = pd.read_csv(KNEE / "labels.csv")
            copies = []
            for k in range(args.scale):
                part = labels.copy()
                part["path"] = str(KNEE) + "/" + part["path"]
                part["patient_id"] = part["patient_id"].astype(str) + f"_{k}"
                copies.append(part)
            pd.concat(copies).to_csv(big / "labels.csv", index=False)
            n_big = n_images * args.scale
            t, rss, child = run_prepare(big, Path(tmp) / "bigcache", args.size)
            rows.append((f"prepare, cold, knee x{args.scale}", n_big, t, n_big / t, rss, child))
            shutil.rmtree(Path(tmp) / "bigcache")
    import os

    print(f"machine: {os.cpu_count()} cores; image size {args.size} px; knee_oa ({n_images} images)\n")
    print(
        f"| {'step':<28} | {'images':>7} | {'seconds':>7} | {'images/s':>8} | {'peak RSS MiB':>12} | "
        f"{'worker MiB':>10} |"
    )
    print(f"|{'-' * 30}|{'-' * 9}|{'-' * 9}|{'-' * 10}|{'-' * 14}|{'-' * 12}|")
    for name, n, t, ips, rss, child in rows:
        print(f"| {name:<28} | {n:>7} | {t:>7.2f} | {ips:>8.0f} | {rss:>12.0f} | {child:>10.0f} |")
    print(f"\nrandom batch of 256 from the cache: {batch_ms:.2f} ms (median of 50)")


if __name__ == "__main__":
    main()
