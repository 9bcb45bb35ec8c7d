"""Atomic outputs and exclusive folder claims."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xrayssl.errors import XraySSLError
from xrayssl.fileio import atomic_write, claim_folder, write_text_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write_text_atomic(tmp_path / "out.json", "good")
    with pytest.raises(ZeroDivisionError), atomic_write(target, "w") as f:
        f.write("half")
        raise ZeroDivisionError  # a crash mid-write
    assert target.read_text() == "good" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_a_full_disk_is_one_line_naming_the_file(tmp_path):
    with (
        pytest.raises(XraySSLError, match=r"out\.bin: could not write it \(no space left"),
        atomic_write(tmp_path / "out.bin"),
    ):
        raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_a_claimed_folder_refuses_a_second_writer_until_released(tmp_path):
    claim = claim_folder(tmp_path / "run")
    other = [sys.executable, "-c", f"from xrayssl.fileio import claim_folder; claim_folder({str(tmp_path / 'run')!r})"]
    done = subprocess.run(other, capture_output=True, text=True)
    assert done.returncode != 0 and "another run is writing here" in done.stderr
    claim.release()
    assert subprocess.run(other, capture_output=True).returncode == 0
