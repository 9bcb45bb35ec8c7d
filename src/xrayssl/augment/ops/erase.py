"""Random erasing of one rectangle per image (study: p = 0.3, 1-10 % of the area, aspect 0.5-2, black)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from xrayssl.augment.ops import Op, as_range, register_op, uniform


@register_op
@dataclass
class Erase(Op):
    name = "erase"
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"area": (0.0, 1.0), "ratio": (0.01, 100.0), "value": (0.0, 1.0)}
    area: float | tuple[float, float] = (0.01, 0.1)
    ratio: float | tuple[float, float] = (0.5, 2.0)
    value: float = 0.0
    p: float = 0.3

    def sample(self, n, h, w, gen):
        area = uniform(as_range(self.area, "erase.area"), n, gen) * h * w
        lo, hi = as_range(self.ratio, "erase.ratio")
        ratio = torch.exp(uniform((math.log(lo), math.log(hi)), n, gen))
        eh = torch.sqrt(area / ratio).round().clamp(1, h)
        ew = torch.sqrt(area * ratio).round().clamp(1, w)
        top = (torch.rand(n, generator=gen) * (h - eh + 1)).floor()
        left = (torch.rand(n, generator=gen) * (w - ew + 1)).floor()
        on = self.chosen(n, gen)
        return {"box": torch.stack([top, left, eh * on, ew * on], 1)}

    def apply(self, x, params):
        n, _, h, w = x.shape
        top, left, eh, ew = params["box"].unbind(1)
        y = torch.arange(h, device=x.device).view(1, h, 1)
        xx = torch.arange(w, device=x.device).view(1, 1, w)
        inside = (
            (y >= top.view(n, 1, 1))
            & (y < (top + eh).view(n, 1, 1))
            & (xx >= left.view(n, 1, 1))
            & (xx < (left + ew).view(n, 1, 1))
        )
        return torch.where(inside.unsqueeze(1), torch.full_like(x, self.value), x)
