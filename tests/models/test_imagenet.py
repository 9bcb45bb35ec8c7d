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
from weights import save_state, vary_batch_norms

from xrayssl.cli.main import main
from xrayssl.errors import XraySSLError
from xrayssl.models.backbones import Backbone, pool_features
from xrayssl.models.imagenet import WeightsUnavailable, imagenet_backbone, weights_url
from xrayssl.models.norms import NORMS

MEAN = torch.tensor(NORMS["imagenet"][0]).view(1, 3, 1, 1)
STD = torch.tensor(NORMS["imagenet"][1]).view(1, 3, 1, 1)


def random_torchvision(name: str, seed: int = 0) -> torch.nn.Module:
    """A torchvision ResNet with random weights and non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    return vary_batch_norms(getattr(torchvision.models, name)(weights=None))


def save_torchvision(net: torch.nn.Module, path: Path) -> Path:
    """The state dict as torchvision publishes it (with its fc head), as .pth or .safetensors."""
    return save_state(net, path)


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
        (["--weights", "w.npz"], "give a .pth, .pt, .bin, .safetensors file"),
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


# --- runs that start from ImageNet ------------------------------------------------------------------------
TINY = ["--size", "32", "--batch-size", "16", "--epochs", "1", "--budget", "2s", "--quiet"]  # a few steps


def test_the_start_is_imagenet_and_momentum_encoders_copy_it(nets, tiny_cache):
    """initial_backbone gives torchvision's weights; BYOL's target encoder starts from them too (it is copied
    after the start is loaded)."""
    from xrayssl.train.config import PretrainConfig, SupervisedConfig
    from xrayssl.train.init import initial_backbone
    from xrayssl.train.pretrain import SSLModule

    net, path = nets["resnet18.safetensors"]
    expected = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    common = {"cache": str(tiny_cache), "out": "-", "init": "imagenet", "weights": str(path)}
    for cfg in (SupervisedConfig(**common), PretrainConfig(**common, method="byol")):
        start = initial_backbone(cfg)
        assert start.norm == "imagenet" and start.training
        assert all(torch.equal(start.net.state_dict()[k], v) for k, v in expected.items())
    module = SSLModule(PretrainConfig(**common, method="byol").to_dict())
    target = module.method.momentum["backbone"].net.state_dict()
    assert all(torch.equal(target[k], v) for k, v in expected.items())


def test_init_mistakes_are_one_line(tiny_cache, tmp_path, capsys):
    base = ["pretrain", str(tiny_cache), "--out", str(tmp_path / "r"), *TINY]
    for extra, message in (
        (["--init", "imagenet", "--small-stem"], "need the standard 7x7 stem"),
        (["--init", "imagenet", "--backbone", "vit-tiny", "--method", "mae"], "not for vit-tiny"),
        (["--weights", "w.pth"], "goes with --init imagenet"),
        (["--init", "imagenet", "--weights", str(tmp_path / "none.pth")], "none.pth: weights file not found"),
        (["--init", str(tmp_path / "nothing")], "not a run folder"),
    ):
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (extra, err)
        assert not (tmp_path / "r").exists()  # nothing written before the start was found


@pytest.mark.slow
def test_imagenet_started_runs_load_probe_gradcam_and_export(nets, tiny_cache, tmp_path, capsys):
    """Continued SSL and fine-tuning from ImageNet: the run config records the start, load_encoder rebuilds the
    3-channel ImageNet-normalised encoder, and the probe, Grad-CAM and the torchvision export work from it."""
    import xrayssl
    from xrayssl.runs import read_config, read_norm

    _, path = nets["resnet18.pth"]
    start = ["--init", "imagenet", "--weights", str(path)]
    ssl, sup = tmp_path / "ssl", tmp_path / "sup"
    assert main(["pretrain", str(tiny_cache), "--out", str(ssl), *start, "--monitor-every", "0", *TINY]) == 0
    assert main(["supervised", str(tiny_cache), "--out", str(sup), *start, *TINY]) == 0
    assert main(["probe", str(ssl), "--bootstrap", "20"]) == 0  # Grad-CAM of a pretraining run explains its probe
    for run in (ssl, sup):
        config = read_config(run)[1]
        assert (config["init"], config["weights"], read_norm(run)) == ("imagenet", str(path), "imagenet")
        encoder = xrayssl.load_encoder(run)
        assert encoder.norm == "imagenet" and encoder.net.conv1.in_channels == 3
        assert main(["gradcam", str(run), "--out", str(tmp_path / f"cam-{run.name}"), "--n", "2"]) == 0
        assert json.loads((tmp_path / f"cam-{run.name}" / "faithfulness.json").read_text())["images"]
    # the exported torchvision model, fed as the metadata says, gives the run's own features
    out = tmp_path / "ssl.safetensors"
    assert main(["export", str(ssl), "--to", "torchvision", "--out", str(out)]) == 0
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["mean"] == "0.485,0.456,0.406" and meta["std"] == "0.229,0.224,0.225"
    model = torchvision.models.resnet18()
    model.fc = torch.nn.Identity()
    model.load_state_dict(load_file(str(out)), strict=True)
    x = torch.rand(2, 1, 32, 32)
    mean = torch.tensor([float(v) for v in meta["mean"].split(",")]).view(1, 3, 1, 1)
    std = torch.tensor([float(v) for v in meta["std"].split(",")]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(
            model.eval()((x.repeat(1, 3, 1, 1) - mean) / std), xrayssl.load_encoder(ssl)(x), atol=1e-5
        )
    capsys.readouterr()
    assert main(["export", str(ssl), "--to", "timm", "--in-chans", "1", "--out", str(tmp_path / "x.pt")]) == 2
    assert "export it with --in-chans 3" in capsys.readouterr().err
