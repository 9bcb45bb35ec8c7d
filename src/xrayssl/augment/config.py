"""``xrayssl augment show``'s config and run function (the picture itself is ``augment.show``; torch loads there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xrayssl.augment.presets import PRESETS
from xrayssl.configfile import check_bounds
from xrayssl.errors import XraySSLError


@dataclass(frozen=True)
class AugmentShowConfig:
    source: str = field(metadata={"help": "a prepared cache or a dataset folder/CSV"})
    augs: str = field(
        metadata={"help": f"recipe, e.g. 'flip+rotate(15)+erase(p=0.3)', or a preset: {', '.join(PRESETS)}"}
    )
    n: int = field(default=8, metadata={"help": "number of images (rows)"})
    views: int = field(default=4, metadata={"help": "augmented views per image"})
    seed: int = field(default=0, metadata={"help": "seed of the image draw and the views"})
    size: int = field(default=224, metadata={"help": "image size when reading a dataset folder"})
    out: str = field(default="augmentations.png", metadata={"help": "PNG to write"})

    def __post_init__(self) -> None:
        if self.n < 1 or self.views < 1:
            raise XraySSLError("--n and --views must be >= 1")
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge


def run_show(config: AugmentShowConfig) -> Path:
    """The PNG written: one row per image, the original then ``views`` augmented views."""
    from xrayssl.augment.show import show

    return show(
        config.source, config.augs, config.out, n=config.n, views=config.views, seed=config.seed, size=config.size
    )
