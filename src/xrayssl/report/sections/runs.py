"""Every run of the study: status, host, time, memory and the environment it ran in."""

from __future__ import annotations

import json
from typing import Any

from xrayssl.report.markup import esc, fmt, table
from xrayssl.report.results import StudyResults


def runs(res: StudyResults) -> str:
    rows, envs = [], {}
    for r in res.runs:
        result = r["result"] or {}
        env = _environment(res, result)
        if env:
            envs.setdefault(json.dumps(env, sort_keys=True), len(envs) + 1)
        rows.append(_row(r, result, envs.get(json.dumps(env, sort_keys=True), "-") if env else "-"))
    env_rows = [{"environment": i, **{k: esc(v) for k, v in json.loads(key).items()}} for key, i in envs.items()]
    return (
        "<h2>Runs</h2><p class='note'>Peak RSS is the worker process's high-water mark so far.</p>"
        + table(rows, left=("run", "status", "host", "error"))
        + "<h3>Hardware and versions</h3>"
        + table(env_rows)
    )


def _environment(res: StudyResults, result: dict[str, Any]) -> dict[str, Any] | None:
    """The hardware and versions a run recorded in its folder's record.json."""
    run_dir = result.get("run")
    record = res.study / run_dir / "record.json" if run_dir else None
    if record is None or not record.is_file():
        return None
    return json.loads(record.read_text()).get("environment")


def _row(r: dict[str, Any], result: dict[str, Any], env: Any) -> dict[str, Any]:
    peak = result.get("peak") or {}
    return {
        "run": esc(r["id"]),
        "status": esc(r["status"]),
        "host": esc(r["host"] or "-"),
        "seconds": fmt(result.get("seconds"), 1),
        "pairs/s": fmt((result.get("pretrain") or {}).get("pairs_per_second"), 0),
        "peak RSS (MiB)": fmt(peak.get("peak_rss_mib"), 0),
        "peak GPU (MiB)": fmt(peak.get("peak_gpu_mib"), 0),
        "environment": env,
        "error": esc((r["error"] or "").strip().splitlines()[-1]) if r["error"] else "",
    }
