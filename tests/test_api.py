"""The public Python API: lazy top-level names, and the steps as functions taking the CLI's config objects."""

from __future__ import annotations

import json
import subprocess
import sys

import xrayssl


def test_import_is_lazy_and_every_public_name_resolves():
    code = "import sys, xrayssl; print('torch' in sys.modules, 'lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    for name in xrayssl.__all__:
        assert getattr(xrayssl, name) is not None, name
    assert set(xrayssl.__all__) <= set(dir(xrayssl))
    assert xrayssl.run_study is xrayssl.api.study and xrayssl.export_encoder is xrayssl.api.export


def test_prepare_takes_process_settings_as_keywords(tmp_path):
    from xrayssl.data.synthetic import SynthConfig, write_dataset

    root = write_dataset(tmp_path / "ds", SynthConfig(n_patients=8, size=64, seed=2), workers=1)
    result = xrayssl.prepare(root, tmp_path / "cache", size=32, clahe=False, workers=1, progress=False)
    info = json.loads((result.cache / "cache.json").read_text())
    assert result.n_images == info["n_images"] > 0
    assert info["process"]["size"] == 32 and info["process"]["clahe"] is False
