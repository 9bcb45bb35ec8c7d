"""xrayssl.catalog mirrors the torch registries without torch; configs build without torch; momentum methods share
one schedule."""

from __future__ import annotations

import inspect
import math
import subprocess
import sys

import pytest
import torch

from xrayssl import catalog
from xrayssl.models.backbones import build_backbone


def test_catalog_names_equal_the_registries():
    from xrayssl.augment.ops import OPS, load_ops
    from xrayssl.models.backbones import RESNETS, VITS
    from xrayssl.models.methods import METHODS, method_names

    load_ops()
    assert tuple(sorted(OPS)) == catalog.OPS
    assert catalog.method_names() == method_names()
    assert {n: METHODS[n].kinds for n in method_names()} == catalog.METHOD_KINDS
    takes = tuple(n for n in method_names() if "temperature" in inspect.signature(METHODS[n]).parameters)
    assert takes == catalog.TEMPERATURE_METHODS
    assert {**dict.fromkeys(RESNETS, "resnet"), **dict.fromkeys(VITS, "vit")} == catalog.BACKBONE_KINDS


BUILD_EACH_CONFIG = """
import sys
from xrayssl.evaluate.config import GradCamConfig, ProbeConfig, SupervisedEvalConfig
from xrayssl.export_config import ExportConfig
from xrayssl.study.config import StudyConfig
from xrayssl.train.config import PretrainConfig, SupervisedConfig

PretrainConfig(cache="c", out="o", method="byol", init="imagenet", augs2="seed", temperature=None)
SupervisedConfig(cache="c", out="o", init="imagenet", weights="w.pth")
ProbeConfig(source="s", encoder="imagenet", weights="w.safetensors", pool="grid2")
GradCamConfig(run="r", out="o")
SupervisedEvalConfig(run="r")
ExportConfig(run="r", to="onnx", size=64)
StudyConfig(cache="c", out="o", methods=["simclr", "moco"], references=["imagenet"], pretrain={"temperature": 0.2})
print("torch" in sys.modules)
"""


def test_building_a_config_imports_no_torch():
    """Configs check themselves with torch-free data: the CLI builds one before any work, and torch takes
    seconds to load."""
    out = subprocess.run([sys.executable, "-c", BUILD_EACH_CONFIG], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", ["byol", "moco", "densecl"])
def test_momentum_encoder_moves_towards_the_online_one_by_the_scheduled_momentum(name):
    from xrayssl.models.methods import build_method
    from xrayssl.models.methods.momentum import MomentumMethod

    torch.manual_seed(0)
    method = build_method(name, build_backbone("resnet18", image_size=32))
    assert isinstance(method, MomentumMethod) and method.base_momentum == catalog.BASE_MOMENTUM
    assert set(method.momentum) == {"backbone", *method.momentum_parts}
    with torch.no_grad():  # the online encoder moves away from its copy, as after an optimiser step
        for p in method.backbone.parameters():
            p.add_(torch.randn_like(p))
    pairs = [
        (dict(getattr(method, part).named_parameters()), dict(copy.named_parameters()))
        for part, copy in method.momentum.items()
    ]
    before = [{k: t[k].clone() for k in t} for _, t in pairs]
    progress = 0.3
    m = method.momentum_at(progress)
    cosine = 1 - (1 - catalog.BASE_MOMENTUM) * (1 + math.cos(math.pi * progress)) / 2  # from the base to 1
    assert m == pytest.approx(cosine, abs=1e-6)
    method.after_step(progress)
    for (online, target), old in zip(pairs, before, strict=True):
        for k, t in target.items():
            assert not t.requires_grad
            torch.testing.assert_close(t, m * old[k] + (1 - m) * online[k])
    assert method.momentum_at(0.0) == pytest.approx(catalog.BASE_MOMENTUM) and method.momentum_at(1.0) == 1.0


def test_study_executors_call_the_lower_layers_not_the_api():
    """Layering: the study runner sits below xrayssl.api (the facade that wraps it), so it never imports it."""
    import ast
    from pathlib import Path

    from xrayssl.study import finalize, runner

    for module in (runner, finalize):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        names = {
            a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "xrayssl" for a in n.names
        }
        assert "xrayssl.api" not in imported and "api" not in names, module.__name__


def test_recipe_parameters_are_checked_before_a_study_is_created(tmp_path, tiny_cache):
    """A config checks recipes' names without torch; their parameters are read (with torch) before the study
    folder exists, so a bad value fails at once, not in run 37."""
    from xrayssl.errors import XraySSLError
    from xrayssl.study.config import StudyConfig
    from xrayssl.study.runner import open_study

    with pytest.raises(XraySSLError, match="augmentation 'blurry': unknown augmentation 'blurr'"):
        StudyConfig(cache=str(tiny_cache), out="-", augmentations={"blurry": "blurr(p=0.5)"})
    config = StudyConfig(
        cache=str(tiny_cache), out=str(tmp_path / "s"), augmentations={"b": "blur(p=2)"}, pretrain={"size": 32}
    )
    with pytest.raises(XraySSLError, match=r"augmentation 'b': blur: p must be within 0\.\.1"):
        open_study(config, tmp_path / "s")
    assert not (tmp_path / "s").exists()
