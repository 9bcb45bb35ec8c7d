"""CPU and GPU give the same augmentations for the same seed (parameters are drawn on the CPU).

Skipped without CUDA; run on a GPU machine with ``pytest tests/augment/test_augment_gpu.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xrayssl.augment import PRESETS, parse_pipeline
from xrayssl.augment.ops import OPS, load_ops

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
load_ops()
EXACT = {"flip", "chessboard", "erase"}  # pure index or mask operations: bit-identical


@pytest.fixture(scope="module")
def batch(radiographs) -> torch.Tensor:
    return torch.from_numpy(np.stack([radiographs[i % len(radiographs)] for i in range(16)])).unsqueeze(1)


@pytest.mark.parametrize("spec", [f"{n}(p=1)" for n in sorted(OPS)] + list(PRESETS))
def test_cpu_and_gpu_agree(spec, batch):
    aug = parse_pipeline(spec)
    x = batch.float() / 255
    cpu = aug(x, torch.Generator().manual_seed(7))
    gpu = aug(x.cuda(), torch.Generator().manual_seed(7))
    assert gpu.is_cuda
    name = spec.split("(")[0]
    if name in EXACT:
        assert torch.equal(cpu, gpu.cpu())
    else:
        torch.testing.assert_close(gpu.cpu(), cpu, atol=2e-3, rtol=0)
    u_cpu = aug(batch, torch.Generator().manual_seed(7))
    u_gpu = aug(batch.cuda(), torch.Generator().manual_seed(7)).cpu()
    differ = (u_cpu.int() - u_gpu.int()).abs()
    assert differ.max() <= 1 and (differ > 0).float().mean() < 1e-3
