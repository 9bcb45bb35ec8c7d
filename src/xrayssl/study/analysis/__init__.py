"""What a study's finished runs say: leaderboard, augmentation effects, robustness, references and the sentences
of the answer, one concept per module. The names are re-exported here, so ``from xrayssl.study.analysis import X``
reads as before the split.

Recipes are ranked on the validation AUROC; test AUROCs are only reported.
"""

from __future__ import annotations

from xrayssl.metrics import auroc, mean_ci
from xrayssl.study.analysis.effects import (
    DESIGNS,
    DesignEffects,
    answer_effects,
    by_ops,
    contrast_frame,
    design_effects,
    factorial_effects,
    list_effects,
    one_at_a_time_effects,
    op_parts,
    pairwise_matrix,
    planted_check,
)
from xrayssl.study.analysis.frame import EXPECTED_EFFECTS_KEY, GROUP, TASK_KEY, ssl_frame, ssl_frame_of
from xrayssl.study.analysis.guardrails import Guardrail, guardrails
from xrayssl.study.analysis.paired import paired_effects, run_predictions, ssl_predictions, ssl_predictions_of
from xrayssl.study.analysis.prose import METHOD_NAMES, headline, versus_references
from xrayssl.study.analysis.ranking import best_recipes, chosen, leaderboard, seed_runs
from xrayssl.study.analysis.references import (
    PER_PART_REFERENCES,
    REFERENCE_NAMES,
    per_part_table,
    references,
    references_of,
    skipped_references,
    skipped_references_of,
)
from xrayssl.study.analysis.robustness import claims, imbalance_effect, ranking_stability, sensitivity

__all__ = [
    "DESIGNS",
    "EXPECTED_EFFECTS_KEY",
    "GROUP",
    "METHOD_NAMES",
    "PER_PART_REFERENCES",
    "REFERENCE_NAMES",
    "TASK_KEY",
    "DesignEffects",
    "Guardrail",
    "answer_effects",
    "auroc",
    "best_recipes",
    "by_ops",
    "chosen",
    "claims",
    "contrast_frame",
    "design_effects",
    "factorial_effects",
    "guardrails",
    "headline",
    "imbalance_effect",
    "leaderboard",
    "list_effects",
    "mean_ci",
    "one_at_a_time_effects",
    "op_parts",
    "paired_effects",
    "pairwise_matrix",
    "per_part_table",
    "planted_check",
    "ranking_stability",
    "references",
    "references_of",
    "run_predictions",
    "seed_runs",
    "sensitivity",
    "skipped_references",
    "skipped_references_of",
    "ssl_frame",
    "ssl_frame_of",
    "ssl_predictions",
    "ssl_predictions_of",
    "versus_references",
]
