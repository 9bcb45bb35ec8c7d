"""Weight files as other tools publish them, with random weights: for tests that load ``--weights FILE``."""

from __future__ import annotations

from pathlib import Path

import torch


def vary_batch_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Random, non-trivial batch-norm statistics (a fresh model's are 0 and 1, which would hide a wrong load);
    the model in eval mode."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def save_state(model: torch.nn.Module, path: Path) -> Path:
    """The model's state dict as .safetensors or, for any other suffix, torch.save's format."""
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    else:
        torch.save(model.state_dict(), path)
    return path
