"""What the study's images look like and how many there are: both stored in the study folder by the study's final
step (study.preview), so the report reads no cache and reruns no augmentation."""

from __future__ import annotations

from xrayssl.data.manifest import LABEL_NAMES  # studies stored before tasks: binary
from xrayssl.report import plots
from xrayssl.report.markup import esc, fmt, img, table
from xrayssl.report.results import StudyResults

SPLIT_WORDS = {"train": "training", "val": "validation"}
NOT_YET = "stored by the study's final step, which has not run yet (or could not read the cache)"


def augmentations(res: StudyResults) -> str:
    """What each of the study's augmentations does to a few of its images (after the base, if any)."""
    preview = res.preview
    png = res.study / preview["file"] if preview else None
    if png is None or not png.is_file():
        return f"<h2>Augmentations</h2><p class='note'>The preview is {NOT_YET}.</p>"
    split = SPLIT_WORDS.get(preview["split"], preview["split"])
    specs = "".join(
        f"<li><b>{esc(k)}</b> <code>{esc(v or 'nothing')}</code></li>" for k, v in preview["recipes"].items()
    )
    return (
        "<h2>Augmentations</h2><p class='note'>One random draw of each of the study's augmentations on "
        f"{len(preview['images'])} {esc(split)} images (each row on the same images).</p>"
        f"<ul class='note'>{specs}</ul>" + img(plots.file_uri(png), "augmentation preview")
    )


def dataset(res: StudyResults) -> str:
    """Images and patients per split, body part and label, as the study's cache held them."""
    summary = res.dataset
    if not summary:
        return f"<h2>Dataset</h2><p class='note'>The dataset summary is {NOT_YET}.</p>"
    rows = [
        {"split": esc(r["split"]), "body part": fmt(r["body_part"] or "-"),
         "label": esc(r.get("label_name", LABEL_NAMES.get(r["label"], r["label"]))), "images": r["images"],
         "patients": r["patients"]}
        for r in summary["counts"]
    ]  # fmt: skip
    return (
        f"<h2>Dataset</h2><p>{summary['images']} images, {summary['patients']} patients, cache "
        f"<code>{esc(summary['cache'])}</code>. Splits are by patient.</p>"
        + table(rows, left=("split", "body part", "label"))
    )
