"""The Python API: one function per step of the table in ``xrayssl.steps``, each taking the config object that
the CLI builds and calling the same run function as the CLI.

    import xrayssl
    cache = xrayssl.prepare("data/knees", "caches/knee64", size=64).cache
    run = xrayssl.pretrain(xrayssl.PretrainConfig(cache=str(cache), out="runs/simclr", epochs=20))
    result = xrayssl.probe(run)                       # or xrayssl.probe(run, cache="caches/other"): transfer
    encoder = xrayssl.load_encoder(run)               # nn.Module: (B, 1, H, W) floats in [0, 1] -> (B, 512)

Configs and layers are imported inside the functions: ``import xrayssl`` stays fast and loads torch only when a
step runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from xrayssl import steps

if TYPE_CHECKING:
    from torch import nn

    from xrayssl.augment.config import AugmentShowConfig
    from xrayssl.data.cache import PreparedCache
    from xrayssl.data.config import InspectConfig, PrepareConfig
    from xrayssl.data.prepare import PrepareResult
    from xrayssl.data.synthetic import SynthConfig
    from xrayssl.demo import DemoConfig
    from xrayssl.evaluate.config import GradCamConfig, PredictConfig, ProbeConfig
    from xrayssl.export_config import ExportConfig
    from xrayssl.report.config import ReportConfig
    from xrayssl.study.config import StudyConfig
    from xrayssl.train.config import PretrainConfig, SupervisedConfig


def prepare(
    root: str | Path | PrepareConfig, out: str | Path | None = None, *, progress: bool = True, **settings: Any
) -> PrepareResult:
    """Read a dataset (any supported layout), split it by patient and cache it for training: ``prepare(config)``
    or ``prepare(root, out, size=64, clahe=False)`` (keywords: PrepareConfig's fields; the objects ``process=``,
    ``split=``, ``options=`` and ``fmt=`` work too). Returns a PrepareResult (``.cache`` is the cache folder)."""
    from xrayssl.data.config import PrepareConfig, prepare_config

    if isinstance(root, PrepareConfig):
        return steps.run("prepare", root, quiet=not progress)
    if out is None:
        raise TypeError("prepare(root, out, **settings) needs the cache folder out")
    config = prepare_config(root, out, **settings)
    return steps.run("prepare", config, quiet=not progress)


def inspect(root: str | Path | InspectConfig, *, progress: bool = True, **settings: Any) -> dict[str, Any]:
    """What a dataset holds, per split x body part x label, and its problems (``InspectConfig``'s fields)."""
    from xrayssl.data.config import InspectConfig

    config = root if isinstance(root, InspectConfig) else InspectConfig(root=str(root), **settings)
    return steps.run("inspect", config, quiet=not progress)


def verify(cache: str | Path) -> PreparedCache:
    """A prepared cache, every file checked against its recorded digest (a mismatch is a one-line error)."""
    from xrayssl.data.config import VerifyConfig

    return steps.run("verify", VerifyConfig(cache=str(cache)))


def synth(out: str | Path, config: SynthConfig | None = None, **settings: Any) -> Path:
    """Write a synthetic radiograph dataset to ``out`` (keywords: ``SynthConfig``'s fields, ``layout``, ``workers``);
    returns its folder."""
    from dataclasses import asdict

    from xrayssl.data.config import SynthDatasetConfig

    base = asdict(config) if config is not None else {}
    return steps.run("synth", SynthDatasetConfig(out=str(out), **{**base, **settings}))


def show_augmentations(config: AugmentShowConfig) -> Path:
    """A PNG grid of images and augmented views of each; returns its path."""
    return steps.run("show_augmentations", config)


def pretrain(config: PretrainConfig, *, resume: bool = False, progress_bar: bool = True) -> Path:
    """Self-supervised pretraining; returns the run folder (config.json, record.json, encoder.pt)."""
    return steps.run("pretrain", config, resume=resume, quiet=not progress_bar)


def supervised(config: SupervisedConfig, progress_bar: bool = True, n_boot: int | None = None) -> dict[str, Any]:
    """Train the supervised baseline and evaluate it on the test split (threshold chosen on validation);
    ``n_boot``: bootstrap resamples per interval (default: ProbeConfig's)."""
    return steps.run("supervised", config, quiet=not progress_bar, n_boot=n_boot)


def probe(config: ProbeConfig | str | Path, **settings: Any) -> dict[str, Any]:
    """Linear probe of frozen features with bootstrap intervals: ``probe(ProbeConfig(...))`` or
    ``probe(run, cache=..., label_fractions=[0.1, 1])`` (keywords: ProbeConfig's fields)."""
    from xrayssl.evaluate.config import ProbeConfig

    if not isinstance(config, ProbeConfig):
        config = ProbeConfig(source=str(config), **settings)
    elif settings:
        raise TypeError("give a ProbeConfig or keyword settings, not both")
    return steps.run("probe", config)


def gradcam(config: GradCamConfig) -> dict[str, Any]:
    """Grad-CAM grids per body part and outcome, and a deletion-curve faithfulness score, in ``config.out``."""
    return steps.run("gradcam", config)


def predict(config: PredictConfig | str | Path, images: str | Path | None = None, **settings: Any) -> dict[str, Any]:
    """A run's probabilities for new images: ``predict(PredictConfig(...))`` or ``predict(run, images,
    out="predictions.csv")``; the CSV holds one row per image (path, error, a probability per class)."""
    from xrayssl.evaluate.config import PredictConfig

    if not isinstance(config, PredictConfig):
        config = PredictConfig(run=str(config), images=str(images), **settings)
    elif settings or images is not None:
        raise TypeError("give a PredictConfig or a run, images and keyword settings, not both")
    return steps.run("predict", config)


def study(
    config: StudyConfig | None,
    out: str | Path | None = None,
    *,
    workers: int = 1,
    shard: str | None = None,
    progress: bool = True,
    report: bool = True,
    store: str | None = None,
) -> dict[str, int]:
    """Run (or, with ``config=None``, resume) an augmentation study in ``out`` (default: ``config.out``); returns
    the runs' status counts. ``report`` writes OUT/report.html at the end; ``store`` a postgresql:// URL
    (default: OUT/study.sqlite)."""
    switches = {"workers": workers, "shard": shard, "quiet": not progress, "report": report, "store": store}
    return steps.run("study", config, out=out, **switches)


def report(study: str | Path | ReportConfig, out: str | Path | None = None) -> Path:
    """Write a study's self-contained HTML report (default STUDY/report.html) from its stored results."""
    from xrayssl.report.config import ReportConfig

    config = study if isinstance(study, ReportConfig) else ReportConfig(str(study), None if out is None else str(out))
    return steps.run("report", config)


build_report = report  # the name it had first, kept


def study_results(study: str | Path) -> dict[str, Any]:
    """A study's whole analysis (leaderboard, effects, stability, claims, references, the per-body-part table)
    as one JSON-ready object, from its stored results (what ``xrayssl report STUDY --json`` prints)."""
    from xrayssl.report.config import ReportConfig

    return steps.run("report", ReportConfig(str(study), json=True))


def export(config: ExportConfig) -> tuple[Path, dict[str, str]]:
    """Write a run's encoder as a torchvision/timm state dict or an ONNX model; returns the file and the
    metadata written with it (how to load it and prepare its inputs)."""
    return steps.run("export", config)


def demo(config: DemoConfig | None = None, *, progress: bool = True) -> Path:
    """The embedded default end to end: synthetic radiographs, cache, a small study and its report (its path)."""
    from xrayssl.demo import DemoConfig

    return steps.run("demo", config if config is not None else DemoConfig(), quiet=not progress)


def load_encoder(run: str | Path) -> nn.Module:
    """A run's trained encoder (pretraining or supervised), in eval mode: (B, 1, H, W) floats in [0, 1] ->
    (B, features). The input normalisation is inside the module; export.py turns it into plain torchvision,
    timm or ONNX models."""
    from xrayssl.runs import load_encoder as load

    return load(run)[0]
