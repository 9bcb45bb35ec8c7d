"""The seed study's protocol (issue 17): one definition of its five augmentations, the example configs, the
ImageNet reference in a study, and the per-body-part results as HTML, CSV and JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xrayssl.augment import PRESETS, SEED_AUGMENTATIONS, parse_pipeline
from xrayssl.cli.main import main
from xrayssl.errors import XraySSLError
from xrayssl.study import config as study_config
from xrayssl.study.config import StudyConfig

ROOT = Path(__file__).resolve().parents[2]


# --- one definition of the five augmentations -------------------------------------------------------------
def test_seed_preset_and_study_defaults_are_one_object():
    assert study_config.STUDY_AUGMENTATIONS is SEED_AUGMENTATIONS  # the same object, not an equal copy
    assert PRESETS["seed"] == "+".join(SEED_AUGMENTATIONS.values())
    study = StudyConfig(cache="c", out="o")
    assert study.augmentations == dict(SEED_AUGMENTATIONS) and study.augmentations is not SEED_AUGMENTATIONS
    # the supervised baseline's default augmentations (all factors on) are the seed preset's pipeline
    assert parse_pipeline(study.supervised_config(out="-").augs).spec() == parse_pipeline("seed").spec()
    with pytest.raises(TypeError):
        SEED_AUGMENTATIONS["blur"] = "blur(p=1)"  # read-only: a study changes its own copy


def test_the_seeds_numbers_are_the_seeds():
    ops = {op.name: op for op in parse_pipeline("seed").ops}
    assert list(ops) == ["flip", "rotate", "chessboard", "blur", "erase"]
    assert (ops["blur"].kernel, ops["blur"].sigma, ops["blur"].p) == (3, (1.0, 2.0), 0.2)
    assert ops["rotate"].degrees == 10 and ops["flip"].p == 0.5
    assert (ops["erase"].area, ops["erase"].ratio, ops["erase"].p) == ((0.01, 0.1), (0.5, 2.0), 0.3)
    assert (ops["chessboard"].cell, ops["chessboard"].shift) == (0.078, 0.0195)


def test_the_numbers_are_written_once_in_the_source():
    """No second copy of the five specs anywhere in the package, and none of the study's former numbers."""
    sources = {p: p.read_text() for p in (ROOT / "src" / "xrayssl").rglob("*.py")}
    for name in ("chessboard", "blur", "erase"):  # flip(p=0.5) and rotate(10) are common words in other recipes
        holders = [p.name for p, text in sources.items() if SEED_AUGMENTATIONS[name] in text]
        assert holders == ["presets.py"], (name, holders)
    for former in ("blur(sigma=0.5..2,kernel=5", "erase(area=0.02..0.2", 'rotate(15)"'):
        assert not [p for p, text in sources.items() if former in text], former


def test_aug_still_redefines_a_study_factor(capsys):
    argv = ["study", "c", "--out", "o", "--aug", "blur=blur(sigma=2,p=0.9)", "--print-config"]
    assert main(argv) == 0
    printed = yaml.safe_load(capsys.readouterr().out)["augmentations"]
    assert printed == {**SEED_AUGMENTATIONS, "blur": "blur(sigma=2,p=0.9)"}
    assert SEED_AUGMENTATIONS["blur"] == "blur(sigma=1..2,kernel=3,p=0.2)"


