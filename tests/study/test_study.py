"""The study: designs against their definitions, effect estimates on constructed scores, configs checked in full
before anything is written, a killed study resumed without repeating finished runs, and the report in a real
browser. The run store itself (claims across processes, SQLite and PostgreSQL) is tested in test_store.py."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import check_page, find_chromium

from xrayssl.errors import XraySSLError
from xrayssl.study import analysis
from xrayssl.study.config import STUDY_AUGMENTATIONS, StudyConfig, load_yaml
from xrayssl.study.designs import build, fractional, full, one_at_a_time, pairwise
from xrayssl.study.runner import open_study, parse_shard
from xrayssl.study.store import Store

FIVE = list(STUDY_AUGMENTATIONS)


# --- designs -----------------------------------------------------------------------------------------------
def _matrix(recipes, factors):
    return np.array([[1 if f in r.parts else -1 for f in factors] for r in recipes])


def test_full_factorial_has_every_combination_once():
    recipes = full(FIVE)
    x = _matrix(recipes, FIVE)
    assert len(recipes) == 32 and len({tuple(r) for r in x}) == 32
    assert (x.sum(0) == 0).all()  # each factor on in exactly half the runs
    assert [tuple(r.levels) for r in recipes] == [tuple(r) for r in x]


def test_half_fraction_defining_relation_balance_and_resolution_v():
    recipes = fractional(FIVE)
    x = _matrix(recipes, FIVE)
    assert len(recipes) == 16 and len({tuple(r) for r in x}) == 16
    assert (x.prod(1) == 1).all()  # I = +ABCDE
    assert (x.sum(0) == 0).all()
    # main effects and two-way interactions: 15 mutually orthogonal, balanced columns (resolution V)
    cols = [x[:, i] for i in range(5)] + [x[:, i] * x[:, j] for i, j in itertools.combinations(range(5), 2)]
    m = np.stack(cols, 1)
    assert (m.T @ m == 16 * np.eye(15)).all()
    names = {r.name for r in recipes}  # an even number of factors off: 0, 2 or 4
    assert {"flip+rotate+chessboard+blur+erase", "flip+rotate+chessboard", "blur"} <= names
    assert "none" not in names and "flip+rotate" not in names


def test_one_at_a_time_and_pairwise_contents():
    recipes = one_at_a_time(FIVE)
    names = [r.name for r in recipes]
    assert len(recipes) == 2 * 5 + 2 and names[0] == "none" and names[1:6] == FIVE
    assert recipes[6].parts == tuple(FIVE)
    assert all(len(r.parts) == 4 and f not in r.parts for r, f in zip(recipes[7:], FIVE))
    pairs = pairwise(["a", "b", "c"])
    assert len(pairs) == 9
    assert [r.parts for r in pairs if len(r.parts) == 1] == [("a",), ("b",), ("c",)]
    assert ("b", "a") in [r.parts for r in pairs] and ("a", "b") in [r.parts for r in pairs]


def test_design_errors():
    with pytest.raises(XraySSLError, match="at least 3"):
        fractional(["a", "b"])
    with pytest.raises(XraySSLError, match="unknown design"):
        build("latin", FIVE)
    with pytest.raises(XraySSLError, match="needs recipes"):
        build("list", FIVE, {})


def test_recipe_spec_composes_in_order():
    r = pairwise(["blur", "flip"])[1]
    assert (
        r.spec({"blur": "blur(p=0.5)", "flip": "flip"}, base="crop(scale=0.5..1)")
        == "crop(scale=0.5..1)+blur(p=0.5)+flip"
    )


# --- analysis on constructed scores -----------------------------------------------------------------------
TRUE_MAIN = {"flip": 0.06, "rotate": 0.0, "chessboard": -0.04, "blur": 0.02, "erase": 0.0}
TRUE_INTER = {("flip", "blur"): 0.03, ("rotate", "erase"): -0.02}


def _score(parts, seed, noise=0.0, rng=None):
    x = {f: 1 if f in parts else -1 for f in FIVE}
    y = (
        0.7
        + sum(e / 2 * x[f] for f, e in TRUE_MAIN.items())
        + sum(e / 2 * x[a] * x[b] for (a, b), e in TRUE_INTER.items())
    )
    return y + 0.01 * seed + (rng.normal(0, noise) if rng is not None else 0.0)


def _frame(recipes, method="simclr", seeds=3, noise=0.0, rng=None, score=_score):
    rows = []
    for seed in range(seeds):
        for r in recipes:
            s = score(r.parts, seed, noise, rng)
            rows.append({"method": method, "start": "as configured", "recipe": r.name, "parts": r.parts, "seed": seed,
                         "body_part": "all",
                         "abnormal_fraction": "as is", "abnormal_share": 0.5, "val_score": s, "test_score": s,
                         "test_score_ci": None})  # fmt: skip
    return pd.DataFrame(rows)


def test_factorial_effects_recover_known_effects_from_the_half_fraction():
    eff = analysis.factorial_effects(_frame(fractional(FIVE)), FIVE).set_index("term")
    assert len(eff) == 15  # 5 main effects + 10 two-way interactions, all estimable
    for f, e in TRUE_MAIN.items():
        assert eff.loc[f, "effect"] == pytest.approx(e, abs=1e-9)
    for (a, b), e in TRUE_INTER.items():
        assert eff.loc[f"{a} x {b}", "effect"] == pytest.approx(e, abs=1e-9)
    assert eff.loc["flip x rotate", "effect"] == pytest.approx(0, abs=1e-9)


def test_factorial_intervals_cover_the_truth_under_noise():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(40):
        eff = analysis.factorial_effects(_frame(fractional(FIVE), noise=0.01, rng=rng), FIVE).set_index("term")
        hits += eff.loc["chessboard", "lo"] <= -0.04 <= eff.loc["chessboard", "hi"]
    assert 33 <= hits <= 40  # nominal 95 %


def test_one_at_a_time_contrasts_are_exact():
    eff = analysis.one_at_a_time_effects(_frame(one_at_a_time(FIVE)), FIVE)
    alone = eff[eff["contrast"] == "alone"].set_index("term")["effect"]
    expected = _score(("flip",), 0) - _score((), 0)
    assert alone["flip"] == pytest.approx(expected)
    dropped = eff[eff["contrast"] == "dropped"].set_index("term")["effect"]
    assert dropped["blur"] == pytest.approx(
        _score(tuple(FIVE), 0) - _score(("flip", "rotate", "chessboard", "erase"), 0)
    )


def test_leaderboard_ranks_on_validation_not_test():
    frame = _frame(one_at_a_time(FIVE), seeds=2)
    frame["val_score"] = np.where(frame["recipe"] == "none", 0.99, 0.5)  # best on validation, not on test
    board = analysis.leaderboard(frame)
    assert board.iloc[0]["recipe"] == "none" and board.iloc[0]["rank"] == 1
    assert board.iloc[0]["test_score"] < board["test_score"].max()
    assert (board["test_lo"] <= board["test_score"]).all() and (board["test_score"] <= board["test_hi"]).all()


def test_stability_sensitivity_and_claims_on_constructed_scores():
    rng = np.random.default_rng(1)
    recipes = one_at_a_time(FIVE)
    simclr = _frame(recipes, "simclr", seeds=4, noise=0.002, rng=rng)
    flat = lambda parts, seed, noise, rng: 0.7 + rng.normal(0, noise)  # noqa: E731  (BYOL: recipe does not matter)
    byol = _frame(recipes, "byol", seeds=4, noise=0.002, rng=rng, score=flat)
    frame = pd.concat([simclr, byol], ignore_index=True)
    stab = analysis.ranking_stability(frame).set_index("method")
    assert stab.loc["simclr", "kendall_w"] > 0.9 and stab.loc["byol", "kendall_w"] < 0.5
    sens = analysis.sensitivity(frame).set_index("method")
    assert sens.loc["simclr", "sd"] > 5 * sens.loc["byol", "sd"]
    claim = next(c for c in analysis.claims(frame) if "sensitive" in c["claim"])
    assert claim["verdict"] == "supported" and claim["lo"] > 0
    # flip the roles: now the claim is contradicted
    swapped = frame.assign(method=frame["method"].map({"simclr": "byol", "byol": "simclr"}))
    assert next(c for c in analysis.claims(swapped) if "sensitive" in c["claim"])["verdict"] == "contradicted"


def test_imbalance_effect_pairs_recipes_and_seeds():
    recipes = one_at_a_time(["flip", "blur", "erase"])
    parts = []
    for method, drop in (("simclr", 0.05), ("byol", 0.0)):
        for fraction, share in (("0.5", 0.5), ("0.1", 0.1)):
            f = _frame(recipes, method, seeds=3, score=lambda p, s, n, r: 0.7 + 0.01 * s + 0.001 * len(p))
            f["test_score"] -= drop if fraction == "0.1" else 0
            parts.append(f.assign(abnormal_fraction=fraction, abnormal_share=share))
    imb = analysis.imbalance_effect(pd.concat(parts, ignore_index=True))
    change = imb[imb["contrast"] == "change"].set_index("method")
    assert change.loc["simclr", "test_score"] == pytest.approx(-0.05)
    assert change.loc["byol", "test_score"] == pytest.approx(0.0)


# --- configuration -----------------------------------------------------------------------------------------
def test_config_validation_and_yaml(tmp_path):
    with pytest.raises(XraySSLError, match="unknown method"):
        StudyConfig(cache="c", out="o", methods=["dino"])
    with pytest.raises(XraySSLError, match="augmentation 'blur'"):
        StudyConfig(cache="c", out="o", augmentations={"blur": "blurr(p=0.5)"})
    with pytest.raises(XraySSLError, match="set by the study"):
        StudyConfig(cache="c", out="o", pretrain={"method": "byol"})
    with pytest.raises(XraySSLError, match="not to byol"):  # a shared temperature cannot reach BYOL's runs
        StudyConfig(cache="c", out="o", methods=["simclr", "byol"], pretrain={"temperature": 0.2})
    assert StudyConfig(cache="c", out="o", methods=["simclr", "moco"], pretrain={"temperature": 0.2})
    (tmp_path / "s.yaml").write_text("methods: [byol]\ndesign: fractional\nsedes: 3\n")
    with pytest.raises(XraySSLError, match=r"unknown setting.*sedes"):
        load_yaml(tmp_path / "s.yaml")
    assert parse_shard("2/4") == (2, 4)
    with pytest.raises(XraySSLError, match="i must be"):
        parse_shard("4/4")


def test_a_study_folder_refuses_other_settings(tmp_path, tiny_cache):
    base = {"cache": str(tiny_cache), "out": str(tmp_path / "s"), "augmentations": {"flip": "flip"},
            "pretrain": {"size": 32}}  # fmt: skip
    _, store = open_study(StudyConfig(**base), tmp_path / "s")
    n = sum(store.counts().values())
    assert n == 2 + 2 + 2 * 2 * 3 + 1  # floors, supervised at 2 label shares, 2 methods x 2 recipes x 3 seeds, final
    open_study(StudyConfig(**base), tmp_path / "s")  # same settings: fine, nothing added
    assert sum(store.counts().values()) == n
    with pytest.raises(XraySSLError, match=r"new seeds would leave out run ssl/all/simclr/none/seed2"):
        open_study(StudyConfig(**base, seeds=2), tmp_path / "s")  # fewer seeds: a study only grows
    with pytest.raises(XraySSLError, match=r"pretrain changed .*epochs.*a study grows only by seeds"):
        open_study(StudyConfig(**{**base, "pretrain": {"size": 32, "epochs": 2}}), tmp_path / "s")
    with pytest.raises(XraySSLError, match=r"base changed"):
        open_study(StudyConfig(**base, base="rotate(5)"), tmp_path / "s")
    assert sum(store.counts().values()) == n  # refused: nothing added
    resumed, _ = open_study(None, tmp_path / "s")
    assert resumed.seeds == 3 and resumed.cache == str(tiny_cache)
    with pytest.raises(XraySSLError, match="no study here"):
        open_study(None, tmp_path / "empty")


def test_identical_views_are_refused_when_the_study_is_planned(tmp_path, tiny_cache):
    config = StudyConfig(cache=str(tiny_cache), out=str(tmp_path / "s"), design="list", base="",
                         recipes={"none": "none", "flip": "flip"})  # fmt: skip
    with pytest.raises(XraySSLError, match=r"recipe\(s\) none: no augmentation and no base.*identical"):
        open_study(config, tmp_path / "s")
    assert not (tmp_path / "s").exists()
    with pytest.raises(XraySSLError, match="recipe\\(s\\) none"):  # a design's own 'none' as well
        open_study(StudyConfig(cache=str(tiny_cache), out=str(tmp_path / "t"), base="",
                               augmentations={"flip": "flip"}), tmp_path / "t")  # fmt: skip
    # the default base makes the two views differ: 'none' is the crop alone
    (none,) = [r for r in StudyConfig(cache="c", out="o").recipe_list() if r.name == "none"]
    assert none.spec({}, StudyConfig(cache="c", out="o").base) == "crop(scale=0.5..1)"


# --- mistyped commands leave nothing behind ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--design", "list"], "design 'list' needs recipes: --recipe"),
        (["--body-parts", "knee,elbow"], r"no images of body part\(s\) elbow; the cache holds: forearm, hand, knee"),
        (["--shard", "2/2"], "i must be in 0..n-1"),
        (["--store", "mysql://u@h/db"], "only postgresql://"),
        (["--seeds", "0"], "seeds must be >= 1"),
        (["--label-fractions", "0.5,2"], r"label fraction 2\.0 must be in"),
        (["--abnormal-fractions", "1.5"], "pretrain-abnormal-fraction must be between 0 and 1"),
    ],
)
def test_a_mistyped_study_command_leaves_no_folder(tmp_path, tiny_cache, capsys, args, message):
    from xrayssl.cli.main import main

    out = tmp_path / "s"
    assert main(["study", str(tiny_cache), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_wrong_types_in_a_study_yaml_name_the_file_and_the_key(tmp_path, capsys):
    from xrayssl.cli.main import main

    cases = {
        "seeds: many\n": "seeds: expected a whole number, got 'many'",
        "pretrain: {epochs: many}\n": "pretrain: epochs: expected a whole number, got 'many'",
        "pretrain: {epoch: 3}\n": "pretrain: unknown setting(s) epoch; valid: ",
        "floors: 1\n": "floors: expected true or false, got 1",
    }
    for i, (yaml_text, message) in enumerate(cases.items()):
        path = tmp_path / f"s{i}.yaml"
        path.write_text(f"cache: {tmp_path}\n{yaml_text}")
        assert main(["study", "--config", str(path), "--out", str(tmp_path / "s")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"xrayssl: error: {path}: {message}") and "\n" not in err, err
    assert not (tmp_path / "s").exists()
    with pytest.raises(XraySSLError, match=r"seeds: expected a whole number, got 2\.5"):  # the Python API too
        StudyConfig(cache="c", out="o", seeds=2.5)


# --- a real study: killed, resumed, reported ---------------------------------------------------------------
STUDY_ARGS = ["--methods", "simclr,byol", "--augmentations", "flip,blur", "--seeds", "1", "--epochs", "1",
              "--size", "32", "--batch-size", "16", "--supervised-epochs", "2", "--label-fractions", "0.5,1",
              "--bootstrap", "100", "--quiet"]  # fmt: skip


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "xrayssl", *args], env=env, start_new_session=True, **kw)


@pytest.fixture(scope="module")
def resumed_study(tiny_cache, tmp_path_factory):
    """A study killed (SIGKILL) once some runs had finished, then resumed with only --out."""
    out = tmp_path_factory.mktemp("study") / "s"
    proc = _cli("study", str(tiny_cache), "--out", str(out), *STUDY_ARGS, stdout=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if (out / "study.sqlite").is_file() and Store(out).counts().get("done", 0) >= 5:
            break
    with contextlib.suppress(ProcessLookupError):  # it may have finished already on a fast machine
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {r["id"]: r for r in Store(out).runs(status="done")}
    resumed = _cli("study", "--out", str(out), "--quiet", stdout=subprocess.PIPE, text=True)
    log, _ = resumed.communicate(timeout=600)
    return out, before, resumed.returncode, log


@pytest.mark.slow
def test_killed_study_resumes_without_repeating_finished_runs(resumed_study):
    out, before, code, log = resumed_study
    assert code == 0, log
    assert 5 <= len(before) < 13
    runs = {r["id"]: r for r in Store(out).runs()}
    assert len(runs) == 2 * 4 + 2 + 2 + 1 and all(r["status"] == "done" for r in runs.values())
    for rid, r in before.items():  # finished before the kill: untouched
        assert runs[rid]["finished"] == r["finished"] and runs[rid]["attempts"] == 1
    assert f"{len(before)} done already" in log
    board = analysis.leaderboard(analysis.ssl_frame(Store(out)))
    assert set(board["method"]) == {"simclr", "byol"} and len(board) == 8
    final = Store(out).runs(kind="finalize")[0]["result"]
    assert {b["method"] for b in final["best"]} == {"simclr", "byol"}
    assert all((out / p).is_file() for b in final["best"] for p in b["gradcam"]["images"])
    assert (out / "preview" / "augmentations.png").is_file() and (out / "preview" / "dataset.json").is_file()
    ssl_dirs = [out / r["result"]["run"] for r in runs.values() if r["kind"] == "ssl"]
    assert all((d / "encoder.pt").is_file() and not (d / "checkpoints").exists() for d in ssl_dirs)


@pytest.mark.slow
def test_report_renders_in_headless_chromium(resumed_study, tmp_path):
    out = resumed_study[0]
    browser = find_chromium()
    if browser is None:
        pytest.skip("chromium not installed (.ci/run installs Debian's chromium package)")
    from xrayssl.report.html import build_report

    report = build_report(out, tmp_path / "report.html")
    html = report.read_text()
    assert "src='file:" not in html and "src='runs/" not in html  # self-contained
    page = check_page(report, tmp_path / "profile", browser)
    assert page.title.startswith("xrayssl study report")
    assert len(page.images) >= 6
    assert all(i["complete"] and i["width"] > 0 for i in page.images), page.images
    assert page.errors == []
    shot = tmp_path / "report.png"
    shot.write_bytes(page.screenshot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    artifacts = Path(os.environ.get("XRAYSSL_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "report-screenshot.png").write_bytes(page.screenshot)


def test_the_browser_check_catches_broken_pages(tmp_path):
    browser = find_chromium()
    if browser is None:
        pytest.skip("chromium not installed (.ci/run installs Debian's chromium package)")
    page = tmp_path / "broken.html"
    page.write_text(
        "<html><body><img alt='x' src='missing.png'><script>console.error('boom'); nope();</script></body></html>"
    )
    result = check_page(page, tmp_path / "profile", browser)
    assert result.images[0]["width"] == 0
    assert any("boom" in e for e in result.errors) and any("Uncaught" in e for e in result.errors)


@pytest.mark.slow
def test_status_and_report_commands(resumed_study, tmp_path):
    out = resumed_study[0]
    status = subprocess.run([sys.executable, "-m", "xrayssl", "study", "--out", str(out), "--status"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert "13 done" in status.stdout
    bad = subprocess.run([sys.executable, "-m", "xrayssl", "report", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a study folder" in bad.stderr
    summary = json.loads(json.dumps(Store(out).get_meta("config")))
    assert summary["methods"] == ["simclr", "byol"] and summary["design"] == "one-at-a-time"


def test_settings_cannot_change_on_resume(tmp_path, capsys):
    from xrayssl.cli.main import main

    assert main(["study", "--out", str(tmp_path / "s"), "--epochs", "3"]) == 2
    assert "settings are fixed when a study starts" in capsys.readouterr().err
    assert main(["study", "--out", str(tmp_path / "s")]) == 2
    assert "no study here yet" in capsys.readouterr().err


def test_contrasts_pair_every_run_that_differs_by_one_augmentation():
    """pairwise's a>b and b>a both hold {a, b}: each is paired with 'a' alone for b (none is dropped)."""
    frame = pd.DataFrame(
        {"parts": [("a",), ("b",), ("a", "b"), ("b", "a")], "test_score": [0.6, 0.7, 0.75, 0.85], "seed": 0,
         "body_part": "all", "abnormal_fraction": "as is", "start": "as configured", "method": "simclr", "spec": ""}
    )  # fmt: skip
    eff = analysis.list_effects(frame, ["a", "b"]).set_index("term")
    assert eff.loc["b", "n_pairs"] == 2 and eff.loc["b", "effect"] == pytest.approx((0.15 + 0.25) / 2)
    assert eff.loc["a", "n_pairs"] == 2 and eff.loc["a", "effect"] == pytest.approx((0.05 + 0.15) / 2)
    ops = analysis.op_parts("crop(scale=0.5..1)+rotate(15)+flip", "crop(scale=0.5..1)")
    assert ops == ("rotate(15)", "flip") and analysis.op_parts("none") == ()
