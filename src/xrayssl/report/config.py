"""``xrayssl report``'s config: which study, and whether the HTML page or the analysis as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReportConfig:
    study: str = field(metadata={"help": "study folder"})
    out: str | None = field(default=None, metadata={"help": "HTML file", "default": "STUDY/report.html"})
    json: bool = field(
        default=False,
        metadata={"help": "print the whole analysis (leaderboard, effects, claims, per-body-part table, ...) as one "
                  "JSON object instead of writing the HTML"},
    )  # fmt: skip
