"""A recipe of augmentations applied to whole batches, with named presets.

    >>> from xrayssl.augment import parse_pipeline
    >>> aug = parse_pipeline("flip+rotate(15)+chessboard(cell=0.08,shift=0.02,p=0.5)+erase(p=0.3)")
    >>> views = aug(batch, generator=torch.Generator().manual_seed(0))   # (B, 1, H, W), uint8 or float

Consecutive affine ops (flip, rotate, crop) are fused into one bilinear resampling per image; images
that no geometric op touched are not resampled at all.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from xrayssl.augment.ops import Op, build_op
from xrayssl.augment.presets import PRESETS
from xrayssl.augment.spec import parse_spec
from xrayssl.errors import XraySSLError


class Pipeline:
    def __init__(self, ops: list[Op]) -> None:
        self.ops = ops

    def spec(self) -> str:
        return "+".join(op.spec() for op in self.ops)

    def __repr__(self) -> str:
        return f"Pipeline('{self.spec()}')"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a batch (B, C, H, W) of uint8 or float-in-[0,1] images; returns the same dtype."""
        return self.with_geometry(x, generator)[0]

    def with_geometry(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The augmented batch and, per image, the (3, 3) matrix of all affine ops together: it maps the output's
        grid_sample coordinates ([-1, 1]) to the input's (what dense SSL objectives need to match locations).
        Non-affine warps (grid distortion, chessboard shifts) are small and left out of it."""
        if x.ndim != 4:
            raise XraySSLError(f"augmentations take a (B, C, H, W) batch, got shape {tuple(x.shape)}")
        gen = generator or torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,))))
        # Geometry (matrices, grids, masks) must stay fp32: under autocast (bf16-mixed) mixed-dtype
        # comparisons fail and bf16 grids misplace pixels. The model casts the finished views itself.
        with _no_autocast(x.device):
            return self._with_geometry(x, gen)

    def _with_geometry(self, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        was_uint8 = x.dtype == torch.uint8
        y = x.float().div_(255) if was_uint8 else x.clone()  # the pipeline's own copy: ops work in place
        n, _, h, w = y.shape
        where = torch.eye(3).repeat(n, 1, 1)
        run: list[torch.Tensor] = []  # matrices of the current run of affine ops
        for op in self.ops:
            params = op.sample(n, h, w, gen)
            if op.affine:
                run.append(op.matrix(params, h, w))
                continue
            y, where = self._resample(y, run), _compose(where, run)
            run = []
            y = op.apply(y, {k: v.to(y.device) for k, v in params.items()})
        y, where = self._resample(y, run), _compose(where, run)
        return (y.clamp_(0, 1).mul_(255).round_().to(torch.uint8) if was_uint8 else y), where

    @staticmethod
    def _resample(y: torch.Tensor, matrices: list[torch.Tensor]) -> torch.Tensor:
        if not matrices:
            return y
        total = _compose(None, matrices)
        eye = torch.eye(3).expand_as(total)
        moved = ~torch.isclose(total, eye, atol=1e-7).flatten(1).all(1)
        if not moved.any():
            return y
        # pure mirrors need no interpolation: exact and much cheaper as index flips
        diag = total.diagonal(dim1=1, dim2=2)
        mirror = moved & torch.isclose(total.abs(), eye, atol=1e-7).flatten(1).all(1)
        for flip_x in (True, False):
            for flip_y in (True, False):
                sel = mirror & ((diag[:, 0] < 0) == flip_x) & ((diag[:, 1] < 0) == flip_y)
                if sel.any():
                    dims = [d for d, f in ((-1, flip_x), (-2, flip_y)) if f]
                    idx = torch.nonzero(sel).flatten().to(y.device)
                    y[idx] = y[idx].flip(dims)
        warp = moved & ~mirror
        if warp.any():
            grid = affine_grid(total[warp, :2, :].to(y.device, y.dtype), *y.shape[-2:])
            if warp.all():  # no gather/scatter copies when every image moves
                return F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            idx = torch.nonzero(warp).flatten().to(y.device)
            y[idx] = F.grid_sample(y[idx], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return y


def _no_autocast(device: torch.device) -> contextlib.ExitStack:
    """Autocast off for the CPU (where the matrices live) and for the batch's device."""
    stack = contextlib.ExitStack()
    for kind in dict.fromkeys(("cpu", device.type)):
        stack.enter_context(torch.autocast(device_type=kind, enabled=False))
    return stack


def _compose(start: torch.Tensor | None, matrices: list[torch.Tensor]) -> torch.Tensor:
    """Output -> input mapping of ops applied in order: the first op's matrix is applied last."""
    total = start
    for m in matrices:
        total = m if total is None else total @ m
    return total


def affine_grid(theta: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Same as ``F.affine_grid(theta, ..., align_corners=False)``, built by broadcasting: several times
    faster on CPU, where the library version runs a batched matrix product over every pixel."""
    u = (torch.arange(w, device=theta.device, dtype=theta.dtype) * 2 + 1) / w - 1
    v = (torch.arange(h, device=theta.device, dtype=theta.dtype) * 2 + 1) / h - 1
    t = theta.view(-1, 6, 1, 1)
    grid = torch.empty(len(theta), h, w, 2, device=theta.device, dtype=theta.dtype)
    grid[..., 0] = t[:, 0] * u + t[:, 1] * v.view(-1, 1) + t[:, 2]
    grid[..., 1] = t[:, 3] * u + t[:, 4] * v.view(-1, 1) + t[:, 5]
    return grid


def parse_pipeline(spec: str) -> Pipeline:
    """A spec string or a preset name (seed, moco-cxr, simclr, none) -> Pipeline."""
    text = PRESETS.get(spec.strip().lower(), spec)
    try:
        return Pipeline([build_op(name, args, kwargs) for name, args, kwargs in parse_spec(text)])
    except XraySSLError as exc:
        raise XraySSLError(f"{exc} (presets: {', '.join(PRESETS)})") from exc
