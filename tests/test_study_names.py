"""Run folder names stay unique after sanitising: a recipe name from the user never shares another's folder."""

from __future__ import annotations

from xrayssl.study.config import StudyConfig
from xrayssl.study.plan import plan, run_folder_name


def test_names_that_sanitise_alike_get_different_folders():
    ids = ["ssl/all/simclr/회전/seed0", "ssl/all/simclr/반전/seed0", "ssl/all/simclr/a__b", "ssl/all__simclr/a/b"]
    names = [run_folder_name(i) for i in ids]
    assert len(set(names)) == len(ids)
    assert all("/" not in n and not n.startswith(".") and len(n) <= 120 for n in names)
    assert run_folder_name("ssl/all/simclr/flip/seed0") == "ssl__all__simclr__flip__seed0"  # plain ids keep theirs


def test_a_list_study_of_korean_recipes_plans_one_folder_per_run(tiny_cache, tmp_path):
    config = StudyConfig(
        cache=str(tiny_cache), out=str(tmp_path / "s"), design="list", recipes={"회전": "rotate(10)", "반전": "flip"}
    )
    folders = [run_folder_name(run_id) for run_id, _kind, _params in plan(config)]
    assert len(set(folders)) == len(folders)
