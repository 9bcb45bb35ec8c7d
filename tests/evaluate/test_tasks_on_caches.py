"""Tasks end to end on real caches: the ordinal probe on KL grades, ``xrayssl predict`` reproducing the probe's
probabilities from the image files, a supervised run's head read back, and ``export --with-head``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from xrayssl import runs
from xrayssl.cli.main import main
from xrayssl.models.backbones import build_backbone


def _fake_run(run: Path, cache: Path, size: int = 32) -> Path:
    """A pretraining run folder whose encoder is an untrained small-stem ResNet-18 (what a run would hold)."""
    config = {"cache": str(cache), "size": size, "backbone": "resnet18", "small_stem": True, "method": "simclr"}
    runs.write_config(run, "pretrain", config)
    torch.manual_seed(0)
    runs.save_weights(build_backbone("resnet18", True, size), run / "encoder.pt")
    return run


@pytest.fixture(scope="module")
def kl_cache(knee_demo, tmp_path_factory) -> Path:
    """knee_oa_demo with its KL grade as an ordinal task, 48 px."""
    from xrayssl.data.config import PrepareConfig, run_prepare

    out = tmp_path_factory.mktemp("kl") / "cache"
    config = PrepareConfig(root=str(knee_demo), out=str(out), label="kl_grade", task="ordinal", normal="0", size=48)
    run_prepare(config, quiet=True)
    return out


@pytest.fixture(scope="module")
def kl_run(kl_cache, tmp_path_factory) -> Path:
    run = _fake_run(tmp_path_factory.mktemp("run") / "r", kl_cache)
    assert main(["probe", str(run), "--bootstrap", "50"]) == 0
    return run


def test_ordinal_probe_on_kl_grades_reports_its_task(kl_run):
    result = json.loads((kl_run / "probe-run.json").read_text())
    assert result["task"]["kind"] == "ordinal" and result["task"]["classes"] == ["0", "2", "3", "4"]
    o = result["overall"]
    assert o["primary"] == "qwk" and o["qwk_ci"][0] <= o["qwk"] <= o["qwk_ci"][1]
    assert {"accuracy", "mae", "macro_auroc", "normal_vs_rest_auroc", "confusion", "per_class"} <= set(o)
    by_c = result["probe"]["val_score_by_C"]
    assert result["probe"]["metric"] == "qwk"
    assert float(max(by_c, key=lambda c: by_c[c])) == result["probe"]["C"]  # chosen by val QWK
    predictions = pd.read_csv(kl_run / "predictions-run.csv")
    columns = ["prob:0", "prob:2", "prob:3", "prob:4"]
    assert list(predictions.columns[-4:]) == columns
    np.testing.assert_allclose(predictions[columns].sum(axis=1), 1, atol=1e-6)


def test_predict_on_the_image_folder_reproduces_the_probe(kl_run, kl_cache, knee_demo, tmp_path, capsys):
    from xrayssl.data.cache import PreparedCache

    manifest = PreparedCache(kl_cache).manifest
    held = pd.read_csv(kl_run / "predictions-run.csv")
    folder = tmp_path / "new"
    folder.mkdir()
    for i, p in enumerate(manifest["path"].iloc[held["index"][:12]]):  # test images under new names
        shutil.copy(p, folder / f"img{i:02d}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 9)
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(kl_run), str(folder), "--out", str(out)]) == 0
    assert "12 of 13 images scored" in capsys.readouterr().out  # the broken one reported, not fatal
    got = pd.read_csv(out)
    assert got.loc[got["path"].str.endswith("broken.png"), "error"].notna().all()
    got = got[got["error"].isna()].sort_values("path").reset_index(drop=True)
    columns = ["prob:0", "prob:2", "prob:3", "prob:4"]
    np.testing.assert_allclose(got[columns].to_numpy(), held[columns].to_numpy()[:12], atol=1e-5)


def test_predict_needs_a_fitted_probe(kl_cache, tmp_path, capsys):
    run = _fake_run(tmp_path / "bare", kl_cache)
    assert main(["predict", str(run), str(tmp_path)]) == 2
    assert "xrayssl probe" in capsys.readouterr().err


def test_export_with_head_round_trips_the_probe(kl_run, tmp_path):
    import torchvision

    from xrayssl.evaluate.heads import Probabilities, load_head_model

    model, _, _ = load_head_model(kl_run)
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        want = Probabilities(model)(x).numpy()
    out = tmp_path / "head.pt"
    assert main(["export", str(kl_run), "--with-head", "--out", str(out)]) == 0
    meta = json.loads(out.with_name("head.pt.json").read_text())
    assert meta["classes"] == "0,2,3,4" and "softmax" in meta["head"]
    sd = torch.load(out, weights_only=True)
    net = torchvision.models.resnet18()
    net.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)  # the run's small stem, as the metadata says
    net.maxpool = torch.nn.Identity()
    net.fc = torch.nn.Linear(512, 4)
    net.load_state_dict(sd, strict=True)
    mean, std = float(meta["mean"].split(",")[0]), float(meta["std"].split(",")[0])
    with torch.no_grad():
        got = torch.softmax(net.eval()((x.repeat(1, 3, 1, 1) - mean) / std), 1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is an optional extra: pip install 'xrayssl[export]'")
    pytest.importorskip("onnxscript", reason="torch's ONNX exporter needs onnxscript (xrayssl[export])")
    onnx_file = tmp_path / "head.onnx"
    assert main(["export", str(kl_run), "--with-head", "--to", "onnx", "--out", str(onnx_file)]) == 0
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (got,) = session.run(["probabilities"], {"image": x.numpy()})
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_gradcam_targets_a_named_class(kl_run, tmp_path, capsys):
    assert main(["gradcam", str(kl_run), "--out", str(tmp_path / "cam"), "--n", "2", "--target", "3"]) == 0
    result = json.loads((tmp_path / "cam" / "faithfulness.json").read_text())
    assert result["target"] == "3" and result["threshold"] is None
    assert {p["outcome"] for p in result["panels"]} <= {"true positive", "false positive", "false negative",
                                                        "true negative"}  # fmt: skip
    assert main(["gradcam", str(kl_run), "--out", str(tmp_path / "top"), "--n", "2"]) == 0
    top = json.loads((tmp_path / "top" / "faithfulness.json").read_text())
    assert top["target"] is None and {p["outcome"] for p in top["panels"]} <= {"correct", "wrong"}
    assert main(["gradcam", str(kl_run), "--out", str(tmp_path / "x"), "--target", "KL9"]) == 2
    assert "not a class of this run" in capsys.readouterr().err


def test_supervised_ordinal_run_predicts_and_exports_its_corn_head(kl_cache, tmp_path):
    from xrayssl.evaluate.heads import Probabilities, load_head_model

    run = tmp_path / "sup"
    argv = ["supervised", str(kl_cache), "--out", str(run), "--epochs", "1", "--size", "32", "--batch-size", "32"]
    assert main([*argv, "--quiet"]) == 0
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["overall"]["primary"] == "qwk" and "val_qwk" in evaluation
    assert json.loads((run / "head.json").read_text())["head"] == "corn"
    record = json.loads((run / "record.json").read_text())
    assert "best_epoch_val_qwk" in record
    held = pd.read_csv(run / "predictions.csv")
    columns = ["prob:0", "prob:2", "prob:3", "prob:4"]
    np.testing.assert_allclose(held[columns].sum(axis=1), 1, atol=1e-5)
    from xrayssl.data.cache import PreparedCache

    csv_file = tmp_path / "images.csv"
    paths = PreparedCache(kl_cache).manifest["path"].iloc[held["index"][:5]]
    pd.DataFrame({"path": paths}).to_csv(csv_file, index=False)
    assert main(["predict", str(run), str(csv_file), "--out", str(tmp_path / "p.csv")]) == 0
    got = pd.read_csv(tmp_path / "p.csv")
    np.testing.assert_allclose(got[columns].to_numpy(), held[columns].to_numpy()[:5], atol=1e-5)
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is an optional extra: pip install 'xrayssl[export]'")
    pytest.importorskip("onnxscript", reason="torch's ONNX exporter needs onnxscript (xrayssl[export])")
    model, _, _ = load_head_model(run)
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        want = Probabilities(model)(x).numpy()
    out = tmp_path / "corn.onnx"
    assert main(["export", str(run), "--with-head", "--to", "onnx", "--out", str(out)]) == 0
    (got,) = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_multilabel_probe_on_kl_findings_masks_the_missing_ones(knee_demo, tmp_path):
    """KL >= 2, KL >= 3 and KL = 4 as three findings of one CSV, a third of the KL = 4 labels left blank."""
    table = pd.read_csv(knee_demo / "labels.csv")
    table["path"] = [str(knee_demo / p) for p in table["path"]]
    grade = table["kl_grade"]
    table = table.assign(kl_ge2=(grade >= 2).astype(int), kl_ge3=(grade >= 3).astype(int))
    table["kl4"] = (grade == 4).astype(int).astype(object)
    table.loc[::3, "kl4"] = ""
    (tmp_path / "src").mkdir()
    table.drop(columns=["label", "label_int"]).to_csv(tmp_path / "src" / "labels.csv", index=False)
    cache = tmp_path / "cache"
    argv = ["data", "prepare", str(tmp_path / "src"), "--label", "kl_ge2,kl_ge3,kl4", "--task", "multilabel"]
    assert main([*argv, "--size", "32", "--out", str(cache), "--allow-outside-root", "--quiet"]) == 0
    out = tmp_path / "probe.json"
    assert main(["probe", str(cache), "--encoder", "pixels", "--bootstrap", "30", "--out", str(out)]) == 0
    o = json.loads(out.read_text())["overall"]
    assert o["primary"] == "mean_auroc" and list(o["per_finding"]) == ["kl_ge2", "kl_ge3", "kl4"]
    test = table[table["split"] == "test"]
    assert o["per_finding"]["kl4"]["n"] == int((test["kl4"] != "").sum())  # blanks masked, not counted as 0
    assert o["per_finding"]["kl_ge2"]["n"] == len(test)
    predictions = pd.read_csv(tmp_path / "predictions.csv")  # named after probe.json
    assert list(predictions.columns[-3:]) == ["prob:kl_ge2", "prob:kl_ge3", "prob:kl4"]


def _dicom(path: Path, pixels: np.ndarray) -> Path:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.1.1", generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Modality, ds.PhotometricInterpretation, ds.SamplesPerPixel = "DX", "MONOCHROME2", 1
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_predict_reads_dicom_files_with_or_without_a_suffix(kl_run, tmp_path):
    from xrayssl.api import predict

    rng = np.random.default_rng(0)
    folder = tmp_path / "dicom"
    folder.mkdir()
    _dicom(folder / "a.dcm", rng.integers(0, 4096, (80, 64)))
    _dicom(folder / "b", rng.integers(0, 4096, (64, 80)))  # no suffix: found by its DICM preamble
    (folder / "notes.txt").write_text("not an image")
    result = predict(kl_run, folder, out=str(tmp_path / "p.csv"))
    assert result["n"] == 2 and result["n_failed"] == 0
    got = pd.read_csv(tmp_path / "p.csv")
    np.testing.assert_allclose(got[["prob:0", "prob:2", "prob:3", "prob:4"]].sum(axis=1), 1, atol=1e-6)


def test_knn_monitor_reads_qwk_on_a_graded_cache(kl_cache, tmp_path):
    from xrayssl.train.config import PretrainConfig
    from xrayssl.train.pretrain import pretrain

    config = PretrainConfig(cache=str(kl_cache), out=str(tmp_path / "ssl"), epochs=1, size=32, batch_size=32,
                            budget=None, checkpoint_every=None, monitor_every=3, keep="best-knn")  # fmt: skip
    run = pretrain(config, progress_bar=False)
    record = json.loads((run / "record.json").read_text())
    assert -1 <= record["monitor"]["knn_val_qwk"] <= 1 and "knn_val_auroc" not in record["monitor"]
    assert "knn_val_qwk" in record["encoder"]
