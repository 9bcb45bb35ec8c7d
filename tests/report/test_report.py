"""The report's answer: effects from stored predictions, the headline sentence, the planted-truth check, and the
page itself on a study whose results are constructed (no training), so that every number's source is known."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import check_page, find_chromium

from xrayssl.study import analysis
from xrayssl.study.config import StudyConfig
from xrayssl.study.plan import run_folder_name
from xrayssl.study.preview import AUGMENTATIONS_JSON, AUGMENTATIONS_PNG, store_preview
from xrayssl.study.runner import open_study
from xrayssl.study.store import Store


def _effects(rows: list[tuple[str, str, float, float | None, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["method", "term", "effect", "lo", "hi"])


def test_headline_names_constructed_effects_with_their_sign():
    eff = _effects(
        [
            ("simclr", "blur", 0.02, 0.01, 0.03),
            ("simclr", "erase", -0.04, -0.06, -0.02),
            ("simclr", "flip", 0.005, -0.01, 0.02),
            ("byol", "blur", 0.01, -0.02, 0.04),
            ("byol", "erase", -0.01, -0.03, 0.01),
        ]
    )
    simclr, byol = analysis.headline(eff)
    assert simclr.startswith("For SimCLR on these images, blur (+0.02 [+0.01, +0.03]) helps;")
    assert "erase (-0.04 [-0.06, -0.02]) hurts;" in simclr
    assert simclr.endswith("flip (+0.01 [-0.01, +0.02]) changed nothing beyond noise.")
    assert byol.startswith("For BYOL on these images, no augmentation changed the result beyond noise")


def test_headline_groups_several_and_leaves_effects_without_interval_undecided():
    eff = _effects([("simclr", "a", 0.1, 0.05, 0.15), ("simclr", "b", 0.2, 0.1, 0.3), ("simclr", "c", 0.3, None, None)])
    (sentence,) = analysis.headline(eff)
    assert "b (+0.20 [+0.10, +0.30]) and a (+0.10 [+0.05, +0.15]) help" in sentence  # largest first
    assert "c (+0.30, no interval) changed nothing beyond noise" in sentence


def test_planted_check_verdicts():
    eff = _effects(
        [
            ("simclr", "intensity", 0.1, 0.05, 0.15),  # expected +: recovered
            ("byol", "intensity", 0.02, -0.01, 0.05),  # expected +: missed
            ("simclr", "flip", 0.0, -0.02, 0.02),  # expected 0: recovered (no effect)
            ("byol", "flip", -0.05, -0.08, -0.02),  # expected 0: false alarm
            ("simclr", "blur", 0.1, 0.05, 0.15),  # not planted: left out
        ]
    )
    check = analysis.planted_check(eff, {"intensity": 1, "flip": 0})
    assert list(check["verdict"]) == ["recovered", "missed", "recovered (no effect)", "false alarm"]
    assert list(analysis.planted_check(_effects([("m", "intensity", -0.1, -0.2, -0.05)]), {"intensity": 1})[
        "verdict"
    ]) == ["wrong sign"]  # fmt: skip


def test_versus_references_says_above_or_below_only_when_intervals_are_apart():
    board = pd.DataFrame([{"method": "simclr", "recipe": "intensity", "body_part": "all", "rank": 1,
                           "test_score": 0.74, "test_lo": 0.70, "test_hi": 0.77}])  # fmt: skip
    refs = pd.DataFrame(
        [("random floor", 0.62, 0.58, 0.66), ("pixels floor", 0.70, 0.65, 0.72), ("supervised", 0.9, 0.88, 0.92)],
        columns=["model", "test_score", "test_lo", "test_hi"],
    ).assign(body_part="all")
    (sentence,) = analysis.versus_references(board, refs)
    assert sentence == (
        "SimCLR's recipe chosen on validation (intensity) reaches test AUROC 0.740 [0.700, 0.770]: "
        "above random floor (0.620 [0.580, 0.660]); level with pixels floor (0.700 [0.650, 0.720]); "
        "below supervised (0.900 [0.880, 0.920])."
    )


# --- a study with constructed predictions ------------------------------------------------------------------------
PLANTED = {"intensity": 0.12, "flip": 0.0}  # AUROC each augmentation adds in the constructed study


def _test_rows(cache: Path) -> pd.DataFrame:
    manifest = pd.read_csv(cache / "manifest.csv")
    return manifest[manifest["split"] == "test"].reset_index(names="index")[["index", "patient_id", "label"]]


def _write_predictions(folder: Path, rows: pd.DataFrame, separation: float, seed: int) -> str:
    """Scores whose AUROC rises with ``separation`` (a shift of the abnormal images' scores); every run shares
    most of its noise (the same images are hard for every model) and adds a little of its own."""
    shared = np.random.default_rng(0).normal(0, 1, len(rows))
    own = np.random.default_rng(seed).normal(0, 0.3, len(rows))
    folder.mkdir(parents=True, exist_ok=True)
    prob = 1 / (1 + np.exp(-(rows["label"] * separation + shared + own)))
    rows.assign(prob=prob).to_csv(folder / "predictions.csv", index=False)
    return "predictions.csv"


def build_constructed_study(root: Path, cache: Path, seeds: int = 1) -> Path:
    """A finished 2x2 study (intensity, flip) over SimCLR whose test predictions are drawn so that intensity adds
    separation and flip none; floors and the supervised model get predictions too. No network is trained."""
    config = StudyConfig(
        cache=str(cache), out=str(root), methods=["simclr"], design="full",
        augmentations={"intensity": "intensity(p=1)", "flip": "flip"}, base="rotate(5)", seeds=seeds,
        pretrain={"epochs": 1, "size": 32, "batch_size": 16}, supervised={"epochs": 1}, label_fractions=[1.0],
        n_boot=300,
    )  # fmt: skip
    config, store = open_study(config, root)
    store.set_meta_once("expected_effects", {"intensity": {"sign": 1, "factor": "exposure"},
                                             "flip": {"sign": 0, "factor": "side"}})  # fmt: skip
    rows = _test_rows(cache)
    for i, run in enumerate(store.runs()):
        folder = root / "runs" / run_folder_name(run["id"])
        p = run["params"]
        result = {"run": folder.relative_to(root).as_posix(), "seconds": 1.0}
        if run["kind"] == "ssl":
            separation = 1.0 + 4 * sum(PLANTED[f] for f in p["parts"])
            result["predictions"] = _write_predictions(folder, rows, separation, seed=i)
            steps = np.arange(1, 31)
            pd.DataFrame({"step": steps, "epoch": steps // 10, "seconds": steps * 0.5,
                          "loss": 4 / np.sqrt(steps) + (0.0 if "intensity" in p["parts"] else -1.0)}).to_csv(
                folder / "loss.csv", index=False)  # fmt: skip
        elif run["kind"] in ("floor", "supervised"):
            result["predictions"] = _write_predictions(folder, rows, 0.5 if run["kind"] == "floor" else 3.0, seed=i)
        if run["kind"] == "finalize":
            store_preview(config)  # what the real final step stores first: the preview, while the cache is there
            result = {"best": [], "supervised": []}
        else:
            pred = pd.read_csv(folder / result["predictions"])
            score = analysis.auroc(pred["label"].to_numpy(), pred["prob"].to_numpy())
            result |= {"test_score": score, "test_score_ci": [score - 0.05, score + 0.05], "val_score": score}
        if run["kind"] == "supervised":
            result["label_fraction"] = p["label_fraction"]
        store.finish(run["id"], result)
    return root


@pytest.fixture(scope="module")
def constructed(tmp_path_factory):
    """The constructed study over a cache with a large test split (about 60 patients), so intervals are tight."""
    from xrayssl.data.prepare import prepare
    from xrayssl.data.process import ProcessConfig
    from xrayssl.data.splits import SplitConfig
    from xrayssl.data.synthetic import SynthConfig, write_dataset

    tmp = tmp_path_factory.mktemp("constructed")
    data = write_dataset(tmp / "data", SynthConfig(n_patients=120, size=48, seed=5), workers=2)
    cache = prepare(data, tmp / "cache", process=ProcessConfig(size=32), split=SplitConfig(test_fraction=0.5),
                    workers=2, progress=False).cache  # fmt: skip
    return build_constructed_study(tmp / "s", cache)


def test_paired_effects_recover_the_constructed_effects(constructed):
    store = Store(constructed)
    frame = analysis.ssl_frame(store)
    predictions = analysis.ssl_predictions(constructed, store)
    eff = analysis.paired_effects(frame, predictions, ["intensity", "flip"], n_boot=300).set_index("term")
    assert list(eff["n_pairs"]) == [2, 2]  # each factor: on/off with the other factor off and on
    on = frame.set_index("recipe")["test_score"]
    main = (on["intensity+flip"] - on["flip"] + on["intensity"] - on["none"]) / 2
    assert eff.loc["intensity", "effect"] == pytest.approx(main)  # the usual 2x2 main effect
    assert eff.loc["intensity", "lo"] > 0.03  # planted +0.12 of separation: clearly positive
    assert eff.loc["flip", "lo"] < 0 < eff.loc["flip", "hi"]  # planted nothing: interval covers zero
    assert eff.loc["intensity", "hi"] - eff.loc["intensity", "lo"] < 0.2


def test_report_leads_with_the_answer_and_renders_in_headless_chromium(constructed, tmp_path):
    from xrayssl.report.html import build_report

    report = build_report(constructed, tmp_path / "report.html")
    text = report.read_text()
    answer = text[text.index("<h2>Answer</h2>") : text.index("<h2>Augmentations</h2>")]
    assert "For SimCLR on these images, intensity (+0." in answer and "helps;" in answer
    assert "flip (" in answer and "changed nothing beyond noise" in answer
    assert answer.count(">recovered") == 2  # intensity helps, flip does nothing: both as planted
    assert "<td class='l'>exposure</td><td class='l'>helps</td>" in answer
    for section in ("ROC curves", "Training curves", "Augmentation effects", "Augmentations"):
        assert f"<h2>{section}</h2>" in text
    assert text.index("<h2>Answer</h2>") < text.index("<h2>Dataset</h2>")  # the answer comes first
    browser = find_chromium()
    if browser is None:
        pytest.skip("chromium not installed (.ci/run installs Debian's chromium package)")
    page = check_page(report, tmp_path / "profile", browser)
    assert page.errors == []
    assert all(i["complete"] and i["width"] > 0 for i in page.images), page.images
    alts = {i["alt"] for i in page.images}
    assert {"augmentation preview", "training curves", "effects behind the answer"} <= alts
    assert any(a.startswith("ROC") for a in alts)
    artifacts = Path(os.environ.get("XRAYSSL_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "report-constructed.png").write_bytes(page.screenshot)


def test_every_effect_of_the_html_answer_is_in_the_json_with_its_interval(constructed, tmp_path):
    """One computation (report.results.StudyResults) behind both: the answer's effects, estimate and interval,
    are report --json's effects, and none of them lacks its interval."""
    import json

    from xrayssl.report.html import build_report
    from xrayssl.report.results import study_results

    data = json.loads(json.dumps(study_results(constructed)))
    text = build_report(constructed, tmp_path / "report.html").read_text()
    answer = text[text.index("<h2>Answer</h2>") : text.index("<h2>Augmentations</h2>")]
    effect_table = answer[answer.index("<table>") : answer.index("</table>")]  # the first table: the effects
    assert len(data["effects"]) == effect_table.count("<tr>") - 1 == 2  # intensity and flip, below the heads
    for e in data["effects"]:
        assert e["lo"] is not None and e["hi"] is not None
        cell = f"<td class='l'>{e['method']}</td><td class='l'>{e['term']}</td>"
        cell += f"<td class=''>{e['effect']:+.3f} [{e['lo']:+.3f}, {e['hi']:+.3f}]</td>"
        assert cell in answer
        assert f"{e['term']} ({e['effect']:+.2f} [{e['lo']:+.2f}, {e['hi']:+.2f}])" in answer  # the sentence too
    assert data["effects_note"] in answer
    assert {r["term"] for r in data["design_effects"]} >= {"intensity", "flip"}  # the design's own, as before


def test_report_reads_only_the_study_folder_the_cache_deleted(constructed, tmp_path):
    """The final step stored the preview; the report shows it without the cache (and reruns no augmentation)."""
    import json
    import shutil

    from xrayssl.report.html import build_report

    config = json.loads((constructed / AUGMENTATIONS_JSON).read_text())
    assert (constructed / AUGMENTATIONS_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(config["recipes"]) == ["original", "base", "intensity", "flip"] and len(config["images"]) == 6
    cache = Path(Store(constructed).get_meta("config")["cache"])
    study = tmp_path / "moved"
    shutil.copytree(constructed, study)
    kept = tmp_path / "cache-away"
    shutil.move(cache, kept)  # the cache gone for the report's sake, back after for the module's other tests
    try:
        text = build_report(study, tmp_path / "report.html").read_text()
    finally:
        shutil.move(kept, cache)
    section = text[text.index("<h2>Augmentations</h2>") : text.index("<h2>Dataset</h2>")]
    assert "alt='augmentation preview'" in section and "data:image/png;base64," in section
    assert "<code>rotate(5)+intensity(p=1)</code>" in section
    dataset = text[text.index("<h2>Dataset</h2>") : text.index("<h2>Leaderboard</h2>")]
    assert "patients, cache" in dataset and "class='bad'" not in dataset


def test_training_log_prefers_metrics_csv(tmp_path):
    from xrayssl.report.html import training_log

    assert training_log(tmp_path) is None
    (tmp_path / "loss.csv").write_text("step,epoch,seconds,loss\n1,0,0.1,4.0\n2,0,0.2,3.5\n")
    assert list(training_log(tmp_path)["loss"]) == [4.0, 3.5]
    (tmp_path / "metrics.csv").write_text(
        "step,epoch,seconds,loss,lr,knn_val_score,embedding_std\n1,0,0.1,4.0,0.001,,\n2,0,0.2,3.0,0.001,0.7,0.05\n"
    )
    log = training_log(tmp_path)
    assert list(log["loss"]) == [4.0, 3.0] and log["knn_val_score"].iloc[1] == 0.7


def test_label_efficiency_ticks_are_plain_percents():
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xrayssl.report import plots

    captured = {}
    close = plt.close

    def keep(fig):  # read the axis before the figure is closed
        captured["ticks"] = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        close(fig)

    plt.close = keep
    try:
        curve = {"name": "x", "kind": "ssl", "fractions": [0.01, 0.1, 1.0], "auroc": [0.6, 0.7, 0.8]}
        uri = plots.label_efficiency_plot([{**curve, "lo": [None] * 3, "hi": [None] * 3}])
    finally:
        plt.close = close
    assert captured["ticks"] == ["1 %", "10 %", "100 %"]
    assert io.BytesIO(base64.b64decode(uri.split(",", 1)[1])).read(8) == b"\x89PNG\r\n\x1a\n"


def test_probe_keeps_its_test_predictions_beside_its_json(tiny_cache, tmp_path):
    from xrayssl.evaluate.config import ProbeConfig
    from xrayssl.evaluate.run_probe import probe

    out = str(tmp_path / "floor" / "probe.json")
    result = probe(ProbeConfig(source=str(tiny_cache), encoder="random", size=32, n_boot=20, out=out))
    pred = pd.read_csv(tmp_path / "floor" / result["predictions"])
    assert result["predictions"] == "predictions.csv"  # named after its JSON: probes of other poolings keep theirs
    assert list(pred.columns) == ["index", "patient_id", "label", "prob"] and len(pred) == result["n"]["test"]
    manifest = pd.read_csv(tiny_cache / "manifest.csv")
    assert (manifest.loc[pred["index"], "split"] == "test").all()  # index: the image's row in the cache
    score = analysis.auroc(pred["label"].to_numpy(), pred["prob"].to_numpy())
    assert score == pytest.approx(result["overall"]["auroc"])


def test_the_final_step_stores_the_preview_and_the_dataset_summary(tiny_cache, tmp_path):
    """study.finalize writes STUDY/preview/ first (here with no finished run to analyse); the report reads it."""
    import json

    from xrayssl.study.finalize import finalize
    from xrayssl.study.preview import DATASET_JSON

    config = StudyConfig(cache=str(tiny_cache), out=str(tmp_path / "s"), methods=["simclr"],
                         augmentations={"flip": "flip", "blur": "blur"}, seeds=1, pretrain={"size": 32})  # fmt: skip
    config, store = open_study(config, config.out)
    assert finalize(config, store, progress=False) == {"best": [], "supervised": []}
    preview = json.loads((tmp_path / "s" / AUGMENTATIONS_JSON).read_text())
    assert preview["file"] == AUGMENTATIONS_PNG and (tmp_path / "s" / AUGMENTATIONS_PNG).stat().st_size > 1000
    assert list(preview["recipes"]) == ["original", "base", "flip", "blur"] and preview["split"] == "train"
    manifest = pd.read_csv(tiny_cache / "manifest.csv")
    train = manifest[manifest["split"] == "train"].astype({"patient_id": str})
    for shown in preview["images"]:  # six training images, each captioned with what it is
        assert shown["patient_id"] in set(train["patient_id"]) and shown["caption"].split()[0] in ("normal", "abnormal")
    assert len(preview["images"]) == 6
    summary = json.loads((tmp_path / "s" / DATASET_JSON).read_text())
    assert summary["images"] == len(manifest) == sum(r["images"] for r in summary["counts"])
