"""``prepare``: the cache content, reuse on rerun, partial invalidation, bad files, versioning."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import write_corrupt

from xrayssl.data.cache import PreparedCache
from xrayssl.data.prepare import prepare
from xrayssl.data.process import ProcessConfig, fit_square, process
from xrayssl.data.synthetic import SynthConfig, write_dataset
from xrayssl.errors import XraySSLError


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("synth"), SynthConfig(n_patients=30, size=160, seed=5))


def test_cache_holds_every_image_processed(tmp_path, synth_root):
    result = prepare(synth_root, tmp_path / "c", process=ProcessConfig(size=64), workers=2, progress=False)
    cache = PreparedCache(result.cache)
    n = len((synth_root / "labels.csv").read_text().splitlines()) - 1
    assert len(cache) == n == result.n_images == result.n_processed
    assert cache.images.shape == (n, 64, 64) and cache.images.dtype == np.uint8
    assert set(cache.manifest["split"]) == {"train", "val", "test"}
    assert (cache.manifest.groupby("patient_id")["split"].nunique() == 1).all()
    # row i of the array is row i of the manifest: re-process one file by hand and compare
    from xrayssl.data.imageio import read_gray

    i = 7
    expected = process(read_gray(cache.manifest["path"].iat[i]), ProcessConfig(size=64))
    np.testing.assert_array_equal(cache.images[i], expected)
    info = json.loads((result.cache / "cache.json").read_text())
    assert info["format_version"] == 2 and info["process"]["size"] == 64 and info["n_images"] == n


def test_rerun_reuses_and_a_changed_file_is_redone(tmp_path, synth_root):
    out = tmp_path / "c"
    prepare(synth_root, out, process=ProcessConfig(size=48), workers=1, progress=False)
    before = np.array(PreparedCache(out).images)
    again = prepare(synth_root, out, process=ProcessConfig(size=48), workers=1, progress=False)
    assert again.up_to_date and again.n_processed == 0
    touched = sorted((synth_root / "images").rglob("*.png"))[3]
    data = touched.read_bytes()
    touched.write_bytes(data)  # same content, new mtime: a changed source as far as the cache can tell
    os.utime(touched, ns=(1, 1))
    redo = prepare(synth_root, out, process=ProcessConfig(size=48), workers=1, progress=False)
    assert (redo.n_processed, redo.n_reused) == (1, len(before) - 1)
    np.testing.assert_array_equal(PreparedCache(out).images, before)
    other = prepare(synth_root, out, process=ProcessConfig(size=48, clahe=False), workers=1, progress=False)
    assert other.n_processed == len(before)  # new processing settings invalidate every image


def test_corrupt_image_is_reported_and_the_rest_prepared(tmp_path, synth_root):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(synth_root, root)
    bad = write_corrupt(sorted((root / "images").rglob("*.png"))[0])
    result = prepare(root, tmp_path / "c", process=ProcessConfig(size=32), workers=2, progress=False)
    cache = PreparedCache(result.cache)
    assert str(bad) not in set(cache.manifest["path"])
    assert len(cache) == result.n_images == len((root / "labels.csv").read_text().splitlines()) - 2
    assert [p.path for p in result.problems] == [str(bad)]
    assert "not a decodable image" in result.problems[0].problem
    # the failure is remembered: a rerun reports it again without decoding, and is up to date
    again = prepare(root, tmp_path / "c", process=ProcessConfig(size=32), workers=2, progress=False)
    assert again.up_to_date and [p.path for p in again.problems] == [str(bad)]
    assert "problem" in cache.problems().columns and len(cache.problems()) == 1


def test_body_part_selection_and_batch_reads(tmp_path, synth_root):
    result = prepare(
        synth_root, tmp_path / "c", process=ProcessConfig(size=32), body_parts=["knee"], workers=1, progress=False
    )
    cache = PreparedCache(result.cache)
    assert set(cache.manifest["body_part"]) == {"knee"}
    idx = np.array([5, 0, 3, 3])
    np.testing.assert_array_equal(cache.batch(idx), np.asarray(cache.images)[idx])
    assert len(cache.indices("train")) + len(cache.indices("val")) + len(cache.indices("test")) == len(cache)


def test_wrong_version_and_missing_cache_are_clear_errors(tmp_path, synth_root):
    with pytest.raises(XraySSLError, match="not a prepared cache"):
        PreparedCache(tmp_path / "nothing")
    out = prepare(synth_root, tmp_path / "c", process=ProcessConfig(size=32), workers=1, progress=False).cache
    info = json.loads((out / "cache.json").read_text())
    info["format_version"] = 99
    (out / "cache.json").write_text(json.dumps(info))
    with pytest.raises(XraySSLError, match="version 99"):
        PreparedCache(out)


def test_pad_keeps_aspect_and_clahe_spares_the_padding():
    img = np.full((100, 50), 120, np.uint8)
    img[:, :25] = 60
    _scaled, (y, x, h, w) = fit_square(img, 64, "pad")
    assert (h, w) == (64, 32) and (y, x) == (0, 16)
    out = process(img, ProcessConfig(size=64))
    assert (out[:, :16] == 0).all() and (out[:, 48:] == 0).all()  # border stays black after CLAHE
    assert out[:, 16:48].min() > 0
    crop = process(img, ProcessConfig(size=64, resize="crop", clahe=False))
    assert crop.shape == (64, 64) and crop.min() == 60 and crop.max() == 120


def test_real_knee_demo_prepares(tmp_path, knee_demo):
    result = prepare(knee_demo, tmp_path / "c", process=ProcessConfig(size=64), workers=2, progress=False)
    cache = PreparedCache(result.cache)
    assert len(cache) == 240 and result.problems == []
    # the demo has train and test only: val is carved from train, by patient
    m = cache.manifest
    assert set(m["split"]) == {"train", "val", "test"}
    assert (m[m["split"] == "test"]["path"].str.contains("/test/")).all()
    assert (m.groupby("patient_id")["split"].nunique() == 1).all()
