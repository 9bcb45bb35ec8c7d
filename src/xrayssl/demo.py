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
from dataclasses import dataclass, field
from pathlib import Path

from xrayssl.catalog import METHOD_NAMES
from xrayssl.configfile import check_bounds
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
CACHE_SIZE = 64  # the smallest cached side


def _help(text: str, **meta) -> dict:
    return {"help": text, **meta}


@dataclass(frozen=True)
class DemoConfig:
    out: str = field(default="xrayssl-demo", metadata=_help("output folder"))
    # 35 % of them in the test split: AUROC intervals of about +-0.05
    n_patients: int = field(default=600, metadata=_help("synthetic patients", flags=["--patients"]))
    render_size: int = field(default=96, metadata=_help("side the radiographs are drawn at"))
    train_size: int = field(
        default=48, metadata=_help("image side in px that every run trains and probes at", flags=["--size"])
    )
    # at least 64 px, so that a smaller training size is a resize, not a new cache
    cache_size: int | None = field(
        default=None, metadata=_help("cached image side", default="the larger of 64 and the training size")
    )
    test_fraction: float = field(default=0.35, metadata=_help("share of patients for test"))
    val_fraction: float = field(default=0.15, metadata=_help("share of patients for validation"))
    methods: tuple[str, ...] = field(
        default=("simclr",), metadata=_help(f"SSL methods, comma-separated; any of {', '.join(METHOD_NAMES)}")
    )
    # switched on and off (see DEMO_AUGMENTATIONS); ("intensity", "flip") adds the negative control at twice the
    # runs, which does not fit the 8-minute budget on 2 cores (docs/augmentations.md gives its result)
    augmentations: tuple[str, ...] = field(
        default=("intensity",),
        metadata=_help(f"augmentations switched on and off, comma-separated; any of {', '.join(DEMO_AUGMENTATIONS)}"),
    )
    # in every recipe: two views always differ
    base: str = field(default="crop(scale=0.5..1,ratio=1)+rotate(10)", metadata=_help("applied before every recipe"))
    epochs: int = field(default=8, metadata=_help("pretraining epochs per run"))
    lr: float = field(default=2e-3, metadata=_help("peak learning rate of every pretraining run"))
    seeds: int = field(default=1, metadata=_help("seeds per recipe"))
    # the kNN monitor's training images: at 2,000 its readings took 20 % of a run
    monitor_images: int = field(default=500, metadata=_help("training images of the kNN monitor"))
    # 5 (90 steps) left one of two runs at chance
    supervised_epochs: int = field(default=10, metadata=_help("epochs of the supervised baseline"))
    batch_size: int = field(default=64, metadata=_help("batch size of every run"))
    # two single-threaded runs at once beat one two-threaded run on small images
    workers: int = field(default=2, metadata=_help("runs at once"))
    seed: int = field(default=0, metadata=_help("seed of the synthetic data and the splits"))

    def __post_init__(self) -> None:
        for name in ("methods", "augmentations"):  # lists from a flag or a file
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.cache_size is None:
            object.__setattr__(self, "cache_size", max(CACHE_SIZE, self.train_size))
        unknown = [a for a in self.augmentations if a not in DEMO_AUGMENTATIONS]
        if unknown or not self.augmentations:
            raise XraySSLError(
                f"unknown demo augmentation(s) {unknown or '(none given)'}; valid: {', '.join(DEMO_AUGMENTATIONS)}"
            )
        SplitConfig(seed=self.seed, val_fraction=self.val_fraction, test_fraction=self.test_fraction)  # checks them
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge

    @property
    def design(self) -> str:
        """Every combination while that stays small (2^k runs per method), else one at a time (2k + 2)."""
        return "full" if len(self.augmentations) <= 3 else "one-at-a-time"


def run_demo(config: DemoConfig, *, quiet: bool = False) -> Path:
    """Returns the path of the report."""
    from xrayssl.report.html import build_report
    from xrayssl.study.runner import run_study
    from xrayssl.train.quiet import quiet_lightning

    quiet_lightning()
    out = Path(config.out)
    start = time.perf_counter()
    cache = _data(config, out, progress=not quiet)
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
        process=ProcessConfig(size=config.cache_size, clahe=False),
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
