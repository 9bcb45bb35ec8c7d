"""xrayssl: find which augmentations make self-supervised learning work on X-ray images.

The steps the CLI wraps, as functions (``xrayssl.api``), and their config dataclasses::

    import xrayssl
    cache = xrayssl.prepare("data/knees", "caches/knee64", size=64).cache
    run = xrayssl.pretrain(xrayssl.PretrainConfig(cache=str(cache), out="runs/simclr", epochs=20))
    print(xrayssl.probe(run)["overall"]["auroc"])
    encoder = xrayssl.load_encoder(run)  # nn.Module: (B, 1, H, W) floats in [0, 1] -> features

Names load on first use, so ``import xrayssl`` does not import torch. ``run_study``, ``build_report`` and
``export_encoder`` are ``xrayssl.api``'s ``study``, ``report`` and ``export``: the short names are taken by the
subpackages ``xrayssl.study``, ``xrayssl.report`` and the module ``xrayssl.export``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from xrayssl.errors import XraySSLError
from xrayssl.version import __version__

# public name -> (module, attribute)
_LAZY = {
    "prepare": ("xrayssl.api", "prepare"),
    "pretrain": ("xrayssl.api", "pretrain"),
    "probe": ("xrayssl.api", "probe"),
    "supervised": ("xrayssl.api", "supervised"),
    "run_study": ("xrayssl.api", "study"),
    "build_report": ("xrayssl.api", "build_report"),
    "gradcam": ("xrayssl.api", "gradcam"),
    "load_encoder": ("xrayssl.api", "load_encoder"),
    "export_encoder": ("xrayssl.api", "export"),
    "PretrainConfig": ("xrayssl.train.config", "PretrainConfig"),
    "SupervisedConfig": ("xrayssl.train.config", "SupervisedConfig"),
    "ProbeConfig": ("xrayssl.evaluate.config", "ProbeConfig"),
    "GradCamConfig": ("xrayssl.evaluate.config", "GradCamConfig"),
    "StudyConfig": ("xrayssl.study.config", "StudyConfig"),
    "ExportConfig": ("xrayssl.export", "ExportConfig"),
    "load_config_file": ("xrayssl.configfile", "load_config_file"),
}

__all__ = [  # noqa: RUF022 (grouped: steps, then configs)
    "XraySSLError",
    "__version__",
    "prepare",
    "pretrain",
    "probe",
    "supervised",
    "run_study",
    "build_report",
    "gradcam",
    "load_encoder",
    "export_encoder",
    "PretrainConfig",
    "SupervisedConfig",
    "ProbeConfig",
    "GradCamConfig",
    "StudyConfig",
    "ExportConfig",
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
    from xrayssl.api import build_report, gradcam, load_encoder, prepare, pretrain, probe, supervised
    from xrayssl.api import export as export_encoder
    from xrayssl.api import study as run_study
    from xrayssl.configfile import load_config_file
    from xrayssl.evaluate.config import GradCamConfig, ProbeConfig
    from xrayssl.export import ExportConfig
    from xrayssl.study.config import StudyConfig
    from xrayssl.train.config import PretrainConfig, SupervisedConfig
