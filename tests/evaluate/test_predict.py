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
