"""Checkpoints load with weights_only=True only: a pickle planted in a run folder never runs, on `pretrain
--resume` nor on the in-process resume a study does; it is named once as untrusted and never retried unsafely."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xrayssl.train.checkpoints import UntrustedCheckpoint, checkpoints, load_checkpoint, resumable_checkpoint
from xrayssl.train.config import PretrainConfig
from xrayssl.train.pretrain import pretrain


class _Payload:
    """Unpickling this calls os.system: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def plant(folder: Path, marker: Path) -> Path:
    path = folder / "step-99999999.ckpt"  # the highest step: the first one a resume would try
    path.write_bytes(pickle.dumps({"global_step": 99999999, "payload": _Payload(marker)}))
    return path


@pytest.fixture(scope="module")
def finished_run(tiny_cache, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("safe") / "r1"
    config = PretrainConfig(
        cache=str(tiny_cache), out=str(out), epochs=1, size=32, batch_size=16, budget=None, checkpoint_every="1s",
        monitor_every=0,
    )  # fmt: skip
    pretrain(config, progress_bar=False)
    assert checkpoints(out / "checkpoints")
    return out


def test_a_planted_pickle_is_untrusted_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    planted = plant(tmp_path, marker)
    with pytest.raises(UntrustedCheckpoint, match=f"untrusted checkpoint {planted}"):
        load_checkpoint(planted)
    assert resumable_checkpoint(tmp_path)[0] is None
    assert not marker.exists()


def _untrusted_lines(text: str, planted: Path) -> list[str]:
    return [line for line in text.splitlines() if planted.name in line]


def test_pretrain_resume_does_not_run_a_planted_checkpoint(finished_run, tiny_cache, tmp_path):
    marker = tmp_path / "ran-cli"
    planted = plant(finished_run / "checkpoints", marker)
    real = checkpoints(finished_run / "checkpoints")[1]
    cmd = [sys.executable, "-m", "xrayssl", "pretrain", str(tiny_cache), "--resume", "--out", str(finished_run),
           "--quiet"]  # fmt: skip
    resumed = subprocess.run(cmd, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert not marker.exists()  # the payload did not run
    lines = _untrusted_lines(resumed.stdout, planted)
    assert len(lines) == 1 and f"untrusted checkpoint {planted}" in lines[0], resumed.stdout
    assert f"resuming from {real.name}" in resumed.stdout
    assert "weights_only" not in resumed.stderr  # Lightning's restore was told weights_only=True, not defaulted


def test_in_process_resume_as_a_study_does_is_safe_too(finished_run, tiny_cache, tmp_path, capsys, monkeypatch):
    marker = tmp_path / "ran-study"
    planted = plant(finished_run / "checkpoints", marker)
    real_load, loads = torch.load, []

    def recording_load(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)  # ours and Lightning's restore: every load is safe
    config = PretrainConfig(
        cache=str(tiny_cache), out=str(finished_run), epochs=1, size=32, batch_size=16, budget=None,
        checkpoint_every="1s", monitor_every=0,
    )  # fmt: skip
    pretrain(config, resume=True, progress_bar=False)  # the study runner's call for an interrupted run
    assert not marker.exists()
    lines = _untrusted_lines(capsys.readouterr().out, planted)
    assert len(lines) == 1 and "untrusted checkpoint" in lines[0]
    assert len(loads) >= 3 and all(flag is True for flag in loads), loads  # planted, real, Lightning's restore
