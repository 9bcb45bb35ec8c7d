"""Encoders from anywhere (issue 27): any timm model as ``timm:NAME`` with grey input, its pretrained weights from a
local file (tensors only) giving timm's own features, a Hugging Face DINOv2 folder mapped onto timm's ViT, runs
that start from them, their export, and the one-line errors. Nothing downloads: this machine has no network, and
the weights are random ones written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

timm = pytest.importorskip("timm")
from safetensors.torch import load_file, save_file  # noqa: E402
from weights import save_state, vary_batch_norms  # noqa: E402

from xrayssl.cli.main import main  # noqa: E402
from xrayssl.errors import XraySSLError  # noqa: E402
from xrayssl.models.backbones import build_backbone, pool_features  # noqa: E402
from xrayssl.models.hf_dinov2 import hf_architecture, hf_backbone  # noqa: E402
from xrayssl.models.timm_backbones import timm_start  # noqa: E402


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No network, whatever machine runs the tests: timm's download is never tried (its cache counts as empty)."""
    from xrayssl.models import timm_backbones

    monkeypatch.setattr(timm_backbones, "_reachable", lambda url, timeout=3.0: False)
    monkeypatch.setattr(timm_backbones, "_cached", lambda name: False)


TINY = {"timm:resnet10t": 32, "timm:convnext_atto": 32, "timm:vit_tiny_patch16_224": 32}
RUN = ["--size", "32", "--batch-size", "16", "--epochs", "1", "--budget", "3s", "--monitor-every", "0", "--quiet"]


def timm_kwargs(name: str, size: int) -> dict:
    return {"img_size": size} if "vit" in name else {}


def random_timm(name: str, size: int, seed: int = 0, **kwargs) -> torch.nn.Module:
    """A timm model as timm publishes it (3 channels, a 1000-class head) with random weights and non-trivial
    normalisation statistics, in eval mode."""
    torch.manual_seed(seed)
    return vary_batch_norms(timm.create_model(name.removeprefix("timm:"), **timm_kwargs(name, size), **kwargs))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("timm-weights")
    return {n: save_state(random_timm(n, s), folder / f"{n[5:]}.safetensors") for n, s in TINY.items()}


@pytest.mark.parametrize("name", list(TINY))
def test_local_weights_give_timms_own_features(files, name):
    """--weights FILE through timm's own loading: the features are those of timm's model built with in_chans=1
    from the same file, on the grey image normalised with the start's numbers (averaged over its channels)."""
    size = TINY[name]
    ours = timm_start(name, size, files[name]).eval()
    theirs = timm.create_model(
        name[5:], pretrained=True, pretrained_cfg_overlay={"file": str(files[name])}, num_classes=0, in_chans=1,
        **timm_kwargs(name, size),
    ).eval()  # fmt: skip
    x = torch.rand(3, 1, size, size)
    with torch.no_grad():
        expected = theirs.forward_features((x - ours.mean) / ours.std)
        maps = ours.feature_maps(x)
    if ours.kind == "vit":
        expected = expected[:, theirs.num_prefix_tokens :].transpose(1, 2).reshape_as(maps[-1])
    assert torch.allclose(maps[-1], expected, atol=1e-5)
    assert torch.allclose(pool_features(maps, "avg"), expected.mean((2, 3)), atol=1e-5)
    assert ours.norm.startswith("grey(") and ours.pretrained


def test_a_grey_image_gives_the_rgb_models_features_where_the_channels_are_normalised_alike(files):
    """vit_tiny's start normalises every channel alike (0.5, 0.5): summing its RGB patch embedding over the
    channels (timm's stem adaptation) gives exactly the RGB model's features on the replicated grey image."""
    name, size = "timm:vit_tiny_patch16_224", 32
    rgb = random_timm(name, size)
    ours = timm_start(name, size, files[name]).eval()
    x = torch.rand(2, 1, size, size)
    with torch.no_grad():
        expected = rgb.forward_features((x.expand(-1, 3, -1, -1) - 0.5) / 0.5)[:, 1:].mean(1)
        assert torch.allclose(ours(x), expected, atol=1e-5)


