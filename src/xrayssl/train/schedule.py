"""Progress-based schedules, so that epoch budgets and wall-clock budgets share one code path."""

from __future__ import annotations

import math


def lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up, then cosine decay to zero, over progress in [0, 1]."""
    if warmup > 0 and progress < warmup:
        return progress / warmup
    span = max(1e-9, 1 - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / span)))


def progress(step: int, total_steps: int | None, elapsed: float, budget: float | None) -> float:
    """How far a run has come: the larger of its share of steps and its share of the time budget."""
    parts = [0.0]
    if total_steps:
        parts.append(step / total_steps)
    if budget:
        parts.append(elapsed / budget)
    return min(1.0, max(parts))
