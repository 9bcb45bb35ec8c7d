"""MedMNIST ``.npz`` files: ``{train,val,test}_images`` (uint8, N x H x W [x 3]) and ``*_labels``.

Labels are (N, 1) class indices for single-label sets and (N, K) 0/1 findings for multi-label ones (ChestMNIST).
Without ``--task`` a file keeps MedMNIST's own task (``MEDMNIST``, from MedMNIST's INFO: ChestMNIST multilabel,
OrganAMNIST multiclass, RetinaMNIST ordinal, PneumoniaMNIST binary...), its classes named as MedMNIST names
them; a file of another name is multilabel when its labels have several columns, binary when they are 0 and
1 only, multiclass otherwise, its classes named by index. ``data inspect`` says which task it took.

As a binary task (a binary set, or ``--task binary``) class 0 is normal except BreastMNIST, whose class 1 is
normal/benign; ``--normal`` (class indices or names) or the older ``normal_classes`` name other normal
classes, and a multi-label set is abnormal when any finding is present. MedMNIST has no patient ids: every
image is its own patient.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xrayssl.data.formats import LabelInfo, ReadOptions, register
from xrayssl.data.imageio import npz_ref, npz_shapes
from xrayssl.data.manifest import Problem, Record
from xrayssl.errors import XraySSLError

_ORGANS = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
           "lung-right", "pancreas", "spleen")  # fmt: skip
# MedMNIST's INFO (v2): its "task" flag and its class (or finding) names in label order
MEDMNIST: dict[str, tuple[str, tuple[str, ...]]] = {
    "chestmnist": ("multi-label, binary-class", ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass",
                   "nodule", "pneumonia", "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis",
                   "pleural", "hernia")),
    "pneumoniamnist": ("binary-class", ("normal", "pneumonia")),
    "breastmnist": ("binary-class", ("malignant", "normal, benign")),
    "retinamnist": ("ordinal-regression", ("0", "1", "2", "3", "4")),
    "organamnist": ("multi-class", _ORGANS),
    "organcmnist": ("multi-class", _ORGANS),
    "organsmnist": ("multi-class", _ORGANS),
    "octmnist": ("multi-class", ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal")),
    "pathmnist": ("multi-class", ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
                  "normal colon mucosa", "cancer-associated stroma", "colorectal adenocarcinoma epithelium")),
    "dermamnist": ("multi-class", ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
                   "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
                   "vascular lesions")),
    "bloodmnist": ("multi-class", ("basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte",
                   "monocyte", "neutrophil", "platelet")),
    "tissuemnist": ("multi-class", ("collecting duct, connecting tubule", "distal convoluted tubule",
                    "glomerular endothelial cells", "interstitial endothelial cells", "leukocytes", "podocytes",
                    "proximal tubule segments", "thick ascending limb")),
}  # fmt: skip
KINDS = {"multi-label, binary-class": "multilabel", "binary-class": "binary", "multi-class": "multiclass",
         "ordinal-regression": "ordinal"}  # fmt: skip
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


def own_task(name: str, labels: list[np.ndarray]) -> tuple[str, tuple[str, ...], str]:
    """(task kind, class names, where they come from) of a MedMNIST file named ``name`` with these labels."""
    if name in MEDMNIST:
        flag, classes = MEDMNIST[name]
        return KINDS[flag], classes, f"MedMNIST's own task for {name} ('{flag}')"
    width = max((a.shape[1] for a in labels if a.ndim == 2), default=1)
    values = np.unique(np.concatenate([a.reshape(-1) for a in labels])) if labels else np.array([0, 1])
    kind = "multilabel" if width > 1 else "binary" if set(values.tolist()) <= {0, 1} else "multiclass"
    k = width if width > 1 else int(values.max()) + 1 if len(values) else 2
    return kind, tuple(str(i) for i in range(k)), f"not a MedMNIST name: {kind} from its labels' shape"


@register("medmnist", detect=_detect, priority=30, description="MedMNIST .npz (train/val/test arrays)")
def read(root: Path, options: ReadOptions) -> tuple[list[Record], list[Problem], LabelInfo]:
    records: list[Record] = []
    problems: list[Problem] = []
    files = _files(root)
    if not files:
        raise XraySSLError(f"{root}: no .npz file")
    tasks: dict[str, tuple[str, tuple[str, ...], str]] = {}
    for f in files:
        name = f.stem.split("_")[0].lower()
        try:
            z, shapes = np.load(f), npz_shapes(f)
        except Exception as exc:
            problems.append(Problem(str(f), f"cannot read .npz ({exc}), skipped"))
            continue
        with z:
            splits = _split_labels(f, z, shapes, problems)
        kind, classes, note = own_task(name, [labels for _, labels in splits.values() if labels is not None])
        kind = options.task or kind
        tasks[f.name] = (kind, classes, note)
        for split, (n, labels) in splits.items():
            for i in range(n):
                record = Record(npz_ref(f, f"{split}_images", i), -1, BODY_PART.get(name, ""), split=split)
                if labels is not None:
                    _label(record, labels[i], kind, classes, _normal(name, classes, options), f)
                records.append(record)
    # normal_classes is the older spelling of --normal: class indices, for every task
    old = ",".join(map(str, options.normal_classes)) if options.normal_classes and not options.normal else None
    return records, problems, _one_task(tasks, root, old)


def _split_labels(f: Path, z, shapes: dict, problems: list[Problem]) -> dict[str, tuple[int, np.ndarray | None]]:
    """Per split in the file: the number of images (from the header: they stay compressed until prepare) and
    the labels as (N, width), or None where they are missing or unusable (said in ``problems``)."""
    out = {}
    for split in ("train", "val", "test"):
        if f"{split}_images" not in z.files:
            continue
        n = shapes[f"{split}_images"][0]
        labels, why = _labels(z, split, n)
        if why:
            problems.append(Problem(str(f), f"{split}: {why}; images kept unlabelled"))
        out[split] = (n, labels)
    return out


def _labels(z, split: str, n: int) -> tuple[np.ndarray | None, str]:
    if f"{split}_labels" not in z.files:
        return None, "no labels"
    try:
        labels = np.asarray(z[f"{split}_labels"])
    except ValueError as exc:  # an object array would need pickle: never loaded
        return None, f"labels not readable ({exc})"
    if len(labels) != n:
        return None, f"{len(labels)} labels for {n} images"
    if labels.dtype.kind not in "biuf" or not np.isfinite(labels).all():
        return None, f"labels that are not all numbers ({labels.dtype})"
    return labels.reshape(n, -1).astype(np.int64), ""


def _normal(name: str, classes: tuple[str, ...], options: ReadOptions) -> tuple[int, ...]:
    """The normal class indices of a binary reading: ``--normal`` (indices or names), ``normal_classes``, or
    the set's own (class 0; BreastMNIST's class 1)."""
    if options.normal:
        by_name = {c.lower(): i for i, c in enumerate(classes)}
        found = []
        for token in (t.strip() for t in options.normal.split(",") if t.strip()):
            if token.isdigit():
                found.append(int(token))
            elif token.lower() in by_name:
                found.append(by_name[token.lower()])
            else:
                shown = ", ".join(f"{i} ({c})" for i, c in enumerate(classes))
                raise XraySSLError(f"{name}: --normal '{token}' is not a class; classes: {shown}")
        return tuple(found)
    return options.normal_classes or NORMAL_CLASSES.get(name, (0,))


def _label(record: Record, row: np.ndarray, kind: str, classes: tuple[str, ...], normal: tuple[int, ...], f: Path):
    record.meta = {"class": row.tolist()}
    if kind == "binary":  # set here: the labels are codes, normal/abnormal by the set's (or --normal's) classes
        record.label = int(row.any()) if row.size > 1 else int(int(row[0]) not in normal)
    elif kind == "multilabel":
        if row.size == 1:
            raise XraySSLError(f"{f}: --task multilabel needs labels with one column per finding; this file's "
                               "labels are one class per image (--task multiclass reads them)")  # fmt: skip
        names = classes if len(classes) == row.size else tuple(str(j) for j in range(row.size))
        record.findings = {n: str(int(v)) for n, v in zip(names, row, strict=True)}
    else:
        if row.size > 1:
            raise XraySSLError(f"{f}: its labels are several findings per image; --task {kind} needs one class "
                               "per image (--task multilabel or binary reads them)")  # fmt: skip
        record.value = str(int(row[0])) if row[0] >= 0 else ""  # a negative class: unlabelled, and said


def _one_task(tasks: dict[str, tuple[str, tuple[str, ...], str]], root: Path, normal: str | None) -> LabelInfo:
    """One task for every file read: binary files may be read together (normal/abnormal), others one at a time."""
    if not tasks:
        return LabelInfo()
    kinds = {(kind, classes) for kind, classes, _ in tasks.values()}
    if len(kinds) > 1 and {kind for kind, _ in kinds} != {"binary"}:
        listed = ", ".join(f"{f} ({kind})" for f, (kind, _, _) in tasks.items())
        raise XraySSLError(f"{root}: MedMNIST files of different tasks ({listed}); prepare one file at a time")
    kind, classes, note = next(iter(tasks.values()))
    names = {str(i): c for i, c in enumerate(classes)} if kind in ("multiclass", "ordinal") else {}
    return LabelInfo(kind, names, note, normal)  # type: ignore[arg-type]
