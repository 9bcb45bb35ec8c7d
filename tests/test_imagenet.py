"""ImageNet encoders (issue 17): local torchvision-format weights give torchvision's own features, the probe reads
them through --weights, an offline machine gets one line naming the URL, and ImageNet-initialised runs load,
probe and export like any other. Nothing here downloads: the network is replaced where a download would start."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from xrayssl.cli.main import main
from xrayssl.errors import XraySSLError
from xrayssl.models.backbones import NORMS, Backbone, pool_features
from xrayssl.models.imagenet import WeightsUnavailable, imagenet_backbone, weights_url

MEAN = torch.tensor(NORMS["imagenet"][0]).view(1, 3, 1, 1)
STD = torch.tensor(NORMS["imagenet"][1]).view(1, 3, 1, 1)


def random_torchvision(name: str, seed: int = 0) -> torch.nn.Module:
    """A torchvision ResNet with random weights and non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    net = getattr(torchvision.models, name)(weights=None)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def save_torchvision(net: torch.nn.Module, path: Path) -> Path:
    """The state dict as torchvision publishes it (with its fc head), as .pth or .safetensors."""
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    else:
        torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def nets(tmp_path_factory) -> dict[str, tuple[torch.nn.Module, Path]]:
    folder = tmp_path_factory.mktemp("weights")
    out = {}
    for name in ("resnet18", "resnet50"):
        net = random_torchvision(name)
        for suffix in (".pth", ".safetensors"):
            out[f"{name}{suffix}"] = (net, save_torchvision(net, folder / f"{name}{suffix}"))
    return out


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty torchvision cache and no network: any download attempt fails as it does without one."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # torch.hub's cache folder follows it
    calls = []

    def no_network(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    assert torch.hub.get_dir().startswith(str(tmp_path))
    return calls


@pytest.mark.parametrize("key", ["resnet18.pth", "resnet18.safetensors", "resnet50.pth", "resnet50.safetensors"])
def test_local_weights_give_torchvisions_own_features(nets, key):
    """3 equal channels, ImageNet normalisation: exactly what torchvision's model computes on the grey image."""
    net, path = nets[key]
    encoder = imagenet_backbone(key.split(".")[0], path)
    assert encoder.norm == "imagenet" and encoder.in_chans == 3 and not encoder.training
    x = torch.rand(3, 1, 48, 48)
    trunk = torch.nn.Sequential(*list(net.children())[:-1])  # torchvision's forward without fc
    with torch.no_grad():
        expected = trunk((x.repeat(1, 3, 1, 1) - MEAN) / STD).flatten(1)
        assert torch.allclose(encoder(x), expected, atol=1e-5)
        assert torch.allclose(pool_features(encoder.feature_maps(x), "avg"), expected, atol=1e-5)


def test_the_xray_normalisation_is_unchanged():
    """Runs written before the ImageNet norm existed give the same features: one channel, (x - 0.5) / 0.25."""
    torch.manual_seed(0)
    b = Backbone("resnet18").eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(b(x), b.net((x - 0.5) / 0.25))
    assert b.net.conv1.in_channels == 1 and "mean" not in b.state_dict()


def test_probe_reads_imagenet_weights_from_a_local_file(nets, tiny_cache, tmp_path, capsys):
    _, path = nets["resnet18.pth"]
    out = tmp_path / "imagenet.json"
    argv = ["probe", str(tiny_cache), "--encoder", "imagenet", "--weights", str(path), "--size", "32"]
    assert main([*argv, "--bootstrap", "50", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["encoder"] == "imagenet" and result["backbone"] == "resnet18" and result["weights"] == str(path)
    assert result["feature_dim"] == 512 and result["size"] == 32 and 0 <= result["overall"]["auroc"] <= 1
    assert json.loads(out.read_text())["overall"] == result["overall"]


def test_offline_is_one_line_naming_the_url_and_weights(offline, tiny_cache, capsys):
    assert main(["probe", str(tiny_cache), "--encoder", "imagenet", "--backbone", "resnet50", "--size", "32"]) == 2
    err = capsys.readouterr().err.strip()
    url = weights_url("resnet50")
    assert offline == [url]  # it tried the download (once), which is where the network would be needed
    assert len(err.splitlines()) == 1 and url in err and "--weights PATH" in err and "Traceback" not in err
    with pytest.raises(WeightsUnavailable):
        imagenet_backbone("resnet18")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--small-stem"], "need the standard 7x7 stem"),
        (["--backbone", "vit-tiny"], "not for vit-tiny"),
        (["--weights", "w.bin"], "torchvision-format .pth, .pt, .safetensors file"),
        (["--weights", "missing.pth"], "missing.pth: weights file not found"),
    ],
)
def test_probe_mistakes_are_one_line(tiny_cache, capsys, argv, message):
    assert main(["probe", str(tiny_cache), "--encoder", "imagenet", "--size", "32", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_weights_without_imagenet_are_refused(tiny_cache, capsys):
    assert main(["probe", str(tiny_cache), "--encoder", "random", "--weights", "w.pth"]) == 2
    assert "goes with --encoder imagenet" in capsys.readouterr().err


class Payload:
    """Pickled code: torch.load(weights_only=True) must refuse to run it."""

    def __reduce__(self):
        return (print, ("code ran",))


def test_bad_weights_files_are_named_and_never_executed(nets, tmp_path, capsys):
    _, r18 = nets["resnet18.pth"]
    with pytest.raises(XraySSLError, match=r"not torchvision resnet50 weights \(missing: .*shape: "):
        imagenet_backbone("resnet50", r18)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(XraySSLError, match=r"junk\.pth: cannot read it as a state dict"):
        imagenet_backbone("resnet18", tmp_path / "junk.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(XraySSLError, match=r"junk\.safetensors: cannot read it as a state dict"):
        imagenet_backbone("resnet18", tmp_path / "junk.safetensors")
    torch.save({"conv1.weight": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(XraySSLError, match=r"evil\.pth: cannot read it as a state dict"):
        imagenet_backbone("resnet18", tmp_path / "evil.pth")
    assert "code ran" not in capsys.readouterr().out
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(XraySSLError, match=r"list\.pth: not a state dict"):
        imagenet_backbone("resnet18", tmp_path / "list.pth")
