"""What a study's images look like, stored in the study folder while the cache is at hand (by the final step), so
that the report reads the study folder only and still works when the cache has moved or been deleted.

    STUDY/preview/augmentations.png   one random draw of each augmentation on six training images
    STUDY/preview/augmentations.json  what it shows: {"file", "split", "seed", "recipes": {row: spec},
                                      "images": [{"patient_id", "label", "body_part", "caption"}]}
    STUDY/preview/dataset.json        the cache's images per split: {"cache", "images", "patients",
                                      "counts": [{"split", "body_part", "label", "images", "patients"}]}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from xrayssl.errors import XraySSLError
from xrayssl.study.config import StudyConfig

PREVIEW_DIR = "preview"
AUGMENTATIONS_PNG = f"{PREVIEW_DIR}/augmentations.png"
AUGMENTATIONS_JSON = f"{PREVIEW_DIR}/augmentations.json"
DATASET_JSON = f"{PREVIEW_DIR}/dataset.json"


def preview_recipes(config: StudyConfig) -> dict[str, str]:
    """The preview's rows: the originals, the base (if any), then each augmentation the study ran, after the
    base: a list design's recipes, or the factors its design's recipes use."""
    from xrayssl.study.designs import resolve

    recipes = {"original": ""} | ({"base": config.base} if config.base else {})
    if config.design == "list":
        ran = dict(config.recipes)
    else:
        used = {p for r in config.recipe_list() for p in r.parts}
        ran = {name: spec for name, spec in config.augmentations.items() if name in used}
    return recipes | {
        name: "+".join(x for x in (resolve(config.base), resolve(spec)) if x) for name, spec in ran.items()
    }


def store_preview(config: StudyConfig, n: int = 6, seed: int = 0) -> dict[str, Any] | None:
    """Write the augmentation preview and the dataset summary into the study folder; returns the preview's record,
    or None where the cache cannot be read (the report then says the preview is missing, the study goes on)."""
    try:
        record = _store_augmentations(config, n, seed)
        write_json(Path(config.out) / DATASET_JSON, dataset_summary(config.cache))
    except (XraySSLError, OSError) as exc:
        print(f"preview: not stored ({exc})", flush=True)
        return None
    return record


def _store_augmentations(config: StudyConfig, n: int, seed: int) -> dict[str, Any]:
    import torch

    from xrayssl.augment.pipeline import parse_pipeline
    from xrayssl.augment.show import grid_png
    from xrayssl.data.cache import PreparedCache
    from xrayssl.data.sample import sample_images

    task = PreparedCache(config.cache).task
    images, rows = sample_images(config.cache, n, seed=seed, split="train")
    batch = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)
    recipes = preview_recipes(config)
    grid = {  # one generator per row: each row is one draw of its augmentation, the same on every rerun
        name: parse_pipeline(spec)(batch, torch.Generator().manual_seed(i))[:, 0].numpy() if spec else images
        for i, (name, spec) in enumerate(recipes.items())
    }
    shown = [
        {"patient_id": str(r.patient_id), "label": int(r.label), "body_part": r.body_part or "",
         "caption": f"{task.label_name(int(r.label))} {r.body_part or ''}".strip()}
        for r in rows.itertuples()
    ]  # fmt: skip
    png = Path(config.out) / AUGMENTATIONS_PNG
    png.parent.mkdir(parents=True, exist_ok=True)
    _write_bytes(png, grid_png(grid, [s["caption"] for s in shown]))
    record = {"file": AUGMENTATIONS_PNG, "split": "train", "seed": seed, "recipes": recipes, "images": shown}
    write_json(Path(config.out) / AUGMENTATIONS_JSON, record)
    return record


def dataset_summary(cache: str | Path) -> dict[str, Any]:
    """Images and patients per split, body part and label of a prepared cache."""
    from xrayssl.data.cache import PreparedCache

    prepared = PreparedCache(cache)
    manifest, task = prepared.manifest, prepared.task
    counts = (
        manifest.groupby(["split", "body_part", "label"])
        .agg(images=("path", "size"), patients=("patient_id", "nunique"))
        .reset_index()
    )
    return {
        "cache": str(cache),
        "task": task.to_json(),
        "images": len(manifest),
        "patients": int(manifest["patient_id"].nunique()),
        "counts": [
            {"split": str(r.split), "body_part": str(r.body_part or ""), "label": int(r.label),
             "label_name": task.label_name(int(r.label)), "images": int(r.images), "patients": int(r.patients)}
            for r in counts.itertuples()
        ],
    }  # fmt: skip


def read_stored(study: str | Path, name: str) -> dict[str, Any] | None:
    """A stored preview record (AUGMENTATIONS_JSON or DATASET_JSON), None where the study has none yet."""
    path = Path(study) / name
    return json.loads(path.read_text()) if path.is_file() else None


def write_json(path: Path, value: dict[str, Any]) -> None:
    _write_bytes(path, json.dumps(value, indent=1).encode())


def _write_bytes(path: Path, data: bytes) -> None:
    """Write through a temporary file, so that a report never reads half a file from a study still running."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
