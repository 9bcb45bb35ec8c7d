"""Studies that grow and studies that are planned: a finished study given more seeds and recipes runs only the new
runs and leaves the old runs' files as they were; ``study --plan`` lists every run with its cost and creates
nothing. Runs execute through a fake executor (no training), the store and the runner are the real ones."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from xrayssl.errors import XraySSLError
from xrayssl.study import runner
from xrayssl.study.config import StudyConfig
from xrayssl.study.store import Store


@pytest.fixture
def fake_runs(monkeypatch):
    """Every run kind executed by a fake that writes one file in its folder; returns the ids it executed."""
    executed: list[str] = []

    def fake(config: StudyConfig, store: Store, folder: Path, params: dict[str, Any], progress: bool) -> dict:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "made.txt").write_text(repr(sorted(params.items())))
        executed.append(folder.name)
        return {"test_score": 0.7, "val_score": 0.7, "test_score_ci": [0.6, 0.8]}

    for kind in list(runner.EXECUTORS):
        monkeypatch.setitem(runner.EXECUTORS, kind, fake)
    return executed


def _config(tmp_path: Path, cache: Path, **kw) -> StudyConfig:
    settings = {"cache": str(cache), "out": str(tmp_path / "s"), "methods": ["simclr"], "design": "list",
                "recipes": {"none": "none", "flip": "flip"}, "seeds": 1, "supervised": None,
                "pretrain": {"size": 32}} | kw  # fmt: skip
    return StudyConfig(**settings)


def test_a_finished_study_grows_by_seeds_and_recipes_running_only_the_new_runs(tmp_path, tiny_cache, fake_runs):
    out = tmp_path / "s"
    counts = runner.run_study(_config(tmp_path, tiny_cache), out, progress=False)
    assert counts == {"done": 2 + 2 + 1}  # floors, two recipes, final
    old = {r["id"]: r for r in Store(out).runs()}
    made = [p for p in (out / "runs").rglob("made.txt") if p.parent.name != "finalize"]  # the final step reruns
    files = {p: (p.stat().st_mtime_ns, p.read_text()) for p in made}
    assert len(files) == 4
    fake_runs.clear()
    grown = _config(tmp_path, tiny_cache, seeds=2, recipes={"none": "none", "flip": "flip", "rot": "rotate(10)"})
    counts = runner.run_study(grown, out, progress=False)
    runs = {r["id"]: r for r in Store(out).runs()}
    assert counts == {"done": 2 + 3 * 2 + 1} and len(runs) == 9
    new = sorted(set(runs) - set(old))
    assert new == ["ssl/all/simclr/flip/seed1", "ssl/all/simclr/none/seed1", "ssl/all/simclr/rot/seed0",
                   "ssl/all/simclr/rot/seed1"]  # fmt: skip
    assert len(fake_runs) == len(new) + 1  # the new runs and the final step, nothing else
    for rid, r in old.items():
        if r["kind"] != "finalize":
            assert runs[rid]["finished"] == r["finished"] and runs[rid]["attempts"] == 1
    assert runs["finalize"]["attempts"] == 2  # the final step reads every run, so it ran again
    for path, (mtime, text) in files.items():  # the old runs' files untouched
        assert path.stat().st_mtime_ns == mtime and path.read_text() == text
    assert Store(out).get_meta("config")["seeds"] == 2  # the study is now the grown one
    resumed, _ = runner.open_study(None, out)
    assert resumed.seeds == 2 and list(resumed.recipes) == ["none", "flip", "rot"]


def test_a_change_that_would_invalidate_finished_runs_is_refused_naming_it(tmp_path, tiny_cache, fake_runs):
    out = tmp_path / "s"
    runner.run_study(_config(tmp_path, tiny_cache), out, progress=False)
    with pytest.raises(XraySSLError, match=r"pretrain changed \(\{'size': 32\} -> \{'size': 32, 'epochs': 3\}\)"):
        runner.open_study(_config(tmp_path, tiny_cache, pretrain={"size": 32, "epochs": 3}), out)
    with pytest.raises(XraySSLError, match=r"new recipes would change run ssl/all/simclr/flip/seed0"):
        runner.open_study(_config(tmp_path, tiny_cache, recipes={"none": "none", "flip": "flip(p=1)"}), out)
    assert len(Store(out).runs()) == 5


def test_plan_lists_every_run_with_its_cost_and_creates_nothing(tmp_path, tiny_cache, capsys):
    from xrayssl.cli.main import main

    out = tmp_path / "s"
    args = ["study", str(tiny_cache), "--out", str(out), "--methods", "simclr", "--design", "list", "--recipe",
            "none=none", "--recipe", "flip=flip", "--seeds", "2", "--epochs", "1", "--size", "32", "--batch-size",
            "16", "--no-supervised", "--plan"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert not out.exists()  # nothing created: no folder, no store, no run
    for rid in ("ssl/all/simclr/none/seed0", "ssl/all/simclr/flip/seed1", "floor/all/random", "floor/all/pixels"):
        assert rid in text
    assert re.search(r"7 runs", text) and re.search(r"total: about \d", text), text
    assert re.search(r"ssl/all/simclr/flip/seed0 +\d+ steps +about \d", text), text


def test_time_left_counts_each_kind_at_its_own_pace():
    def run(kind: str, status: str, seconds: float | None = None) -> dict[str, Any]:
        return {"kind": kind, "status": status, "result": None if seconds is None else {"seconds": seconds}}

    runs = [run("floor", "done", 2), run("floor", "done", 4), run("ssl", "done", 60), run("ssl", "pending"),
            run("ssl", "pending"), run("supervised", "pending"), run("finalize", "pending")]  # fmt: skip
    # two SSL runs at 60 s; supervised and final step at the mean of all finished runs (22 s)
    assert runner.time_left(runs) == "about 2 min 44 s"
    assert runner.time_left(runs, workers=2) == "about 1 min 22 s"
    assert runner.time_left([run("ssl", "done", 5)]) is None  # nothing left
    from xrayssl.study.plan import duration

    assert [duration(s) for s in (0.4, 45, 130, 7300)] == ["0 s", "45 s", "2 min 10 s", "2 h 02 min"]


def test_plan_of_a_grown_study_marks_the_done_runs_and_refuses_what_growing_would(
    tmp_path, tiny_cache, fake_runs, capsys
):
    from xrayssl.cli.main import main

    out = tmp_path / "s"
    runner.run_study(_config(tmp_path, tiny_cache), out, progress=False)
    capsys.readouterr()
    args = ["study", str(tiny_cache), "--out", str(out), "--methods", "simclr", "--design", "list", "--recipe",
            "none=none", "--recipe", "flip=flip", "--size", "32", "--no-supervised", "--plan"]  # fmt: skip
    assert main([*args, "--seeds", "2"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"ssl/all/simclr/flip/seed0 +done already", text)
    assert re.search(r"ssl/all/simclr/flip/seed1 +\d+ steps +about", text) and "5 done already" in text
    assert main([*args, "--seeds", "2", "--epochs", "9"]) == 2
    assert "pretrain changed" in capsys.readouterr().err
    assert len(Store(out).runs()) == 5  # planning wrote nothing
