"""The Python API: one function per step that the CLI wraps."""

from __future__ import annotations

from typing import Any

from xrayssl.train.config import SupervisedConfig


def supervised(config: SupervisedConfig, progress_bar: bool = True, n_boot: int = 1000) -> dict[str, Any]:
    """Train the supervised baseline and evaluate it on the test split (threshold chosen on validation)."""
    from xrayssl.evaluate.supervised_eval import evaluate_supervised
    from xrayssl.train.supervised import train_supervised

    run = train_supervised(config, progress_bar=progress_bar)
    return evaluate_supervised(run, n_boot=n_boot)
