"""Pretraining, resume, NaN handling, the supervised baseline, the probe command and Grad-CAM, on a tiny
synthetic cache (32 px) so that every test runs in seconds on a CPU."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from xrayssl.cli.main import main
from xrayssl.errors import XraySSLError
from xrayssl.models.backbones import Backbone, build_backbone
from xrayssl.models.methods import Views, build_method, method_names
from xrayssl.train.config import PretrainConfig, SupervisedConfig, parse_budget
from xrayssl.train.data import subsample_abnormal_fraction
from xrayssl.train.pretrain import pretrain

TINY = {"size": 32, "batch_size": 16, "budget": None}


@pytest.fixture(scope="session")
def tiny_run(tiny_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "simclr"
    return pretrain(
        PretrainConfig(cache=str(tiny_cache), out=str(out), method="simclr", epochs=6, lr=1e-3, **TINY),
        progress_bar=False,
    )


@pytest.mark.parametrize("name", method_names())
def test_every_method_gives_a_finite_loss_and_gradients(name):
    torch.manual_seed(0)
    backbone = build_backbone("vit-tiny" if name == "mae" else "resnet18", image_size=32)
    method = build_method(name, backbone)
    x = torch.rand(8, 1, 32, 32)
    loss = method.loss(Views(x, x.flip(-1)), 0.5)
    loss.backward()
    assert torch.isfinite(loss)
    first = backbone.vit.conv_proj if name == "mae" else backbone.net.conv1
    assert first.weight.grad.abs().sum() > 0
    method.after_step(0.5)


def test_temperature_reaches_contrastive_losses_only():
    assert build_method("simclr", Backbone("resnet18"), temperature=0.5).criterion.temperature == 0.5
    assert build_method("moco", Backbone("resnet18")).criterion.temperature == 0.2
    with pytest.raises(XraySSLError, match="applies to dcl, densecl, moco, simclr, not to byol"):
        build_method("byol", Backbone("resnet18"), temperature=0.5)
    with pytest.raises(XraySSLError, match="positive"):
        build_method("simclr", Backbone("resnet18"), temperature=0.0)


@pytest.mark.slow
def test_supervised_fine_tunes_from_an_ssl_encoder(tiny_cache, tiny_run, tmp_path, capsys):
    from xrayssl.runs import load_encoder
    from xrayssl.train.supervised import initial_backbone

    encoder, _ = load_encoder(tiny_run)
    start = initial_backbone(SupervisedConfig(cache=str(tiny_cache), out="-", init=str(tiny_run))).state_dict()
    assert all(torch.equal(v, start[k]) for k, v in encoder.state_dict().items())
    with pytest.raises(XraySSLError, match="its encoder is resnet18, this run asks for resnet34"):
        initial_backbone(SupervisedConfig(cache=str(tiny_cache), out="-", backbone="resnet34", init=str(tiny_run)))
    with pytest.raises(XraySSLError, match="not a run folder"):
        initial_backbone(SupervisedConfig(cache=str(tiny_cache), out="-", init=str(tmp_path / "missing")))
    args = ["supervised", str(tiny_cache), "--out", str(tmp_path / "ft"), "--init", str(tiny_run), "--size", "32"]
    assert main([*args, "--epochs", "1", "--batch-size", "16", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["init"] == str(tiny_run)


def test_small_stem_keeps_resolution():
    small, usual = Backbone("resnet18", small_stem=True), Backbone("resnet18")
    assert small(torch.rand(2, 1, 32, 32)).shape == usual(torch.rand(2, 1, 32, 32)).shape == (2, 512)
    assert isinstance(small.net.maxpool, torch.nn.Identity) and small.net.conv1.stride == (1, 1)
    assert Backbone("resnet50").dim == 2048


@pytest.mark.slow
def test_run_folder_records_and_loss_decreases(tiny_run):
    record = json.loads((tiny_run / "record.json").read_text())
    t = record["throughput"]
    assert record["steps"] > 0 and t["pairs_per_second"] > 0 and record["peak_rss_mib"] > 0
    # end to end = pairs over the fit loop's wall time; the in-step rate is higher, the phases add up
    assert t["pairs_per_second"] == pytest.approx(record["steps"] * 16 / t["fit_seconds"], rel=0.01)
    assert t["in_step_pairs_per_second"] > t["pairs_per_second"]
    assert sum(t["seconds"].values()) == pytest.approx(t["fit_seconds"], rel=0.02)
    assert {"torch", "lightning", "lightly", "cpu_count"} <= set(record["environment"])
    # no precision given: fp32 on CPU (bf16 learned worse there), bf16-mixed on GPU
    assert record["precision"] == ("bf16-mixed" if torch.cuda.is_available() else "32-true")
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["run_format_version"] == 1 and config["config"]["method"] == "simclr"
    metrics = pd.read_csv(tiny_run / "metrics.csv")
    assert list(metrics.columns) == ["step", "epoch", "seconds", "loss", "lr", "knn_val_auroc", "embedding_std"]
    loss = metrics["loss"].dropna().to_numpy()
    assert np.isfinite(loss).all() and len(loss) >= 5
    assert loss[-2:].mean() < loss[:2].mean()
    knn = metrics["knn_val_auroc"].dropna()  # the monitor read the encoder about every tenth of the run
    assert len(knn) >= 5 and knn.between(0, 1).all() and metrics["embedding_std"].dropna().gt(0).all()
    state = torch.load(tiny_run / "encoder.pt", weights_only=True)  # tensors only, no pickled objects
    assert all(isinstance(v, torch.Tensor) for v in state.values())


@pytest.mark.slow
def test_existing_run_needs_resume_and_missing_run_is_clear(tiny_cache, tiny_run, tmp_path):
    with pytest.raises(XraySSLError, match="use --resume"):
        pretrain(PretrainConfig(cache=str(tiny_cache), out=str(tiny_run), epochs=1, **TINY), progress_bar=False)
    with pytest.raises(XraySSLError, match="nothing to resume"):
        pretrain(PretrainConfig(cache=str(tiny_cache), out=str(tmp_path / "none"), epochs=1, **TINY), resume=True)
    assert main(["probe", str(tmp_path / "missing")]) == 2


@pytest.mark.slow
def test_nan_loss_stops_with_the_step(tiny_cache, tmp_path, monkeypatch):
    from xrayssl.models.methods.simclr import SimCLR

    monkeypatch.setattr(SimCLR, "loss", lambda self, v, p: self.backbone(v.x1).sum() * float("nan"))
    with pytest.raises(XraySSLError, match=r"loss became NaN or infinite between steps 0 and [1-9]"):
        pretrain(
            PretrainConfig(cache=str(tiny_cache), out=str(tmp_path / "r"), method="simclr", epochs=1, **TINY),
            progress_bar=False,
        )


def _pretrain_cmd(cache, out, *extra):
    return [sys.executable, "-m", "xrayssl", "pretrain", str(cache), "--out", str(out), "--size", "32",
            "--batch-size", "16", "--quiet", *extra]  # fmt: skip


@pytest.mark.slow
def test_killed_run_resumes_from_its_newest_checkpoint(tiny_cache, tmp_path):
    from xrayssl.train.checkpoints import checkpoints

    out = tmp_path / "killed"
    cmd = _pretrain_cmd(tiny_cache, out, "--epochs", "8", "--checkpoint-every", "1s")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not checkpoints(out / "checkpoints") and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.kill()  # mid-run, right after the first timed checkpoint
    proc.wait()
    saved = checkpoints(out / "checkpoints")
    assert saved, "no checkpoint was written before the kill"
    step_before = torch.load(saved[0], map_location="cpu", weights_only=True)["global_step"]
    steps_per_epoch = len(pd.read_csv(tiny_cache / "manifest.csv").query("split == 'train'")) // 16
    assert 0 < step_before < 8 * steps_per_epoch
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {saved[0].name} (step {step_before})" in resumed.stdout
    record = json.loads((out / "record.json").read_text())
    assert record["epochs"] == 8 and record["steps"] == 8 * steps_per_epoch  # finished as if never interrupted
    logged = pd.read_csv(out / "metrics.csv")["step"]
    assert logged.max() == record["steps"] and not logged.duplicated().any()  # history kept, no step twice


@pytest.mark.slow
def test_resume_skips_a_cut_short_checkpoint_and_leftovers(tiny_cache, tmp_path):
    from xrayssl.train.checkpoints import checkpoints

    out = tmp_path / "cut"
    cmd = _pretrain_cmd(tiny_cache, out, "--epochs", "2", "--checkpoint-every", "1s", "--monitor-every", "0")
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    newest, older = checkpoints(out / "checkpoints")[:2]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a disk-full or killed write
    (out / "checkpoints" / ".step-00000099.ckpt.12345.tmp").write_bytes(b"partial")
    (out / "record.json").unlink()
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"skipping checkpoint {newest.name}" in resumed.stdout and f"resuming from {older.name}" in resumed.stdout
    assert not list((out / "checkpoints").glob(".*.tmp"))
    assert json.loads((out / "record.json").read_text())["epochs"] == 2


def test_metrics_log_keeps_one_row_per_step_and_cuts_back_on_resume(tmp_path):
    from xrayssl.train.logs import COLUMNS, RunCSVLogger

    log = RunCSVLogger(tmp_path, flush_every=2)
    log.log_metrics({"loss": 1.0, "epoch": 0}, step=10)
    log.save()  # a checkpoint at step 10 wrote the row; the monitor reads the same step afterwards
    log.log_metrics({"knn_val_auroc": 0.7, "embedding_std": 0.05}, step=10)
    for step in (20, 30, 40):
        log.log_metrics({"loss": 0.5}, step=step)
    log.log_metrics({"knn_val_auroc": 0.8}, step=40)
    log.finalize("success")
    rows = pd.read_csv(tmp_path / "metrics.csv")
    assert list(rows.columns) == list(COLUMNS) and rows["step"].tolist() == [10, 20, 30, 40]
    assert rows.loc[0, "loss"] == 1.0 and rows.loc[0, "knn_val_auroc"] == 0.7 and rows.loc[3, "knn_val_auroc"] == 0.8
    RunCSVLogger(tmp_path).truncate_after(20)
    assert pd.read_csv(tmp_path / "metrics.csv")["step"].tolist() == [10, 20]


def test_abnormal_fraction_subsampling_is_exact():
    labels = np.array([1] * 30 + [0] * 70)
    keep = subsample_abnormal_fraction(labels, 0.2, seed=0)
    assert (labels[keep] == 0).sum() == 70 and (labels[keep] == 1).sum() == round(0.2 / 0.8 * 70)
    keep = subsample_abnormal_fraction(labels, 0.6, seed=0)
    assert (labels[keep] == 1).sum() == 30 and (labels[keep] == 0).sum() == 20


def test_budget_parsing():
    assert parse_budget("90s") == 90 and parse_budget("15m") == 900 and parse_budget("1h30m") == 5400
    with pytest.raises(XraySSLError, match="cannot read budget"):
        parse_budget("soon")


@pytest.mark.slow
def test_probe_json_and_floors(tiny_run, tiny_cache, capsys):
    assert (
        main(["probe", str(tiny_run), "--json", "--bootstrap", "100", "--label-fractions", "0.2,1", "--seeds", "2"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert {"auroc", "auroc_ci", "accuracy", "kappa"} <= set(out["overall"])
    assert out["overall"]["auroc_ci"][0] <= out["overall"]["auroc"] <= out["overall"]["auroc_ci"][1]
    assert set(out["per_body_part"]) == {"knee", "forearm", "hand"} or out["per_body_part"] == {}
    assert [f["fraction"] for f in out["label_fractions"]] == [0.2, 1.0]
    assert out["overall"]["study_level"]["n"] < out["overall"]["n"]  # several views per study
    assert (tiny_run / "probe-run.json").is_file() and (tiny_run / "probe-run.npz").is_file()
    for enc in ("random", "pixels"):
        assert (
            main(
                [
                    "probe",
                    str(tiny_cache),
                    "--encoder",
                    enc,
                    "--size",
                    "32",
                    "--json",
                    "--bootstrap",
                    "50",
                    "--out",
                    str(tiny_run.parent / f"{enc}.json"),
                ]
            )
            == 0
        )
        floor = json.loads(capsys.readouterr().out)
        assert floor["encoder"] == enc and 0 <= floor["overall"]["auroc"] <= 1
    assert main(["probe", str(tiny_cache)]) == 2  # a cache needs --encoder random|pixels


@pytest.mark.slow
def test_supervised_baseline_and_gradcam(tiny_cache, tiny_run, tmp_path, capsys):
    from xrayssl.api import supervised as supervised_baseline
    from xrayssl.evaluate.gradcam import cam_layer, grad_cam_maps, load_model

    result = supervised_baseline(
        SupervisedConfig(
            cache=str(tiny_cache),
            out=str(tmp_path / "sup"),
            size=32,
            epochs=2,
            budget=None,
            batch_size=16,
            label_fraction=0.5,
        ),
        progress_bar=False,
        n_boot=50,
    )
    assert 0 <= result["overall"]["auroc"] <= 1 and result["label_fraction"] == 0.5
    record = json.loads((tmp_path / "sup" / "record.json").read_text())
    train = pd.read_csv(tiny_cache / "manifest.csv").query("split == 'train' and label >= 0")
    assert record["n_train_patients"] < train["patient_id"].nunique()
    # a label-fraction epoch is a full split's worth of images, so half the labels still get every step
    assert record["images_per_epoch"] == len(train) and record["steps"] == 2 * (len(train) // 16)
    for run in (tiny_run, tmp_path / "sup"):
        if run == tiny_run:
            main(["probe", str(run), "--bootstrap", "20"])
        model, _config, _ = load_model(run)
        _name, layer = cam_layer(model.backbone, 32)
        x = torch.rand(3, 1, 32, 32)
        maps = grad_cam_maps(model, layer, x)
        assert maps.shape == (3, 32, 32) and maps.min() >= 0 and maps.max() <= 1
        assert main(["gradcam", str(run), "--out", str(tmp_path / f"cam-{run.name}"), "--n", "2"]) == 0
        faith = json.loads((tmp_path / f"cam-{run.name}" / "faithfulness.json").read_text())
        assert faith["images"] and all(p.endswith(".png") for p in faith["images"])
        assert np.isfinite(faith["faithfulness"]["score"])
        # what each image shows is recorded, so the report's headings never parse file names
        outcomes = {"true positive", "false positive", "false negative", "true negative"}
        assert [p["file"] for p in faith["panels"]] == faith["images"]
        assert all(p["outcome"] in outcomes and p["body_part"] for p in faith["panels"])


def test_views_under_bf16_autocast_match_fp32():
    """bf16-mixed (the GPU default, and CPU autocast here) must not touch view geometry: same views, fp32 matrices."""
    from xrayssl.augment import parse_pipeline

    aug = parse_pipeline("flip+rotate(15)+crop(scale=0.6..1)+chessboard(cell=0.1,shift=0.02,p=0.5)+erase(p=0.5)")
    x = torch.rand(8, 1, 32, 32)
    plain, m_plain = aug.with_geometry(x, torch.Generator().manual_seed(4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed, m_mixed = aug.with_geometry(x, torch.Generator().manual_seed(4))
    assert mixed.dtype == m_mixed.dtype == torch.float32
    assert torch.equal(plain, mixed) and torch.equal(m_plain, m_mixed)


@pytest.mark.slow
def test_bf16_mixed_pretrain_supervised_and_gradcam_on_cpu(tiny_cache, tmp_path):
    """CPU autocast is the nearest CI comes to the GPU's default precision: every training step runs under it."""
    common = ["--size", "32", "--batch-size", "16", "--epochs", "1", "--precision", "bf16-mixed"]
    assert main(["pretrain", str(tiny_cache), "--out", str(tmp_path / "ssl"), "--method", "byol", *common]) == 0
    assert main(["supervised", str(tiny_cache), "--out", str(tmp_path / "sup"), *common]) == 0
    for run in ("ssl", "sup"):
        record = json.loads((tmp_path / run / "record.json").read_text())
        assert record["precision"] == "bf16-mixed" and record["steps"] > 0
    assert main(["probe", str(tmp_path / "ssl"), "--bootstrap", "20"]) == 0
    for run in ("ssl", "sup"):
        assert main(["gradcam", str(tmp_path / run), "--out", str(tmp_path / f"cam-{run}"), "--n", "2"]) == 0
        faith = json.loads((tmp_path / f"cam-{run}" / "faithfulness.json").read_text())
        assert faith["images"] and np.isfinite(faith["faithfulness"]["score"])
