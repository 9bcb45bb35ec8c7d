"""A study's finished SSL runs as one frame: the table every other analysis reads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xrayssl.study.store import Store

# start: where the runs' backbone started ("as configured" unless the study varies it: inits), so that augmentation
# effects are estimated within each start
GROUP = ["body_part", "abnormal_fraction", "start", "method"]
METHOD_NAMES = {"simclr": "SimCLR", "byol": "BYOL", "moco": "MoCo", "simsiam": "SimSiam", "barlowtwins": "Barlow Twins",
                "vicreg": "VICReg", "vicregl": "VICRegL", "densecl": "DenseCL", "mae": "MAE", "dcl": "DCL"}  # fmt: skip
# study meta key: the known truth of a study's data (augmentation -> {"sign": +1/-1/0, "factor": why}), written by
# whoever made the data (the demo, for its planted nuisance factors) and read by the report's planted_check
EXPECTED_EFFECTS_KEY = "expected_effects"
TASK_KEY = "task"  # study meta: the cache's task (xrayssl.tasks.Task.to_json), recorded when the study starts


def start_name(params: dict) -> str:
    """A run's start as the analysis names it: its ``init`` where the study varies the start, else one name."""
    if "init" not in params:
        return "as configured"
    return params["init"] or "none"


def ssl_frame(store: Store) -> pd.DataFrame:
    """One row per finished SSL run: its method, recipe, seed, pool and scores."""
    return ssl_frame_of(store.runs(kind="ssl", status="done"))


def ssl_frame_of(runs: list[dict]) -> pd.DataFrame:
    """ssl_frame from runs already read from the store (the report reads the store once)."""
    rows = []
    for r in runs:
        if r["kind"] != "ssl" or r["status"] != "done":
            continue
        p, res = r["params"], r["result"]
        pool = (res.get("pretrain") or {}).get("pool") or {}
        rows.append(
            {
                "run_id": r["id"],
                "method": p["method"],
                "start": start_name(p),
                "recipe": p["recipe"],
                "parts": tuple(p["parts"]),
                "spec": p.get("spec", ""),
                "seed": p["seed"],
                "abnormal_fraction": "as is" if p["abnormal_fraction"] is None else f"{p['abnormal_fraction']:g}",
                "abnormal_share": pool.get("abnormal_share_used", np.nan),
                "body_part": p["body_part"] or "all",
                "val_score": res["val_score"],
                "test_score": res["test_score"],
                "test_score_ci": res["test_score_ci"],
                "seconds": res.get("seconds"),
                "run": res.get("run"),
            }
        )
    return pd.DataFrame(rows)
