"""AI Hub synthetic X-ray set (주요질환 이미지 합성데이터): source images and one label JSON per image.

``<root>/<Train|Training|Valid|Validation>/<[N.]원천데이터>/<[TS_]Part_Normal|Abnormal>/<image>.png`` and the
same under ``라벨링데이터`` (labels, ``TL_`` prefix) with ``<image>.json``. Folder names are matched after
Unicode NFC normalisation (zip tools on macOS write NFD). The JSON's ``filepath`` is usually a path on the
machine that made the labels, so images are found by ``filename`` under the matching source folder.
AI Hub's validation split is used as the test split; a validation split is carved from training later.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from xrayssl.data.formats import ReadOptions, register
from xrayssl.data.formats._walk import image_files, is_regular_file, nfc, outside_root, split_of, walk
from xrayssl.data.manifest import Problem, Record

SOURCE, LABEL = "원천데이터", "라벨링데이터"
CLASS = re.compile(r"^(?:(?P<zip>[TV][SL])_)?(?P<part>.+)_(?P<label>normal|abnormal)$", re.IGNORECASE)
SPLIT_OF_ZIP = {"T": "train", "V": "test"}


def _role(parts: list[str], zip_prefix: str | None) -> str | None:
    names = [nfc(p) for p in parts]
    if any(SOURCE in n for n in names):
        return "source"
    if any(LABEL in n for n in names):
        return "label"
    if zip_prefix:
        return "source" if zip_prefix[1].upper() == "S" else "label"
    return None


def _split(parts: list[str], zip_prefix: str | None) -> str:
    for p in parts:
        s = split_of(p)
        if s:
            return "test" if s == "val" else s  # AI Hub ships Train + Validation; Validation is the test set
    return SPLIT_OF_ZIP.get(zip_prefix[0].upper(), "") if zip_prefix else ""


def _class_folders(root: Path, problems: list[Problem]) -> list[tuple[Path, str, str, str, str]]:
    """(folder, role, split, part, Normal|Abnormal) for every class folder below root (symlinks followed)."""
    found = []
    for dirpath, _dirnames, _ in walk(root, problems):
        m = CLASS.match(nfc(Path(dirpath).name))
        if not m or Path(dirpath) == root:
            continue
        parts = list(Path(dirpath).relative_to(root).parts[:-1])
        role = _role(parts, m["zip"])
        if role:
            found.append((Path(dirpath), role, _split(parts, m["zip"]), m["part"], m["label"].capitalize()))
    return found


def _detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    for dirpath, dirnames, _ in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        if depth >= 3:
            dirnames[:] = []
        for d in dirnames:
            name = nfc(d)
            if SOURCE in name or LABEL in name or re.match(r"^[TV][SL]_.+_(normal|abnormal)$", name, re.I):
                return True
    return False


@register("aihub", detect=_detect, priority=20, description="AI Hub synthetic X-ray (원천데이터 + 라벨링데이터)")
def read(root: Path, options: ReadOptions) -> tuple[list[Record], list[Problem]]:
    problems: list[Problem] = []
    sources: dict[tuple[str, str, str], dict[str, Path]] = {}  # (split, part, class) -> filename -> path
    label_files: list[tuple[Path, str, str, str]] = []
    for folder, role, split, part, cls in _class_folders(root, problems):
        key = (split, part.lower(), cls)
        if role == "source":
            files = sources.setdefault(key, {})
            for path in image_files(folder, problems):
                files[nfc(path.name)] = path
        else:
            for path in sorted(folder.rglob("*")):
                if is_regular_file(path) and path.suffix.lower() == ".json" and not path.name.startswith("._"):
                    label_files.append((path, *key))
                elif path.is_file() and path.name != ".DS_Store":
                    problems.append(Problem(str(path), "not a label JSON file, skipped"))
    records: list[Record] = []
    used: set[Path] = set()
    for json_path, split, part, cls in label_files:
        try:
            with open(json_path, encoding="utf-8-sig") as f:
                info = json.load(f)
            if not isinstance(info, dict):
                raise ValueError("top level is not an object")
        except (OSError, ValueError) as exc:
            problems.append(Problem(str(json_path), f"unreadable label file ({exc}), skipped"))
            continue
        filename = nfc(str(info.get("filename") or json_path.with_suffix(".png").name))
        image = _named_image(info, filename, root, options, json_path, problems)
        files = sources.get((split, part, cls), {})
        image = image or files.get(filename) or files.get(nfc(Path(filename).stem + ".png"))
        if image is None:
            problems.append(Problem(str(json_path), f"label without image: '{filename}' not found, skipped"))
            continue
        used.add(image)
        text = str(info.get("label", "")).strip()
        label = 0 if text.lower() == "normal" else 1 if text else (0 if cls == "Normal" else 1)
        if text and (label == 0) != (cls == "Normal"):
            problems.append(Problem(str(json_path), f"label '{text}' disagrees with folder '{cls}'; using the label"))
        meta = {k: v for k, v in info.items() if k not in ("filepath", "filename")}
        meta["finding"] = text or cls
        records.append(Record(str(image), label, part, "", "", split, meta=meta))
    for (split, part, cls), files in sorted(sources.items()):
        for path in files.values():
            if path not in used:
                problems.append(Problem(str(path), f"image without label file; label '{cls}' taken from its folder"))
                records.append(
                    Record(str(path), 0 if cls == "Normal" else 1, part, "", "", split, meta={"finding": cls})
                )
    return records, problems


def _named_image(
    info: dict, filename: str, root: Path, options: ReadOptions, json_path: Path, problems: list[Problem]
) -> Path | None:
    """The image the JSON's ``filepath`` names, if it is a regular file inside the root (or outside it, when
    allowed); otherwise None, and the image is looked up by name in the matching source folder."""
    if not info.get("filepath"):
        return None
    candidate = Path(str(info["filepath"])) / filename
    if not candidate.is_absolute():
        candidate = root / candidate
    if outside_root(candidate, root) and not options.allow_outside_root:
        if candidate.exists():
            problems.append(
                Problem(
                    str(json_path),
                    f"filepath '{candidate}' is outside the dataset root, not followed "
                    "(--allow-outside-root follows it)",
                )
            )
        return None
    return candidate if is_regular_file(candidate) else None
