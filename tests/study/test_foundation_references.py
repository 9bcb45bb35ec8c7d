"""A study's references beyond ImageNet (issue 27): any pretrained start the probe takes (timm:NAME with a local
weights file, hf:PATH), probed frozen once per body part; without network or weights, skipped with the one line
that names the URL and the study's option. Nothing downloads."""

from __future__ import annotations

import json

import pytest

timm = pytest.importorskip("timm")

from xrayssl.errors import XraySSLError  # noqa: E402
from xrayssl.study.config import StudyConfig  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ref") / "resnet10t.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("resnet10t").state_dict().items()}, str(path))
    return path


def test_timm_references_are_probed_from_their_file_or_skipped_offline(tiny_cache, weights, tmp_path):
    from xrayssl.study.plan import plan
    from xrayssl.study.runner import _reference

    config = StudyConfig(cache=str(tiny_cache), out=str(tmp_path / "s"), methods=["simclr"], pretrain={"size": 32},
                         references=["imagenet", "timm:resnet10t", "timm:convnext_atto"],
                         reference_weights={"timm:resnet10t": str(weights)}, n_boot=20)  # fmt: skip
    planned = [run_id for run_id, kind, _ in plan(config) if kind == "reference"]
    assert planned == ["reference/all/imagenet", "reference/all/timm:resnet10t", "reference/all/timm:convnext_atto"]
    done = _reference(config, None, tmp_path / "r1", {"reference": "timm:resnet10t", "body_part": None}, False)
    assert 0 <= done["test_auroc"] <= 1 and done["weights"] == str(weights)
    assert json.loads((tmp_path / "r1" / "probe.json").read_text())["backbone"] == "timm:resnet10t"
    skipped = _reference(config, None, tmp_path / "r2", {"reference": "timm:convnext_atto", "body_part": None}, False)
    assert skipped["test_auroc"] is None and "https://huggingface.co/timm/convnext_atto" in skipped["skipped"]
    assert "--reference-weights timm:convnext_atto=" in skipped["skipped"] and "\n" not in skipped["skipped"]


def test_reference_mistakes_are_one_line(tmp_path):
    with pytest.raises(XraySSLError, match=r"unknown reference.*timm:NAME or hf:PATH"):
        StudyConfig(cache="c", out="o", references=["radimagenet"])
    with pytest.raises(XraySSLError, match=r"no reference timm:resnet10t"):
        StudyConfig(cache="c", out="o", reference_weights={"resnet10t": "w.pth"})
    with pytest.raises(XraySSLError, match=r"no config\.json"):
        StudyConfig(cache="c", out="o", references=[f"hf:{tmp_path}"])
