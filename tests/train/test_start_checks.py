"""A run refused at its start says why in one line (exit 2) and leaves no folder behind: an accelerator this
machine lacks, a --size larger than the cache's images (unless --allow-upscale); --resume with other settings says
which differ and which value wins."""

from __future__ import annotations

import shutil

import pytest
import torch

from xrayssl.cli.main import main

TINY = ["--size", "32", "--batch-size", "16", "--epochs", "1", "--monitor-every", "0"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the accelerator is there")
@pytest.mark.parametrize("command", ["pretrain", "supervised"])
def test_an_accelerator_that_is_not_there_is_one_line_and_no_folder(tiny_cache, tmp_path, capsys, command):
    out = tmp_path / "r"
    assert main([command, str(tiny_cache), "--out", str(out), *TINY[:4], "--accelerator", "cuda", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xrayssl: error: --accelerator cuda: this machine has no CUDA GPU") and "\n" not in err
    assert not out.exists()  # so the corrected command is not refused as an existing run


def test_a_size_larger_than_the_caches_is_refused_unless_allowed(tiny_cache, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["pretrain", str(tiny_cache), "--out", str(out), "--size", "64", "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "images prepared at 32 px, --size 64 would upscale them" in err and "--allow-upscale" in err
    assert not out.exists()
    study = tmp_path / "s"
    assert main(["study", str(tiny_cache), "--out", str(study), "--size", "64", "--seeds", "1"]) == 2
    assert "would upscale them" in capsys.readouterr().err and not study.exists()


def test_allow_upscale_trains_on_the_upscaled_images(tiny_cache, tmp_path):
    out = tmp_path / "r"
    args = ["pretrain", str(tiny_cache), "--out", str(out), "--size", "48", "--batch-size", "16", "--epochs", "1",
            "--monitor-every", "0", "--allow-upscale", "--quiet"]  # fmt: skip
    assert main(args) == 0 and (out / "encoder.pt").is_file()
    # a run this short (a few steps) logs its loss at every step: its training curve has a point per step
    import json

    import pandas as pd

    steps = json.loads((out / "record.json").read_text())["steps"]
    log = pd.read_csv(out / "metrics.csv").dropna(subset=["loss"])
    assert 1 < steps < 10 and list(log["step"]) == list(range(1, steps + 1))


def test_resume_with_other_settings_says_which_differ_and_which_wins(tiny_cache, tmp_path, capsys):
    import json

    run = tmp_path / "r"
    assert main(["pretrain", str(tiny_cache), "--out", str(run), *TINY, "--quiet"]) == 0
    (run / "record.json").unlink()  # as if it had stopped before its end
    capsys.readouterr()
    args = ["pretrain", str(tiny_cache), "--resume", "--out", str(run), *TINY, "--accelerator", "cpu", "--lr", "0.01",
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "--resume: accelerator given 'cpu', stored 'auto': the given value wins" in err
    assert "--resume: lr given 0.01, stored 0.001: the stored value wins" in err
    assert json.loads((run / "config.json").read_text())["config"]["lr"] == 0.001
    shutil.rmtree(run)


def test_api_calls_with_progress_bar_false_print_nothing(tiny_cache, tmp_path, capfd):
    import xrayssl
    from xrayssl.evaluate.config import ProbeConfig
    from xrayssl.train.config import PretrainConfig

    capfd.readouterr()
    config = PretrainConfig(cache=str(tiny_cache), out=str(tmp_path / "r"), size=32, batch_size=16, epochs=1,
                            monitor_every=0)  # fmt: skip
    run = xrayssl.pretrain(config, progress_bar=False)
    xrayssl.probe(ProbeConfig(source=str(run), n_boot=20))
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)
