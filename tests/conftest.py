"""Shared fixtures: real knee radiographs from ../shared/data when present, synthetic ones always."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KNEE_DEMO = SHARED_DATA / "knee_oa_demo"
KNEE = SHARED_DATA / "knee_oa"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (the shared data folder sits beside the repository in CI)")
    return path


@pytest.fixture(scope="session")
def knee_demo() -> Path:
    return need(KNEE_DEMO)


@pytest.fixture(scope="session")
def knee() -> Path:
    return need(KNEE)


@pytest.fixture(scope="session")
def radiographs() -> list[np.ndarray]:
    """Twelve small synthetic radiographs (uint8) to build dataset trees from."""
    from xrayssl.data.synthetic import SynthConfig, generate

    images = [img for img, _ in generate(SynthConfig(n_patients=6, size=96, seed=3))]
    assert len(images) >= 12
    return images[:12]


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def write_corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    return path


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    """A prepared cache of 50 synthetic patients at 32 px: small enough to train on in seconds."""
    from xrayssl.data.prepare import prepare
    from xrayssl.data.process import ProcessConfig
    from xrayssl.data.synthetic import SynthConfig, write_dataset

    root = write_dataset(tmp_path_factory.mktemp("tiny"), SynthConfig(n_patients=50, size=64, seed=11), workers=2)
    return prepare(
        root, tmp_path_factory.mktemp("cache") / "c", process=ProcessConfig(size=32), workers=2, progress=False
    ).cache


@pytest.fixture(scope="session")
def graded_cache(tmp_path_factory) -> Path:
    """The real knee demo images with their Kellgren-Lawrence grades as an ordinal task (normal: grade 0), 32 px."""
    from xrayssl.data.formats import ReadOptions
    from xrayssl.data.prepare import prepare
    from xrayssl.data.process import ProcessConfig

    options = ReadOptions(label="kl_grade", task="ordinal", normal="0")
    out = tmp_path_factory.mktemp("graded") / "c"
    process = ProcessConfig(size=32)
    return prepare(need(KNEE_DEMO), out, process=process, options=options, workers=2, progress=False).cache
