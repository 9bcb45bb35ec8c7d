"""Where the chosen models look: Grad-CAM panels the final step stored, with their faithfulness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xrayssl.report import plots
from xrayssl.report.markup import esc, fmt, img, table
from xrayssl.report.results import StudyResults
from xrayssl.study.analysis import chosen
from xrayssl.study.analysis.guardrails import at_chance


def gradcam(res: StudyResults) -> str:
    if not res.final:
        return "<h2>Grad-CAM</h2><p class='note'>drawn when the study has finished</p>"
    columns = [(f"{b['method']}: {b['recipe']}", b["gradcam"], b["body_part"]) for b in res.final["best"]]
    columns += [("supervised", s["gradcam"], s["body_part"]) for s in res.final["supervised"]]
    columns = [c for c in columns if c[1]]  # a study with gradcam_n 0 draws none
    if not columns:
        return "<h2>Grad-CAM</h2><p class='note'>none drawn (gradcam_n is 0)</p>"
    out = [
        "<h2>Grad-CAM</h2><p class='note'>Where each model looks on test images, by outcome. Faithfulness: "
        "deletion AUC of random order minus Grad-CAM order (higher: removing the highlighted pixels first changes "
        "the prediction faster, so the map points at what the model uses).</p>"
    ]
    rows = [
        {"model": esc(name), "body part": esc(part), "layer": esc(g["layer"]),
         "faithfulness": fmt(g["faithfulness"]["score"]),
         "deletion AUC (Grad-CAM / random)":
             f"{g['faithfulness']['deletion_auc_gradcam']:.3f} / {g['faithfulness']['deletion_auc_random']:.3f}"}
        for name, g, part in columns
    ]  # fmt: skip
    out.append(table(rows, left=("model", "body part")))
    flat = _at_chance(res)
    if flat:
        out.append(
            f"<p class='bad'>Caveat: {esc(', '.join(flat))} scored at chance on the test images; "
            "a heatmap of a model that cannot tell the classes apart shows where it looks, not what it has "
            "learned, and says nothing about the anatomy.</p>"
        )
    for heading, by_model in _panels(columns).items():
        figs = [
            f"<figure>{img(plots.file_uri(res.study / f), title)}<figcaption>{esc(title)}</figcaption></figure>"
            for title, f in by_model.items()
            if (res.study / f).is_file()
        ]
        if figs:
            out.append(f"<h3>{esc(heading)}</h3><div class='gallery'>{''.join(figs)}</div>")
    return "".join(out)


def _panels(columns: list[tuple[str, dict[str, Any], str]]) -> dict[str, dict[str, str]]:
    """heading -> model title -> image: one heading per (body part, outcome) as Grad-CAM recorded them; older
    studies only have file names."""
    panels: dict[str, dict[str, str]] = {}
    for title, g, _ in columns:
        for p in g.get("panels") or [{"file": f, "heading": Path(f).stem.replace("_", " ")} for f in g["images"]]:
            heading = p.get("heading") or f"{p['body_part']}: {p['outcome']}"
            panels.setdefault(heading, {})[title] = p["file"]
    return panels


def _at_chance(res: StudyResults) -> list[str]:
    """The Grad-CAM models whose test interval covers chance: each method's chosen recipe, the supervised model."""
    flat = [f"{r.method}: {r.recipe}" for r in chosen(res.board).itertuples() if at_chance(r, res.chance)]
    sup = res.refs[res.refs["kind"] == "supervised"] if len(res.refs) else res.refs
    if len(sup) and any(at_chance(r, res.chance) for r in sup.itertuples()):
        flat.append("supervised")
    return flat
