"""A run folder is where it is: resume writes into --out, reads the cache given (which must be the one the run
started on), one writer at a time, and a damaged config.json is one line, not a traceback or a huge model."""

from __future__ import annotations

import json
import shutil

import pytest

from xrayssl.cli.main import main
from xrayssl.errors import XraySSLError
from xrayssl.fileio import claim_folder
from xrayssl.train.config import PretrainConfig
from xrayssl.train.pretrain import pretrain

TINY = ["--size", "32", "--batch-size", "16", "--epochs", "1", "--monitor-every", "0"]


@pytest.fixture(scope="module")
def finished(tiny_cache, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "r1"
    assert main(["pretrain", str(tiny_cache), "--out", str(run), *TINY, "--quiet"]) == 0
    return run


def _snapshot(run):
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"}


def test_resuming_a_copied_run_writes_into_the_copy_only(finished, tiny_cache, tmp_path):
    before = _snapshot(finished)
    copy = tmp_path / "r1copy"
    shutil.copytree(finished, copy)
    (copy / "record.json").unlink()
    assert main(["pretrain", str(tiny_cache), "--resume", "--out", str(copy), *TINY, "--quiet"]) == 0
    assert _snapshot(finished) == before  # the original is untouched
    assert json.loads((copy / "record.json").read_text())["steps"] > 0
    assert json.loads((copy / "config.json").read_text())["config"]["out"] == str(finished)  # stored as it was


def test_resuming_over_another_dataset_is_refused(finished, tmp_path, capsys):
    from xrayssl.data.prepare import prepare
    from xrayssl.data.process import ProcessConfig
    from xrayssl.data.synthetic import SynthConfig, write_dataset

    root = write_dataset(tmp_path / "other", SynthConfig(n_patients=30, size=64, seed=99), workers=1)
    other = prepare(root, tmp_path / "c2", process=ProcessConfig(size=32), workers=1, progress=False).cache
    copy = tmp_path / "r1copy"
    shutil.copytree(finished, copy)
    assert main(["pretrain", str(other), "--resume", "--out", str(copy), *TINY, "--quiet"]) == 2
    assert "not the one this run started on" in capsys.readouterr().err


def test_a_held_run_folder_refuses_a_second_writer(tiny_cache, tmp_path):
    run = tmp_path / "busy"
    claim = claim_folder(run)  # another process's run, as far as the folder can tell
    try:
        with pytest.raises(XraySSLError, match="another run is writing here"):
            pretrain(PretrainConfig(cache=str(tiny_cache), out=str(run), size=32, batch_size=16, epochs=1))
        assert not (run / "config.json").exists()
    finally:
        claim.release()


def test_a_refused_run_leaves_no_folder(tmp_path, tiny_cache):
    run = tmp_path / "never"
    with pytest.raises(XraySSLError):  # more images per batch than the cache holds
        pretrain(PretrainConfig(cache=str(tiny_cache), out=str(run), size=32, batch_size=100_000, epochs=1))
    assert not run.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "unreadable"),
        ("[1, 2]", "not a run's config.json"),
        ('{"run_format_version": 1, "kind": "pretrain", "config": {"size": "big", "backbone": "resnet18"}}', "size"),
        ('{"run_format_version": 1, "kind": "pretrain", "config": {"size": 100000, "backbone": "resnet18"}}', "size"),
    ],
)
def test_a_damaged_config_json_is_one_line(finished, tiny_cache, tmp_path, capsys, text, message):
    copy = tmp_path / "damaged"
    shutil.copytree(finished, copy)
    (copy / "config.json").write_text(text)
    for args in (["pretrain", str(tiny_cache), "--resume", "--out", str(copy), *TINY], ["probe", str(copy)]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_a_planted_or_damaged_encoder_is_one_line_and_never_unpickled(finished, tmp_path, capsys):
    import pickle

    copy = tmp_path / "bad"
    shutil.copytree(finished, copy)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    good = (copy / "encoder.pt").read_bytes()
    cases = {"holds more than tensors": pickle.dumps(Payload()), "damaged or truncated": good[: len(good) // 3]}
    for message, data in cases.items():
        (copy / "encoder.pt").write_bytes(data)
        assert main(["probe", str(copy), "--bootstrap", "10"]) == 2
        err = capsys.readouterr().err
        assert message in err and "weights_only" not in err and err.count("\n") == 1, err
    assert not marker.exists()
