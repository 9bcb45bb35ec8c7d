"""The embedded default job behind ``xrayssl demo``: synthetic radiographs -> prepared cache -> summary.

Later stages (pretraining, probing, the study and its report) plug in here as they land.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from xrayssl.data.prepare import default_workers, prepare
from xrayssl.data.process import ProcessConfig
from xrayssl.data.summary import format_summary, summarize
from xrayssl.data.synthetic import SynthConfig, write_dataset


@dataclass(frozen=True)
class DemoConfig:
    out: str = "xrayssl-demo"
    n_patients: int = 120
    size: int = 128
    seed: int = 0


def run_demo(config: DemoConfig, progress: bool = True) -> Path:
    out = Path(config.out)
    start = time.perf_counter()
    data_dir = out / "data"
    if not (data_dir / "labels.csv").is_file():
        print(f"[1/2] generating {config.n_patients} synthetic patients in {data_dir}", flush=True)
        write_dataset(data_dir, SynthConfig(n_patients=config.n_patients, seed=config.seed), workers=default_workers())
    else:
        print(f"[1/2] reusing synthetic data in {data_dir}", flush=True)
    print("[2/2] preparing the cache (CLAHE, resize, patient-level splits)", flush=True)
    result = prepare(data_dir, out / "cache", process=ProcessConfig(size=config.size), progress=progress)
    from xrayssl.data.cache import PreparedCache

    cache = PreparedCache(result.cache)
    print(format_summary(summarize(cache.manifest, result.problems, "csv", str(data_dir))))
    from xrayssl.augment.show import show

    grid = show(result.cache, "seed", out / "augmentations_seed.png", n=6, views=4, seed=config.seed)
    print(f"\ncache ready in {result.cache}; the study's augmentations on it: {grid}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return result.cache
