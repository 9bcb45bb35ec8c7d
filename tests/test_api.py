"""The public Python API: lazy top-level names, and the steps as functions taking the CLI's config objects."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import xrayssl

PUBLIC = {
    "XraySSLError": "xrayssl.errors:XraySSLError",
    "__version__": "xrayssl.version:__version__",
    **{
        step: f"xrayssl.api:{step}"
        for step in (
            "prepare",
            "inspect",
            "verify",
            "synth",
            "show_augmentations",
            "pretrain",
            "probe",
            "supervised",
            "gradcam",
            "predict",
        )
    },
    "run_study": "xrayssl.api:study",
    "build_report": "xrayssl.api:report",
    "run_demo": "xrayssl.api:demo",
    "load_encoder": "xrayssl.api:load_encoder",
    "export_encoder": "xrayssl.api:export",
    "PrepareConfig": "xrayssl.data.config:PrepareConfig",
    "InspectConfig": "xrayssl.data.config:InspectConfig",
    "SynthConfig": "xrayssl.data.synthetic:SynthConfig",
    "AugmentShowConfig": "xrayssl.augment.config:AugmentShowConfig",
    "PretrainConfig": "xrayssl.train.config:PretrainConfig",
    "SupervisedConfig": "xrayssl.train.config:SupervisedConfig",
    "ProbeConfig": "xrayssl.evaluate.config:ProbeConfig",
    "GradCamConfig": "xrayssl.evaluate.config:GradCamConfig",
    "PredictConfig": "xrayssl.evaluate.config:PredictConfig",
    "StudyConfig": "xrayssl.study.config:StudyConfig",
    "ReportConfig": "xrayssl.report.config:ReportConfig",
    "ExportConfig": "xrayssl.export_config:ExportConfig",
    "DemoConfig": "xrayssl.demo:DemoConfig",
    "load_config_file": "xrayssl.configfile:load_config_file",
}


def test_import_is_lazy_and_every_public_name_resolves():
    code = "import sys, xrayssl; print('torch' in sys.modules, 'lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    # each public name is the very object it stands for (a name resolving to the wrong thing fails here)
    assert set(xrayssl.__all__) == set(PUBLIC) and set(xrayssl.__all__) <= set(dir(xrayssl))
    for name, where in PUBLIC.items():
        module, attribute = where.split(":")
        assert getattr(xrayssl, name) is getattr(importlib.import_module(module), attribute), name
    assert xrayssl.run_study is xrayssl.api.study and xrayssl.export_encoder is xrayssl.api.export


def test_prepare_takes_process_settings_as_keywords(tmp_path):
    from xrayssl.data.synthetic import SynthConfig, write_dataset

    root = write_dataset(tmp_path / "ds", SynthConfig(n_patients=8, size=64, seed=2), workers=1)
    result = xrayssl.prepare(root, tmp_path / "cache", size=32, clahe=False, workers=1, progress=False)
    info = json.loads((result.cache / "cache.json").read_text())
    assert result.n_images == info["n_images"] > 0
    assert info["process"]["size"] == 32 and info["process"]["clahe"] is False