# --- example configs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_loads(path, capsys):
    """Each example is a valid study config (checked and planned, not run), also through the CLI."""
    from xrayssl.study.config import load_yaml
    from xrayssl.study.plan import plan

    data = load_yaml(path)
    config = StudyConfig(**{"cache": "caches/c", **data, "out": "o"})
    assert len(plan(config)) > 1
    assert main(["study", "caches/c", "--config", str(path), "--out", "o", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["methods"] == config.methods


def test_the_seed_protocol_example_is_the_seeds():
    from xrayssl.study.config import load_yaml
    from xrayssl.study.plan import plan

    config = StudyConfig(**{"cache": "c", **load_yaml(ROOT / "examples" / "seed-protocol.yaml"), "out": "o"})
    run = config.pretrain_config(method="simclr", augs="", seed=0, out="-")
    assert config.methods == ["simclr", "byol"] and (run.backbone, run.size, run.epochs) == ("resnet50", 256, 5)
    assert config.augmentations == dict(SEED_AUGMENTATIONS) and config.references == ["imagenet"]
    assert config.supervised_config(out="-").backbone == "resnet50" and len(config.body_parts) == 5
    runs = plan(config)
    references = [rid for rid, kind, _ in runs if kind == "reference"]
    assert references == [f"reference/{p}/imagenet" for p in config.body_parts]
    assert sum(kind == "ssl" for _, kind, _ in runs) == 2 * 12 * 3 * 5


def test_reference_settings_are_checked():
    with pytest.raises(XraySSLError, match="unknown reference"):
        StudyConfig(cache="c", out="o", references=["radimagenet"])
    with pytest.raises(XraySSLError, match=r"references: imagenet: .*not for vit-tiny"):
        StudyConfig(cache="c", out="o", methods=["mae"], references=["imagenet"], pretrain={"backbone": "vit-tiny"})
    with pytest.raises(XraySSLError, match="add --references imagenet"):
        StudyConfig(cache="c", out="o", imagenet_weights="w.pth")
    with pytest.raises(XraySSLError, match=r"of the model.s weights"):
        StudyConfig(cache="c", out="o", references=["imagenet"], imagenet_weights="w.npz")
    # the reference takes the standard stem even where the study's runs use the small one
    assert StudyConfig(cache="c", out="o", references=["imagenet"], pretrain={"small_stem": True}).references


# --- a study with the ImageNet reference: per-part results as HTML, CSV and JSON ------------------------------
def _constructed(kind: str, p: dict, rng) -> dict:
    """Scores for runs that are not trained here: SSL runs, floors, supervised baselines."""
    val, test = (float(v) for v in rng.uniform(0.55, 0.9, 2))
    result = {"val_score": val, "test_score": test, "test_score_ci": [test - 0.04, min(1.0, test + 0.04)]}
    if kind == "ssl":
        result["pretrain"] = {"pool": {"abnormal_share_used": 0.4}}
    return result


@pytest.fixture(scope="module")
def seed_study(tiny_cache, tmp_path_factory):
    """Two body parts; SSL, floor and supervised results constructed; the ImageNet reference run for real from a
    local weights file (forearm) and offline without one (hand: skipped). The final step is left undone."""
    import dataclasses

    import numpy as np
    import torch
    import torchvision

    from xrayssl.study.plan import run_folder_name
    from xrayssl.study.runner import _reference, open_study

    folder = tmp_path_factory.mktemp("seed-study")
    weights = folder / "resnet18.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    config = StudyConfig(cache=str(tiny_cache), out=str(folder / "s"), augmentations={"flip": "flip", "blur": "blur"},
                         seeds=2, body_parts=["forearm", "hand"], pretrain={"size": 32}, references=["imagenet"],
                         imagenet_weights=str(weights), label_fractions=[0.5, 1.0], n_boot=50)  # fmt: skip
    config, store = open_study(config, config.out)
    rng = np.random.default_rng(0)
    outputs = {}
    while (claim := store.claim()) is not None and claim["kind"] != "finalize":
        run = Path(config.out) / "runs" / run_folder_name(claim["id"])
        if claim["kind"] != "reference":
            result = _constructed(claim["kind"], claim["params"], rng)
        elif claim["params"]["body_part"] == "forearm":
            result = _reference(config, store, run, claim["params"], False)
        else:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("TORCH_HOME", str(folder / "empty-torch-home"))
                mp.setattr(torch.hub, "download_url_to_file", _no_network)
                offline = dataclasses.replace(config, imagenet_weights=None)
                result = _reference(offline, store, run, claim["params"], False)
        outputs[claim["id"]] = result
        store.finish(claim["id"], {**result, "run": run.relative_to(config.out).as_posix(), "seconds": 1.0})
    return Path(config.out), outputs, weights


def _no_network(url, *args, **kwargs):
    import urllib.error

    raise urllib.error.URLError("no network here")


@pytest.mark.slow
def test_the_imagenet_reference_runs_or_is_skipped_with_one_line(seed_study):
    from xrayssl.models.imagenet import weights_url
    from xrayssl.study.runner import _line

    _, outputs, weights = seed_study
    forearm, hand = outputs["reference/forearm/imagenet"], outputs["reference/hand/imagenet"]
    assert 0 <= forearm["test_score"] <= 1 and forearm["weights"] == str(weights) and forearm["label_fractions"]
    assert hand["test_score"] is None and weights_url("resnet18") in hand["skipped"]
    assert "--imagenet-weights PATH" in hand["skipped"] and "\n" not in hand["skipped"]
    assert _line("reference/hand/imagenet", hand).startswith("reference/hand/imagenet: skipped (cannot download")


@pytest.mark.slow
def test_per_part_table_is_the_seeds_table(seed_study):
    from xrayssl.report.results import open_store, per_part

    out, outputs, _ = seed_study
    table = per_part(*open_store(out))
    assert [c for c in table.columns if c.endswith("_recipe")] == ["simclr_recipe", "byol_recipe"]  # study order
    table = table.set_index("body_part")
    assert list(table.index) == ["forearm", "hand"]
    for part in ("forearm", "hand"):
        for method in ("simclr", "byol"):  # the recipe with the best mean validation AUROC over seeds
            val = {}
            for rid, r in outputs.items():
                if rid.startswith(f"ssl/{part}/{method}/"):
                    val.setdefault(rid.split("/")[3], []).append(r["val_score"])
            best = max(val, key=lambda k: sum(val[k]) / len(val[k]))
            assert table.loc[part, f"{method}_recipe"] == best and table.loc[part, f"{method}_seeds"] == 2
        sup = outputs[f"supervised/{part}/labels1"]  # the largest label share
        assert table.loc[part, "supervised_score"] == pytest.approx(sup["test_score"])
        assert table.loc[part, "pixels_floor_lo"] == pytest.approx(outputs[f"floor/{part}/pixels"]["test_score_ci"][0])
    assert table.loc["forearm", "imagenet_score"] == pytest.approx(outputs["reference/forearm/imagenet"]["test_score"])
    assert np_isnan(table.loc["hand", "imagenet_score"])  # skipped: no number


def np_isnan(v) -> bool:
    return v != v


@pytest.mark.slow
def test_report_json_csv_and_html_carry_the_same_numbers(seed_study, tmp_path, capsys):
    import json

    import pandas as pd

    out = seed_study[0]
    assert main(["report", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"leaderboard", "effects", "claims", "per_part", "references", "skipped_references"} <= set(data)
    assert data["counts"]["done"] == sum(data["counts"].values()) - 1  # all but the final step
    page = tmp_path / "r.html"
    assert main(["report", str(out), "--out", str(page)]) == 0
    html = page.read_text()

    def cell(m, lo, hi):
        return f"{m:.3f} [{lo:.3f}, {hi:.3f}]"

    models = ["simclr", "byol", "imagenet", "supervised", "random_floor", "pixels_floor"]
    shown = 0
    for row in data["per_part"]:
        for m in models:
            if row[f"{m}_score"] is not None:
                assert cell(row[f"{m}_score"], row[f"{m}_lo"], row[f"{m}_hi"]) in html, (row["body_part"], m)
                shown += 1
    assert shown == 2 * len(models) - 1  # the hand's ImageNet reference was skipped
    for row in data["leaderboard"]:
        assert cell(row["test_score"], row["test_lo"], row["test_hi"]) in html
    for claim in data["claims"]:
        assert f"{claim['value']:.3f}" in html
    assert data["skipped_references"][0]["body_part"] == "hand" and "skipped: cannot download" in html
    csv = pd.read_csv(out / "results.csv")
    frame = pd.DataFrame(data["per_part"])
    assert list(csv.columns) == list(frame.columns)
    for m in models:
        assert csv[f"{m}_score"].tolist() == pytest.approx(frame[f"{m}_score"].astype(float).tolist(), nan_ok=True)
