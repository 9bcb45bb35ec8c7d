"""A study config -> the list of runs (id, kind, params) stored in the study database."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from xrayssl.study.config import StudyConfig
from xrayssl.study.store import FINAL_KIND

REFERENCE_KIND = "reference"  # a frozen-feature reference (config.REFERENCES), once per body part


def run_folder_name(run_id: str) -> str:
    """A file-system-safe folder name for a run id (ids hold '/', '+' and '>', and body parts and recipe names
    from the data). Whenever a character had to be replaced, or a long id cut, 12 hex digits of a hash of the
    verbatim id are appended: '회전' and '반전' both sanitise to '__', and must never share one run's folder."""
    readable = run_id.replace("/", "__").replace(">", "-then-")
    name = re.sub(r"[^A-Za-z0-9._+=-]", "_", readable).lstrip(".")
    reversible = "__" not in run_id and "-then-" not in run_id  # else 'a/b' and 'a__b' would meet
    if name == readable and reversible and len(name) <= 120:
        return name  # plain ASCII ids keep their names, so existing studies find their folders
    return f"{name[:100]}-{hashlib.sha256(run_id.encode()).hexdigest()[:12]}"


def plan(config: StudyConfig) -> list[tuple[str, str, dict[str, Any]]]:
    runs: list[tuple[str, str, dict[str, Any]]] = []
    specs = config.specs()
    for part in config.body_parts:
        scope = part or "all"
        if config.floors:
            for encoder in ("random", "pixels"):
                runs.append((f"floor/{scope}/{encoder}", "floor", {"encoder": encoder, "body_part": part}))
        for name in config.all_references():
            runs.append((f"reference/{scope}/{name}", REFERENCE_KIND, {"reference": name, "body_part": part}))
        if config.supervised is not None:
            for fraction in sorted(config.label_fractions, reverse=True):
                runs.append(
                    (
                        f"supervised/{scope}/labels{fraction:g}",
                        "supervised",
                        {"label_fraction": fraction, "seed": 0, "body_part": part},
                    )
                )
        # seeds outermost: a study stopped early still has every recipe at the first seeds
        for seed in range(config.seeds):
            for fraction in config.abnormal_fractions:
                for method, init in [(m, i) for i in config.inits for m in config.methods]:
                    for recipe in config.recipe_list():
                        rid = f"ssl/{scope}/{method}/{recipe.name}/seed{seed}"
                        if fraction is not None:
                            rid += f"/abnormal{fraction:g}"
                        # the start, where it is a factor: ids and params of studies without one are unchanged
                        start = {"init": init} if config.varies_init() else {}
                        if start:
                            rid += f"/from-{init or 'none'}"
                        params = {
                            **start,
                            "method": method,
                            "recipe": recipe.name,
                            "spec": recipe.spec(specs, config.base),
                            "parts": list(recipe.parts),
                            "seed": seed,
                            "abnormal_fraction": fraction,
                            "body_part": part,
                        }
                        runs.append((rid, "ssl", params))
    runs.append(("finalize", FINAL_KIND, {}))
    return runs
