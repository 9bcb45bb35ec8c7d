"""Experimental designs over k on/off augmentation factors.

A design is a list of :class:`Recipe`: which factors are on (for factorial designs) and the ordered names
composed into the pipeline. ``fractional`` is the 2^(k-1) half fraction with defining relation
I = +AB...K (every run has an even number of factors off), resolution k: for k = 5 all main effects and
two-way interactions are aliased only with three- and four-way ones.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from xrayssl.augment.presets import PRESETS
from xrayssl.errors import XraySSLError

DESIGNS = ("full", "fractional", "one-at-a-time", "pairwise", "list")


@dataclass(frozen=True)
class Recipe:
    name: str  # stable identifier, used in run ids and tables
    parts: tuple[str, ...]  # factor names in the order they are applied
    levels: tuple[int, ...] | None = None  # +1/-1 per factor for factorial designs, else None

    def spec(self, specs: dict[str, str], base: str = "") -> str:
        """The pipeline's spec: the base, then each part; a part (or base) that names a preset is written out,
        so that 'crop(scale=0.5..1)' then 'none' composes to the crop alone."""
        return "+".join(s for s in (resolve(x) for x in [base, *(specs[p] for p in self.parts)]) if s)


def resolve(spec: str) -> str:
    """A spec with a preset name (seed, simclr, none, ...) written out; other specs as they are."""
    return PRESETS.get(spec.strip().lower(), spec).strip()


def _name(parts: tuple[str, ...]) -> str:
    return "+".join(parts) if parts else "none"


def full(factors: list[str]) -> list[Recipe]:
    out = []
    for levels in itertools.product((-1, 1), repeat=len(factors)):
        parts = tuple(f for f, lv in zip(factors, levels) if lv > 0)
        out.append(Recipe(_name(parts), parts, tuple(levels)))
    return out


def fractional(factors: list[str]) -> list[Recipe]:
    """The half of the full factorial whose levels multiply to +1 (I = +ABC...)."""
    if len(factors) < 3:
        raise XraySSLError("the fractional design needs at least 3 augmentations (use full for fewer)")
    return [r for r in full(factors) if _product(r.levels) == 1]


def one_at_a_time(factors: list[str]) -> list[Recipe]:
    """None, each alone, all, and all but each."""
    out = [Recipe("none", ())]
    out += [Recipe(f, (f,)) for f in factors]
    out.append(Recipe(_name(tuple(factors)), tuple(factors)))
    if len(factors) > 2:
        out += [Recipe(f"all-{f}", tuple(g for g in factors if g != f)) for f in factors]
    return out


def pairwise(factors: list[str]) -> list[Recipe]:
    """Every ordered pair (first, then second); the diagonal is the augmentation alone."""
    return [Recipe(a if a == b else f"{a}>{b}", (a,) if a == b else (a, b)) for a in factors for b in factors]


def build(design: str, factors: list[str], explicit: dict[str, str] | None = None) -> list[Recipe]:
    if len(set(factors)) != len(factors):
        raise XraySSLError(f"augmentation names repeat: {factors}")
    if design == "list":
        if not explicit:
            raise XraySSLError(
                "design 'list' needs recipes: --recipe NAME=SPEC (repeatable), or 'recipes:' in the study YAML"
            )
        return [Recipe(name, (name,)) for name in explicit]
    makers = {"full": full, "fractional": fractional, "one-at-a-time": one_at_a_time, "pairwise": pairwise}
    if design not in makers:
        raise XraySSLError(f"unknown design '{design}'; valid: {', '.join(DESIGNS)}")
    if not factors:
        raise XraySSLError(f"design '{design}' needs at least one augmentation")
    return makers[design](factors)


def _product(levels: tuple[int, ...] | None) -> int:
    p = 1
    for lv in levels or ():
        p *= lv
    return p
