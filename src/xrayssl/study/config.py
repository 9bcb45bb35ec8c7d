"""What a study runs: methods x augmentation recipes x seeds x pretraining abnormal fractions x body parts,
plus the references (supervised baseline, random-encoder and raw-pixel floors). Read from flags or YAML;
the study folder keeps the resolved config so that a resumed or sharded study is the same study."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from xrayssl.augment.presets import SEED_AUGMENTATIONS
from xrayssl.augment.spec import check_recipe_names
from xrayssl.catalog import (  # help texts
    IMAGENET,
    METHOD_NAMES,
    N_BOOT,
    PRETRAINED,
    check_imagenet,
    check_temperature,
    check_weights_path,
    is_hf,
    is_timm,
    method_names,
)
from xrayssl.configfile import check_bounds, check_settings
from xrayssl.errors import XraySSLError
from xrayssl.study.designs import DESIGNS, Recipe, build
from xrayssl.train.config import PretrainConfig, Serialisable, SupervisedConfig, check_size

# The study's default factors: the seed study's five augmentations with its numbers, the same object as the
# ``seed`` preset's (augment/presets.py holds the one definition; read-only, each study config copies it).
STUDY_AUGMENTATIONS = SEED_AUGMENTATIONS


# What a study's pretraining runs do unless its settings say otherwise: a fixed number of epochs (runs of one
# study compare best at equal steps); giving only a budget drops the epochs, as for ``xrayssl pretrain``.
STUDY_PRETRAIN: dict[str, Any] = {"epochs": 5, "budget": None}
# References the study can run beside the floors and the supervised baseline: name -> the probe's --encoder.
# imagenet: the study's ResNet (standard stem) with torchvision's ImageNet weights, frozen, + logistic regression,
# at the study's image size: the seed study's baseline. Besides these, any pretrained start the probe takes as
# --encoder: timm:NAME (its weights from reference_weights offline) or hf:PATH (a local DINOv2 folder).
REFERENCES: dict[str, str] = {"imagenet": "imagenet"}
# Applied before every recipe: what makes the two views of the design's 'none' recipe differ (a random crop, as in
# SimCLR); without it, 'none' gives two identical views, which every SSL loss matches trivially.
DEFAULT_BASE = "crop(scale=0.5..1)"


def reference_encoder(name: str) -> str:
    """The probe's --encoder of a reference: a named one's, or the start spec itself."""
    return REFERENCES.get(name, name)


# Pretraining settings that a study sets per run, so they cannot be shared by all of them.
SET_BY_STUDY = ("cache", "out", "method", "augs", "augs2", "seed", "body_part", "pretrain_abnormal_fraction")
# Supervised-baseline settings that the study sets per run (the baseline's label shares, seeds and parts).
SUPERVISED_SET_BY_STUDY = ("cache", "out", "label_fraction", "seed", "body_part")
# The supervised baseline takes these from the shared pretraining settings unless given its own.
SHARED_WITH_SUPERVISED = ("backbone", "small_stem", "size", "allow_upscale", "accelerator")


def _help(text: str, **meta: Any) -> dict[str, Any]:
    return {"help": text, **meta}


@dataclass
class StudyConfig(Serialisable):
    """Flags of ``xrayssl study`` (and keys of its YAML file) are generated from these fields; ``pretrain`` and
    ``supervised`` take PretrainConfig's and SupervisedConfig's fields (flags ``--size``, ``--supervised-epochs``)."""

    cache: str = field(metadata=_help("prepared cache (omit to resume the study in --out)"))
    out: str = field(metadata=_help("study folder (holds study.sqlite, runs/, report.html)"))
    methods: list[str] = field(
        default_factory=lambda: ["simclr", "byol"],
        metadata=_help("comma-separated SSL methods", choices=METHOD_NAMES),
    )
    design: str = field(
        default="one-at-a-time",
        metadata=_help("full, fractional (half of full), one-at-a-time, pairwise, or list (--recipe)", choices=DESIGNS),
    )
    augmentations: dict[str, str] = field(
        default_factory=lambda: dict(STUDY_AUGMENTATIONS),
        metadata=_help("the factors: name -> recipe", default="the seed study's five, as the 'seed' preset"),
    )
    recipes: dict[str, str] = field(
        default_factory=dict, metadata=_help("design 'list': one recipe NAME=SPEC (repeatable)", flags=["--recipe"])
    )
    base: str = field(
        default=DEFAULT_BASE,
        metadata=_help(
            "applied before every recipe (to both views); none: nothing, then a recipe without augmentation "
            "('none') would give two identical views and is refused"
        ),
    )
    seeds: int = field(default=3, metadata=_help("seeds per recipe"))
    abnormal_fractions: list[float | None] = field(
        default_factory=lambda: [None],
        metadata=_help("pretraining pool abnormal shares, e.g. 0.1,0.5; none: the pool as it is"),
    )
    body_parts: list[str | None] = field(
        default_factory=lambda: [None],
        metadata=_help("comma-separated body parts, one study per part; none: all body parts together"),
    )
    pretrain: dict[str, Any] = field(
        default_factory=dict, metadata=_help("PretrainConfig settings shared by all runs", fields_of=PretrainConfig)
    )
    supervised: dict[str, Any] | None = field(
        default_factory=dict,
        metadata=_help("SupervisedConfig settings of the baseline; none: no baseline", fields_of=SupervisedConfig),
    )
    floors: bool = field(default=True, metadata=_help("the random-encoder and raw-pixel floors"))
    references: list[str] = field(
        default_factory=list,
        metadata=_help(
            "frozen-feature references run once per body part beside the floors and the supervised baseline: "
            "imagenet (ImageNet features + logistic regression, the seed study's baseline; downloads torchvision's "
            "weights once unless --imagenet-weights is given), timm:NAME (a timm model's pretrained weights, e.g. "
            "timm:vit_small_patch14_dinov2.lvd142m; offline: --reference-weights) or hf:PATH (a local Hugging Face "
            "DINOv2-family folder, e.g. RAD-DINO); without network or weights a reference is skipped with its reason"
        ),
    )
    reference_weights: dict[str, str] = field(
        default_factory=dict,
        metadata=_help(
            "a timm:NAME reference's local weights file (.safetensors, .pth or .bin): NAME=FILE, repeatable",
            flags=["--reference-weights"],
        ),
    )
    imagenet_weights: str | None = field(
        default=None,
        metadata=_help(
            "for the imagenet reference: a local torchvision-format .pth or .safetensors file of the study "
            "backbone's ImageNet weights (offline); none: torchvision's download, kept in its cache"
        ),
    )
    inits: list[str | None] = field(
        default_factory=lambda: [None],
        metadata=_help(
            "starts as a study factor: every recipe is pretrained from each, e.g. none,imagenet,pretrained,hf:PATH "
            "(imagenet: --imagenet-weights offline; pretrained: the timm:NAME backbone's weights, --weights "
            "offline); each start's frozen encoder is added as a reference; none alone: the pretrain settings' "
            "own --init",
            default="none (the pretrain settings' start)",
        ),
    )
    label_fractions: list[float] = field(
        default_factory=lambda: [0.1, 1.0], metadata=_help("label shares for the efficiency curves")
    )
    n_boot: int = field(
        default=N_BOOT, metadata=_help("bootstrap resamples per metric interval", flags=["--bootstrap"])
    )
    gradcam_n: int = field(default=8, metadata=_help("Grad-CAM images per body part and outcome of the best runs"))

    def __post_init__(self) -> None:
        # torch-free checks only: the CLI builds this config before any work, and torch takes seconds to load
        check_settings({f.name: getattr(self, f.name) for f in fields(self)}, StudyConfig, "study")
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
        for name, spec in self._named_recipes().items():
            try:
                check_recipe_names(spec)
            except XraySSLError as exc:
                raise XraySSLError(f"augmentation '{name}': {exc}") from exc
        for f in self.label_fractions:
            if not 0 < f <= 1:
                raise XraySSLError(f"label fraction {f} must be in (0, 1]")
        for key in SET_BY_STUDY:
            if key in self.pretrain:
                raise XraySSLError(f"pretrain.{key} is set by the study, not shared by all runs")
        if not self.inits:
            raise XraySSLError("inits is empty: give at least one start (none: random weights)")
        if self.varies_init() and "init" in self.pretrain:
            raise XraySSLError("pretrain.init is set per run by inits: give the starts in inits only")
        if self.varies_init() and self.pretrain.get("weights") and PRETRAINED not in self.inits:
            raise XraySSLError("--weights is the pretrained start's file: add pretrained to inits")
        if self.n_boot < 1 or self.gradcam_n < 0:
            raise XraySSLError("n_boot must be >= 1 and gradcam_n >= 0")
        # fail now, not in run 37: every pretraining and supervised run's config, and the design's recipes
        for part in self.body_parts:
            for fraction in self.abnormal_fractions:
                for init in self.inits if self.varies_init() else [None]:
                    start = {"init": init} if self.varies_init() else {}
                    self.pretrain_config(method=self.methods[0], augs="", seed=0, out="-", body_part=part,
                                         pretrain_abnormal_fraction=fraction, **start)  # fmt: skip
            if self.supervised is not None:
                for fraction in self.label_fractions:
                    self.supervised_config(out="-", label_fraction=fraction, body_part=part)
        self._check_references(self.pretrain_config(method=self.methods[0], augs="", seed=0, out="-"))
        if self.pretrain.get("temperature") is not None:
            for method in self.methods:
                check_temperature(method, float(self.pretrain["temperature"]))
        self.recipe_list()
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge

    def check_views(self) -> None:
        """Refuse a recipe whose two views would be the same image (no augmentation and no base): its SSL loss is
        matched trivially, so it would 'win' or lose for no reason that concerns augmentation. Checked when a
        study is planned (not when a stored config is read: studies planned before keep their report)."""
        specs = self.specs()
        same = [r.name for r in self.recipe_list() if not r.spec(specs, self.base)]
        if same:
            raise XraySSLError(
                f"recipe(s) {', '.join(same)}: no augmentation and no base, so both views of every image would be "
                "identical and the SSL loss trivial; give a base (e.g. --base 'crop(scale=0.5..1)', the default) "
                "or leave the recipe out"
            )

    def _named_recipes(self) -> dict[str, str]:
        return {**self.augmentations, **self.recipes, "base": self.base}

    def check_recipes(self) -> None:
        """Every recipe's parameters, as its pipeline reads them (with torch), before a study is created: a bad
        value fails now, not in run 37 (the config itself checks the recipes' names only)."""
        from xrayssl.augment.pipeline import parse_pipeline

        for name, spec in self._named_recipes().items():
            try:
                parse_pipeline(spec)
            except XraySSLError as exc:
                raise XraySSLError(f"augmentation '{name}': {exc}") from exc

    def check_cache(self) -> None:
        """The cache is a prepared cache and holds every body part asked for (before a study is created)."""
        from xrayssl.data.cache import PreparedCache

        cache = PreparedCache(self.cache)
        manifest = cache.manifest
        parts = {str(p) for p in manifest["body_part"].unique() if str(p)}
        known = {p.lower() for p in parts}  # training selects body parts case-insensitively
        missing = [p for p in self.body_parts if p is not None and p.lower() not in known]
        if missing:
            raise XraySSLError(
                f"{self.cache}: no images of body part(s) {', '.join(missing)}; "
                f"the cache holds: {', '.join(sorted(parts)) or 'none named'}"
            )
        from xrayssl.data.selection import labelled_splits

        for part in self.body_parts:  # every probe needs two classes per split: say so now, not after pretraining
            where = f"{self.cache} (body part {part})" if part else str(self.cache)
            with warnings.catch_warnings():  # a class train lacks is said again, by the runs that meet it
                warnings.simplefilter("ignore", UserWarning)
                labelled_splits(manifest, part, where, cache.task)
        if any(f is not None for f in self.abnormal_fractions) and not cache.task.has_normal:
            raise XraySSLError(
                f"{self.cache}: abnormal_fractions need a normal class, and this {cache.task.kind} task names none "
                "(prepare with --normal VALUE)"
            )
        size = cache.info.get("size")  # every run's --size against the cache's: no study on upscaled images
        shared = self.pretrain_config(method=self.methods[0], augs="", seed=0, out="-")
        check_size(shared.size, shared.allow_upscale, self.cache, size)
        if self.supervised is not None:
            sup = self.supervised_config(out="-", label_fraction=1.0)
            check_size(sup.size, sup.allow_upscale, self.cache, size)

    def _check_references(self, shared: PretrainConfig) -> None:
        unknown = [r for r in self.references if r not in REFERENCES and not (is_timm(r) or is_hf(r))]
        if unknown:
            raise XraySSLError(
                f"unknown reference(s) {', '.join(unknown)}; valid: {', '.join(REFERENCES)}, timm:NAME or hf:PATH"
            )
        for name, path in self.reference_weights.items():
            spec = name if is_timm(name) else f"timm:{name}"
            if spec not in self.references:
                raise XraySSLError(f"--reference-weights {name}: no reference {spec} (add it to references)")
            check_weights_path(path)
        for spec in self.references:
            if is_hf(spec):  # its config.json now, not after the study's pretraining
                from xrayssl.models.hf_dinov2 import hf_architecture

                hf_architecture(spec)
        if "imagenet" in self.references:
            try:
                check_imagenet(shared.backbone)  # the reference takes the standard stem, whatever the runs use
            except XraySSLError as exc:
                raise XraySSLError(f"references: imagenet: {exc}") from None
            if self.imagenet_weights:
                check_weights_path(self.imagenet_weights)
        elif self.imagenet_weights and IMAGENET not in self.inits:
            raise XraySSLError("--imagenet-weights is for the imagenet reference: add --references imagenet")

    def reference_weights_of(self, name: str) -> str | None:
        """The local weights file of a reference (imagenet: --imagenet-weights; timm:NAME: --reference-weights, or
        the pretrained start's --weights where the reference is that start frozen)."""
        if name == "imagenet":
            return self.imagenet_weights
        own = self.reference_weights.get(name) or self.reference_weights.get(name.removeprefix("timm:"))
        if own is None and PRETRAINED in self.inits and name == self.pretrain.get("backbone"):
            return self.pretrain.get("weights")
        return own

    def varies_init(self) -> bool:
        """Whether the start is a factor of the study (``inits`` other than the pretrain settings' own)."""
        return self.inits != [None]

    def start_weights(self, init: str | None) -> str | None:
        """The local weights file of a start: --imagenet-weights, or the timm backbone's --weights."""
        if init == IMAGENET:
            return self.imagenet_weights
        if init == PRETRAINED:
            return self.pretrain.get("weights")
        return None

    def frozen_start(self, init: str | None) -> str | None:
        """The reference that is a start frozen (what continued SSL from it is judged against), if any."""
        if init == IMAGENET:
            return "imagenet"
        if init == PRETRAINED:
            return self.pretrain.get("backbone")
        return init if is_hf(init) else None

    def all_references(self) -> list[str]:
        """The references asked for, then each start's frozen encoder (once)."""
        out = list(self.references)
        for init in self.inits if self.varies_init() else []:
            ref = self.frozen_start(init)
            if ref and ref not in out:
                out.append(ref)
        return out

    def recipe_list(self) -> list[Recipe]:
        return build(self.design, list(self.augmentations), self.recipes)

    def specs(self) -> dict[str, str]:
        return {**self.augmentations, **self.recipes}

    def shared_pretrain(self) -> dict[str, Any]:
        """The pretraining settings of every run: the study's defaults, then its ``pretrain`` settings."""
        shared = {**STUDY_PRETRAIN, **self.pretrain}
        if self.pretrain.get("budget") and "epochs" not in self.pretrain:
            shared["epochs"] = None  # a budget alone bounds the runs, as in ``xrayssl pretrain --budget``
        return shared

    def pretrain_config(self, **run: Any) -> PretrainConfig:
        shared = self.shared_pretrain()
        if self.varies_init():  # the start, and its weights file, are the run's
            shared["weights"] = self.start_weights(run.setdefault("init", self.inits[0]))
        return PretrainConfig(**{"cache": self.cache, **shared, **run})

    def supervised_config(self, **run: Any) -> SupervisedConfig:
        shared = {k: v for k, v in self.pretrain.items() if k in SHARED_WITH_SUPERVISED}
        # the study's augmentations, all on (the base makes SSL views differ; the supervised model needs none)
        all_on = "+".join(s for s in self.augmentations.values() if s)
        return SupervisedConfig(**{"cache": self.cache, "augs": all_on, **shared, **(self.supervised or {}), **run})


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A study's YAML file, checked: unknown keys and wrongly typed values are one-line errors naming the file."""
    from xrayssl.configfile import load_config_file

    return load_config_file(path, StudyConfig)
