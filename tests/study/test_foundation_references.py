"""A study's references beyond ImageNet (issue 27): any pretrained start the probe takes (timm:NAME with a local
weights file, hf:PATH), probed frozen once per body part; without network or weights, skipped with the one line
that names the URL and the study's option. Nothing downloads."""

from __future__ import annotations

import json

import pytest

timm = pytest.importorskip("timm")

from xrayssl.errors import XraySSLError  # noqa: E402
from xrayssl.study.config import StudyConfig  # noqa: E402


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No network, whatever machine runs the tests: timm's download is never tried (its cache counts as empty)."""
    from xrayssl.models import timm_backbones

    monkeypatch.setattr(timm_backbones, "_reachable", lambda url, timeout=3.0: False)
    monkeypatch.setattr(timm_backbones, "_cached", lambda name: False)


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
    assert 0 <= done["test_score"] <= 1 and done["weights"] == str(weights)
    assert json.loads((tmp_path / "r1" / "probe.json").read_text())["backbone"] == "timm:resnet10t"
    skipped = _reference(config, None, tmp_path / "r2", {"reference": "timm:convnext_atto", "body_part": None}, False)
    assert skipped["test_score"] is None and "https://huggingface.co/timm/convnext_atto" in skipped["skipped"]
    assert "--reference-weights timm:convnext_atto=" in skipped["skipped"] and "\n" not in skipped["skipped"]


def test_reference_mistakes_are_one_line(tmp_path):
    with pytest.raises(XraySSLError, match=r"unknown reference.*timm:NAME or hf:PATH"):
        StudyConfig(cache="c", out="o", references=["radimagenet"])
    with pytest.raises(XraySSLError, match=r"no reference timm:resnet10t"):
        StudyConfig(cache="c", out="o", reference_weights={"resnet10t": "w.pth"})
    with pytest.raises(XraySSLError, match=r"no config\.json"):
        StudyConfig(cache="c", out="o", references=[f"hf:{tmp_path}"])


@pytest.mark.slow
def test_a_study_with_inits_pretrains_every_recipe_from_every_start_and_reports_per_start(tiny_cache, tmp_path):
    """inits: [none, imagenet] with a local random-weight file: every recipe from both starts, the ImageNet start
    frozen added as a reference, augmentation effects within each start and the start's own effect reported."""
    import torch
    import torchvision

    from xrayssl.cli.main import main
    from xrayssl.report.results import load_results
    from xrayssl.study.store import Store

    weights = tmp_path / "resnet18.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    out = tmp_path / "s"
    argv = ["study", str(tiny_cache), "--out", str(out), "--methods", "simclr", "--augmentations", "flip",
            "--seeds", "2", "--epochs", "1", "--size", "32", "--batch-size", "16", "--inits", "none,imagenet",
            "--imagenet-weights", str(weights), "--no-supervised", "--no-floors", "--bootstrap", "50",
            "--gradcam-n", "1", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    runs = Store(out).runs()
    ssl = [r for r in runs if r["kind"] == "ssl"]
    assert {r["params"]["init"] for r in ssl} == {None, "imagenet"} and all(r["status"] == "done" for r in runs)
    assert len(ssl) == 2 * 2 * 2 and any(r["id"].endswith("/from-imagenet") for r in ssl)
    started = [r for r in ssl if r["params"]["init"] == "imagenet"]
    config = json.loads((out / started[0]["result"]["run"] / "config.json").read_text())
    assert config["config"]["init"] == "imagenet" and config["encoder"]["norm"] == "imagenet"
    assert [r["id"] for r in runs if r["kind"] == "reference"] == ["reference/all/imagenet"]
    res = load_results(out)
    assert set(res.effects["start"]) == {"none", "imagenet"}  # augmentation effects within each start
    starts = res.to_json()["starts"]
    overall = [e for e in starts["effects"] if e["recipe"] == "all recipes"]
    assert overall and overall[0]["start"] == "imagenet" and overall[0]["n_pairs"] == 4
    assert starts["versus_frozen"] and starts["versus_frozen"][0]["frozen"] == "imagenet"
    assert any("continued from imagenet" in s for s in starts["sentences"])
    assert "continued from imagenet" in (out / "report.html").read_text()


def test_inits_plan_every_recipe_from_every_start_with_its_own_weights(tmp_path):
    from xrayssl.study.plan import plan

    w = str(tmp_path / "r10.safetensors")
    config = StudyConfig(cache="c", out="o", methods=["simclr"], augmentations={"flip": "flip"}, seeds=1,
                         inits=[None, "pretrained"], pretrain={"backbone": "timm:resnet10t", "weights": w},
                         supervised=None, floors=False)  # fmt: skip
    run = {"method": "simclr", "augs": "", "seed": 0, "out": "-"}
    assert config.pretrain_config(init="pretrained", **run).weights == w
    assert config.pretrain_config(init=None, **run).weights is None
    assert config.all_references() == ["timm:resnet10t"] and config.reference_weights_of("timm:resnet10t") == w
    ssl = [(rid, p) for rid, kind, p in plan(config) if kind == "ssl"]
    assert len(ssl) == 2 * len(config.recipe_list()) and {p["init"] for _, p in ssl} == {None, "pretrained"}
    assert {rid.rsplit("/", 1)[1] for rid, _ in ssl} == {"from-none", "from-pretrained"}
    plain = StudyConfig(cache="c", out="o", methods=["simclr"], augmentations={"flip": "flip"}, seeds=1)
    assert all("init" not in p and "/from-" not in rid for rid, kind, p in plan(plain) if kind == "ssl")
    with pytest.raises(XraySSLError, match=r"pretrain\.init is set per run by inits"):
        StudyConfig(cache="c", out="o", inits=[None, "imagenet"], pretrain={"init": "imagenet"})
    with pytest.raises(XraySSLError, match=r"add pretrained to inits"):
        StudyConfig(cache="c", out="o", inits=[None, "imagenet"], pretrain={"backbone": "timm:resnet10t", "weights": w})
    with pytest.raises(XraySSLError, match=r"--init pretrained starts a timm:NAME backbone"):
        StudyConfig(cache="c", out="o", inits=[None, "pretrained"])
