"""The report never says more than the study supports: the issue's list study (recipes none and flip, one seed,
one-step runs, models at chance and below the random-encoder floor, a tiny validation split) gives a flip contrast
with an interval, and its answer and ``report --json`` name every guardrail it trips, with evidence. Predictions
are constructed; no network is trained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xrayssl.study import analysis
from xrayssl.study.config import StudyConfig
from xrayssl.study.plan import run_folder_name
from xrayssl.study.preview import store_preview
from xrayssl.study.runner import open_study


def _predictions(folder: Path, rows: pd.DataFrame, separation: float, seed: int) -> tuple[str, float]:
    rng = np.random.default_rng(seed)
    prob = 1 / (1 + np.exp(-(rows["label"] * separation + rng.normal(0, 1, len(rows)))))
    folder.mkdir(parents=True, exist_ok=True)
    rows.assign(prob=prob).to_csv(folder / "predictions.csv", index=False)
    return "predictions.csv", analysis.auroc(rows["label"].to_numpy(), prob.to_numpy())


def build_list_study(root: Path, cache: Path, ssl_separation: dict[str, float]) -> Path:
    """The issue's study: design list over none and flip, one seed, one optimiser step per run; SSL scores from
    ``ssl_separation`` (recipe -> shift of the abnormal images' scores), the random floor clearly above."""
    config = StudyConfig(cache=str(cache), out=str(root), methods=["simclr"], design="list",
                         recipes={"none": "none", "flip": "flip"}, seeds=1, supervised=None,
                         pretrain={"epochs": 1, "size": 32, "batch_size": 16}, n_boot=200)  # fmt: skip
    config, store = open_study(config, root)
    manifest = pd.read_csv(cache / "manifest.csv")
    rows = manifest[manifest["split"] == "test"].reset_index(names="index")[["index", "patient_id", "label"]]
    for i, run in enumerate(store.runs()):
        folder = root / "runs" / run_folder_name(run["id"])
        result = {"run": folder.relative_to(root).as_posix(), "seconds": 1.0}
        if run["kind"] == "finalize":
            store_preview(config)
            cams = {
                "images": [],
                "panels": [],
                "layer": "layer4",
                "faithfulness": {"score": -0.03, "deletion_auc_gradcam": 0.5, "deletion_auc_random": 0.47},
            }
            best = {"method": "simclr", "recipe": "none", "body_part": "all", "run": "x", "gradcam": cams,
                    "label_fractions": [{"fraction": 1.0, "auroc": 0.5, "auroc_ci": [0.4, 0.6]}]}  # fmt: skip
            store.finish(run["id"], {"best": [best], "supervised": []})
            continue
        separation = ssl_separation[run["params"]["recipe"]] if run["kind"] == "ssl" else 4.0
        result["predictions"], score = _predictions(folder, rows, separation, seed=i)
        result |= {"test_score": score, "test_score_ci": [max(0, score - 0.12), min(1, score + 0.12)],
                   "val_score": score, "n": {"train": 30, "val": 24, "test": len(rows)}}  # fmt: skip
        if run["kind"] == "ssl":
            result |= {"val_score_by_C": {"0.1": 0.45, "1.0": 0.48}, "pretrain": {"steps": 1, "epochs": 1}}
            pd.DataFrame({"step": [1], "epoch": [0], "seconds": [0.5], "loss": [0.018]}).to_csv(
                folder / "loss.csv", index=False
            )
        store.finish(run["id"], result)
    return root


@pytest.fixture(scope="module")
def chance_study(tiny_cache, tmp_path_factory):
    return build_list_study(tmp_path_factory.mktemp("guard") / "s", tiny_cache, {"none": 0.0, "flip": 0.1})


def test_the_list_study_yields_a_flip_contrast_with_an_interval(chance_study):
    from xrayssl.report.results import study_results

    data = json.loads(json.dumps(study_results(chance_study)))
    (flip,) = [e for e in data["effects"] if e["term"] == "flip"]
    assert flip["lo"] is not None and flip["hi"] is not None and flip["lo"] <= flip["effect"] <= flip["hi"]
    assert flip["n_pairs"] == 1 and "patient" in data["effects_note"]
    assert [r["term"] for r in data["design_effects"]] == ["flip"]  # the list design's own contrast too
    assert {r["interval"] for r in data["leaderboard"]} == {"patient bootstrap"}  # one seed


def test_chance_and_below_floor_encoders_are_named_in_the_json_and_the_html(chance_study, tmp_path):
    from xrayssl.report.html import build_report
    from xrayssl.report.results import study_results

    data = study_results(chance_study)
    kinds = {w["kind"]: w for w in data["warnings"]}
    assert {"at_chance", "below_untrained", "small_validation", "probe_at_chance", "short_runs"} <= set(kinds)
    assert kinds["at_chance"]["evidence"]["chance"] == 0.5 and kinds["at_chance"]["evidence"]["test_lo"] <= 0.5
    assert kinds["below_untrained"]["evidence"]["floor_score"] > kinds["below_untrained"]["evidence"]["test_score"]
    assert kinds["small_validation"]["evidence"]["images"] < 100
    assert kinds["short_runs"]["evidence"]["max_steps"] == 1
    text = build_report(chance_study, tmp_path / "report.html").read_text()
    answer = text[text.index("<h2>Answer</h2>") : text.index("<h2>Augmentations</h2>")]
    assert answer.index("Read with care") < answer.index("class='lead'")  # the warnings come first
    assert "is at chance" in answer and "is below the untrained network" in answer
    (sentence,) = [s for s in answer.split("<p>") if s.startswith("SimCLR&#x27;s recipe chosen")]
    assert "at chance (its interval covers 0.5)" in sentence and "below the untrained network" in sentence
    assert "level with" not in sentence
    assert "list of recipes none (none), flip (flip)" in answer  # exactly what ran, not the five defaults
    preview = text[text.index("<h2>Augmentations</h2>") : text.index("<h2>Dataset</h2>")]
    assert "<b>none</b>" in preview and "<b>flip</b>" in preview and "<b>rotate</b>" not in preview
    board = text[text.index("<h2>Leaderboard</h2>") :]
    assert "patient bootstrap" in board
    curves = text[text.index("<h2>Training curves</h2>") :]
    assert curves.startswith("<h2>Training curves</h2><p class='note'>Not drawn") and "training curves'" not in curves
    cams = text[text.index("<h2>Grad-CAM</h2>") :]
    assert "Caveat: simclr: " in cams and "scored at chance" in cams


def test_a_study_above_chance_and_its_floors_trips_no_such_guardrail(tiny_cache, tmp_path):
    from xrayssl.report.results import load_results

    study = build_list_study(tmp_path / "s", tiny_cache, {"none": 6.0, "flip": 6.0})
    res = load_results(study)
    kinds = {w.kind for w in res.warnings}
    assert not kinds & {"at_chance", "below_untrained"}
    sentences = analysis.versus_references(res.board, res.refs, res.chance)
    assert sentences and all("at chance" not in s and "untrained" not in s for s in sentences)


def test_report_says_what_it_is_doing_on_the_cli_and_nothing_from_the_api(chance_study, tmp_path, capsys):
    from xrayssl.api import report
    from xrayssl.cli.main import main

    assert main(["report", str(chance_study), "--out", str(tmp_path / "a.html")]) == 0
    out = capsys.readouterr().out
    assert "report: 5 runs read" in out and "report: section 1/" in out and ": answer" in out
    report(chance_study, tmp_path / "b.html")
    assert capsys.readouterr() == ("", "")


def test_report_json_on_the_cli_is_json_only(chance_study, capsys):
    from xrayssl.cli.main import main

    assert main(["report", str(chance_study), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)  # no progress line before it
    assert {w["kind"] for w in data["warnings"]} >= {"at_chance", "below_untrained"}


def test_a_study_without_grad_cam_galleries_reports_none_drawn(tiny_cache, tmp_path):
    """gradcam_n 0: the final step draws no Grad-CAM, and the report says so instead of failing."""
    from xrayssl.report.results import load_results
    from xrayssl.report.sections.gradcam import gradcam
    from xrayssl.study.finalize import _cams

    assert _cams(tmp_path / "no-run", tmp_path / "out", 0) is None  # nothing is read or drawn
    root = build_list_study(tmp_path / "s", tiny_cache, {"none": 0.0, "flip": 0.1})
    res = load_results(root)
    res.final["best"][0]["gradcam"] = None
    assert "none drawn (gradcam_n is 0)" in gradcam(res)
