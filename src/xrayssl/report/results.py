"""A study's whole analysis, computed once from its stored results (the study folder's store and files only):
``StudyResults``. The HTML report renders it, ``xrayssl report STUDY --json`` prints it (``to_json``) and
STUDY/results.csv holds its per-body-part table (the seed study's table), so the three cannot disagree.

    {"study", "config", "counts", "warnings", "leaderboard", "effects", "effects_note", "design_effects",
     "stability", "sensitivity", "claims", "imbalance", "references", "skipped_references", "per_part", "final",
     "starts"}

``warnings`` are what the numbers cannot support (study.analysis.guardrails), each {"kind", "message",
"evidence"}, most serious first: the report's answer opens with them. Every leaderboard row says what its
interval is (``interval``: "over seeds" or "patient bootstrap").

``effects`` are the effects the report's answer states (with their intervals), ``design_effects`` the design's own
contrasts. Tables are lists of row objects; a missing number is null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xrayssl.fileio import atomic_write
from xrayssl.study import analysis
from xrayssl.study.analysis import DesignEffects
from xrayssl.study.config import StudyConfig
from xrayssl.study.preview import AUGMENTATIONS_JSON, DATASET_JSON, read_stored
from xrayssl.study.store import FINAL_KIND, Store
from xrayssl.tasks import Task

RESULTS_CSV = "results.csv"


def open_store(study: str | Path) -> tuple[Store, StudyConfig]:
    """The study's store (SQLite or PostgreSQL, as the folder says) and its config, read here only; not a study:
    one line."""
    store = Store(study)
    return store, StudyConfig.from_dict({**store.get_meta("config"), "out": str(study)})


@dataclass(frozen=True)
class StudyResults:
    """Everything the report says about a study, analysed once."""

    study: Path
    config: StudyConfig
    runs: list[dict[str, Any]]  # every run in the store, in plan order
    counts: dict[str, int]
    frame: pd.DataFrame  # finished SSL runs (analysis.ssl_frame)
    board: pd.DataFrame  # leaderboard
    refs: pd.DataFrame  # floors, supervised baselines, ImageNet features
    skipped: list[dict[str, Any]]  # references skipped, with their reason
    effects: pd.DataFrame  # the effects the answer is built from
    effects_note: str  # how their intervals were made
    design: DesignEffects  # the design's own contrasts
    stability: pd.DataFrame
    sensitivity: pd.DataFrame
    claims: list[dict[str, Any]]
    imbalance: pd.DataFrame
    per_part: pd.DataFrame  # the seed study's table
    final: dict[str, Any] | None  # the final step's result
    expected: dict[str, Any] | None  # planted truth (synthetic data): augmentation -> {sign, factor}
    warnings: list[analysis.Guardrail]  # what the numbers cannot support, most serious first
    chance: float  # the task's chance level of the primary metric (binary: 0.5 AUROC)
    task: Task  # the cache's label task: every score is its primary metric
    preview: dict[str, Any] | None  # the stored augmentation preview's record (study.preview)
    dataset: dict[str, Any] | None  # the stored dataset summary

    @property
    def metric(self) -> str:
        """The primary metric as tables and sentences name it ("AUROC", "QWK", ...)."""
        return self.task.metric_label

    @property
    def factors(self) -> list[str]:
        return list(self.config.augmentations)

    @property
    def starts(self) -> dict[str, Any]:
        """The start as a study factor (inits): its effect per recipe against the baseline start, and continued
        SSL from each start against that start frozen (study/analysis/starts.py); empty without inits."""
        from xrayssl.study.analysis.starts import start_effects, start_sentences, versus_frozen

        if not self.config.varies_init():
            return {}
        frozen = {str(i or "none"): ref for i in self.config.inits if (ref := self.config.frozen_start(i))}
        effects, versus = start_effects(self.frame), versus_frozen(self.board, self.refs, frozen)
        return {"effects": effects, "versus_frozen": versus, "sentences": start_sentences(effects, versus)}

    def done(self, kind: str) -> list[dict[str, Any]]:
        """The finished runs of one kind."""
        return [r for r in self.runs if r["kind"] == kind and r["status"] == "done"]

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready object ``report --json`` prints (keys as the module's docstring lists them)."""
        out = {
            "study": str(self.study.resolve()),
            "config": {k: v for k, v in self.config.to_dict().items() if k != "out"},
            "counts": self.counts,
            "task": self.task.to_json(),
            "metric": self.task.primary,
            "chance": self.chance,
            "warnings": [w.to_json() for w in self.warnings],
            "leaderboard": self.board,
            "effects": self.effects,
            "effects_note": self.effects_note,
            "design_effects": self.design.plain(),
            "stability": self.stability,
            "sensitivity": self.sensitivity,
            "claims": self.claims,
            "imbalance": self.imbalance,
            "references": self.refs,
            "skipped_references": self.skipped,
            "per_part": self.per_part,
            "final": self.final,
            "starts": self.starts,
        }
        result = plain(out)
        json.dumps(result, allow_nan=False)  # fails here, not in the reader's parser
        return result


