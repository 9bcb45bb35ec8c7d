"""A study on knee grades is ranked, contrasted and reported on the ordinal task's primary metric (QWK): the
effects are paired differences of QWK from each run's per-grade predictions, and every table names QWK. Runs are
constructed on the real graded knee cache; no network is trained."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xrayssl.data.cache import PreparedCache
from xrayssl.study.config import StudyConfig
from xrayssl.study.plan import run_folder_name
from xrayssl.study.runner import open_study
from xrayssl.tasks import evaluate, quadratic_kappa


def _grade_predictions(rows: pd.DataFrame, skill: float, seed: int) -> np.ndarray:
    """(n, 4) grade probabilities that put more weight on the true grade the larger ``skill`` is."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (len(rows), 4))
    logits[np.arange(len(rows)), rows["label"].to_numpy()] += skill
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True)


@pytest.fixture(scope="module")
def graded_study(graded_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("graded-study") / "s"
    config = StudyConfig(cache=str(graded_cache), out=str(root), methods=["simclr"], design="list",
                         recipes={"none": "none", "flip": "flip"}, seeds=1, supervised=None,
                         pretrain={"epochs": 1, "size": 32, "batch_size": 16}, n_boot=100)  # fmt: skip
    config, store = open_study(config, root)
    task = PreparedCache(graded_cache).task
    manifest = pd.read_csv(graded_cache / "manifest.csv")
    rows = manifest[manifest["split"] == "test"].reset_index(names="index")[["index", "patient_id", "label"]]
    kappas = {}
    for i, run in enumerate(store.runs()):
        folder = root / "runs" / run_folder_name(run["id"])
        folder.mkdir(parents=True, exist_ok=True)
        if run["kind"] == "finalize":
            store.finish(run["id"], {"best": [], "supervised": []})
            continue
        skill = {"none": 0.5, "flip": 2.0}[run["params"]["recipe"]] if run["kind"] == "ssl" else 1.0
        prob = _grade_predictions(rows, skill, seed=i)
        frame = rows.assign(**{f"prob:{c}": prob[:, j] for j, c in enumerate(task.classes)})
        frame.to_csv(folder / "predictions.csv", index=False)
        kappa = quadratic_kappa(rows["label"].to_numpy(), prob.argmax(1), 4)
        kappas[run["params"].get("recipe", run["kind"])] = kappa
        overall = evaluate(task, rows["label"].to_numpy(), prob, rows["patient_id"].to_numpy(), 50)
        result = {"run": folder.relative_to(root).as_posix(), "seconds": 1.0, "predictions": "predictions.csv",
                  "metric": "qwk", "test_score": kappa, "test_score_ci": [kappa - 0.05, kappa + 0.05],
                  "val_score": kappa, "n": {"train": 100, "val": 60, "test": len(rows)},
                  "overall": overall}  # fmt: skip
        store.finish(run["id"], result)
    return root, kappas


def test_effects_are_paired_differences_of_qwk(graded_study):
    from xrayssl.report.results import study_results

    root, kappas = graded_study
    data = study_results(root)
    assert data["metric"] == "qwk" and data["chance"] == 0.0 and data["task"]["kind"] == "ordinal"
    (flip,) = [e for e in data["effects"] if e["term"] == "flip"]
    assert flip["effect"] == pytest.approx(kappas["flip"] - kappas["none"])
    assert flip["lo"] < flip["effect"] < flip["hi"] and flip["lo"] > 0  # a clear gain, with its interval
    assert "QWK" in data["effects_note"]
    best = max(data["leaderboard"], key=lambda r: r["val_score"])
    assert best["recipe"] == "flip" and best["test_score"] == pytest.approx(kappas["flip"])


def test_the_report_names_qwk_in_the_answer_and_the_tables(graded_study, tmp_path):
    from xrayssl.report.html import build_report

    root, _ = graded_study
    text = build_report(root, tmp_path / "report.html").read_text()
    answer = text[text.index("<h2>Answer</h2>") : text.index("<h2>Augmentations</h2>")]
    assert "test <b>QWK</b>, the primary metric of this ordinal task" in answer
    assert "change in test QWK [95 % CI]" in answer and "test QWK [95 % CI]" in answer
    board = text[text.index("<h2>Leaderboard</h2>") :]
    assert "val QWK" in board and "val AUROC" not in board


def test_the_report_shows_each_grade_and_the_confusion_matrix_of_the_chosen_recipe(graded_study, tmp_path):
    from xrayssl.report.html import build_report

    root, _ = graded_study
    text = build_report(root, tmp_path / "report.html").read_text()
    section = text[text.index("<h2>Per class</h2>") :]
    assert "simclr: flip: AUROC [95 % CI]" in section and "Confusion matrix: simclr: flip" in section
    from xrayssl.report.results import load_results
    from xrayssl.report.sections.classes import models

    (name, overall), *_ = models(load_results(root))
    counts = np.array(overall["confusion"])
    assert name == "simclr: flip" and counts.shape == (4, 4) and counts.sum() == overall["n"]
    matrix = section[section.index("Confusion matrix: simclr: flip") :]
    cells = [int(c.split("<")[0]) for c in matrix.split("<td class=''>")[1:17]]  # the 16 counts, row by row
    assert cells == counts.ravel().tolist()
