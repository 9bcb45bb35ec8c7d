"""The study's last step, once every run is done: for the recipe chosen on validation per method, the probe's
label-efficiency curve and Grad-CAM next to the supervised model's; and the augmentation preview and dataset
summary (study.preview), stored so that the report needs the study folder only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xrayssl.evaluate.config import GradCamConfig, ProbeConfig
from xrayssl.paths import safe_name
from xrayssl.study.analysis import best_recipes, seed_runs, ssl_frame
from xrayssl.study.config import StudyConfig
from xrayssl.study.preview import store_preview
from xrayssl.study.store import Store


def finalize(config: StudyConfig, store: Store, progress: bool = True) -> dict[str, Any]:
    from xrayssl.evaluate.run_probe import probe

    out = Path(config.out)
    store_preview(config)  # first: it needs only the cache, and a report can show it while the rest runs
    frame = ssl_frame(store)
    best = best_recipes(frame)
    first_fraction = frame["abnormal_fraction"].iloc[0] if len(frame) else None
    chosen: list[dict[str, Any]] = []
    for row in best.itertuples():
        if row.abnormal_fraction != first_fraction:
            continue
        runs = seed_runs(frame, row)
        run = out / runs.iloc[0]["run"]
        if progress:
            print(f"finalize: {row.method} / {row.recipe} ({row.body_part}): label efficiency and Grad-CAM", flush=True)
        efficiency = probe(
            ProbeConfig(
                source=str(run),
                label_fractions=config.label_fractions,
                seeds=3,
                n_boot=config.n_boot,
                out=str(Path(run) / "probe-label-fractions.json"),
            )
        )["label_fractions"]
        cams_out = out / "gradcam" / safe_name(f"{row.body_part}-{row.method}")
        cams = _cams(run, cams_out, config.gradcam_n)
        chosen.append(
            {
                "method": row.method,
                "recipe": row.recipe,
                "body_part": row.body_part,
                "run": runs.iloc[0]["run"],
                "label_fractions": efficiency,
                "gradcam": _relative(cams, out),
            }
        )
    supervised = [
        r
        for r in store.runs(kind="supervised", status="done")
        if r["params"]["label_fraction"] == max(config.label_fractions)
    ]
    sup_cams = []
    for r in supervised:
        part = r["params"]["body_part"] or "all"
        if progress:
            print(f"finalize: supervised ({part}): Grad-CAM", flush=True)
        cams_out = out / "gradcam" / safe_name(f"{part}-supervised")
        cams = _cams(out / r["result"]["run"], cams_out, config.gradcam_n)
        sup_cams.append({"body_part": part, "run": r["result"]["run"], "gradcam": _relative(cams, out)})
    return {"best": chosen, "supervised": sup_cams}


def _cams(run: Path, out: Path, n: int) -> dict[str, Any] | None:
    """Grad-CAM of a run, or None with ``gradcam_n`` 0 (no galleries asked for)."""
    from xrayssl.evaluate.gradcam import gradcam

    return gradcam(GradCamConfig(run=str(run), out=str(out), n=n)) if n else None


def _relative(cams: dict[str, Any] | None, root: Path) -> dict[str, Any] | None:
    """Grad-CAM image paths relative to the study folder, so that the folder can move."""

    def rel(p: str) -> str:
        return str(Path(p).resolve().relative_to(root.resolve()))

    if cams is None:
        return None
    return {
        "images": [rel(p) for p in cams["images"]],
        "panels": [{**p, "file": rel(p["file"])} for p in cams.get("panels", [])],
        "faithfulness": cams["faithfulness"],
        "layer": cams["layer"],
    }
