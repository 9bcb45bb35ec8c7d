"""The embedded default behind ``xrayssl demo``: synthetic radiographs -> prepared cache -> a small
augmentation study (SimCLR and BYOL, one-at-a-time over the study's five augmentations) with the supervised
baseline, floors, Grad-CAM and the HTML report. No download, no data needed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from xrayssl.data.prepare import default_workers, prepare
from xrayssl.data.process import ProcessConfig
from xrayssl.data.summary import format_summary, summarize
from xrayssl.data.synthetic import SynthConfig, write_dataset
from xrayssl.study.config import STUDY_AUGMENTATIONS


@dataclass(frozen=True)
class DemoConfig:
    out: str = "xrayssl-demo"
    n_patients: int = 160
    size: int = 64  # cached image side; training uses train_size
    train_size: int = 48
    epochs: int = 3
    seeds: int = 1
    methods: tuple[str, ...] = ("simclr", "byol")
    augmentations: tuple[str, ...] = field(default_factory=lambda: tuple(STUDY_AUGMENTATIONS))
    supervised_epochs: int = 8
    batch_size: int = 64
    workers: int = 2  # two single-threaded runs at once beat one two-threaded run on small images
    seed: int = 0


def run_demo(config: DemoConfig, progress: bool = True) -> Path:
    """Returns the path of the report."""
    from xrayssl.augment.show import show
    from xrayssl.data.cache import PreparedCache
    from xrayssl.report.html import build_report
    from xrayssl.study.config import StudyConfig
    from xrayssl.study.runner import run_study
    from xrayssl.train.quiet import quiet_lightning

    quiet_lightning()
    out = Path(config.out)
    start = time.perf_counter()
    data_dir = out / "data"
    if not (data_dir / "labels.csv").is_file():
        print(f"[1/4] generating {config.n_patients} synthetic patients in {data_dir}", flush=True)
        write_dataset(data_dir, SynthConfig(n_patients=config.n_patients, seed=config.seed), workers=default_workers())
    else:
        print(f"[1/4] reusing synthetic data in {data_dir}", flush=True)
    print("[2/4] preparing the cache (CLAHE, resize, patient-level splits)", flush=True)
    result = prepare(data_dir, out / "cache", process=ProcessConfig(size=config.size), progress=progress)
    cache = PreparedCache(result.cache)
    print(format_summary(summarize(cache.manifest, result.problems, "csv", str(data_dir))))
    # the 'seed' preset is the study's default factors, all on (one definition: xrayssl.augment.SEED_AUGMENTATIONS)
    grid = show(result.cache, "seed", out / "augmentations_seed.png", n=6, views=4, seed=config.seed)
    print(f"the study's five augmentations (preset 'seed'), all on, on these images: {grid}", flush=True)
    print(
        f"[3/4] study: {', '.join(config.methods)} x one-at-a-time over {', '.join(config.augmentations)}, "
        f"{config.seeds} seed(s), {config.epochs} epochs per run at {config.train_size} px; "
        "supervised baseline, random-encoder and raw-pixel floors; Grad-CAM of the best recipe",
        flush=True,
    )
    study = StudyConfig(
        cache=str(Path(result.cache).resolve()),
        out=str(out / "study"),
        methods=list(config.methods),
        design="one-at-a-time",
        augmentations={k: STUDY_AUGMENTATIONS[k] for k in config.augmentations},
        seeds=config.seeds,
        pretrain={"epochs": config.epochs, "size": config.train_size, "batch_size": config.batch_size},
        supervised={"epochs": config.supervised_epochs, "batch_size": config.batch_size, "budget": None, "patience": 4},
        label_fractions=[0.25, 1.0],
        n_boot=500,
        gradcam_n=4,
    )
    run_study(study, study.out, workers=config.workers, progress=False)
    print("[4/4] writing the report", flush=True)
    report = build_report(study.out, out / "report.html")
    print(f"\nreport: {report.resolve()}")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return report