def test_random_timm_backbones_are_grey_and_pool_like_the_probe():
    for name, size in TINY.items():
        backbone = build_backbone(name, image_size=size)
        x = torch.rand(2, 1, size, size)
        maps = backbone.feature_maps(x)
        assert backbone.in_chans == 1 and backbone.norm == "xray" and len(maps) >= 2
        assert torch.allclose(backbone(x), pool_features(maps, "avg"), atol=1e-5)
        assert pool_features(maps, "multi").shape[1] == sum(m.shape[1] for m in maps)


def test_bad_inputs_are_one_line(files, tmp_path):
    with pytest.raises(XraySSLError, match=r"unknown timm model 'resnet10'; closest: .*resnet10t"):
        build_backbone("timm:resnet10")
    with pytest.raises(XraySSLError, match=r"multiples of its 16-px patches, not 40 px: use --size 32 or 48"):
        build_backbone("timm:vit_tiny_patch16_224", image_size=40)
    with pytest.raises(XraySSLError, match=r"resnet10t.safetensors: does not fit timm:convnext_atto \((missing|unex)"):
        timm_start("timm:convnext_atto", 32, files["timm:resnet10t"])
    wide = save_state(random_timm("timm:resnet10t", 32, stem_width=16), tmp_path / "wide.pth")
    with pytest.raises(XraySSLError, match=r"wide.pth: does not fit timm:resnet10t \(shape of conv1.0.weight"):
        timm_start("timm:resnet10t", 32, wide)
    with pytest.raises(XraySSLError, match=r"from https://huggingface.co/timm/resnet10t.* with --weights PATH"):
        timm_start("timm:resnet10t", 32)  # no network on the test machines; never a download


