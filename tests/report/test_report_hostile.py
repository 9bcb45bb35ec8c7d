"""Values from the data never reach the report as markup: a body part and a recipe name written as HTML are shown
as text in every section (a body part of <img onerror=...> ran in the leaderboard and Grad-CAM tables)."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest
from test_report import _test_rows, _write_predictions

from xrayssl.report.html import build_report
from xrayssl.study.config import StudyConfig
from xrayssl.study.plan import run_folder_name
from xrayssl.study.preview import store_preview
from xrayssl.study.runner import open_study
from xrayssl.study.store import Store

PART = "<img src=x onerror=alert(1)>"
RECIPE = "<script>alert('r')</script>"


@pytest.fixture(scope="module")
def hostile_study(tmp_path_factory):
    from xrayssl.data.prepare import prepare
    from xrayssl.data.process import ProcessConfig
    from xrayssl.data.synthetic import SynthConfig, write_dataset

    tmp = tmp_path_factory.mktemp("hostile")
    data = write_dataset(tmp / "data", SynthConfig(n_patients=60, size=48, seed=8), workers=1)
    labels = data / "labels.csv" if (data / "labels.csv").is_file() else next(data.glob("*.csv"))
    frame = pd.read_csv(labels, dtype=str, keep_default_na=False)
    frame["body_part"] = PART  # every image of one hostile body part
    frame.to_csv(labels, index=False)
    cache = prepare(data, tmp / "cache", process=ProcessConfig(size=32), workers=1, progress=False).cache
    config = StudyConfig(
        cache=str(cache), out=str(tmp / "s"), methods=["simclr"], design="list", base="rotate(5)",
        recipes={RECIPE: "flip", "plain": "intensity"}, seeds=1, body_parts=[PART],
        pretrain={"epochs": 1, "size": 32, "batch_size": 16}, supervised={"epochs": 1}, label_fractions=[1.0],
        n_boot=100,
    )  # fmt: skip
    config, store = open_study(config, config.out)
    rows = _test_rows(cache)
    for i, run in enumerate(store.runs()):
        folder = tmp / "s" / "runs" / run_folder_name(run["id"])
        result = {"run": folder.relative_to(tmp / "s").as_posix(), "seconds": 1.0}
        if run["kind"] == "finalize":
            store_preview(config)
            store.finish(run["id"], {"best": [], "supervised": []})
            continue
        result["predictions"] = _write_predictions(folder, rows, 1.0 + i % 3, seed=i)
        pred = pd.read_csv(folder / result["predictions"])
        from xrayssl.study import analysis

        score = analysis.auroc(pred["label"].to_numpy(), pred["prob"].to_numpy())
        result |= {"test_score": score, "test_score_ci": [score - 0.05, score + 0.05], "val_score": score}
        if run["kind"] == "supervised":
            result["label_fraction"] = run["params"]["label_fraction"]
        if run["kind"] == "ssl":
            steps = np.arange(1, 21)
            pd.DataFrame({"step": steps, "epoch": steps // 10, "seconds": steps * 0.5, "loss": 4 / np.sqrt(steps)})\
                .to_csv(folder / "loss.csv", index=False)  # fmt: skip
        store.finish(run["id"], result)
    assert Store(tmp / "s").runs()
    return tmp / "s"


def test_hostile_names_are_text_in_every_section(hostile_study):
    page = build_report(hostile_study).read_text()
    for raw in (PART, RECIPE):
        assert raw not in page
        assert html.escape(raw) in page or html.escape(raw, quote=False) in page
