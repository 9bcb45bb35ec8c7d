"""The steps' table: every step is a CLI subcommand and an API function that run the same function on the same
config; the new configs' defaults are the CLI's; building a config imports no torch; help reads the registries."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import subprocess
import sys

import pytest

import xrayssl
from xrayssl import api, steps
from xrayssl.cli.main import build_parser, main
from xrayssl.cli.options import PREFIX, build, shown
from xrayssl.configfile import field_default

# per step: the shortest command line, and the API call that should build the same config (c: that config)
CALLS = {
    "data inspect": (["data", "inspect", "ROOT"], lambda c: api.inspect("ROOT")),
    "data prepare": (["data", "prepare", "ROOT", "--out", "OUT", "--size", "32"],
                     lambda c: api.prepare("ROOT", "OUT", size=32)),
    "data verify": (["data", "verify", "CACHE"], lambda c: api.verify("CACHE")),
    "data synth": (["data", "synth", "OUT", "--patients", "5"], lambda c: api.synth("OUT", n_patients=5)),
    "augment show": (["augment", "show", "SRC", "--augs", "flip"], api.show_augmentations),
    "pretrain": (["pretrain", "CACHE", "--out", "OUT"], api.pretrain),
    "supervised": (["supervised", "CACHE", "--out", "OUT"], api.supervised),
    "probe": (["probe", "RUN", "--seeds", "2"], lambda c: api.probe("RUN", seeds=2)),
    "gradcam": (["gradcam", "RUN", "--out", "OUT"], api.gradcam),
    "predict": (["predict", "RUN", "IMAGES"], lambda c: api.predict("RUN", "IMAGES")),
    "export": (["export", "RUN", "--to", "timm"], api.export),
    "study": (["study", "CACHE", "--out", "OUT", "--no-report"], lambda c: api.study(c, "OUT", report=False)),
    "report": (["report", "STUDY"], lambda c: api.report("STUDY")),
    "demo": (["demo", "--patients", "9"], lambda c: api.demo(xrayssl.DemoConfig(n_patients=9))),
}  # fmt: skip
GENERATED = [s for s in steps.STEPS if s.parser is None]  # the study's parser is its own (resume rules)


def _subparser(words: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for word in words.split():
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def _patch(monkeypatch, path: str, calls: list) -> None:
    """Replace the function at ``module:name`` by one that records what it was given."""

    def record(config, **switches):
        calls.append((path, config))
        return 0

    monkeypatch.setattr(path.replace(":", "."), record)


def test_every_step_has_a_subcommand_and_an_api_function():
    assert set(CALLS) == set(steps.BY_NAME)
    for step in steps.STEPS:
        assert _subparser(step.name).prog.endswith(step.name)
        assert callable(getattr(api, step.api)), step.api
        assert step.config_class() is not None and callable(step.run_function())
        assert step.printer.startswith("xrayssl.cli.printers:") and callable(steps.load(step.printer))


@pytest.mark.parametrize("name", list(CALLS))
def test_cli_and_api_run_the_same_function_on_the_same_config(name, monkeypatch, tmp_path):
    step = steps.BY_NAME[name]
    calls: list = []
    _patch(monkeypatch, step.run, calls)
    monkeypatch.setattr(step.printer.replace(":", "."), lambda *a, **k: 0)
    monkeypatch.chdir(tmp_path)  # the study resolves its cache's path
    argv, call = CALLS[name]
    assert main(argv) == 0
    (path, config), = calls  # fmt: skip
    assert path == step.run and isinstance(config, step.config_class())
    call(config)
    assert calls[1] == (step.run, config)  # the API built the same config and ran the same function


@pytest.mark.parametrize("step", GENERATED, ids=lambda s: s.name)
def test_generated_flags_show_the_config_defaults_and_hold_none(step):
    """No default is copied into the parser: every flag is absent until typed, its help shows the field's own."""
    cls = step.config_class()
    actions = {a.dest[len(PREFIX) :]: a for a in _subparser(step.name)._actions if a.dest.startswith(PREFIX)}
    assert set(actions) == {f.name for f in dataclasses.fields(cls)}  # a new field gets its flag, no CLI edit
    for f in dataclasses.fields(cls):
        action = actions[f.name]
        assert action.default is argparse.SUPPRESS, f.name
        default = field_default(f)
        if default is dataclasses.MISSING:
            assert "(default:" not in (action.help or ""), f.name
        else:
            expected = f.metadata.get("default", shown(default))
            assert action.help.replace("%%", "%").endswith(f"(default: {expected})"), (f.name, action.help)