def test_cli_bad_inputs_are_one_line(tiny_cache, tmp_path, capsys):
    base = ["probe", str(tiny_cache), "--size", "32", "--bootstrap", "20"]
    for extra, message in (
        (["--encoder", "timm:convnxt_atto"], "closest: convnext_atto"),
        (["--encoder", "timm:vit_small_patch14_dinov2"], "14-px patches, not 32 px: use --size 28 or 42"),
        (["--encoder", "timm:resnet10t"], "--weights PATH"),
        (["--encoder", "random", "--weights", "w.pth"], "goes with --encoder imagenet or timm:NAME"),
    ):
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (extra, err)
    pretrain = ["pretrain", str(tiny_cache), "--out", str(tmp_path / "r"), *RUN]
    for extra, message in (
        (["--backbone", "timm:resnet10"], "closest: resnet10t"),
        (["--backbone", "timm:resnet10t", "--small-stem"], "--small-stem applies to the built-in ResNets"),
        (["--backbone", "timm:resnet10t", "--init", "imagenet"], "timm backbone starts from its own weights"),
        (["--init", "pretrained"], "--init pretrained starts a timm:NAME backbone"),
        (["--backbone", "timm:vit_tiny_patch16_224", "--size", "24"], "use --size 16 or 32"),  # below the cache's 32 px
    ):
        assert main([*pretrain, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (extra, err)
        assert not (tmp_path / "r").exists()  # nothing written before the backbone was built


def test_probe_reads_a_timm_start_from_a_local_file(files, tiny_cache, tmp_path, capsys):
    out = tmp_path / "probe.json"
    argv = ["probe", str(tiny_cache), "--encoder", "timm:resnet10t", "--weights", str(files["timm:resnet10t"])]
    assert main([*argv, "--size", "32", "--bootstrap", "20", "--out", str(out), "--json"]) == 0
    result = json.loads(out.read_text())
    assert result["backbone"] == "timm:resnet10t" and result["feature_dim"] == 512
    assert result["weights"] == str(files["timm:resnet10t"]) and 0 <= result["overall"]["auroc"] <= 1


# --- Hugging Face DINOv2 folders --------------------------------------------------------------------------
HF_CONFIG = {"model_type": "dinov2", "hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 3,
             "mlp_ratio": 4, "patch_size": 14, "image_size": 28, "layerscale_value": 1.0, "qkv_bias": True,
             "layer_norm_eps": 1e-6, "hidden_act": "gelu", "num_channels": 3}  # fmt: skip


def to_hf(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """timm ViT -> Hugging Face Dinov2Model keys, written independently of xrayssl's mapping (its inverse)."""
    sd, out = model.state_dict(), {}
    out["embeddings.cls_token"] = sd["cls_token"]
    out["embeddings.mask_token"] = torch.zeros(1, sd["cls_token"].shape[-1])
    out["embeddings.position_embeddings"] = sd["pos_embed"]
    for leaf in ("weight", "bias"):
        out[f"embeddings.patch_embeddings.projection.{leaf}"] = sd[f"patch_embed.proj.{leaf}"]
        out[f"layernorm.{leaf}"] = sd[f"norm.{leaf}"]
    for i in range(len(model.blocks)):
        b, h = f"blocks.{i}.", f"encoder.layer.{i}."
        for leaf in ("weight", "bias"):
            q, k, v = sd[f"{b}attn.qkv.{leaf}"].chunk(3)
            out |= {f"{h}attention.attention.query.{leaf}": q, f"{h}attention.attention.key.{leaf}": k,
                    f"{h}attention.attention.value.{leaf}": v}  # fmt: skip
            out[f"{h}attention.output.dense.{leaf}"] = sd[f"{b}attn.proj.{leaf}"]
            for part in ("norm1", "norm2", "mlp.fc1", "mlp.fc2"):
                out[f"{h}{part}.{leaf}"] = sd[f"{b}{part}.{leaf}"]
        out[f"{h}layer_scale1.lambda1"] = sd[f"{b}ls1.gamma"]
        out[f"{h}layer_scale2.lambda1"] = sd[f"{b}ls2.gamma"]
    return {k: v.contiguous() for k, v in out.items()}


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    """A DINOv2-format folder of a random 2-block ViT/14 (RAD-DINO's layout, tiny), and the timm model it holds."""
    torch.manual_seed(3)
    model = timm.create_model(
        "vit_small_patch14_dinov2", img_size=28, embed_dim=48, depth=2, num_heads=3, init_values=1.0, num_classes=0
    ).eval()
    for p in model.parameters():  # layer scales and biases away from their initial values
        p.data.add_(torch.randn_like(p) * 0.02)
    folder = tmp_path_factory.mktemp("hf") / "tiny-dino"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(HF_CONFIG))
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3, "image_std": [0.25] * 3}))
    save_file(to_hf(model), str(folder / "model.safetensors"))
    return folder, model


def test_a_hugging_face_dinov2_folder_loads_and_matches_the_timm_model(hf_folder):
    folder, model = hf_folder
    arch = hf_architecture(f"hf:{folder}")
    assert arch["backbone"] == "timm:vit_small_patch14_dinov2" and arch["norm"] == "grey(0.5,0.25)"
    ours = hf_backbone(f"hf:{folder}", 28).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        expected = model.forward_features((x.expand(-1, 3, -1, -1) - 0.5) / 0.25)
        assert torch.allclose(ours.feature_maps(x)[-1].flatten(2).transpose(1, 2), expected[:, 1:], atol=1e-5)
    at_56 = hf_backbone(f"hf:{folder}", 56)  # other sides: position embeddings resampled by timm
    assert at_56(torch.rand(1, 1, 56, 56)).shape == (1, 48)


