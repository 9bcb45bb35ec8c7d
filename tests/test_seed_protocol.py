"""The seed study's protocol (issue 17): one definition of its five augmentations, the example configs, the
ImageNet reference in a study, and the per-body-part results as HTML, CSV and JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xrayssl.augment import PRESETS, SEED_AUGMENTATIONS, parse_pipeline
from xrayssl.cli.main import main
from xrayssl.errors import XraySSLError
from xrayssl.study import config as study_config
from xrayssl.study.config import StudyConfig

ROOT = Path(__file__).resolve().parents[1]


# --- one definition of the five augmentations -------------------------------------------------------------
def test_seed_preset_and_study_defaults_are_one_object():
    assert study_config.STUDY_AUGMENTATIONS is SEED_AUGMENTATIONS  # the same object, not an equal copy
    assert PRESETS["seed"] == "+".join(SEED_AUGMENTATIONS.values())
    study = StudyConfig(cache="c", out="o")
    assert study.augmentations == dict(SEED_AUGMENTATIONS) and study.augmentations is not SEED_AUGMENTATIONS
    # the supervised baseline's default augmentations (all factors on) are the seed preset's pipeline
    assert parse_pipeline(study.supervised_config(out="-").augs).spec() == parse_pipeline("seed").spec()
    with pytest.raises(TypeError):
        SEED_AUGMENTATIONS["blur"] = "blur(p=1)"  # read-only: a study changes its own copy


def test_the_seeds_numbers_are_the_seeds():
    ops = {op.name: op for op in parse_pipeline("seed").ops}
    assert list(ops) == ["flip", "rotate", "chessboard", "blur", "erase"]
    assert (ops["blur"].kernel, ops["blur"].sigma, ops["blur"].p) == (3, (1.0, 2.0), 0.2)
    assert ops["rotate"].degrees == 10 and ops["flip"].p == 0.5
    assert (ops["erase"].area, ops["erase"].ratio, ops["erase"].p) == ((0.01, 0.1), (0.5, 2.0), 0.3)
    assert (ops["chessboard"].cell, ops["chessboard"].shift) == (0.078, 0.0195)


def test_the_numbers_are_written_once_in_the_source():
    """No second copy of the five specs anywhere in the package, and none of the study's former numbers."""
    sources = {p: p.read_text() for p in (ROOT / "src" / "xrayssl").rglob("*.py")}
    for name in ("chessboard", "blur", "erase"):  # flip(p=0.5) and rotate(10) are common words in other recipes
        holders = [p.name for p, text in sources.items() if SEED_AUGMENTATIONS[name] in text]
        assert holders == ["presets.py"], (name, holders)
    for former in ("blur(sigma=0.5..2,kernel=5", "erase(area=0.02..0.2", 'rotate(15)"'):
        assert not [p for p, text in sources.items() if former in text], former


def test_aug_still_redefines_a_study_factor(capsys):
    argv = ["study", "c", "--out", "o", "--aug", "blur=blur(sigma=2,p=0.9)", "--print-config"]
    assert main(argv) == 0
    printed = yaml.safe_load(capsys.readouterr().out)["augmentations"]
    assert printed == {**SEED_AUGMENTATIONS, "blur": "blur(sigma=2,p=0.9)"}
    assert SEED_AUGMENTATIONS["blur"] == "blur(sigma=1..2,kernel=3,p=0.2)"


# --- example configs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_loads(path, capsys):
    """Each example is a valid study config (checked and planned, not run), also through the CLI."""
    from xrayssl.study.config import load_yaml
    from xrayssl.study.plan import plan

    data = load_yaml(path)
    config = StudyConfig(**{"cache": "caches/c", **data, "out": "o"})
    assert len(plan(config)) > 1
    assert main(["study", "caches/c", "--config", str(path), "--out", "o", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["methods"] == config.methods


def test_the_seed_protocol_example_is_the_seeds():
    from xrayssl.study.config import load_yaml
    from xrayssl.study.plan import plan

    config = StudyConfig(**{"cache": "c", **load_yaml(ROOT / "examples" / "seed-protocol.yaml"), "out": "o"})
    run = config.pretrain_config(method="simclr", augs="", seed=0, out="-")
    assert config.methods == ["simclr", "byol"] and (run.backbone, run.size, run.epochs) == ("resnet50", 256, 5)
    assert config.augmentations == dict(SEED_AUGMENTATIONS) and config.references == ["imagenet"]
    assert config.supervised_config(out="-").backbone == "resnet50" and len(config.body_parts) == 5
    runs = plan(config)
    references = [rid for rid, kind, _ in runs if kind == "reference"]
    assert references == [f"reference/{p}/imagenet" for p in config.body_parts]
    assert sum(kind == "ssl" for _, kind, _ in runs) == 2 * 12 * 3 * 5


def test_reference_settings_are_checked():
    with pytest.raises(XraySSLError, match="unknown reference"):
        StudyConfig(cache="c", out="o", references=["radimagenet"])
    with pytest.raises(XraySSLError, match=r"references: imagenet: .*not for vit-tiny"):
        StudyConfig(cache="c", out="o", methods=["mae"], references=["imagenet"], pretrain={"backbone": "vit-tiny"})
    with pytest.raises(XraySSLError, match="add --references imagenet"):
        StudyConfig(cache="c", out="o", imagenet_weights="w.pth")
    with pytest.raises(XraySSLError, match="torchvision-format"):
        StudyConfig(cache="c", out="o", references=["imagenet"], imagenet_weights="w.bin")
    # the reference takes the standard stem even where the study's runs use the small one
    assert StudyConfig(cache="c", out="o", references=["imagenet"], pretrain={"small_stem": True}).references
