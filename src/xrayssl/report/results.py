"""A study's whole analysis as plain data, from its stored results only: ``xrayssl report STUDY --json`` prints it,
STUDY/results.csv holds its per-body-part table (the seed study's table), and the HTML report's per-part section
renders the same table, so the three carry the same numbers.

    {"study", "config", "counts", "leaderboard", "effects", "stability", "sensitivity", "claims", "imbalance",
     "references", "skipped_references", "per_part", "final"}

Tables are lists of row objects; a missing number is null.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xrayssl.study import analysis
from xrayssl.study.config import StudyConfig
from xrayssl.study.store import Store

RESULTS_CSV = "results.csv"


def open_store(study: str | Path) -> tuple[Store, StudyConfig]:
    """The study's store (SQLite or PostgreSQL, as the folder says) and its config; not a study: one line."""
    store = Store(study)
    return store, StudyConfig.from_dict({**store.get_meta("config"), "out": str(study)})


def per_part(store: Store, config: StudyConfig) -> pd.DataFrame:
    """The seed study's table (study.analysis.per_part_table) of a study's stored results."""
    board = analysis.leaderboard(analysis.ssl_frame(store))
    return analysis.per_part_table(board, analysis.references(store), config.methods)


def write_results_csv(table: pd.DataFrame, study: str | Path) -> Path:
    """STUDY/results.csv: one row per body part, the per-part table's columns."""
    path = Path(study) / RESULTS_CSV
    table.to_csv(path, index=False, float_format="%.6g")
    return path


def plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN to None, tuples to lists, frames to lists of rows."""
    if isinstance(value, pd.DataFrame):
        return [plain(r) for r in value.to_dict(orient="records")]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _effects(config: StudyConfig, frame: pd.DataFrame) -> Any:
    """The design's effect estimates, as the HTML report shows them."""
    factors = list(config.augmentations)
    if frame.empty:
        return []
    if config.design == "one-at-a-time":
        return analysis.one_at_a_time_effects(frame, factors)
    if config.design in ("full", "fractional"):
        return analysis.factorial_effects(frame, factors)
    if config.design == "pairwise":
        return {m: analysis.pairwise_matrix(frame, factors, m).to_dict(orient="index") for m in config.methods}
    return []


def study_results(study: str | Path) -> dict[str, Any]:
    """Everything the report says about a study, as one JSON-ready object."""
    store, config = open_store(study)
    frame = analysis.ssl_frame(store)
    board = analysis.leaderboard(frame)
    refs = analysis.references(store)
    final = next((r["result"] for r in store.runs(kind="finalize", status="done")), None)
    out = {
        "study": str(Path(study).resolve()),
        "config": {k: v for k, v in config.to_dict().items() if k != "out"},
        "counts": store.counts(),
        "leaderboard": board,
        "effects": _effects(config, frame),
        "stability": analysis.ranking_stability(frame) if len(frame) else [],
        "sensitivity": analysis.sensitivity(frame) if len(frame) else [],
        "claims": analysis.claims(frame) if len(frame) else [],
        "imbalance": analysis.imbalance_effect(frame) if len(frame) else [],
        "references": refs,
        "skipped_references": analysis.skipped_references(store),
        "per_part": analysis.per_part_table(board, refs, config.methods),
        "final": final,
    }
    result = plain(out)
    json.dumps(result, allow_nan=False)  # fails here, not in the reader's parser
    return result
