"""Flags and config files generated from the config dataclasses: one source of defaults, --config, --print-config."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml

from xrayssl.cli.main import build_parser, main
from xrayssl.cli.options import PREFIX, add_fields, build, given, shown
from xrayssl.configfile import field_default
from xrayssl.errors import XraySSLError
from xrayssl.evaluate.config import GradCamConfig, ProbeConfig
from xrayssl.export import ExportConfig
from xrayssl.study.config import SHARED_WITH_SUPERVISED, STUDY_PRETRAIN, StudyConfig
from xrayssl.train.config import DEFAULT_BUDGET, PretrainConfig, SupervisedConfig

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {"pretrain": PretrainConfig, "supervised": SupervisedConfig, "probe": ProbeConfig, "study": StudyConfig,
            "gradcam": GradCamConfig, "export": ExportConfig}  # fmt: skip
NESTED = {"pretrain": PretrainConfig, "supervised": SupervisedConfig}  # the study's shared run settings


def _subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _config_actions(name: str) -> dict[str, argparse.Action]:
    return {a.dest[len(PREFIX) :]: a for a in _subparser(name)._actions if a.dest.startswith(PREFIX)}


def _field(cls: type, key: str) -> tuple[type, dataclasses.Field]:
    outer, _, inner = key.rpartition(".")
    owner = NESTED[outer] if outer else cls
    return owner, {f.name: f for f in dataclasses.fields(owner)}[inner]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_default_is_its_field_default(command):
    """No default lives in the parser, and the help shows the dataclass's own default."""
    cls = COMMANDS[command]
    actions = _config_actions(command)
    assert actions, "no generated flags"
    for key, action in actions.items():
        assert action.default is argparse.SUPPRESS, f"{key}: the parser holds a default of its own"
        _, f = _field(cls, key)
        if key.startswith("supervised.") and f.name in ("augs", *SHARED_WITH_SUPERVISED):
            continue  # the study derives these from its recipes and pretraining settings (shown in words)
        if key == "pretrain.budget":
            continue  # the study's rule in words
        default = field_default(f)
        if key.startswith("pretrain.") and f.name in STUDY_PRETRAIN:  # the study's runs: its own rule
            default = STUDY_PRETRAIN[f.name]
        if default is dataclasses.MISSING:
            assert "(default:" not in action.help, key
            continue
        expected = f.metadata.get("default", shown(default))
        assert action.help.replace("%%", "%").endswith(f"(default: {expected})"), (key, action.help)


@pytest.mark.parametrize("command", ["pretrain", "supervised", "probe", "gradcam", "export"])
def test_every_field_has_a_flag_and_no_flags_give_the_dataclass_defaults(command):
    cls = COMMANDS[command]
    actions = _config_actions(command)
    assert set(actions) == {f.name for f in dataclasses.fields(cls)}  # a new field gets its flag, no CLI edit
    required = {f.name: f"value-{f.name}" for f in dataclasses.fields(cls) if field_default(f) is dataclasses.MISSING}
    argv = [command]
    for name, value in required.items():
        argv += [value] if not actions[name].option_strings else [actions[name].option_strings[0], value]
    assert build(cls, build_parser().parse_args(argv)) == cls(**required)


def test_the_study_takes_every_shared_pretrain_setting_as_a_flag():
    from xrayssl.study.config import SET_BY_STUDY, SUPERVISED_SET_BY_STUDY

    keys = set(_config_actions("study"))
    assert {f"pretrain.{f.name}" for f in dataclasses.fields(PretrainConfig) if f.name not in SET_BY_STUDY} <= keys
    fields = dataclasses.fields(SupervisedConfig)
    sup = {f"supervised.{f.name}" for f in fields if f.name not in SUPERVISED_SET_BY_STUDY}
    assert sup <= keys
    assert {"methods", "design", "seeds", "label_fractions", "n_boot", "floors", "recipes"} <= keys


