"""Every step as one ``(config, run(config))`` pair in one table: the CLI subcommands and the ``xrayssl.*`` API
functions are generated from it, so neither can drift from the other.

A step's config is a dataclass that validates itself and imports no torch; its run function takes the config
(and the step's run-time switches as keywords: ``resume``, ``quiet``; not settings, so never stored) and returns
the result, which the CLI's printer shows. Everything is named by a lazy ``"module:attribute"`` path, so that
reading the table (``xrayssl --help``) imports no layer below it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


def load(path: str) -> Any:
    """``"package.module:attribute"`` -> the attribute (imported on first use)."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Step:
    name: str  # the CLI's words: "pretrain", "data prepare"
    config: str  # "module:Class" of its config dataclass
    run: str  # "module:function": run(config, **switches) -> result
    printer: str  # "module:function": printer(result, config, **shows) -> exit status
    help: str
    api: str  # the name of its xrayssl.api function
    positional: tuple[str, ...] | None = None  # config fields given by position; None: the first required one
    switches: dict[str, str] = field(default_factory=dict)  # run-time on/off keywords of run: name -> help
    shows: dict[str, str] = field(default_factory=dict)  # on/off keywords of the printer (--json, --strict)
    description: str | None = None
    parser: str | None = None  # "module:function" that builds a parser of its own (the study's resume rules)

    def config_class(self) -> type:
        return load(self.config)

    def run_function(self) -> Any:
        return load(self.run)

    def __call__(self, config: Any, **switches: Any) -> Any:
        return self.run_function()(config, **switches)


QUIET = {"quiet": "no progress bars"}
QUIET_BAR = {"quiet": "no progress bar"}
QUIET_LINES = {"quiet": "no progress lines"}
JSON = {"json": "print the result as one JSON object"}
STRICT = {"strict": "exit with status 1 when any problem was found"}
PRINT = "xrayssl.cli.printers"
EXPORT_DESCRIPTION = (
    "State dicts hold the plain ResNet (no classifier) and say in their metadata how to prepare inputs (grayscale "
    "in [0, 1] replicated to the channels, then (x - mean) / std with the encoder's numbers: 0.5 and 0.25, or "
    "ImageNet's for an ImageNet start); the ONNX model takes (batch, 1, size, size) in [0, 1], normalisation included."
)

STEPS: tuple[Step, ...] = (
    Step("data inspect", "xrayssl.data.config:InspectConfig", "xrayssl.data.config:run_inspect", f"{PRINT}:inspect",
         "what a dataset holds, per split x body part x label, and its problems", "inspect",
         switches=QUIET, shows={**JSON, **STRICT}),
    Step("data prepare", "xrayssl.data.config:PrepareConfig", "xrayssl.data.config:run_prepare", f"{PRINT}:prepare",
         "decode, grayscale, resize, CLAHE and cache a dataset for training", "prepare", switches=QUIET, shows=STRICT),
    Step("data verify", "xrayssl.data.config:VerifyConfig", "xrayssl.data.config:run_verify", f"{PRINT}:verify",
         "check every file of a prepared cache against its recorded digest", "verify"),
    Step("data synth", "xrayssl.data.config:SynthDatasetConfig", "xrayssl.data.config:run_synth", f"{PRINT}:synth",
         "write a synthetic radiograph dataset (the embedded default)", "synth", positional=("out",)),
    Step("augment show", "xrayssl.augment.config:AugmentShowConfig", "xrayssl.augment.config:run_show",
         f"{PRINT}:wrote", "save a grid of images and augmented views of each", "show_augmentations"),
    Step("pretrain", "xrayssl.train.config:PretrainConfig", "xrayssl.runners:pretrain", f"{PRINT}:pretrain",
         "self-supervised pretraining of a backbone on a prepared cache", "pretrain",
         switches={"resume": "continue the run in --out from its newest loadable checkpoint", **QUIET_BAR}),
    Step("supervised", "xrayssl.train.config:SupervisedConfig", "xrayssl.runners:supervised", f"{PRINT}:supervised",
         "the supervised baseline: the same backbone trained with labels", "supervised",
         switches=QUIET_BAR, shows={"json": "print the evaluation as JSON"}),
    Step("probe", "xrayssl.evaluate.config:ProbeConfig", "xrayssl.runners:probe", f"{PRINT}:probe",
         "logistic-regression probe on frozen features, with intervals", "probe", switches=QUIET_LINES, shows=JSON),
    Step("gradcam", "xrayssl.evaluate.config:GradCamConfig", "xrayssl.runners:gradcam", f"{PRINT}:gradcam",
         "Grad-CAM overlays per body part and outcome, and a faithfulness score", "gradcam", switches=QUIET_LINES),
    Step("predict", "xrayssl.evaluate.config:PredictConfig", "xrayssl.runners:predict", f"{PRINT}:predict",
         "a run's probabilities for new images (a folder, a CSV or DICOM files), as its cache prepared them",
         "predict", positional=("run", "images"), shows=JSON),
    Step("export", "xrayssl.export_config:ExportConfig", "xrayssl.runners:export", f"{PRINT}:export",
         "a run's encoder for torchvision, timm or ONNX Runtime", "export", description=EXPORT_DESCRIPTION),
    Step("study", "xrayssl.study.config:StudyConfig", "xrayssl.runners:study", f"{PRINT}:study",
         "which augmentations work: methods x recipes x seeds, pretrain + probe each, resumable", "study",
         parser="xrayssl.cli.study:add_study_parser"),
    Step("report", "xrayssl.report.config:ReportConfig", "xrayssl.runners:report", f"{PRINT}:report",
         "write a study's self-contained HTML report", "report", switches=QUIET_LINES),
    Step("demo", "xrayssl.demo:DemoConfig", "xrayssl.demo:run_demo", f"{PRINT}:nothing",
         "a small augmentation study on generated radiographs with planted effects, and its report (no data needed)",
         "demo", positional=(), switches={"quiet": "no progress bars while preparing"}),
)  # fmt: skip

BY_NAME: dict[str, Step] = {s.name: s for s in STEPS}
BY_API: dict[str, Step] = {s.api: s for s in STEPS}


def step(name: str) -> Step:
    """A step by its CLI words ("data prepare") or its API name ("prepare")."""
    return BY_NAME.get(name) or BY_API[name]


def run(name: str, config: Any, **switches: Any) -> Any:
    """Run a step on its config: what the CLI, the API and the study's executors call."""
    return step(name)(config, **switches)
