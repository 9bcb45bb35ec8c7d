"""MedMNIST ``.npz`` files: ``{train,val,test}_images`` (uint8, N x H x W [x 3]) and ``*_labels``.

Binary X-ray sets map class 0 to normal except BreastMNIST, whose class 1 is normal/benign; multi-label
sets (ChestMNIST) are abnormal when any finding is present. Other sets need ``normal_classes``.
MedMNIST has no patient ids: every image is its own patient.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xrayssl.data.formats import ReadOptions, register
from xrayssl.data.imageio import npz_ref, npz_shapes
from xrayssl.data.manifest import Problem, Record
from xrayssl.errors import XraySSLError

NORMAL_CLASSES = {"breastmnist": (1,)}
BODY_PART = {"chestmnist": "chest", "pneumoniamnist": "chest", "breastmnist": "breast"}


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root] if root.suffix.lower() == ".npz" else []
    return sorted(p for p in root.glob("*.npz") if not p.name.startswith("._"))


def _detect(root: Path) -> bool:
    for f in _files(root):
        try:
            with np.load(f) as z:
                return any(k.endswith("_images") for k in z.files)
        except Exception:
            return False
    return False


@register("medmnist", detect=_detect, priority=30, description="MedMNIST .npz (train/val/test arrays)")
def read(root: Path, options: ReadOptions) -> tuple[list[Record], list[Problem]]:
    records: list[Record] = []
    problems: list[Problem] = []
    files = _files(root)
    if not files:
        raise XraySSLError(f"{root}: no .npz file")
    for f in files:
        name = f.stem.split("_")[0].lower()
        normal = options.normal_classes or NORMAL_CLASSES.get(name, (0,))
        try:
            z, shapes = np.load(f), npz_shapes(f)
        except Exception as exc:
            problems.append(Problem(str(f), f"cannot read .npz ({exc}), skipped"))
            continue
        with z:
            for split in ("train", "val", "test"):
                if f"{split}_images" not in z.files:
                    continue
                n = shapes[f"{split}_images"][0]  # from the header: the images stay compressed until prepare
                labels = z[f"{split}_labels"] if f"{split}_labels" in z.files else None
                if labels is not None and len(labels) != n:
                    problems.append(Problem(str(f), f"{split}: {len(labels)} labels for {n} images; unlabelled"))
                    labels = None
                if labels is None:
                    problems.append(Problem(str(f), f"{split}: no labels; images kept unlabelled"))
                for i in range(n):
                    if labels is None:
                        label, raw = -1, None
                    else:
                        row = np.atleast_1d(labels[i])
                        raw = row.tolist()
                        label = int(row.any()) if row.size > 1 else int(int(row[0]) not in normal)
                    records.append(
                        Record(
                            npz_ref(f, f"{split}_images", i),
                            label,
                            BODY_PART.get(name, ""),
                            split=split,
                            meta={"class": raw} if raw is not None else {},
                        )
                    )
    return records, problems
