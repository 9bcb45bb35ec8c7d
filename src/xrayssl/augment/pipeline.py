"""A recipe of augmentations applied to whole batches, with named presets.

    >>> from xrayssl.augment import parse_pipeline
    >>> aug = parse_pipeline("flip+rotate(15)+chessboard(cell=0.08,shift=0.02,p=0.5)+erase(p=0.3)")
    >>> views = aug(batch, generator=torch.Generator().manual_seed(0))   # (B, 1, H, W), uint8 or float

Consecutive affine ops (flip, rotate, crop) are fused into one bilinear resampling per image; images
that no geometric op touched are not resampled at all.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from xrayssl.augment.ops import Op, build_op
from xrayssl.augment.spec import parse_spec
from xrayssl.errors import XraySSLError

PRESETS = {
    # the original study's five augmentations with its numbers (chessboard: 20 px cells, 5 px on 256 px)
    "seed": "blur(sigma=1..2,kernel=3,p=0.2)+flip(p=0.5)+rotate(10)+chessboard(cell=0.078,shift=0.0195,p=0.5)"
    "+erase(area=0.01..0.1,ratio=0.5..2,p=0.3)",
    "moco-cxr": "rotate(10)+flip(p=0.5)",  # Sowrirajan et al. 2021
    "simclr": "crop(scale=0.2..1)+blur(sigma=0.1..2,kernel=9,p=0.5)+flip(p=0.5)",  # without colour
    "none": "",
}


class Pipeline:
    def __init__(self, ops: list[Op]) -> None:
        self.ops = ops

    def spec(self) -> str:
        return "+".join(op.spec() for op in self.ops)

    def __repr__(self) -> str:
        return f"Pipeline('{self.spec()}')"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a batch (B, C, H, W) of uint8 or float-in-[0,1] images; returns the same dtype."""
        if x.ndim != 4:
            raise XraySSLError(f"augmentations take a (B, C, H, W) batch, got shape {tuple(x.shape)}")
        gen = generator or torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,))))
        was_uint8 = x.dtype == torch.uint8
        y = x.float() / 255 if was_uint8 else x
        n, _, h, w = y.shape
        run: list[torch.Tensor] = []  # matrices of the current run of affine ops
        for op in self.ops:
            params = op.sample(n, h, w, gen)
            if op.affine:
                run.append(op.matrix(params, h, w))
                continue
            y = self._resample(y, run)
            run = []
            y = op.apply(y, {k: v.to(y.device) for k, v in params.items()})
        y = self._resample(y, run)
        return (y.clamp(0, 1) * 255).round().to(torch.uint8) if was_uint8 else y

    @staticmethod
    def _resample(y: torch.Tensor, matrices: list[torch.Tensor]) -> torch.Tensor:
        if not matrices:
            return y
        total = matrices[0]
        for m in matrices[1:]:
            total = total @ m  # the first op's matrix is applied last when mapping output -> input
        moved = ~torch.all(torch.isclose(total, torch.eye(3).expand_as(total), atol=1e-7).flatten(1), dim=1)
        if not moved.any():
            return y
        idx = torch.nonzero(moved).flatten().to(y.device)
        theta = total[moved, :2, :].to(y.device, y.dtype)
        grid = F.affine_grid(theta, [len(idx), *y.shape[1:]], align_corners=False)
        out = y.clone()
        out[idx] = F.grid_sample(y[idx], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out


def parse_pipeline(spec: str) -> Pipeline:
    """A spec string or a preset name (seed, moco-cxr, simclr, none) -> Pipeline."""
    text = PRESETS.get(spec.strip().lower(), spec)
    try:
        return Pipeline([build_op(name, args, kwargs) for name, args, kwargs in parse_spec(text)])
    except XraySSLError as exc:
        raise XraySSLError(f"{exc} (presets: {', '.join(PRESETS)})") from exc
