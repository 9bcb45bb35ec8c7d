"""prepare warns before CLAHE runs again on images that are already equalised: it fires on the knee radiographs
(equalised at the source), not on raw synthetic ones."""

from __future__ import annotations

import pandas as pd

from xrayssl.data.process import equalised_warning


def test_the_warning_fires_on_the_knee_images(knee):
    labels = pd.read_csv(knee / "labels.csv")
    warning = equalised_warning([str(knee / p) for p in labels["path"]])
    assert warning and "look contrast-equalised already" in warning and "--no-clahe" in warning


def test_the_warning_does_not_fire_on_raw_synthetic_images(tmp_path):
    from xrayssl.data.synthetic import SynthConfig, write_dataset

    root = write_dataset(tmp_path / "d", SynthConfig(n_patients=12, size=96, seed=9))
    assert equalised_warning([str(p) for p in sorted(root.rglob("*.png"))]) is None


def test_prepare_prints_it_and_no_clahe_silences_it(knee_demo, tmp_path, capsys):
    from xrayssl.cli.main import main

    args = ["data", "prepare", str(knee_demo), "--size", "32", "--quiet", "--workers", "1"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "warning: the images look contrast-equalised already" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b"), "--no-clahe"]) == 0
    assert "contrast-equalised" not in capsys.readouterr().err
