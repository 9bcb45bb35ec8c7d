"""The run functions of the training, evaluation, export, study and report steps: ``run(config, **switches)``.

Each takes its step's config (steps.py) and returns the result the CLI prints and the API returns; the layer's
own function is imported on the first call, so importing this module loads no torch.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xrayssl.evaluate.config import GradCamConfig, PredictConfig, ProbeConfig
    from xrayssl.export_config import ExportConfig
    from xrayssl.report.config import ReportConfig
    from xrayssl.study.config import StudyConfig
    from xrayssl.train.config import PretrainConfig, SupervisedConfig


def pretrain(config: PretrainConfig, *, resume: bool = False, quiet: bool = False) -> Path:
    """Self-supervised pretraining; the run folder (config.json, record.json, encoder.pt)."""
    from xrayssl.train.pretrain import pretrain as run_pretraining
    from xrayssl.train.quiet import quiet_lightning, silenced

    quiet_lightning()
    with silenced() if quiet else contextlib.nullcontext():  # quiet: nothing from Lightning at all
        return run_pretraining(config, resume=resume, progress_bar=not quiet)


def supervised(config: SupervisedConfig, *, quiet: bool = False, n_boot: int | None = None) -> dict[str, Any]:
    """Train the supervised baseline, then its evaluation on the test split (threshold chosen on validation);
    ``n_boot``: bootstrap resamples per interval (default: the probe's)."""
    from xrayssl.evaluate.config import SupervisedEvalConfig
    from xrayssl.evaluate.supervised_eval import evaluate_supervised
    from xrayssl.train.quiet import quiet_lightning, silenced
    from xrayssl.train.supervised import train_supervised

    quiet_lightning()
    with silenced() if quiet else contextlib.nullcontext():
        run = train_supervised(config, progress_bar=not quiet)
    settings = {} if n_boot is None else {"n_boot": n_boot}  # None: the evaluation config's own default
    return evaluate_supervised(SupervisedEvalConfig(run=str(run), **settings))


def _say(quiet: bool, line: str) -> float:
    """A progress line (the CLI's; API calls are quiet unless asked; --json turns it off): on stdout, so that an
    error stays the one line on stderr; returns the time it was said."""
    import time

    if not quiet:
        print(line, flush=True)
    return time.perf_counter()


def _done(quiet: bool, what: str, start: float) -> None:
    import time

    _say(quiet, f"{what}: done in {time.perf_counter() - start:.1f} s")


def probe(config: ProbeConfig, *, quiet: bool = True) -> dict[str, Any]:
    """Linear probe of frozen features with bootstrap intervals."""
    from xrayssl.evaluate.run_probe import probe as run_probe
    from xrayssl.train.quiet import silenced

    start = _say(quiet, f"probe: {config.source}: encoding the images, fitting the probe on train (C chosen on val), "
                        f"{config.n_boot} bootstrap resamples of the test patients...")  # fmt: skip
    with silenced():
        result = run_probe(config)
    _done(quiet, "probe", start)
    return result


def gradcam(config: GradCamConfig, *, quiet: bool = True) -> dict[str, Any]:
    """Grad-CAM grids per body part and outcome, and a deletion-curve faithfulness score, in ``config.out``."""
    from xrayssl.evaluate.gradcam import gradcam as run_gradcam
    from xrayssl.train.quiet import silenced

    start = _say(quiet, f"gradcam: {config.run}: {config.n} images per body part and outcome, then the deletion "
                        "curves for faithfulness...")  # fmt: skip
    with silenced():
        result = run_gradcam(config)
    _done(quiet, "gradcam", start)
    return result


def predict(config: PredictConfig) -> dict[str, Any]:
    """A run's probabilities for new images, decoded and prepared as its cache was: a CSV, one row per image."""
    from xrayssl.evaluate.predict import predict as run_predict

    return run_predict(config)


def export(config: ExportConfig) -> tuple[Path, dict[str, str]]:
    """A run's encoder written for torchvision, timm or ONNX Runtime: the file and its metadata."""
    from xrayssl.export import export as write_export

    return write_export(config)


def study(
    config: StudyConfig | None,
    *,
    out: str | Path | None = None,
    workers: int = 1,
    shard: str | None = None,
    quiet: bool = False,
    report: bool = True,
    store: str | None = None,
) -> dict[str, int]:
    """Run (or, with ``config=None`` and ``out``, resume) a study; the runs' status counts. ``report`` writes
    OUT/report.html at the end; ``store`` a postgresql:// URL (default: OUT/study.sqlite)."""
    from xrayssl.report.html import build_report
    from xrayssl.study.runner import run_study
    from xrayssl.train.quiet import quiet_lightning

    out = out if out is not None else config.out if config is not None else None
    if out is None:
        raise TypeError("resuming a study needs its folder: study(None, out=FOLDER)")
    quiet_lightning()
    counts = run_study(config, out, workers=workers, shard=shard, progress=not quiet, store=store)
    if report:
        build_report(out)
    return counts


def report(config: ReportConfig, *, quiet: bool = True) -> Path | dict[str, Any]:
    """A study's HTML report (its path), or with ``config.json`` its whole analysis as one JSON-ready object."""
    say = None if quiet else (lambda line: _say(False, f"report: {line}"))
    if config.json:  # JSON on stdout is for programs: no progress lines
        from xrayssl.report.results import study_results

        return study_results(config.study)
    from xrayssl.report.html import build_report

    return build_report(config.study, config.out, say=say)
