"""Encoders that leave xrayssl (torchvision, timm, ONNX), the public load_encoder, and transfer probing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import xrayssl
from xrayssl import runs
from xrayssl.cli.main import main
from xrayssl.errors import XraySSLError
from xrayssl.export import MEAN, STD, ExportConfig, export
from xrayssl.models.backbones import Backbone


def fake_run(folder: Path, cache: Path | str, small_stem: bool = False, seed: int = 0) -> Path:
    """A run folder with random weights and non-trivial batch-norm statistics (no training needed: export and
    probing only read the folder)."""
    torch.manual_seed(seed)
    backbone = Backbone("resnet18", small_stem)
    for m in backbone.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    config = {"cache": str(cache), "out": str(folder), "method": "simclr", "backbone": "resnet18",
              "small_stem": small_stem, "size": 32, "seed": seed, "body_part": None}  # fmt: skip
    runs.write_config(folder, "pretrain", config)
    runs.save_weights(backbone, folder / "encoder.pt")
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return fake_run(tmp_path_factory.mktemp("export") / "run", "unused")


def _reference(run: Path, x: torch.Tensor) -> torch.Tensor:
    encoder = xrayssl.load_encoder(run)  # the public API: (B, 1, H, W) in [0, 1] -> features
    assert isinstance(encoder, torch.nn.Module) and not encoder.training
    with torch.no_grad():
        return encoder(x)


def _prepared(x: torch.Tensor, meta: dict[str, str]) -> torch.Tensor:
    """What the metadata tells a user to do to a grayscale batch."""
    channels = int(meta["in_chans"])
    mean = torch.tensor([float(v) for v in meta["mean"].split(",")]).view(1, -1, 1, 1)
    std = torch.tensor([float(v) for v in meta["std"].split(",")]).view(1, -1, 1, 1)
    return (x.repeat(1, channels, 1, 1) - mean) / std


def test_torchvision_state_dict_loads_strictly_and_gives_the_same_features(run, tmp_path, capsys):
    import torchvision

    pytest.importorskip("safetensors", reason="safetensors is an optional extra: pip install 'xrayssl[export]'")
    from safetensors import safe_open
    from safetensors.torch import load_file

    out = tmp_path / "tv.safetensors"
    assert main(["export", str(run), "--to", "torchvision", "--out", str(out)]) == 0
    assert "load: m = torchvision.models.resnet18()" in capsys.readouterr().out
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert (meta["mean"], meta["std"], meta["in_chans"]) == (f"{MEAN},{MEAN},{MEAN}", f"{STD},{STD},{STD}", "3")
    model = torchvision.models.resnet18()
    model.fc = torch.nn.Identity()
    model.load_state_dict(load_file(out), strict=True)
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        got = model.eval()(_prepared(x, meta))
    torch.testing.assert_close(got, _reference(run, x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("in_chans", [1, 3])
def test_timm_state_dict_loads_strictly_and_gives_the_same_features(run, tmp_path, in_chans):
    timm = pytest.importorskip("timm", reason="timm is an optional extra: pip install 'xrayssl[export]'")
    out, meta = export(ExportConfig(run=str(run), to="timm", in_chans=in_chans, out=str(tmp_path / "t.pt")))
    assert json.loads(Path(f"{out}.json").read_text()) == meta  # .pt: the metadata beside it
    model = timm.create_model("resnet18", num_classes=0, in_chans=in_chans)
    model.load_state_dict(torch.load(out, weights_only=True), strict=True)
    x = torch.rand(3, 1, 48, 48)
    with torch.no_grad():
        got = model.eval()(_prepared(x, meta))
    torch.testing.assert_close(got, _reference(run, x), atol=1e-4, rtol=1e-4)


def test_small_stem_exports_with_its_surgery_written_down(tmp_path):
    import torchvision

    run = fake_run(tmp_path / "small", "unused", small_stem=True, seed=1)
    out, meta = export(ExportConfig(run=str(run), to="torchvision", out=str(tmp_path / "s.pt")))
    assert meta["stem"].startswith("small: set model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)")
    model = torchvision.models.resnet18()
    model.fc = torch.nn.Identity()
    model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)  # as the metadata says
    model.maxpool = torch.nn.Identity()
    model.load_state_dict(torch.load(out, weights_only=True), strict=True)
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(_prepared(x, meta)), _reference(run, x), atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_onnx_export_runs_in_onnxruntime_with_matching_outputs(run, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is an optional extra: pip install 'xrayssl[export]'")
    pytest.importorskip("onnxscript", reason="torch's ONNX exporter needs onnxscript (xrayssl[export])")
    out = tmp_path / "enc.onnx"
    assert main(["export", str(run), "--to", "onnx", "--out", str(out)]) == 0
    assert "(batch, 1, 32, 32) in [0, 1]" in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "image" and inp.shape[1:] == [1, 32, 32]  # fixed spec; the batch may vary
    x = torch.rand(5, 1, 32, 32)
    (got,) = session.run(None, {"image": x.numpy()})
    np.testing.assert_allclose(got, _reference(run, x).numpy(), atol=1e-4, rtol=1e-4)
    assert session.get_modelmeta().custom_metadata_map["arch"] == "resnet18"


def test_export_mistakes_are_clear(run, tmp_path, capsys):
    assert main(["export", str(run), "--to", "torchvision", "--in-chans", "1"]) == 2
    assert "torchvision's resnets take 3 channels" in capsys.readouterr().err
    assert main(["export", str(run), "--out", str(tmp_path / "x.bin")]) == 2
    assert "write a .safetensors, .pt or .pth file" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    with pytest.raises(XraySSLError, match="--in-chans must be 1 or 3"):
        ExportConfig(run=str(run), to="timm", in_chans=2)


@pytest.fixture(scope="module")
def other_cache(tmp_path_factory) -> Path:
    """A second prepared dataset (other patients, other seed) for transfer."""
    from xrayssl.data.prepare import prepare
    from xrayssl.data.process import ProcessConfig
    from xrayssl.data.synthetic import SynthConfig, write_dataset

    root = write_dataset(tmp_path_factory.mktemp("other"), SynthConfig(n_patients=30, size=64, seed=5), workers=1)
    out = tmp_path_factory.mktemp("other-cache") / "knees b"  # a space: the default output name is sanitised
    return prepare(root, out, process=ProcessConfig(size=32), workers=1, progress=False).cache


@pytest.mark.slow
def test_probe_transfers_a_run_to_another_cache(tiny_cache, other_cache, tmp_path, capsys):
    import pandas as pd

    run = fake_run(tmp_path / "run", tiny_cache)
    assert main(["probe", str(run), "--cache", str(other_cache), "--json", "--bootstrap", "20"]) == 0
    result = json.loads(capsys.readouterr().out)
    manifest = pd.read_csv(other_cache / "manifest.csv").query("label >= 0")
    assert result["cache"] == str(other_cache) and result["size"] == 32
    assert result["n"] == manifest["split"].value_counts().to_dict()  # the other dataset's images, all of them
    assert result["written_to"] == str(run / "probe-transfer-knees_b.json")
    assert not (run / "probe-run.npz").exists()  # the run's own probe (for Grad-CAM) is not replaced
    own = xrayssl.probe(run, n_boot=20)  # the Python API: ProbeConfig's fields as keywords
    assert own["cache"] == str(tiny_cache) and own["n"] != result["n"]
    assert main(["probe", str(run), "--cache", str(tmp_path)]) == 2
    assert "not a prepared cache" in capsys.readouterr().err
    assert main(["probe", str(tiny_cache), "--encoder", "random", "--cache", str(other_cache)]) == 2
    assert "needs --encoder run" in capsys.readouterr().err