def test_hugging_face_mistakes_are_one_line(hf_folder, tmp_path):
    folder, _ = hf_folder
    with pytest.raises(XraySSLError, match=r"no config\.json"):
        hf_backbone(tmp_path)
    other = tmp_path / "clip"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "clip"}))
    with pytest.raises(XraySSLError, match="model_type 'clip'; xrayssl reads DINOv2 folders"):
        hf_backbone(other)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps(HF_CONFIG))
    state = load_file(str(folder / "model.safetensors"))
    state.pop("encoder.layer.1.attention.attention.key.weight")
    save_file(state, str(broken / "model.safetensors"))
    with pytest.raises(XraySSLError, match=r"missing key encoder.layer.1.attention.attention.key.weight"):
        hf_backbone(broken)


def test_probe_reads_a_hugging_face_folder(hf_folder, tiny_cache, tmp_path):
    folder, _ = hf_folder
    out = tmp_path / "probe.json"
    assert main(["probe", str(tiny_cache), "--encoder", f"hf:{folder}", "--size", "28", "--bootstrap", "20",
                 "--out", str(out)]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    assert result["backbone"] == "timm:vit_small_patch14_dinov2" and result["feature_dim"] == 48


# --- runs that start from them ----------------------------------------------------------------------------
def test_pretraining_from_a_timm_start_moves_its_weights_and_records_its_input(files, tiny_cache, tmp_path):
    from xrayssl import runs

    run = tmp_path / "ssl"
    start = ["--backbone", "timm:resnet10t", "--init", "pretrained", "--weights", str(files["timm:resnet10t"])]
    assert main(["pretrain", str(tiny_cache), "--out", str(run), *start, *RUN]) == 0
    encoder, config = runs.load_encoder(run)
    begun = timm_start("timm:resnet10t", 32, files["timm:resnet10t"])
    moved = [k for k, v in begun.state_dict().items() if not torch.equal(v, encoder.state_dict()[k])]
    assert "model.conv1.0.weight" in moved and len(moved) > len(begun.state_dict()) // 2
    described = runs.read_encoder(run)
    assert described["norm"] == "grey(0.449,0.226)" and described["in_chans"] == 1 and described["size"] == 32
    assert config["init"] == "pretrained" and encoder.norm == begun.norm
    # the run probes and explains like any other (Grad-CAM on the timm CNN's stages)
    assert main(["probe", str(run), "--bootstrap", "20"]) == 0
    assert main(["gradcam", str(run), "--out", str(tmp_path / "cam"), "--n", "2"]) == 0
    assert json.loads((tmp_path / "cam" / "faithfulness.json").read_text())


def test_export_of_a_timm_run_loads_strictly_into_timm(files, tiny_cache, tmp_path):
    from xrayssl import runs
    from xrayssl.export import ExportConfig, export

    run = tmp_path / "ssl"
    assert main(["pretrain", str(tiny_cache), "--out", str(run), "--backbone", "timm:convnext_atto", *RUN]) == 0
    encoder, _ = runs.load_encoder(run)
    x = torch.rand(2, 1, 32, 32)
    for in_chans in (1, 3):
        out, meta = export(
            ExportConfig(run=str(run), to="timm", in_chans=in_chans, out=str(tmp_path / f"e{in_chans}.safetensors"))
        )
        model = timm.create_model("convnext_atto", num_classes=0, in_chans=in_chans).eval()
        model.load_state_dict(load_file(str(out)), strict=True)
        mean = torch.tensor([float(v) for v in meta["mean"].split(",")]).view(1, -1, 1, 1)
        std = torch.tensor([float(v) for v in meta["std"].split(",")]).view(1, -1, 1, 1)
        with torch.no_grad():
            features = model.forward_features((x.expand(-1, in_chans, -1, -1) - mean) / std).mean((2, 3))
            assert torch.allclose(features, encoder(x), atol=1e-4)
        assert f"timm.create_model('convnext_atto', num_classes=0, in_chans={in_chans})" in meta["load"]
    with pytest.raises(XraySSLError, match="exports --to timm or --to onnx"):
        export(ExportConfig(run=str(run), to="torchvision"))
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is an optional extra: pip install 'xrayssl[export]'")
    pytest.importorskip("onnxscript", reason="torch's ONNX exporter needs onnxscript (xrayssl[export])")
    out, meta = export(ExportConfig(run=str(run), to="onnx", out=str(tmp_path / "e.onnx")))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"image": x.numpy()})
    assert torch.allclose(torch.from_numpy(got), encoder(x).detach(), atol=1e-4)
    props = session.get_modelmeta().custom_metadata_map
    assert props["arch"] == "convnext_atto" and props["normalisation_mean"] == "0.5"


