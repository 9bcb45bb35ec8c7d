"""Gaussian blur (study: 3x3 kernel, sigma 1-2, p = 0.2) and unsharp-mask sharpening, per-image sigma."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from xrayssl.augment.ops import Op, as_range, register_op, uniform


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel: int) -> torch.Tensor:
    """Blur each image with its own sigma: two separable grouped convolutions over the batch."""
    n, c, h, w = x.shape
    r = kernel // 2
    t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    g = torch.exp(-(t.view(1, -1) ** 2) / (2 * sigma.view(-1, 1).to(x.dtype) ** 2))
    g = (g / g.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n*c, k)
    padded = F.pad(x.reshape(1, n * c, h, w), (r, r, r, r), mode="reflect")
    rows = F.conv2d(padded, g.view(n * c, 1, 1, kernel), groups=n * c)
    return F.conv2d(rows, g.view(n * c, 1, kernel, 1), groups=n * c).view(n, c, h, w)


@register_op
@dataclass
class Blur(Op):
    name = "blur"
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"sigma": (0.0, 100.0), "kernel": (1, 99)}
    positional = ("sigma",)
    sigma: float | tuple[float, float] = (1.0, 2.0)
    kernel: int = 3
    p: float = 0.2

    def sample(self, n, h, w, gen):
        return {"sigma": uniform(as_range(self.sigma, "blur.sigma"), n, gen), "on": self.chosen(n, gen)}

    def apply(self, x, params):
        on = params["on"]
        if not on.any():
            return x
        x[on] = gaussian_blur(x[on], params["sigma"][on], self.kernel | 1)
        return x


@register_op
@dataclass
class Sharpen(Op):
    name = "sharpen"
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"amount": (0.0, 10.0), "sigma": (0.01, 100.0)}
    positional = ("amount",)
    amount: float | tuple[float, float] = (0.5, 1.5)
    sigma: float = 1.0
    p: float = 0.5

    def sample(self, n, h, w, gen):
        return {"amount": uniform(as_range(self.amount, "sharpen.amount"), n, gen) * self.chosen(n, gen)}

    def apply(self, x, params):
        blurred = gaussian_blur(x, torch.full((len(x),), self.sigma, device=x.device), 2 * round(2 * self.sigma) + 1)
        a = params["amount"].view(-1, 1, 1, 1).to(x.dtype)
        return (x + a * (x - blurred)).clamp(0, 1)
