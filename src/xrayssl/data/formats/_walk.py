"""Shared pieces of the folder-walking readers: file listing, split and class names from folder names."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from xrayssl.data.imageio import IMAGE_SUFFIXES, is_dicom_file, is_regular_file, is_resource_fork
from xrayssl.data.manifest import Problem, parse_label

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "tr": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}
# files that carry a dataset's own metadata: never reported as "not an image"
METADATA_SUFFIXES = {".csv", ".json", ".txt", ".md", ".xlsx", ".xls", ".tsv", ".yaml", ".yml", ".xml"}
IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


def nfc(text: str) -> str:
    """Korean (and other) names arrive in NFC or NFD form depending on the OS that unzipped them."""
    return unicodedata.normalize("NFC", text)


def split_of(name: str) -> str | None:
    return SPLIT_ALIASES.get(nfc(name).strip().lower())


def walk(root: Path, problems: list[Problem]) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` in a stable (sorted) order that follows symlinked folders (a class folder linked in
    from elsewhere is read, not dropped) and reads each real folder once: a link back up the tree, or a
    second link to a folder already read, is reported and skipped. Hidden folders are skipped."""
    seen: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            kind = "a link back into a folder above it" if _is_within(seen[real], dirpath) else "a second link"
            problems.append(Problem(dirpath, f"{kind} to {seen[real]}, already read; skipped"))
            dirnames[:] = []
            continue
        seen[real] = dirpath
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        yield dirpath, dirnames, sorted(filenames)


def _is_within(folder: str, path: str) -> bool:
    return os.path.commonpath([folder, path]) == folder


def walk_files(root: Path, problems: list[Problem] | None = None) -> Iterator[Path]:
    """Every file below root in a stable (sorted) order, symlinked folders followed (see ``walk``)."""
    for dirpath, _dirnames, filenames in walk(root, [] if problems is None else problems):
        for name in filenames:
            yield Path(dirpath) / name


def image_files(root: Path, problems: list[Problem], dicom_only: bool = False) -> Iterator[Path]:
    """Image files below root; everything else that is not metadata is reported, not silently skipped."""
    for path in walk_files(root, problems):
        if path.name in IGNORED_NAMES:
            continue
        if is_resource_fork(path):
            problems.append(Problem(str(path), "macOS resource-fork file (._*), skipped"))
            continue
        if not is_regular_file(path):
            problems.append(Problem(str(path), "not a regular file (a pipe, socket, device or broken link), skipped"))
            continue
        suffix = path.suffix.lower()
        if (not dicom_only and suffix in IMAGE_SUFFIXES) or is_dicom_file(path):
            yield path
        elif suffix not in METADATA_SUFFIXES:
            problems.append(Problem(str(path), "not an image file, skipped"))


def report_empty_folders(root: Path, problems: list[Problem]) -> None:
    for dirpath, dirnames, filenames in walk(root, []):  # links were reported while listing the images
        if not dirnames and not [f for f in filenames if not f.startswith(".")]:
            problems.append(Problem(dirpath, "empty folder"))


def patient_from_stem(stem: str, regex: str | None) -> str:
    if regex:
        m = re.search(regex, stem)
        if m:
            return m.group(1) if m.groups() else m.group(0)
    return ""


def classify_parts(parts: list[str]) -> tuple[str | None, int | None, list[str]]:
    """From folder names between root and file: (split, label, the remaining names)."""
    split, label, rest = None, None, []
    for part in parts:
        s = split_of(part)
        lab = parse_label(part)
        if s and split is None:
            split = s
        elif lab is not None:
            label = lab  # the deepest class-like name wins
        else:
            rest.append(part)
    return split, label, rest


def outside_root(path: Path, root: Path) -> bool:
    """Whether a path named by a label file leaves the dataset root (after resolving links and ``..``)."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return True
    return False
