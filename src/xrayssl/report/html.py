"""``xrayssl report STUDY --out report.html``: everything a reader needs to judge the study, in one file, rendered
from the study's results (report.results.StudyResults, the same object ``report --json`` prints)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from xrayssl.fileio import atomic_write
from xrayssl.report.markup import esc
from xrayssl.report.results import StudyResults, load_results, write_results_csv
from xrayssl.report.sections import SECTIONS, Section
from xrayssl.report.sections.curves import training_log
from xrayssl.report.style import CSS

__all__ = ["build_report", "render", "sections", "training_log"]


def sections() -> list[Section]:
    """The report's sections in page order."""
    return list(SECTIONS)


def render(res: StudyResults, say: Callable[[str], object] | None = None) -> str:
    """The whole page; ``say`` hears of each section as it is drawn."""
    name = esc(res.study.name)
    parts = []
    for i, section in enumerate(sections(), start=1):
        if say:
            say(f"section {i}/{len(SECTIONS)}: {section.__name__.replace('_', ' ')}")
        parts.append(section(res))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>xrayssl study report: {name}</title><style>{CSS}</style></head><body>"
        f"<h1>xrayssl study report: {name}</h1>"
        + "".join(parts)
        + f"<p class='note'>generated {time.strftime('%Y-%m-%d %H:%M')} from {esc(res.study.resolve())}</p>"
        "</body></html>"
    )


def build_report(study: str | Path, out: str | Path | None = None, say: Callable[[str], object] | None = None) -> Path:
    """Write the report (default STUDY/report.html) and, beside it in the study, STUDY/results.csv; ``say``
    (the CLI's progress) hears of each stage."""
    res = load_results(study, say=say)
    page = render(res, say)
    if len(res.per_part):
        write_results_csv(res.per_part, res.study)
    target = Path(out) if out else res.study / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, "wb") as f:  # a stopped write keeps the previous report whole
        f.write(page.encode("utf-8"))
    return target
