"""xrayssl: find which augmentations make self-supervised learning work on X-ray images.

The steps the CLI wraps, as functions (``xrayssl.api``), and their config dataclasses::

    import xrayssl
    cache = xrayssl.prepare("data/knees", "caches/knee64", size=64).cache
    run = xrayssl.pretrain(xrayssl.PretrainConfig(cache=str(cache), out="runs/simclr", epochs=20))
    print(xrayssl.probe(run)["overall"]["auroc"])
    encoder = xrayssl.load_encoder(run)  # nn.Module: (B, 1, H, W) floats in [0, 1] -> features

Names load on first use, so ``import xrayssl`` does not import torch. Every step of ``xrayssl.steps``'s table
is a function here; ``run_study``, ``build_report``, ``export_encoder`` and ``run_demo`` are ``xrayssl.api``'s
``study``, ``report``, ``export`` and ``demo``: the short names are taken by the subpackages ``xrayssl.study``,
``xrayssl.report`` and the modules ``xrayssl.export`` and ``xrayssl.demo``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from xrayssl.errors import XraySSLError
from xrayssl.version import __version__

# public name -> (module, attribute)
_LAZY = {
    "prepare": ("xrayssl.api", "prepare"),
    "inspect": ("xrayssl.api", "inspect"),
    "verify": ("xrayssl.api", "verify"),
    "synth": ("xrayssl.api", "synth"),
    "show_augmentations": ("xrayssl.api", "show_augmentations"),
    "pretrain": ("xrayssl.api", "pretrain"),
    "probe": ("xrayssl.api", "probe"),
    "supervised": ("xrayssl.api", "supervised"),
    "run_study": ("xrayssl.api", "study"),
    "build_report": ("xrayssl.api", "report"),
    "gradcam": ("xrayssl.api", "gradcam"),
    "predict": ("xrayssl.api", "predict"),
    "load_encoder": ("xrayssl.api", "load_encoder"),
    "export_encoder": ("xrayssl.api", "export"),
    "run_demo": ("xrayssl.api", "demo"),
    "PrepareConfig": ("xrayssl.data.config", "PrepareConfig"),
    "InspectConfig": ("xrayssl.data.config", "InspectConfig"),
    "SynthConfig": ("xrayssl.data.synthetic", "SynthConfig"),
    "AugmentShowConfig": ("xrayssl.augment.config", "AugmentShowConfig"),
    "PretrainConfig": ("xrayssl.train.config", "PretrainConfig"),
    "SupervisedConfig": ("xrayssl.train.config", "SupervisedConfig"),
    "ProbeConfig": ("xrayssl.evaluate.config", "ProbeConfig"),
    "GradCamConfig": ("xrayssl.evaluate.config", "GradCamConfig"),
    "PredictConfig": ("xrayssl.evaluate.config", "PredictConfig"),
    "StudyConfig": ("xrayssl.study.config", "StudyConfig"),
    "ReportConfig": ("xrayssl.report.config", "ReportConfig"),
    "ExportConfig": ("xrayssl.export_config", "ExportConfig"),
    "DemoConfig": ("xrayssl.demo", "DemoConfig"),
    "load_config_file": ("xrayssl.configfile", "load_config_file"),
}

__all__ = [  # noqa: RUF022 (grouped: steps, then configs; the same names as _LAZY)
    "XraySSLError",
    "__version__",
    "prepare",
    "inspect",
    "verify",
    "synth",
    "show_augmentations",
    "pretrain",
    "probe",
    "supervised",
    "run_study",
    "build_report",
    "gradcam",
    "predict",
    "load_encoder",
    "export_encoder",
    "run_demo",
    "PrepareConfig",
    "InspectConfig",
    "SynthConfig",
    "AugmentShowConfig",
    "PretrainConfig",
    "SupervisedConfig",
    "ProbeConfig",
    "GradCamConfig",
    "PredictConfig",
    "StudyConfig",
    "ReportConfig",
    "ExportConfig",
    "DemoConfig",
    "load_config_file",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value  # once loaded, a plain attribute
        return value
    raise AttributeError(f"module 'xrayssl' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


if TYPE_CHECKING:  # for editors and type checkers: the same names, imported eagerly
    from xrayssl.api import (
        build_report,
        gradcam,
        inspect,
        load_encoder,
        predict,
        prepare,
        pretrain,
        probe,
        show_augmentations,
        supervised,
        synth,
        verify,
    )
    from xrayssl.api import demo as run_demo
    from xrayssl.api import export as export_encoder
    from xrayssl.api import study as run_study
    from xrayssl.augment.config import AugmentShowConfig
    from xrayssl.configfile import load_config_file
    from xrayssl.data.config import InspectConfig, PrepareConfig
    from xrayssl.data.synthetic import SynthConfig
    from xrayssl.demo import DemoConfig
    from xrayssl.evaluate.config import GradCamConfig, PredictConfig, ProbeConfig
    from xrayssl.export_config import ExportConfig
    from xrayssl.report.config import ReportConfig
    from xrayssl.study.config import StudyConfig
    from xrayssl.train.config import PretrainConfig, SupervisedConfig
