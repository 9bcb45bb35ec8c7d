"""A run as one classifier, encoder and head: a supervised run's own, or a pretraining run's encoder followed by
its fitted probe (pooling, standardisation and regression folded into one linear layer). What Grad-CAM explains
and ``export --with-head`` writes.

``forward`` gives the head's logits (B, outputs); ``probabilities`` the task's scores: (B,) for binary, (B, K)
otherwise (``tasks.probabilities`` for a probe, the head's own for a supervised run: softmax, CORN, sigmoid).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from xrayssl import runs
from xrayssl.errors import XraySSLError
from xrayssl.evaluate.probe import LinearProbe
from xrayssl.models.backbones import pool_features
from xrayssl.models.classifier import corn_probabilities

PROBE_FILE = "probe-run.npz"


class ProbeClassifier(nn.Module):
    """Frozen encoder + its pooling + the fitted probe as one linear layer -> logits (B, outputs)."""

    def __init__(self, backbone: nn.Module, probe: LinearProbe, pool: str = "avg") -> None:
        super().__init__()
        self.backbone, self.pool, self.task = backbone, pool, probe.task
        weight, bias = probe.standardised_head()
        self.head = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            self.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
        self.kind = "softmax" if self.task.link == "softmax" else "sigmoid"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(pool_features(self.backbone.feature_maps(x), self.pool))


class SupervisedLogits(nn.Module):
    """A supervised run's classifier with its logits always (B, outputs) (binary's (B,) made (B, 1))."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.backbone, self.head = model, model.backbone, model.head
        self.task, self.kind, self.pool = model.task, model.kind, "avg"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        return z.unsqueeze(1) if z.ndim == 1 else z  # no len(x): an ONNX export keeps its batch dynamic


def probabilities(model: nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """(B, outputs) logits of a ``load_head_model`` model -> the task's scores ((B,) binary, (B, K) otherwise)."""
    logits = logits.float()
    if model.kind == "softmax":
        return torch.softmax(logits, 1)
    if model.kind == "corn":
        return corn_probabilities(logits)
    p = torch.sigmoid(logits)
    return p[:, 0] if model.task.kind == "binary" else p


class Probabilities(nn.Module):
    """Image -> the task's probabilities (B, n_outputs): what the ONNX export with its head computes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = probabilities(self.model, self.model(x))
        return p.unsqueeze(1) if p.ndim == 1 else p


def load_head_model(run: str | Path) -> tuple[nn.Module, dict, float | None]:
    """(encoder + head in eval mode, run config, binary decision threshold: the probe's Youden cut, or the
    supervised evaluation's; None for other tasks)."""
    kind, config = runs.read_config(run)
    if kind == "supervised":
        model, _ = runs.load_classifier(run)
        ev = Path(run) / "evaluation.json"
        threshold = json.loads(ev.read_text()).get("threshold") if ev.is_file() else None
        if model.task.kind == "binary" and threshold is None:
            threshold = 0.5
        return SupervisedLogits(model).eval(), config, threshold
    probe_file = Path(run) / PROBE_FILE
    if not probe_file.is_file():
        raise XraySSLError(f"{run}: no fitted probe; run 'xrayssl probe {run}' first")
    probe, pool = LinearProbe.load(probe_file)
    backbone, _ = runs.load_encoder(run)
    return ProbeClassifier(backbone, probe, pool).eval(), config, probe.threshold_
