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
from typing import Literal

import pandas as pd

from xrayssl.data.labels import resolve_task
from xrayssl.data.manifest import Problem, Record, make_manifest
from xrayssl.errors import XraySSLError
from xrayssl.tasks import BINARY, Task, TaskKind


@dataclass(frozen=True)
class ReadOptions:
    """Options a few formats need; each is ignored by the formats it does not concern."""

    label: str | None = field(
        default=None,
        metadata={"help": "CSV: the label column (several, comma-separated, one per finding, for --task multilabel)",
                  "default": "the first of label_int, label, target, class, y"},
    )  # fmt: skip
    task: TaskKind | None = field(
        default=None,
        metadata={"help": "what a label is", "default": "binary (normal/abnormal); other labels need --task"},
    )
    normal: str | None = field(
        default=None,
        metadata={"help": "the label value(s) meaning normal, comma-separated (gives a normal-vs-rest AUROC)"},
    )
    uncertain: Literal["ignore", "zero", "one"] = field(
        default="ignore",
        metadata={"help": "multilabel: an uncertain finding (-1) counts as missing (ignore), 0 (zero) or 1 (one)"},
    )

    patient_regex: str | None = field(
        default=None,
        metadata={"help": r"folder/DICOM layouts: regex whose first group is the patient id in the file name, "
                  r"e.g. '^(\d+)[LR]$'"},
    )  # fmt: skip
    normal_classes: tuple[int, ...] | None = field(
        default=None, metadata={"help": "MedMNIST: comma-separated class ids meaning normal", "default": "0"}
    )
    allow_outside_root: bool = field(
        default=False,
        metadata={"help": "read images that label files (CSV rows, AI Hub JSON) name outside the dataset folder"},
    )


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
    task: Task = BINARY


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
    options = options or ReadOptions()
    records, problems = FORMATS[fmt].read(root, options)
    for r in records:
        r.source = r.source or fmt
    if not records:
        where = "; ".join(f"{p.path}: {p.problem}" for p in problems[:5])
        raise XraySSLError(f"{root}: no usable images found as format '{fmt}'" + (f" ({where})" if where else ""))
    task, label_problems = resolve_task(records, str(root), options.task, options.normal, options.uncertain)
    return ScanResult(root, fmt, make_manifest(records), problems + label_problems, task)
