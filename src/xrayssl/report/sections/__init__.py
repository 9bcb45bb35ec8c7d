"""The report's sections, one function each: a section takes the study's results and returns its HTML."""

from __future__ import annotations

from collections.abc import Callable

from xrayssl.report.results import StudyResults
from xrayssl.report.sections.answer import answer
from xrayssl.report.sections.board import effects, leaderboard
from xrayssl.report.sections.classes import classes
from xrayssl.report.sections.comparison import comparison, per_part
from xrayssl.report.sections.curves import label_efficiency, roc, training
from xrayssl.report.sections.gradcam import gradcam
from xrayssl.report.sections.overview import augmentations, dataset
from xrayssl.report.sections.robustness import claims, stability
from xrayssl.report.sections.runs import runs

Section = Callable[[StudyResults], str]

# in page order (a section to add is one function and one entry here)
SECTIONS: list[Section] = [
    answer,
    augmentations,
    dataset,
    leaderboard,
    effects,
    roc,
    classes,
    training,
    stability,
    claims,
    comparison,
    per_part,
    label_efficiency,
    gradcam,
    runs,
]
