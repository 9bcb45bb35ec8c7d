"""Affine ops (flip, rotate, crop), fused by the pipeline into one resampling, and a smooth grid distortion."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from xrayssl.augment.ops import Op, as_range, register_op, uniform


def _eye(n: int) -> torch.Tensor:
    return torch.eye(3).repeat(n, 1, 1)


@register_op
@dataclass
class Flip(Op):
    """Mirror: horizontal (left-right) and/or vertical; the original study used horizontal, p = 0.5."""

    name = "flip"
    horizontal: bool = True
    vertical: bool = False
    p: float = 0.5
    affine = True

    def sample(self, n, h, w, gen):
        return {"h": self.chosen(n, gen) & self.horizontal, "v": self.chosen(n, gen) & self.vertical}

    def matrix(self, params, h, w):
        m = _eye(len(params["h"]))
        m[:, 0, 0] = 1 - 2 * params["h"].float()
        m[:, 1, 1] = 1 - 2 * params["v"].float()
        return m


@register_op
@dataclass
class Rotate(Op):
    """Rotation about the image centre by a random angle within +-degrees (study: 10)."""

    name = "rotate"
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"degrees": (-360.0, 360.0)}
    positional = ("degrees",)
    degrees: float | tuple[float, float] = 10.0
    p: float = 1.0
    affine = True

    def sample(self, n, h, w, gen):
        angle = uniform(as_range(self.degrees, "rotate.degrees", symmetric=True), n, gen)
        return {"angle": torch.where(self.chosen(n, gen), angle, torch.zeros(n))}

    def matrix(self, params, h, w):
        a = params["angle"] * math.pi / 180
        cos, sin = torch.cos(a), torch.sin(a)
        m = _eye(len(a))
        # rotate in pixel units (grid units differ in x and y on non-square images)
        m[:, 0, 0], m[:, 0, 1] = cos, -sin * h / w
        m[:, 1, 0], m[:, 1, 1] = sin * w / h, cos
        return m


@register_op
@dataclass
class Crop(Op):
    """Random resized crop: a region of ``scale`` of the area and aspect ``ratio``, stretched to full size."""

    name = "crop"
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"scale": (0.001, 1.0), "ratio": (0.01, 100.0)}
    positional = ("scale",)
    scale: float | tuple[float, float] = (0.2, 1.0)
    ratio: float | tuple[float, float] = (0.75, 1.3333)
    p: float = 1.0
    affine = True

    def sample(self, n, h, w, gen):
        area = uniform(as_range(self.scale, "crop.scale"), n, gen)
        lo, hi = as_range(self.ratio, "crop.ratio")
        ratio = torch.exp(uniform((math.log(lo), math.log(hi)), n, gen))
        cw = torch.sqrt(area * ratio).clamp(max=1.0)
        ch = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (1 - cw) * (2 * torch.rand(n, generator=gen) - 1)
        cy = (1 - ch) * (2 * torch.rand(n, generator=gen) - 1)
        keep = ~self.chosen(n, gen)
        one, zero = torch.ones(n), torch.zeros(n)
        return {
            "cw": torch.where(keep, one, cw),
            "ch": torch.where(keep, one, ch),
            "cx": torch.where(keep, zero, cx),
            "cy": torch.where(keep, zero, cy),
        }

    def matrix(self, params, h, w):
        m = _eye(len(params["cw"]))
        m[:, 0, 0], m[:, 0, 2] = params["cw"], params["cx"]
        m[:, 1, 1], m[:, 1, 2] = params["ch"], params["cy"]
        return m


@register_op
@dataclass
class GridDistortion(Op):
    """Smooth elastic warp: random displacements on a coarse grid, bicubically interpolated."""

    name = "grid_distortion"
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"magnitude": (0.0, 0.5), "steps": (1, 64)}
    positional = ("magnitude",)
    magnitude: float = 0.03  # largest displacement, as a fraction of the image side
    steps: int = 5
    p: float = 0.5

    def sample(self, n, h, w, gen):
        d = (2 * torch.rand(n, 2, self.steps, self.steps, generator=gen) - 1) * 2 * self.magnitude
        return {"field": d * self.chosen(n, gen).view(n, 1, 1, 1)}

    def apply(self, x, params):
        n, _, h, w = x.shape
        field = F.interpolate(params["field"], size=(h, w), mode="bicubic", align_corners=True)
        grid = F.affine_grid(torch.eye(2, 3, device=x.device).expand(n, 2, 3), list(x.shape), align_corners=False)
        return F.grid_sample(
            x, grid + field.permute(0, 2, 3, 1), mode="bilinear", padding_mode="border", align_corners=False
        )
