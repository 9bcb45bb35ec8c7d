"""A study records the identity of its cache: resumed over a cache that now holds another dataset, it refuses."""

from __future__ import annotations

import pytest

from xrayssl.data.prepare import prepare
from xrayssl.data.process import ProcessConfig
from xrayssl.data.synthetic import SynthConfig, write_dataset
from xrayssl.errors import XraySSLError
from xrayssl.study.config import StudyConfig
from xrayssl.study.runner import CACHE_KEY, open_study


def _prepare(tmp_path, seed: int, cache):
    root = write_dataset(tmp_path / f"data{seed}", SynthConfig(n_patients=40, size=64, seed=seed), workers=1)
    return prepare(root, cache, process=ProcessConfig(size=32), workers=1, progress=False).cache


def test_a_study_resumed_over_a_replaced_cache_is_refused(tmp_path):
    cache = _prepare(tmp_path, 1, tmp_path / "cache")
    config = StudyConfig(cache=str(cache), out=str(tmp_path / "study"), methods=["simclr"], seeds=1,
                         pretrain={"size": 32})  # fmt: skip
    _, store = open_study(config, config.out)
    assert store.get_meta(CACHE_KEY)["identity"]
    open_study(None, config.out)  # the same cache: resumes
    _prepare(tmp_path, 2, cache)  # another dataset prepared into the same folder
    with pytest.raises(XraySSLError, match="not the one this study started on"):
        open_study(None, config.out)
    with pytest.raises(XraySSLError, match="not the one this study started on"):
        open_study(config, config.out)


def test_a_split_of_one_class_is_refused_before_the_study_starts(tmp_path):
    import pandas as pd

    root = write_dataset(tmp_path / "data", SynthConfig(n_patients=40, size=64, seed=3), workers=1)
    labels = next(root.glob("*.csv"))
    frame = pd.read_csv(labels, dtype=str, keep_default_na=False)
    frame["label"] = "normal"  # nothing abnormal anywhere
    frame.to_csv(labels, index=False)
    cache = prepare(root, tmp_path / "cache", process=ProcessConfig(size=32), workers=1, progress=False).cache
    config = StudyConfig(cache=str(cache), out=str(tmp_path / "study"), methods=["simclr"], seeds=1)
    with pytest.raises(XraySSLError, match=r"split 'train' needs labelled normal and abnormal images"):
        open_study(config, config.out)
    assert not (tmp_path / "study").exists()
