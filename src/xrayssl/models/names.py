"""The names in the method and backbone registries, readable without torch (help texts, config checks).

The registries themselves (``models.methods.METHODS``, ``models.backbones``) live beside torch; a test checks
that these lists say the same, so a new method or backbone that is not named here fails the tests, not the CLI.
"""

from __future__ import annotations

# SSL methods, in the order the help lists them (the default first)
METHOD_NAMES: tuple[str, ...] = (
    "simclr", "dcl", "byol", "moco", "simsiam", "barlowtwins", "vicreg", "vicregl", "densecl", "mae",
)  # fmt: skip
# contrastive methods -> their own softmax temperature (the default of their ``temperature`` parameter)
TEMPERATURES: dict[str, float] = {"simclr": 0.1, "dcl": 0.1, "moco": 0.2, "densecl": 0.2}
# backbone -> its family ("resnet" or "vit")
BACKBONES: dict[str, str] = {
    "resnet18": "resnet", "resnet34": "resnet", "resnet50": "resnet", "vit-tiny": "vit", "vit-small": "vit",
}  # fmt: skip
OWN_TEMPERATURES = ", ".join(f"{m} {t:g}" for m, t in TEMPERATURES.items())  # "simclr 0.1, ..."
RESNETS: tuple[str, ...] = tuple(name for name, kind in BACKBONES.items() if kind == "resnet")


def words(names: tuple[str, ...] | list[str], last: str = "or") -> str:
    """('a', 'b', 'c') -> 'a, b or c' (help texts)."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"
