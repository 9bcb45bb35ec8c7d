"""Named recipes, and the one definition of the seed study's five augmentations (no torch here: the CLI and the
study config read them without loading it).

``SEED_AUGMENTATIONS`` holds the seed study's numbers (chessboard: 20 px cells and 5 px shifts on 256 px images),
in the order a recipe applies them. It is the only place they are written: the ``seed`` preset joins them,
``xrayssl.study.config.STUDY_AUGMENTATIONS`` (the study's default factors) *is* this mapping, the demo draws the
preset's picture, and the README points here. It is read-only; a study redefines a factor with
``--aug NAME=SPEC`` (or ``augmentations:`` in its YAML), which changes that study's copy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

SEED_AUGMENTATIONS: Mapping[str, str] = MappingProxyType(
    {
        "flip": "flip(p=0.5)",  # horizontal
        "rotate": "rotate(10)",  # degrees, uniform in +-10
        "chessboard": "chessboard(cell=0.078,shift=0.0195,p=0.5)",
        "blur": "blur(sigma=1..2,kernel=3,p=0.2)",  # Gaussian 3x3
        "erase": "erase(area=0.01..0.1,ratio=0.5..2,p=0.3)",  # one rectangle, 1-10 % of the image
    }
)

PRESETS: dict[str, str] = {
    "seed": "+".join(SEED_AUGMENTATIONS.values()),  # all five, in the study's factor order
    "moco-cxr": "rotate(10)+flip(p=0.5)",  # Sowrirajan et al. 2021
    "simclr": "crop(scale=0.2..1)+blur(sigma=0.1..2,kernel=9,p=0.5)+flip(p=0.5)",  # without colour
    "none": "",
}
