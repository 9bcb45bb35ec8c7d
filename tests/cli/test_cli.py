"""The ``xrayssl`` command: JSON output, exit codes, and user mistakes without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import write_corrupt

from xrayssl.cli.main import main
from xrayssl.data.synthetic import SynthConfig, write_dataset


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("cli"), SynthConfig(n_patients=12, size=96, seed=9))


def test_inspect_json_has_the_documented_keys(synth_root, capsys):
    assert main(["data", "inspect", str(synth_root), "--json", "--workers", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"format", "n_images", "n_patients", "n_studies", "counts", "problems"} <= set(out)
    assert out["format"] == "csv" and out["n_patients"] == 12
    assert sum(c["n"] for c in out["counts"]) == out["n_images"]
    assert {"split", "body_part", "label", "n"} <= set(out["counts"][0])
    # 12 patients: val and test are too small for an interval, and say so; no other problem
    assert [p for p in out["problems"] if not p["path"].startswith("split ")] == []
    assert {p["path"] for p in out["problems"]} <= {"split val", "split test"}


def test_strict_turns_problems_into_exit_1(tmp_path, synth_root, capsys):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(synth_root, root)
    bad = write_corrupt(sorted((root / "images").rglob("*.png"))[0])
    assert main(["data", "inspect", str(root), "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["path"] for p in out["problems"] if not p["path"].startswith("split ")] == [str(bad)]
    assert main(["data", "inspect", str(root), "--strict", "--quiet"]) == 1
    assert (
        main(["data", "prepare", str(root), "--out", str(tmp_path / "c"), "--size", "32", "--quiet", "--strict"]) == 1
    )
    assert (tmp_path / "c" / "images.npy").is_file()  # strict still prepares what it can


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "inspect", "/no/such/folder"], "no such file or folder"),
        (["data", "inspect", "{root}", "--format", "nifti"], "unknown dataset format 'nifti'"),
        (["data", "inspect", "{root}", "--body-part", "skull"], "no images of body part"),
        (["data", "prepare", "{root}", "--out", "{tmp}/c", "--size", "4"], "between 16 and 2048 px"),
        (["data", "inspect", "{root}", "--val-fraction", "0.9"], "fractions"),
    ],
)
def test_user_mistakes_exit_2_with_a_message(argv, message, synth_root, tmp_path, capsys):
    argv = [a.format(root=synth_root, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_empty_folder_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "xrayssl", "data", "inspect", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "could not recognise the dataset layout" in proc.stderr and "Traceback" not in proc.stderr


def test_synth_mura_layout_reads_back_as_mura(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "synth",
                str(tmp_path / "s"),
                "--patients",
                "10",
                "--layout",
                "mura",
                "--size",
                "64",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert main(["data", "inspect", str(tmp_path / "s"), "--json", "--quick"]) == 0
    out = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert out["format"] == "mura" and out["n_patients"] == 10
    assert [p for p in out["problems"] if not p["path"].startswith("split ")] == []  # 10 patients: splits too small
    assert {c["split"] for c in out["counts"]} == {"train", "val", "test"}


@pytest.mark.slow
def test_demo_runs_end_to_end_small(tmp_path, capsys):
    """The README's main command in a reduced size: data, cache, study, references, Grad-CAM and report."""
    args = ["demo", "--out", str(tmp_path / "demo"), "--patients", "40", "--size", "32", "--epochs", "1"]
    args += ["--methods", "simclr,byol", "--augmentations", "flip,blur", "--batch-size", "16", "--workers", "2"]
    assert main([*args, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "report:" in out and "13/13 runs done, 0 failed" in out
    assert (tmp_path / "demo" / "cache" / "images.npy").is_file()
    html = (tmp_path / "demo" / "report.html").read_text()
    for section in ("Answer", "Augmentations", "Leaderboard", "Augmentation effects", "ROC curves", "Training curves",
                    "Label efficiency", "Grad-CAM", "Runs"):  # fmt: skip
        assert f"<h2>{section}" in html
    assert "For SimCLR on these images" in html and "For BYOL on these images" in html
    from xrayssl.data.synthetic import PLANTED_EFFECTS
    from xrayssl.study.store import Store

    store = Store(tmp_path / "demo" / "study")
    assert store.get_meta("expected_effects") == {"flip": PLANTED_EFFECTS["flip"]}  # blur has no planted truth
    counts = store.counts()
    assert counts == {"done": 2 * 4 + 2 + 2 + 1}  # 2 methods x (none, flip, blur, both), floors, supervised, final


def test_demo_flags_take_their_defaults_from_demo_config(tmp_path, capsys):
    from xrayssl.cli.main import build_parser
    from xrayssl.cli.options import build
    from xrayssl.demo import DemoConfig

    assert build(DemoConfig, build_parser().parse_args(["demo"])) == DemoConfig()  # no flags: the defaults
    args = build_parser().parse_args(["demo", "--patients", "7", "--size", "80", "--methods", "byol,simclr"])
    config = build(DemoConfig, args)  # the old flag names keep working
    assert (config.n_patients, config.train_size, config.methods) == (7, 80, ("byol", "simclr"))
    assert config.cache_size == 80 and DemoConfig().cache_size == 64  # the cache is at least 64 px
    assert main(["demo", "--out", str(tmp_path / "d"), "--augmentations", "flip,sharpen"]) == 2
    assert "unknown demo augmentation(s) ['sharpen']" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()  # refused before anything is generated
