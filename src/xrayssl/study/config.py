"""What a study runs: methods x augmentation recipes x seeds x pretraining abnormal fractions x body parts,
plus the references (supervised baseline, random-encoder and raw-pixel floors). Read from flags or YAML;
the study folder keeps the resolved config so that a resumed or sharded study is the same study."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Union

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


# PretrainConfig fields that each run sets, so a study's shared 'pretrain' settings cannot
SET_BY_STUDY = ("cache", "out", "method", "augs", "augs2", "seed", "body_part", "pretrain_abnormal_fraction")


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
        check_types({f.name: getattr(self, f.name) for f in fields(self)}, StudyConfig)
        valid = method_names()
        unknown = [m for m in self.methods if m not in valid]
        if unknown or not self.methods:
            raise XraySSLError(f"unknown method(s) {unknown or '(none given)'}; valid: {', '.join(valid)}")
        if self.design not in DESIGNS:
            raise XraySSLError(f"unknown design '{self.design}'; valid: {', '.join(DESIGNS)}")
        if self.seeds < 1:
            raise XraySSLError("seeds must be >= 1")
        for key in ("body_parts", "abnormal_fractions", "label_fractions"):
            if not getattr(self, key):
                raise XraySSLError(f"{key} is empty: give at least one value")
        for name, spec in {**self.augmentations, **self.recipes, "base": self.base}.items():
            try:
                parse_pipeline(spec)
            except XraySSLError as exc:
                raise XraySSLError(f"augmentation '{name}': {exc}") from exc
        for f in self.label_fractions:
            if not 0 < f <= 1:
                raise XraySSLError(f"label fraction {f} must be in (0, 1]")
        for key in SET_BY_STUDY:
            if key in self.pretrain:
                raise XraySSLError(f"pretrain.{key} is set by the study, not shared by all runs")
        if self.n_boot < 1 or self.gradcam_n < 0:
            raise XraySSLError("n_boot must be >= 1 and gradcam_n >= 0")
        # fail now, not in run 37: every pretraining and supervised run's config, and the design's recipes
        for key, value in (("pretrain", self.pretrain), ("supervised", self.supervised or {})):
            check_types(value, PretrainConfig if key == "pretrain" else SupervisedConfig, prefix=f"{key}.")
        for part in self.body_parts:
            for fraction in self.abnormal_fractions:
                self.pretrain_config(method=self.methods[0], augs="", seed=0, out="-", body_part=part,
                                     pretrain_abnormal_fraction=fraction)  # fmt: skip
            if self.supervised is not None:
                for fraction in self.label_fractions:
                    self.supervised_config(out="-", label_fraction=fraction, body_part=part)
        if self.pretrain.get("temperature") is not None:
            for method in self.methods:
                check_temperature(method, float(self.pretrain["temperature"]))
        self.recipe_list()

    def check_cache(self) -> None:
        """The cache is a prepared cache and holds every body part asked for (before a study is created)."""
        from xrayssl.data.cache import PreparedCache

        parts = {str(p) for p in PreparedCache(self.cache).manifest["body_part"].unique() if str(p)}
        known = {p.lower() for p in parts}  # training selects body parts case-insensitively
        missing = [p for p in self.body_parts if p is not None and p.lower() not in known]
        if missing:
            raise XraySSLError(
                f"{self.cache}: no images of body part(s) {', '.join(missing)}; "
                f"the cache holds: {', '.join(sorted(parts)) or 'none named'}"
            )

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
    try:
        check_types(data, StudyConfig)
        for key, cls in (("pretrain", PretrainConfig), ("supervised", SupervisedConfig)):
            if isinstance(data.get(key), dict):
                check_types(data[key], cls, prefix=f"{key}.")
    except XraySSLError as exc:
        raise XraySSLError(f"{path}: {exc}") from None
    return data


def check_types(values: dict[str, Any], cls: type, prefix: str = "") -> None:
    """Each value fits its field's annotation in ``cls``: one line naming the key, not a TypeError in run 37."""
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key not in hints:
            valid = ", ".join(sorted(h for h in hints if h not in SET_BY_STUDY))
            raise XraySSLError(f"unknown setting '{prefix}{key}'; valid: {valid}")
        if not _fits(value, hints[key]):
            raise XraySSLError(f"'{prefix}{key}' must be {_describe(hints[key])}, not {value!r}")


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint in (int, float):  # YAML's 1 is a fine float; true is no number
        allowed = (int, float) if hint is float else int
        return isinstance(value, allowed) and not isinstance(value, bool)
    if hint in (str, bool):
        return isinstance(value, hint)
    if origin is list:
        return isinstance(value, (list, tuple)) and all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items())
    return True


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        return f"a list of {_describe(args[0])}"
    if origin is dict:
        return f"a mapping of {_describe(args[0])} to {_describe(args[1])}"
    names = {int: "an integer", float: "a number", str: "text", bool: "true or false", type(None): "null"}
    return names.get(hint, "any value")
