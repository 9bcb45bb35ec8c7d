"""Outputs are written whole or not at all: a full disk mid-write keeps the earlier file and leaves no temporary
one, and says so in one line (export left a truncated file under its real name, with a traceback)."""

from __future__ import annotations

import errno

import pytest

from xrayssl.cli.main import main


@pytest.fixture(scope="module")
def run(tiny_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("atomic") / "run"
    args = ["pretrain", str(tiny_cache), "--out", str(out), "--size", "32", "--batch-size", "16", "--epochs", "1"]
    assert main([*args, "--monitor-every", "0", "--quiet"]) == 0
    return out


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_a_full_disk_keeps_the_earlier_export(run, tmp_path, monkeypatch, capsys, suffix):
    target = tmp_path / f"encoder{suffix}"
    assert main(["export", str(run), "--to", "timm", "--in-chans", "1", "--out", str(target)]) == 0
    good = target.read_bytes()
    import torch

    monkeypatch.setattr(torch, "save", _full_disk)
    import safetensors.torch

    monkeypatch.setattr(safetensors.torch, "save", _full_disk)
    capsys.readouterr()
    assert main(["export", str(run), "--to", "timm", "--in-chans", "1", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "no space left" in err and err.count("\n") == 1
    assert target.read_bytes() == good
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_keeps_the_earlier_report_and_probe(run, tmp_path, monkeypatch, capsys):
    assert main(["probe", str(run), "--bootstrap", "20", "--json"]) == 0
    probe_json = next(run.glob("probe*.json"))
    good = probe_json.read_bytes()
    import os

    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", _full_disk)  # the write "succeeds" until it reaches the disk
    assert main(["probe", str(run), "--bootstrap", "20", "--json"]) == 2
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert probe_json.read_bytes() == good
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
