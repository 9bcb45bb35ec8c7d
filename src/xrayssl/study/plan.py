"""A study config -> the list of runs (id, kind, params) stored in the study database."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from xrayssl.study.config import StudyConfig
from xrayssl.study.store import FINAL_KIND
from xrayssl.train.config import parse_budget

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


# rough shares of a pretraining step's time: a probe encodes each image once (forward only, no second view), a
# supervised step is one view forward and backward
PROBE_SHARE, SUPERVISED_SHARE = 0.2, 0.5


def describe_plan(config: StudyConfig, done: set[str] | None = None, timed_steps: int = 3) -> list[str]:
    """``study --plan``: every run the study would make and an estimate of its time, from the run length (epochs
    or budget) and a few steps timed on this machine per method; runs already done (``done``) are marked so.
    Runs nothing and writes nothing."""
    from xrayssl.data.cache import PreparedCache
    from xrayssl.train.data import select
    from xrayssl.train.pretrain import seconds_per_step

    cache = PreparedCache(config.cache)
    done = done or set()
    runs = plan(config)
    per_step, where = {}, "cpu"
    for method in config.methods:
        shared = config.pretrain_config(method=method, augs=config.base, seed=0, out="-")
        per_step[method], where = seconds_per_step(shared, timed_steps)
    shared = config.pretrain_config(method=config.methods[0], augs="", seed=0, out="-")
    budget = parse_budget(shared.budget)
    images = len(cache)
    lines, total, width = [], 0.0, max(len(rid) for rid, _, _ in runs)
    for rid, kind, p in runs:
        if rid in done:
            lines.append(f"  {rid:<{width}}  done already")
            continue
        if kind == "ssl":
            n = len(select(cache, shared.split, p["body_part"]))
            steps = (shared.epochs or 0) * max(1, n // shared.batch_size)
            seconds = steps * per_step[p["method"]] if steps else 0.0
            if budget:
                seconds = min(seconds, budget) if steps else budget
            what = f"{steps} steps" if steps else f"budget {shared.budget}"
            seconds += images / shared.batch_size * per_step[p["method"]] * PROBE_SHARE  # its probe
        elif kind == "supervised":
            sup = config.supervised_config(out="-", label_fraction=p["label_fraction"], body_part=p["body_part"])
            n = int(len(select(cache, "train", p["body_part"])) * p["label_fraction"])
            steps = (sup.epochs or 0) * max(1, n // sup.batch_size)
            seconds = steps * per_step[config.methods[0]] * SUPERVISED_SHARE
            if parse_budget(sup.budget):
                seconds = min(seconds, parse_budget(sup.budget)) if steps else parse_budget(sup.budget)
            what = f"{steps} steps" if steps else f"budget {sup.budget}"
        elif kind == FINAL_KIND:
            what = "label efficiency, Grad-CAM"
            seconds = images / shared.batch_size * per_step[config.methods[0]] * PROBE_SHARE * 4 * len(config.methods)
        else:
            what = "probe" if kind != REFERENCE_KIND else f"{p['reference']} probe"
            seconds = images / shared.batch_size * per_step[config.methods[0]] * PROBE_SHARE
        total += seconds
        lines.append(f"  {rid:<{width}}  {what:<12}  about {duration(seconds)}")
    kinds = [k for _, k, _ in runs]
    head = (
        f"study plan for {config.out}: {len(runs)} runs ({kinds.count('ssl')} SSL, {kinds.count('floor')} floors, "
        f"{kinds.count(REFERENCE_KIND)} references, {kinds.count('supervised')} supervised, the final step)"
        + (f"; {len(done & {r for r, _, _ in runs})} done already" if done else "")
    )
    steps_line = ", ".join(f"{m} {s:.3f} s" for m, s in per_step.items())
    return [
        head,
        *lines,
        f"one pretraining step ({shared.backbone}, {shared.size} px, batch {shared.batch_size}) on this machine's "
        f"{where}: {steps_line} (median of {timed_steps} timed steps)",
        f"total: about {duration(total)} with one worker (probes, supervised and final step: rough estimates)",
        "nothing was run and nothing was written; run the same command without --plan to start",
    ]


def duration(seconds: float) -> str:
    """'45 s', '2 min 10 s', '3 h 05 min': whole units, never 'about 0 min' for two minutes."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        m, s = divmod(round(seconds), 60)
        return f"{m} min {s:02d} s"
    h, m = divmod(round(seconds / 60), 60)
    return f"{h} h {m:02d} min"
