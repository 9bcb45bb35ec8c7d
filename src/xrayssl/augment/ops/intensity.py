"""Intensity ops: brightness/contrast/gamma, Gaussian noise, and CLAHE with a random clip limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
import torch

from xrayssl.augment.ops import Op, as_range, register_op, uniform


@register_op
@dataclass
class Intensity(Op):
    name = "intensity"
    bounds: ClassVar[dict[str, tuple[float, float]]] = {
        "brightness": (0.0, 1.0),
        "contrast": (0.0, 1.0),
        "gamma": (0.01, 100.0),
    }
    brightness: float = 0.2  # added offset within +-brightness
    contrast: float = 0.2  # factor within 1 +- contrast, about the image mean
    gamma: float | tuple[float, float] = (0.8, 1.25)
    p: float = 0.8

    def sample(self, n, h, w, gen):
        on = self.chosen(n, gen)
        b = uniform((-self.brightness, self.brightness), n, gen)
        c = uniform((1 - self.contrast, 1 + self.contrast), n, gen)
        g = uniform(as_range(self.gamma, "intensity.gamma"), n, gen)
        return {"b": b * on, "c": torch.where(on, c, torch.ones(n)), "g": torch.where(on, g, torch.ones(n))}

    def apply(self, x, params):
        b, c, g = (params[k].view(-1, 1, 1, 1).to(x.dtype) for k in ("b", "c", "g"))
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return ((x - mean) * c + mean + b).clamp(0, 1) ** g


@register_op
@dataclass
class Noise(Op):
    name = "noise"
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"std": (0.0, 1.0)}
    positional = ("std",)
    std: float | tuple[float, float] = (0.01, 0.05)
    p: float = 0.5

    def sample(self, n, h, w, gen):
        std = uniform(as_range(self.std, "noise.std"), n, gen) * self.chosen(n, gen)
        # drawn on the CPU so that CPU and GPU runs with one seed add the same noise
        return {"noise": torch.randn(n, 1, h, w, generator=gen) * std.view(n, 1, 1, 1)}

    def apply(self, x, params):
        return x.add_(params["noise"].to(x.dtype)).clamp_(0, 1)


@register_op
@dataclass
class Clahe(Op):
    """CLAHE with a random clip limit; runs in OpenCV on the CPU (the batch is moved there and back)."""

    name = "clahe"
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"clip": (0.0, 100.0), "tiles": (1, 64)}
    positional = ("clip",)
    clip: float | tuple[float, float] = (1.0, 4.0)
    tiles: int = 8
    p: float = 0.5

    def sample(self, n, h, w, gen):
        return {"clip": uniform(as_range(self.clip, "clahe.clip"), n, gen), "on": self.chosen(n, gen)}

    def apply(self, x, params):
        if not params["on"].any():
            return x
        images = (x.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        for i in torch.nonzero(params["on"].cpu()).flatten().tolist():
            clahe = cv2.createCLAHE(clipLimit=float(params["clip"][i]), tileGridSize=(self.tiles, self.tiles))
            eq = np.stack([clahe.apply(ch) for ch in images[i]])
            x[i] = torch.from_numpy(eq).to(x.device, x.dtype) / 255
        return x