@pytest.mark.parametrize("step", GENERATED, ids=lambda s: s.name)
def test_no_flags_give_the_config_defaults(step):
    cls = step.config_class()
    argv, _ = CALLS[step.name]
    words = len(step.name.split())
    required = [f.name for f in dataclasses.fields(cls) if field_default(f) is dataclasses.MISSING]
    values = {name: f"value-{name}" for name in required}
    positional = step.positional if step.positional is not None else tuple(required[:1])
    args = [*argv[:words], *(values[n] for n in positional)]
    for name in required:
        if name not in positional:
            args += [f"--{name.replace('_', '-')}", values[name]]
    assert build(cls, build_parser().parse_args(args)) == cls(**values)


def test_the_data_commands_keep_their_flags():
    from xrayssl.data.config import InspectConfig, PrepareConfig, SynthDatasetConfig

    argv = ["data", "prepare", "R", "--out", "O", "--no-clahe", "--body-part", "knee", "--body-part", "hand"]
    argv += ["--size", "64", "--format", "csv", "--val-fraction", "0.2", "--normal-classes", "0,2", "--verify"]
    config = build(PrepareConfig, build_parser().parse_args(argv))
    assert config == PrepareConfig(root="R", out="O", clahe=False, body_parts=["knee", "hand"], size=64,
                                   format="csv", val_fraction=0.2, normal_classes=(0, 2), verify=True)  # fmt: skip
    assert config.process().clahe is False and config.split().val_fraction == 0.2
    assert config.read_options().normal_classes == (0, 2)
    parsed = build_parser().parse_args(["data", "inspect", "R", "--quick", "--json", "--strict", "--quiet"])
    assert build(InspectConfig, parsed) == InspectConfig(root="R", quick=True)
    assert (parsed.json, parsed.strict, parsed.quiet) == (True, True, True)
    parsed = build_parser().parse_args(["data", "synth", "O", "--patients", "4", "--layout", "mura", "--seed", "2"])
    assert build(SynthDatasetConfig, parsed) == SynthDatasetConfig(out="O", n_patients=4, layout="mura", seed=2)


def test_data_configs_take_config_files(tmp_path, capsys):
    path = tmp_path / "prep.yaml"
    path.write_text("root: data/knees\nout: caches/k\nsize: 64\nclahe: false\nbody_parts: [knee]\n")
    assert main(["data", "prepare", "--config", str(path), "--size", "96", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "size: 96" in out and "clahe: false" in out and "root: data/knees" in out
    assert main(["data", "prepare", "R", "--out", "O", "--size", "4"]) == 2
    assert "between 16 and 2048 px" in capsys.readouterr().err


CONFIGS = {
    "xrayssl.data.config:PrepareConfig": "root='r', out='o', size=32",
    "xrayssl.data.config:InspectConfig": "root='r', format='csv'",
    "xrayssl.data.config:VerifyConfig": "cache='c'",
    "xrayssl.data.config:SynthDatasetConfig": "out='o', n_patients=3",
    "xrayssl.augment.config:AugmentShowConfig": "source='s', augs='flip'",
    "xrayssl.demo:DemoConfig": "n_patients=30",
    "xrayssl.report.config:ReportConfig": "study='s'",
    "xrayssl.export_config:ExportConfig": "run='r', to='onnx'",
    "xrayssl.evaluate.config:GradCamConfig": "run='r', out='o'",
}


@pytest.mark.parametrize("path", list(CONFIGS))
def test_building_a_config_imports_no_torch(path):
    module, _, cls = path.partition(":")
    code = f"import sys; from {module} import {cls}; {cls}({CONFIGS[path]}); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


def test_help_is_torch_free_and_reads_the_registries():
    code = (
        "import sys; from xrayssl.cli.main import build_parser; p = build_parser(); p.format_help(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]
    from xrayssl.augment.presets import PRESETS
    from xrayssl.catalog import BACKBONE_KINDS as BACKBONES
    from xrayssl.catalog import METHOD_NAMES
    from xrayssl.data.formats import format_names

    pretrain = " ".join(_subparser("pretrain").format_help().split())
    assert all(m in pretrain for m in METHOD_NAMES) and all(b in pretrain for b in BACKBONES)
    assert all(p in pretrain for p in PRESETS)
    assert all(p in " ".join(_subparser("augment show").format_help().split()) for p in PRESETS)
    assert all(f in _subparser("data inspect").format_help() for f in format_names())


def test_the_torch_free_names_are_the_registries():
    from xrayssl.catalog import BACKBONE_KINDS as BACKBONES
    from xrayssl.catalog import METHOD_NAMES, TEMPERATURES
    from xrayssl.models.backbones import backbone_kind, backbone_names
    from xrayssl.models.methods import METHODS, method_names

    assert sorted(METHOD_NAMES) == method_names()
    assert {name: backbone_kind(name) for name in backbone_names()} == BACKBONES
    own = {n: inspect.signature(METHODS[n]).parameters.get("temperature") for n in method_names()}
    assert {n: p.default for n, p in own.items() if p is not None} == TEMPERATURES
