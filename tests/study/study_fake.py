"""A study whose runs only sleep: the real runner, store, claims, heartbeats and worker processes, no training.

    python tests/study/study_fake.py OUT [--start] [--workers N] [--shard i/n] [--store URL] [--heartbeat S]

``--start`` creates the study (two methods x four recipes x three seeds, floors, supervised, finalize: 29 runs;
the cache is not read). Each run sleeps ``XRAYSSL_FAKE_SECONDS`` (default 0.05) and returns its pid. Spawned
workers import this file as ``__mp_main__``, so the fake executors replace the real ones in them too.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from xrayssl.study import runner
from xrayssl.study.config import StudyConfig
from xrayssl.study.store import Store, StoreConfig


def fake(config: StudyConfig, store: Store, folder: Path, params: dict[str, Any], progress: bool) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    time.sleep(float(os.environ.get("XRAYSSL_FAKE_SECONDS", "0.05")))
    return {"pid": os.getpid()}


runner.EXECUTORS.update({kind: fake for kind in runner.EXECUTORS})
StudyConfig.check_cache = lambda self: None  # the cache is never read here
runner._same_cache = lambda store, config: None  # (nor its identity)

RUNS = 2 * 4 * 3 + 2 + 2 + 1


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--start", action="store_true")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--shard")
    p.add_argument("--store", default="")
    p.add_argument("--heartbeat", type=float, default=30.0)
    args = p.parse_args()
    config = None
    if args.start:
        config = StudyConfig(cache="unused", out=args.out, augmentations={"flip": "flip", "blur": "blur(p=0.5)"})
    store = StoreConfig(url=args.store, heartbeat_seconds=args.heartbeat)
    runner.run_study(config, args.out, workers=args.workers, shard=args.shard, progress=False, store=store)


if __name__ == "__main__":
    main()
