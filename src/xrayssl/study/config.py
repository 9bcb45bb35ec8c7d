"""What a study runs: methods x augmentation recipes x seeds x pretraining abnormal fractions x body parts,
plus the references (supervised baseline, random-encoder and raw-pixel floors). Read from flags or YAML;
the study folder keeps the resolved config so that a resumed or sharded study is the same study."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xrayssl.augment.pipeline import parse_pipeline
from xrayssl.errors import XraySSLError
from xrayssl.models.methods import check_temperature, method_names
from xrayssl.study.designs import DESIGNS, Recipe, build
from xrayssl.train.config import PretrainConfig, Serialisable, SupervisedConfig

# The original study's five augmentations, each strong enough to matter when switched on.
STUDY_AUGMENTATIONS: dict[str, str] = {
    "flip": "flip(p=0.5)",
    "rotate": "rotate(15)",
    "chessboard": "chessboard(cell=0.078,shift=0.0195,p=0.5)",
    "blur": "blur(sigma=0.5..2,kernel=5,p=0.5)",
    "erase": "erase(area=0.02..0.2,ratio=0.3..3.3,p=0.5)",
}


@dataclass
class StudyConfig(Serialisable):
    cache: str
    out: str
    methods: list[str] = field(default_factory=lambda: ["simclr", "byol"])
    design: str = "one-at-a-time"
    augmentations: dict[str, str] = field(default_factory=lambda: dict(STUDY_AUGMENTATIONS))
    recipes: dict[str, str] = field(default_factory=dict)  # design 'list': name -> spec
    base: str = ""  # applied before every recipe (e.g. a crop); the study's recipes had none
    seeds: int = 3
    abnormal_fractions: list[float | None] = field(default_factory=lambda: [None])  # None: the pool as it is
    body_parts: list[str | None] = field(default_factory=lambda: [None])  # None: all body parts together
    pretrain: dict[str, Any] = field(default_factory=dict)  # PretrainConfig fields shared by all runs
    supervised: dict[str, Any] | None = field(default_factory=dict)  # SupervisedConfig fields; None: no baseline
    floors: bool = True
    label_fractions: list[float] = field(default_factory=lambda: [0.1, 1.0])
    n_boot: int = 1000
    gradcam_n: int = 8

    def __post_init__(self) -> None:
        valid = method_names()
        unknown = [m for m in self.methods if m not in valid]
        if unknown or not self.methods:
            raise XraySSLError(f"unknown method(s) {unknown or '(none given)'}; valid: {', '.join(valid)}")
        if self.design not in DESIGNS:
            raise XraySSLError(f"unknown design '{self.design}'; valid: {', '.join(DESIGNS)}")
        if self.seeds < 1:
            raise XraySSLError("seeds must be >= 1")
        for name, spec in {**self.augmentations, **self.recipes, "base": self.base}.items():
            try:
                parse_pipeline(spec)
            except XraySSLError as exc:
                raise XraySSLError(f"augmentation '{name}': {exc}") from exc
        for f in self.label_fractions:
            if not 0 < f <= 1:
                raise XraySSLError(f"label fraction {f} must be in (0, 1]")
        for key in ("cache", "out", "method", "augs", "augs2", "seed", "body_part", "pretrain_abnormal_fraction"):
            if key in self.pretrain:
                raise XraySSLError(f"pretrain.{key} is set by the study, not shared by all runs")
        self.pretrain_config(method=self.methods[0], augs="", seed=0, out="-")  # fail now, not in run 37
        if self.pretrain.get("temperature") is not None:
            for method in self.methods:
                check_temperature(method, float(self.pretrain["temperature"]))

    def recipe_list(self) -> list[Recipe]:
        return build(self.design, list(self.augmentations), self.recipes)

    def specs(self) -> dict[str, str]:
        return {**self.augmentations, **self.recipes}

    def pretrain_config(self, **run: Any) -> PretrainConfig:
        return PretrainConfig(**{"cache": self.cache, "budget": None, "epochs": 5, **self.pretrain, **run})

    def supervised_config(self, **run: Any) -> SupervisedConfig:
        shared = {k: v for k, v in self.pretrain.items() if k in ("backbone", "small_stem", "size", "accelerator")}
        all_on = "+".join(s for s in [self.base, *self.augmentations.values()] if s)
        return SupervisedConfig(**{"cache": self.cache, "augs": all_on, **shared, **(self.supervised or {}), **run})


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise XraySSLError(f"{path}: study config not found") from None
    except yaml.YAMLError as exc:
        raise XraySSLError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise XraySSLError(f"{path}: expected a mapping of study settings at the top level")
    known = set(StudyConfig.__dataclass_fields__)
    extra = sorted(set(data) - known)
    if extra:
        raise XraySSLError(f"{path}: unknown setting(s) {', '.join(extra)}; valid: {', '.join(sorted(known))}")
    return data
