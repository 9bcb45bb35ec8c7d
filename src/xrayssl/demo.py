"""The embedded default behind ``xrayssl demo``: synthetic radiographs with planted nuisance factors ->
prepared cache -> a small augmentation study whose answer is known in advance -> the HTML report.

The radiographs carry two nuisance factors with a known cure (``xrayssl.data.synthetic``,
docs/augmentations.md): a per-patient exposure that jittering intensity should take away (a positive
control: ``intensity`` should help) and mirrored sides that flipping should leave alone (a negative control:
``flip`` should do nothing). The study pretrains SimCLR from the same base views (crop + small rotation) with
and without each chosen augmentation on top (every combination), probes every encoder on a large test split,
and the report sets the effects it finds against the planted truth. No download, no data needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path

from xrayssl.data.prepare import default_workers, prepare
from xrayssl.data.process import ProcessConfig
from xrayssl.data.splits import SplitConfig
from xrayssl.data.summary import format_summary, summarize
from xrayssl.data.synthetic import PLANTED_EFFECTS, SynthConfig, write_dataset
from xrayssl.errors import XraySSLError
from xrayssl.study.config import STUDY_AUGMENTATIONS

DEMO_AUGMENTATIONS: dict[str, str] = {
    # as wide as the planted exposure (EXPOSURE in data/synthetic.py), so that exposure no longer tells images apart
    "intensity": "intensity(brightness=0.2,contrast=0.3,gamma=0.6..1.6,p=1)",
    "flip": "flip(p=0.5)",
    **{k: v for k, v in STUDY_AUGMENTATIONS.items() if k != "flip"},
}


@dataclass(frozen=True)
class DemoConfig:
    out: str = "xrayssl-demo"
    n_patients: int = 600  # 35 % of them in the test split: AUROC intervals of about +-0.05
    render_size: int = 96  # side the radiographs are drawn at
    size: int = 64  # cached image side
    train_size: int = 48  # side every run trains and probes at
    test_fraction: float = 0.35
    val_fraction: float = 0.15
    methods: tuple[str, ...] = ("simclr",)
    # switched on and off (see DEMO_AUGMENTATIONS); ("intensity", "flip") adds the negative control at twice the
    # runs, which does not fit the 8-minute budget on 2 cores (docs/augmentations.md gives its result)
    augmentations: tuple[str, ...] = ("intensity",)
    base: str = "crop(scale=0.5..1,ratio=1)+rotate(10)"  # in every recipe: two views always differ
    epochs: int = 8
    lr: float = 2e-3
    seeds: int = 1
    monitor_images: int = 500  # the kNN monitor's training images: at 2,000 its readings took 20 % of a run
    supervised_epochs: int = 10  # 5 (90 steps) left one of two runs at chance
    batch_size: int = 64
    workers: int = 2  # two single-threaded runs at once beat one two-threaded run on small images
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [a for a in self.augmentations if a not in DEMO_AUGMENTATIONS]
        if unknown or not self.augmentations:
            raise XraySSLError(
                f"unknown demo augmentation(s) {unknown or '(none given)'}; valid: {', '.join(DEMO_AUGMENTATIONS)}"
            )

    @property
    def design(self) -> str:
        """Every combination while that stays small (2^k runs per method), else one at a time (2k + 2)."""
        return "full" if len(self.augmentations) <= 3 else "one-at-a-time"


def field_default(name: str):
    """The default of a DemoConfig field (the CLI reads its defaults here)."""
    return next(f.default for f in fields(DemoConfig) if f.name == name)


def run_demo(config: DemoConfig, progress: bool = True) -> Path:
    """Returns the path of the report."""
    from xrayssl.report.html import build_report
    from xrayssl.study.runner import run_study
    from xrayssl.train.quiet import quiet_lightning

    quiet_lightning()
    out = Path(config.out)
    start = time.perf_counter()
    cache = _data(config, out, progress)
    study = _study_config(config, cache, out)
    print(
        f"[3/4] study: {', '.join(config.methods)} x {config.design} design over {', '.join(config.augmentations)} "
        f"on top of {config.base}; {config.seeds} seed(s), {config.epochs} epochs per run at {config.train_size} px; "
        "supervised baseline, random-encoder and raw-pixel floors; Grad-CAM of the best recipe",
        flush=True,
    )
    run_study(study, study.out, workers=config.workers, progress=False)
    _record_planted_truth(config, study.out)  # once the study's store exists
    print("[4/4] writing the report", flush=True)
    report = build_report(study.out, out / "report.html")
    print(f"\nreport: {report.resolve()}")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return report


def _data(config: DemoConfig, out: Path, progress: bool) -> Path:
    from xrayssl.data.cache import PreparedCache

    data_dir = out / "data"
    if not (data_dir / "labels.csv").is_file():
        print(f"[1/4] generating {config.n_patients} synthetic patients in {data_dir}", flush=True)
        synth = SynthConfig(n_patients=config.n_patients, size=config.render_size, seed=config.seed)
        write_dataset(data_dir, synth, workers=default_workers())
    else:
        print(f"[1/4] reusing synthetic data in {data_dir}", flush=True)
    # no CLAHE: local equalisation would wipe out the planted exposure (it is a cure of its own, see
    # docs/augmentations.md), and the study is to find the cure among the augmentations
    print("[2/4] preparing the cache (resize, patient-level splits; no CLAHE)", flush=True)
    result = prepare(
        data_dir,
        out / "cache",
        process=ProcessConfig(size=config.size, clahe=False),
        split=SplitConfig(seed=config.seed, val_fraction=config.val_fraction, test_fraction=config.test_fraction),
        progress=progress,
    )
    print(format_summary(summarize(PreparedCache(result.cache).manifest, result.problems, "csv", str(data_dir))))
    return Path(result.cache).resolve()


def _study_config(config: DemoConfig, cache: Path, out: Path):
    from xrayssl.study.config import StudyConfig

    return StudyConfig(
        cache=str(cache),
        out=str(out / "study"),
        methods=list(config.methods),
        design=config.design,
        augmentations={k: DEMO_AUGMENTATIONS[k] for k in config.augmentations},
        base=config.base,
        seeds=config.seeds,
        pretrain={
            "epochs": config.epochs,
            "size": config.train_size,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "monitor_images": config.monitor_images,
        },
        supervised={"epochs": config.supervised_epochs, "batch_size": config.batch_size, "budget": None, "patience": 4},
        label_fractions=[0.25, 1.0],
        n_boot=500,
        gradcam_n=4,
    )


def _record_planted_truth(config: DemoConfig, study: str) -> None:
    """The report sets the effects it finds against this (study meta ``expected_effects``)."""
    from xrayssl.study.analysis import EXPECTED_EFFECTS_KEY
    from xrayssl.study.store import Store

    expected = {k: PLANTED_EFFECTS[k] for k in config.augmentations if k in PLANTED_EFFECTS}
    if expected:
        Store(study).set_meta_once(EXPECTED_EFFECTS_KEY, expected)