def test_generator_types_from_annotations():
    @dataclass
    class Demo:
        n: int = field(default=3, metadata={"help": "count"})
        rate: float = 0.5
        name: str | None = None
        on: bool = True
        shares: list[float] = field(default_factory=lambda: [0.1, 1.0])
        parts: list[str | None] = field(default_factory=lambda: [None])
        specs: dict[str, str] = field(default_factory=dict)
        mode: Literal["a", "b"] = "a"

    parser = argparse.ArgumentParser()
    add_fields(parser, Demo)
    argv = ["--n", "4", "--rate", "1e-3", "--name", "none", "--no-on", "--shares", "0.5, 1", "--parts", "knee,none"]
    args = parser.parse_args([*argv, "--specs", "a=flip", "--specs", "b=rotate(5)", "--mode", "b"])
    assert given(args) == {
        "n": 4, "rate": 1e-3, "name": None, "on": False, "shares": [0.5, 1.0], "parts": ["knee", None],
        "specs": {"a": "flip", "b": "rotate(5)"}, "mode": "b",
    }  # fmt: skip
    assert given(parser.parse_args([])) == {}  # nothing typed: the dataclass decides
    assert "count (default: 3)" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "c"])


def test_flags_override_the_file_which_overrides_the_defaults(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("cache: caches/knee\nout: runs/a\nsize: 48\nbatch-size: 32\nepochs: 2\nlr: 2e-3\n")
    args = build_parser().parse_args(["pretrain", "--config", str(path), "--epochs", "3", "--out", "runs/b"])
    config = build(PretrainConfig, args)
    assert config == PretrainConfig(cache="caches/knee", out="runs/b", size=48, batch_size=32, epochs=3, lr=2e-3)
    assert config.budget is None  # epochs given: no budget (the dataclass's rule)


def test_run_length_is_a_rule_of_the_dataclass():
    assert PretrainConfig(cache="c", out="o").budget == DEFAULT_BUDGET
    assert PretrainConfig(cache="c", out="o", epochs=2).budget is None
    assert PretrainConfig(cache="c", out="o", epochs=2, budget="1m").budget == "1m"
    study = StudyConfig(cache="c", out="o")
    assert (study.pretrain_config(out="-").epochs, study.pretrain_config(out="-").budget) == (5, None)
    timed = StudyConfig(cache="c", out="o", pretrain={"budget": "2m"}).pretrain_config(out="-")
    assert (timed.epochs, timed.budget) == (None, "2m")  # a budget alone bounds the runs, as on the CLI


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sizes: 3\n", "unknown setting(s) sizes; valid: accelerator, allow_upscale, augs"),
        ("size: big\n", "size: expected a whole number, got 'big'"),
        ("small_stem: 1\n", "small_stem: expected true or false"),
        ("- a\n- b\n", "expected a mapping of settings"),
        ("size: [1\n", "not valid YAML"),
        ("!!python/object:os.system {}\n", "not valid YAML"),  # safe_load: no objects from files
    ],
)
def test_bad_config_files_are_one_line_errors(tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["pretrain", "c", "--out", "o", "--config", str(path), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and len(err.strip().splitlines()) == 1


def test_missing_settings_and_bad_values_exit_2(capsys):
    assert main(["pretrain", "c"]) == 2
    assert "missing setting(s) out" in capsys.readouterr().err
    assert main(["probe", "run", "--bootstrap", "0"]) == 2
    assert "--seeds and --bootstrap must be >= 1" in capsys.readouterr().err
    assert main(["probe", "run", "--label-fractions", "0,1"]) == 2
    assert "label fractions must be in (0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["probe", "run", "--label-fractions", "a,b"])
    assert exc.value.code == 2 and "invalid comma-separated float value" in capsys.readouterr().err


def test_print_config_round_trips(tmp_path, capsys):
    argv = ["supervised", "caches/k", "--out", "runs/s", "--label-fraction", "0.1", "--budget", "none", "--epochs", "3"]
    assert main([*argv, "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert yaml.safe_load(printed)["budget"] is None and yaml.safe_load(printed)["label_fraction"] == 0.1
    (tmp_path / "s.yaml").write_text(printed)
    assert main(["supervised", "--config", str(tmp_path / "s.yaml"), "--print-config"]) == 0
    assert capsys.readouterr().out == printed


def test_study_yaml_example_keeps_working_and_flags_merge_into_it(capsys):
    example = ROOT / "examples" / "knee-study.yaml"
    argv = ["study", "--config", str(example), "--out", "s", "--epochs", "3", "--supervised-budget", "1m"]
    assert main([*argv, "--no-floors", "--bootstrap", "200", "--recipe", "x=flip", "--print-config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["design"] == "fractional" and config["methods"] == ["simclr", "byol"]
    assert config["pretrain"] == {"size": 32, "batch_size": 64, "epochs": 3, "lr": 0.002}  # file + flag
    assert config["supervised"] == {"epochs": 20, "budget": "1m"}
    assert config["floors"] is False and config["n_boot"] == 200 and config["recipes"] == {"x": "flip"}


def test_study_file_checks_nested_settings(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text("cache: c\npretrain:\n  sise: 32\n")
    assert main(["study", "--config", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "s"), "--print-config"]) == 2
    assert "s.yaml: pretrain: unknown setting(s) sise; valid:" in capsys.readouterr().err


@pytest.mark.slow
def test_config_file_round_trips_through_a_run(tiny_cache, tmp_path, capsys):
    """A run made from a config file records the same config as the equivalent flags (resolved without
    training a second run); the run's config.json, given back as --config, resolves to it again."""
    settings = {"cache": str(tiny_cache), "size": 32, "batch_size": 16, "epochs": 1, "lr": 0.002, "small_stem": False}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(settings))
    run = tmp_path / "file"
    assert main(["pretrain", "--config", str(tmp_path / "run.yaml"), "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    recorded = json.loads((run / "config.json").read_text())["config"]
    flags = ["--size", "32", "--batch-size", "16", "--epochs", "1", "--lr", "2e-3", "--no-small-stem"]
    argv = ["pretrain", str(tiny_cache), "--out", str(run), *flags]
    from_flags = build(PretrainConfig, build_parser().parse_args(argv))
    assert recorded == from_flags.to_dict()
    again = build(PretrainConfig, build_parser().parse_args(["pretrain", "--config", str(run / "config.json")]))
    assert again.to_dict() == recorded
    assert recorded["budget"] is None and recorded["lr"] == 2e-3 and recorded["method"] == PretrainConfig.method


def test_run_functions_take_their_config():
    """The probe's and Grad-CAM's settings (and defaults) are their config's only: no keyword copies to drift."""
    import inspect

    from xrayssl.evaluate.gradcam import gradcam
    from xrayssl.evaluate.run_probe import probe

    for run, config in ((probe, "ProbeConfig"), (gradcam, "GradCamConfig")):
        assert [(p.name, p.annotation) for p in inspect.signature(run).parameters.values()] == [("config", config)]


def _imported(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


@pytest.mark.parametrize(
    "module", ["xrayssl.evaluate.run_probe", "xrayssl.evaluate.gradcam", "xrayssl.evaluate.supervised_eval"]
)
@pytest.mark.slow
def test_evaluation_does_not_import_training(module):
    """Layering: evaluation reads run folders through xrayssl.runs, never through xrayssl.train."""
    assert not {m for m in _imported(module) if m.split(".")[:2] == ["xrayssl", "train"]}


def test_the_report_imports_no_training_code():
    """The report reads stored results only: through the study's config it sees the run config dataclasses
    (xrayssl.train.config), but no training loop and no Lightning."""
    modules = _imported("xrayssl.report.html")
    assert {m for m in modules if m.split(".")[:2] == ["xrayssl", "train"]} <= {"xrayssl.train", "xrayssl.train.config"}
    assert "lightning" not in modules and "xrayssl.train.pretrain" not in modules


def test_config_errors_raise_xrayssl_errors_in_python(tmp_path):
    from xrayssl.configfile import load_config_file

    (tmp_path / "p.yaml").write_text("lr: fast\n")
    with pytest.raises(XraySSLError, match=r"p.yaml: lr: expected a number, got 'fast'"):
        load_config_file(tmp_path / "p.yaml", PretrainConfig)


def test_study_flags_fill_the_study_config(tiny_cache):
    from xrayssl.cli.study import build_config

    argv = ["study", str(tiny_cache), "--out", "s", "--methods", "simclr,byol", "--augmentations", "flip,blur"]
    argv += ["--seeds", "1", "--epochs", "1", "--size", "32", "--batch-size", "16", "--supervised-epochs", "2"]
    argv += ["--label-fractions", "0.5,1", "--bootstrap", "100", "--abnormal-fractions", "none,0.1"]
    config = build_config(build_parser().parse_args(argv))
    assert config.pretrain == {"epochs": 1, "size": 32, "batch_size": 16}
    assert config.supervised == {"epochs": 2} and config.n_boot == 100 and config.seeds == 1
    assert list(config.augmentations) == ["flip", "blur"] and config.label_fractions == [0.5, 1.0]
    assert config.abnormal_fractions == [None, 0.1] and config.cache == str(tiny_cache.resolve())
    no_sup = build_config(build_parser().parse_args([*argv, "--no-supervised"]))
    assert no_sup.supervised is None