def load_results(study: str | Path, say: Callable[[str], object] | None = None) -> StudyResults:
    """Read the study's store and stored files once and analyse them; ``say`` hears of each stage."""
    say = say or (lambda line: None)
    study = Path(study)
    store, config = open_store(study)
    runs = store.runs()
    say(f"{len(runs)} runs read; effects from paired runs ({config.n_boot} bootstrap resamples)...")
    frame = analysis.ssl_frame_of(runs)
    board = analysis.leaderboard(frame)
    refs = analysis.references_of(runs)
    contrasts, factors = analysis.contrast_frame(config.design, frame, config.base, list(config.augmentations))
    task = Task.from_json(store.get_meta(analysis.TASK_KEY))
    design = analysis.design_effects(config.design, contrasts, factors, config.methods, task.metric_label)
    predictions = analysis.ssl_predictions_of(study, runs)
    effects, note = analysis.answer_effects(
        config.design, contrasts, predictions, factors, config.n_boot, own=design, task=task
    )
    some = len(frame) > 0
    say("ranking stability, sensitivity and claims...")
    dataset = read_stored(study, DATASET_JSON)
    return StudyResults(
        study=study,
        config=config,
        runs=runs,
        counts=store.counts(),
        frame=frame,
        board=board,
        refs=refs,
        skipped=analysis.skipped_references_of(runs),
        effects=effects,
        effects_note=note,
        design=design,
        stability=analysis.ranking_stability(frame) if some else pd.DataFrame(),
        sensitivity=analysis.sensitivity(frame, n_boot=config.n_boot) if some else pd.DataFrame(),
        claims=analysis.claims(frame, n_boot=config.n_boot) if some else [],
        imbalance=analysis.imbalance_effect(frame) if some else pd.DataFrame(),
        per_part=analysis.per_part_table(board, refs, config.methods),
        final=next((r["result"] for r in runs if r["kind"] == FINAL_KIND and r["status"] == "done"), None),
        expected=store.get_meta(analysis.EXPECTED_EFFECTS_KEY),
        preview=read_stored(study, AUGMENTATIONS_JSON),
        dataset=dataset,
        warnings=analysis.guardrails(frame, board, refs, runs, dataset, task.chance, task.metric_label),
        chance=task.chance,
        task=task,
    )


def study_results(study: str | Path, say: Callable[[str], object] | None = None) -> dict[str, Any]:
    """Everything the report says about a study, as one JSON-ready object."""
    return load_results(study, say).to_json()


def per_part(store: Store, config: StudyConfig) -> pd.DataFrame:
    """The seed study's table (study.analysis.per_part_table) of a study's stored results."""
    board = analysis.leaderboard(analysis.ssl_frame(store))
    return analysis.per_part_table(board, analysis.references(store), config.methods)


def write_results_csv(table: pd.DataFrame, study: str | Path) -> Path:
    """STUDY/results.csv: one row per body part, the per-part table's columns."""
    path = Path(study) / RESULTS_CSV
    with atomic_write(path, "w") as f:
        table.to_csv(f, index=False, float_format="%.6g")
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
