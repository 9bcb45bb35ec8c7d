"""The Python API: one function per step that the CLI wraps, each taking the same config object the CLI builds.

    import xrayssl
    cache = xrayssl.prepare("data/knees", "caches/knee64", size=64).cache
    run = xrayssl.pretrain(xrayssl.PretrainConfig(cache=str(cache), out="runs/simclr", epochs=20))
    result = xrayssl.probe(run)                       # or xrayssl.probe(run, cache="caches/other"): transfer
    encoder = xrayssl.load_encoder(run)               # nn.Module: (B, 1, H, W) floats in [0, 1] -> (B, 512)

Imports are inside the functions: ``import xrayssl`` stays fast and loads torch only when a step runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from xrayssl.evaluate.config import GradCamConfig, ProbeConfig
from xrayssl.train.config import PretrainConfig, SupervisedConfig

if TYPE_CHECKING:
    from torch import nn

    from xrayssl.data.prepare import PrepareResult
    from xrayssl.export import ExportConfig
    from xrayssl.study.config import StudyConfig


def prepare(root: str | Path, out: str | Path, *, progress: bool = True, **settings: Any) -> PrepareResult:
    """Read a dataset (any supported layout), split it by patient and cache it for training.

    ``settings``: ProcessConfig fields (size, resize, clahe, clahe_clip, clahe_tiles) and the keywords of
    ``xrayssl.data.prepare.prepare`` (fmt, split, body_parts, options, workers). Returns a PrepareResult
    (``.cache`` is the cache folder)."""
    from dataclasses import fields

    from xrayssl.data.prepare import prepare as prepare_cache
    from xrayssl.data.process import ProcessConfig

    process = {f.name: settings.pop(f.name) for f in fields(ProcessConfig) if f.name in settings}
    if process:
        settings["process"] = ProcessConfig(**process)
    return prepare_cache(root, out, progress=progress, **settings)


def pretrain(config: PretrainConfig, *, resume: bool = False, progress_bar: bool = True) -> Path:
    """Self-supervised pretraining; returns the run folder (config.json, record.json, encoder.pt)."""
    from xrayssl.train.pretrain import pretrain as run_pretraining

    return run_pretraining(config, resume=resume, progress_bar=progress_bar)


def supervised(config: SupervisedConfig, progress_bar: bool = True, n_boot: int = ProbeConfig.n_boot) -> dict[str, Any]:
    """Train the supervised baseline and evaluate it on the test split (threshold chosen on validation)."""
    from xrayssl.evaluate.config import SupervisedEvalConfig
    from xrayssl.evaluate.supervised_eval import evaluate_supervised
    from xrayssl.train.supervised import train_supervised

    run = train_supervised(config, progress_bar=progress_bar)
    return evaluate_supervised(SupervisedEvalConfig(run=str(run), n_boot=n_boot))


def probe(config: ProbeConfig | str | Path, **settings: Any) -> dict[str, Any]:
    """Linear probe of frozen features with bootstrap intervals: ``probe(ProbeConfig(...))`` or
    ``probe(run, cache=..., label_fractions=[0.1, 1])`` (keywords: ProbeConfig's fields)."""
    from xrayssl.evaluate.run_probe import probe as run_probe

    if not isinstance(config, ProbeConfig):
        config = ProbeConfig(source=str(config), **settings)
    elif settings:
        raise TypeError("give a ProbeConfig or keyword settings, not both")
    return run_probe(config)


def gradcam(config: GradCamConfig) -> dict[str, Any]:
    """Grad-CAM grids per body part and outcome, and a deletion-curve faithfulness score, in ``config.out``."""
    from xrayssl.evaluate.gradcam import gradcam as run_gradcam

    return run_gradcam(config)


def study(
    config: StudyConfig | None,
    out: str | Path,
    *,
    workers: int = 1,
    shard: str | None = None,
    progress: bool = True,
    report: bool = True,
    store: str | None = None,
) -> dict[str, int]:
    """Run (or, with ``config=None``, resume) an augmentation study in ``out``; returns the runs' status counts.
    ``report`` writes OUT/report.html at the end; ``store`` a postgresql:// URL (default: OUT/study.sqlite)."""
    from xrayssl.study.runner import run_study

    counts = run_study(config, out, workers=workers, shard=shard, progress=progress, store=store)
    if report:
        build_report(out)
    return counts


def build_report(study: str | Path, out: str | Path | None = None) -> Path:
    """Write a study's self-contained HTML report (default STUDY/report.html) from its stored results."""
    from xrayssl.report.html import build_report as write_report

    return write_report(study, out)


report = build_report  # the CLI's name for it


def study_results(study: str | Path) -> dict[str, Any]:
    """A study's whole analysis (leaderboard, effects, stability, claims, references, the per-body-part table)
    as one JSON-ready object, from its stored results (what ``xrayssl report STUDY --json`` prints)."""
    from xrayssl.report.results import study_results as results

    return results(study)


def export(config: ExportConfig) -> tuple[Path, dict[str, str]]:
    """Write a run's encoder as a torchvision/timm state dict or an ONNX model; returns the file and the
    metadata written with it (how to load it and prepare its inputs)."""
    from xrayssl.export import export as write_export

    return write_export(config)


def load_encoder(run: str | Path) -> nn.Module:
    """A run's trained encoder (pretraining or supervised), in eval mode: (B, 1, H, W) floats in [0, 1] ->
    (B, features). The input normalisation is inside the module; export.py turns it into plain torchvision,
    timm or ONNX models."""
    from xrayssl.runs import load_encoder as load

    return load(run)[0]