def test_the_supervised_baseline_takes_a_timm_backbone(tiny_cache, tmp_path):
    from xrayssl import runs

    run = tmp_path / "sup"
    argv = ["supervised", str(tiny_cache), "--out", str(run), "--backbone", "timm:resnet10t", "--size", "32"]
    assert main([*argv, "--batch-size", "16", "--epochs", "1", "--budget", "3s", "--quiet"]) == 0
    model, config = runs.load_classifier(run)
    assert config["backbone"] == "timm:resnet10t" and model(torch.rand(2, 1, 32, 32)).shape == (2,)


def test_mae_runs_on_a_timm_vit_and_needs_one(tiny_cache, tmp_path, capsys):
    run = tmp_path / "mae"
    vit = ["--backbone", "timm:vit_tiny_patch16_224", "--method", "mae"]
    assert main(["pretrain", str(tiny_cache), "--out", str(run), *vit, *RUN]) == 0
    assert (run / "encoder.pt").is_file()
    assert main(["probe", str(run), "--bootstrap", "20"]) == 0  # and Grad-CAM reads the ViT's patch tokens
    assert main(["gradcam", str(run), "--out", str(tmp_path / "cam"), "--n", "2"]) == 0
    assert list((tmp_path / "cam").glob("*.png"))
    assert main(["pretrain", str(tiny_cache), "--out", str(tmp_path / "no"), "--backbone", "timm:resnet10t",
                 "--method", "mae", *RUN]) == 2  # fmt: skip
    assert "does not work with backbone timm:resnet10t" in capsys.readouterr().err


def test_pretraining_from_a_hugging_face_folder_exports_a_timm_model(hf_folder, tiny_cache, tmp_path, capsys):
    """--init hf:PATH sets the backbone, starts from the folder's weights, records the timm arguments that rebuild
    it, and exports a state dict that the metadata's own create_model call loads strictly."""
    from xrayssl import runs
    from xrayssl.export import ExportConfig, export

    folder, _ = hf_folder
    run = tmp_path / "rad"
    common = ["--size", "28", "--batch-size", "16", "--epochs", "1", "--monitor-every", "0", "--quiet"]
    assert main(["pretrain", str(tiny_cache), "--out", str(run), "--init", f"hf:{folder}", *common]) == 0
    _, config = runs.load_encoder(run)
    described = runs.read_encoder(run)
    assert config["backbone"] == "timm:vit_small_patch14_dinov2" and described["timm_args"]["depth"] == 2
    assert described["norm"] == "grey(0.5,0.25)" and described["patch_multiple"] == 14
    out, meta = export(ExportConfig(run=str(run), to="timm", in_chans=1, out=str(tmp_path / "rad.safetensors")))
    assert "img_size=28" in meta["load"] and "'depth': 2" not in meta["load"] and "depth=2" in meta["load"]
    sd = load_file(str(out))  # the metadata's call, run as a user would
    exec(meta["load"], {"timm": timm, "sd": sd})
    assert main(["pretrain", str(tiny_cache), "--out", str(tmp_path / "no"), "--init", f"hf:{folder}",
                 "--backbone", "resnet34", *common]) == 2  # fmt: skip
    assert "sets the backbone (timm:vit_small_patch14_dinov2" in capsys.readouterr().err
