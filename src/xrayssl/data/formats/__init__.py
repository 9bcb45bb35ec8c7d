"""Dataset formats: one small module per on-disk layout, each registering itself here.

A format is a ``detect(root) -> bool`` and a ``read(root, options) -> (records, problems)``. Adding a
format means adding one module in this package; ``read_dataset`` and ``--format auto`` find it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from xrayssl.data.manifest import Problem, Record, make_manifest
from xrayssl.errors import XraySSLError


@dataclass(frozen=True)
class ReadOptions:
    """Options a few formats need; each is ignored by the formats it does not concern."""

    patient_regex: str | None = None  # folder/DICOM: first group of this regex on the file stem
    normal_classes: tuple[int, ...] | None = None  # MedMNIST: class ids that mean "normal"
    # label files (CSV rows, AI Hub JSON) may name images outside the dataset root only when asked
    allow_outside_root: bool = False


Reader = Callable[[Path, ReadOptions], tuple[list[Record], list[Problem]]]


@dataclass(frozen=True)
class DatasetFormat:
    name: str
    detect: Callable[[Path], bool]
    read: Reader
    priority: int  # lower is tried first by auto-detection (the most specific layouts first)
    description: str


@dataclass
class ScanResult:
    """What reading a dataset found: the manifest and every problem on the way."""

    root: Path
    format: str
    manifest: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)


FORMATS: dict[str, DatasetFormat] = {}


def register(name: str, *, detect: Callable[[Path], bool], priority: int, description: str):
    def wrap(read: Reader) -> Reader:
        FORMATS[name] = DatasetFormat(name, detect, read, priority, description)
        return read

    return wrap


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def format_names() -> list[str]:
    _load_all()
    return sorted(FORMATS, key=lambda n: FORMATS[n].priority)


def detect_format(root: Path) -> str:
    for name in format_names():
        if FORMATS[name].detect(root):
            return name
    raise XraySSLError(f"{root}: could not recognise the dataset layout; pass --format, one of {format_names()}")


def read_dataset(root: str | Path, fmt: str = "auto", options: ReadOptions | None = None) -> ScanResult:
    """Read a dataset in any registered format into one manifest plus the problems found."""
    root = Path(root).expanduser().resolve()
    if not root.exists():
        raise XraySSLError(f"{root}: no such file or folder")
    names = format_names()
    if fmt == "auto":
        fmt = detect_format(root)
    elif fmt not in FORMATS:
        raise XraySSLError(f"unknown dataset format '{fmt}'; valid formats: auto, {', '.join(names)}")
    records, problems = FORMATS[fmt].read(root, options or ReadOptions())
    for r in records:
        r.source = r.source or fmt
    if not records:
        where = "; ".join(f"{p.path}: {p.problem}" for p in problems[:5])
        raise XraySSLError(f"{root}: no usable images found as format '{fmt}'" + (f" ({where})" if where else ""))
    return ScanResult(root=root, format=fmt, manifest=make_manifest(records), problems=problems)
