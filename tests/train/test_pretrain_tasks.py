"""Pretraining on a graded dataset: the imbalance arm reads the task's normal class, not label == 1."""

from __future__ import annotations

import json

import pytest

from xrayssl.data.cache import PreparedCache
from xrayssl.errors import XraySSLError
from xrayssl.train.config import PretrainConfig
from xrayssl.train.pretrain import _pool

TINY = {"size": 32, "batch_size": 16, "budget": None}


def test_the_abnormal_share_of_a_graded_pool_counts_every_grade_above_normal(graded_cache, tmp_path):
    cache = PreparedCache(graded_cache)
    config = PretrainConfig(cache=str(graded_cache), out=str(tmp_path / "r"), pretrain_abnormal_fraction=0.25, **TINY)
    idx, pool = _pool(cache, config)
    grades = cache.labels[idx]
    assert pool["abnormal_share_used"] == pytest.approx(0.25, abs=0.02)
    assert pool["abnormal_share_used"] == pytest.approx(float((grades > 0).mean()))  # grades 2, 3 and 4 all count
    assert len({*grades.tolist()} - {0}) >= 2  # several grades above normal in the pool


def test_the_imbalance_arm_needs_a_normal_class(graded_cache, tmp_path):
    info = json.loads((graded_cache / "cache.json").read_text())
    info["task"]["normal"] = []
    copy = tmp_path / "c"
    copy.mkdir()
    for f in graded_cache.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    (copy / "cache.json").write_text(json.dumps(info))
    config = PretrainConfig(cache=str(copy), out=str(tmp_path / "r"), pretrain_abnormal_fraction=0.5, **TINY)
    with pytest.raises(XraySSLError, match=r"needs a normal class.*--normal"):
        _pool(PreparedCache(copy), config)
