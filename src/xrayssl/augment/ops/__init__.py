"""Augmentation operations: one registry, each op a small dataclass in a module of this package.

An op draws its random parameters for a whole batch on the CPU from a ``torch.Generator`` (so CPU and
GPU runs with the same seed get the same parameters), then applies them to the batch on its device.
Geometric ops that are affine return one 3x3 matrix per image instead, so that a run of them is fused
into a single resampling by the pipeline.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch

from xrayssl.augment.spec import Value, format_value
from xrayssl.errors import XraySSLError

OPS: dict[str, type[Op]] = {}


def register_op(cls: type[Op]) -> type[Op]:
    OPS[cls.name] = cls
    return cls


@dataclass
class Op:
    """Base of all ops: ``p`` is the chance that an image gets the op."""

    name: ClassVar[str] = ""
    positional: ClassVar[tuple[str, ...]] = ()  # parameters that may be given without a name, in order
    affine: ClassVar[bool] = False
    # (low, high) of each numeric parameter (both ends of a range within it): NaN, inf and values that make no
    # image (a crop of a negative area, a rotation of 1e308 degrees) are refused when the recipe is read
    bounds: ClassVar[dict[str, tuple[float, float]]] = {}

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            items = value if isinstance(value, tuple) else (value,)
            lo, hi = {"p": (0.0, 1.0), **self.bounds}.get(f.name, (-1e6, 1e6))
            for v in items:
                if isinstance(v, int | float) and not isinstance(v, bool) and not lo <= v <= hi:  # NaN fails too
                    raise XraySSLError(f"{self.name}: {f.name} must be within {lo:g}..{hi:g}, got {v}")

    def chosen(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.rand(n, generator=gen) < self.p

    def sample(self, n: int, h: int, w: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """x: float (B, C, H, W) in [0, 1] on any device, owned by the pipeline (ops may change it in place);
        params as sampled, moved to x's device. Returns the result."""
        raise NotImplementedError

    def matrix(self, params: dict[str, torch.Tensor], h: int, w: int) -> torch.Tensor:
        """Affine ops: (B, 3, 3) maps output to input coordinates in grid_sample's [-1, 1] units."""
        raise NotImplementedError

    def spec(self) -> str:
        args = [f"{f.name}={format_value(getattr(self, f.name))}" for f in fields(self)]
        return f"{self.name}({','.join(args)})"


def uniform(lo_hi: tuple[float, float], n: int, gen: torch.Generator) -> torch.Tensor:
    lo, hi = lo_hi
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def as_range(value: Any, name: str, symmetric: bool = False) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (-float(value), float(value)) if symmetric else (float(value), float(value))
    if isinstance(value, tuple) and len(value) == 2 and value[0] <= value[1]:
        return (float(value[0]), float(value[1]))
    raise XraySSLError(f"{name}: expected a number or a range low..high, got {value!r}")


def build_op(name: str, args: list[Value], kwargs: dict[str, Value]) -> Op:
    load_ops()
    if name not in OPS:
        raise XraySSLError(f"unknown augmentation '{name}'; valid: {', '.join(sorted(OPS))}")
    cls = OPS[name]
    valid = [f.name for f in fields(cls)]
    if len(args) > len(cls.positional):
        raise XraySSLError(
            f"{name}: takes at most {len(cls.positional)} positional argument(s) "
            f"({', '.join(cls.positional) or 'none'}); parameters: {', '.join(valid)}"
        )
    given = dict(zip(cls.positional, args))
    for key, val in kwargs.items():
        if key not in valid:
            raise XraySSLError(f"{name}: unknown parameter '{key}'; valid: {', '.join(valid)}")
        given[key] = val
    try:
        return cls(**given)
    except (TypeError, ValueError) as exc:
        raise XraySSLError(f"{name}: {exc}") from exc


def load_ops() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
