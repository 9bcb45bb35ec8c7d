"""A backbone with a linear head for the label task: the supervised baseline's model, also read back by evaluation.

The task (``xrayssl.tasks.Task``) chooses the head, its loss and how its outputs become probabilities:

- ``binary``: one logit (the abnormal class), BCE with ``pos_weight`` (negatives over positives);
- ``multiclass``: K logits, softmax cross-entropy with balanced class weights;
- ``ordinal``: CORN (Shi, Cao and Raschka 2021, "Deep neural networks for rank-consistent ordinal regression
  based on conditional probability"): K-1 logits, logit k the conditional P(y > k | y > k-1), each trained with
  BCE on the images with y > k-1 only; P(y > k) is the running product, so the class probabilities
  P(y > k-1) - P(y > k) are never negative and sum to one (rank-consistent by construction);
- ``multilabel``: K logits, one BCE per finding with its own ``pos_weight``, missing (-1) labels masked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xrayssl.models.backbones import Backbone
from xrayssl.tasks import BINARY, Task

HEADS = {"binary": "logit", "multiclass": "softmax", "ordinal": "corn", "multilabel": "sigmoid"}


def head_outputs(task: Task) -> int:
    """Logits of the task's head: 1 for binary, K-1 for CORN, K otherwise."""
    if task.kind == "binary":
        return 1
    return len(task.classes) - 1 if HEADS[task.kind] == "corn" else len(task.classes)


def corn_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """CORN's K-1 conditional logits -> (B, K) class probabilities."""
    # P(y > k), k = 0..K-2, the running product of the conditionals (never increasing), summed in log space: the
    # same numbers, and ONNX has CumSum but no CumProd
    above = torch.exp(torch.cumsum(F.logsigmoid(logits), dim=1))
    ones, zeros = torch.ones_like(above[:, :1]), torch.zeros_like(above[:, :1])
    return torch.cat([ones, above], 1) - torch.cat([above, zeros], 1)


def corn_loss(logits: torch.Tensor, y: torch.Tensor, class_weight: torch.Tensor | None = None) -> torch.Tensor:
    """CORN's loss: for each threshold k, BCE of "y > k" on the images with y > k-1 (weighted per image by its
    class's weight), averaged over every term."""
    k = logits.shape[1]
    grid = torch.arange(k, device=y.device)
    at_risk = y[:, None] >= grid[None, :]  # y > k-1
    target = (y[:, None] > grid[None, :]).float()
    terms = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    weight = at_risk.float() * (1.0 if class_weight is None else class_weight[y][:, None])
    return (terms * weight).sum() / weight.sum().clamp_min(1e-12)


class Classifier(nn.Module):
    """Backbone + linear head: (B, 1, H, W) in [0, 1] -> logits, (B,) for binary (the abnormality logit, as
    before tasks), (B, head_outputs) otherwise; ``probabilities`` turns them into the task's scores."""

    def __init__(self, backbone: Backbone, task: Task = BINARY) -> None:
        super().__init__()
        self.task, self.kind = task, HEADS[task.kind]
        self.backbone = backbone
        self.head = nn.Linear(backbone.dim, head_outputs(task))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.backbone(x))
        return z.squeeze(1) if self.kind == "logit" else z

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(B,) abnormal probability for binary; (B, K) class probabilities (rows sum to one) or finding
        probabilities otherwise."""
        logits = logits.float()
        if self.kind == "softmax":
            return torch.softmax(logits, 1)
        if self.kind == "corn":
            return corn_probabilities(logits)
        return torch.sigmoid(logits)

    def loss(self, logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The head's training loss; ``weight``: ``tasks.class_weights`` (binary: its one pos_weight)."""
        logits = logits.float()
        if self.kind == "logit":
            return F.binary_cross_entropy_with_logits(logits, y.float(), pos_weight=weight.reshape(()))
        if self.kind == "softmax":
            return F.cross_entropy(logits, y.long(), weight=weight)
        if self.kind == "corn":
            return corn_loss(logits, y.long(), weight)
        known = (y >= 0).float()  # multilabel: missing findings take no part
        terms = F.binary_cross_entropy_with_logits(logits, y.clamp_min(0).float(), pos_weight=weight, reduction="none")
        return (terms * known).sum() / known.sum().clamp_min(1.0)
