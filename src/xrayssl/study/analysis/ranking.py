"""Ranking recipes: the leaderboard (ranked on validation AUROC, test AUROC only reported) and its chosen rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xrayssl.metrics import mean_ci
from xrayssl.study.analysis.frame import GROUP


def leaderboard(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (body part, abnormal fraction, method, recipe), best validation AUROC first."""
    if frame.empty:
        return pd.DataFrame()
    out = []
    for key, g in frame.groupby([*GROUP, "recipe"], sort=False):
        m, lo, hi = mean_ci(g["test_score"])
        if len(g) == 1 and g["test_score_ci"].iloc[0]:  # one seed: the run's own patient-bootstrap interval
            lo, hi = g["test_score_ci"].iloc[0]
        lo, hi = (None if v is None else min(1.0, max(0.0, v)) for v in (lo, hi))  # AUROC lives in [0, 1]
        out.append(
            {
                **dict(zip([*GROUP, "recipe"], key)),
                "n_seeds": len(g),
                # what the interval is: a t-interval over seeds, or with one seed the run's patient bootstrap
                "interval": "over seeds" if len(g) > 1 else "patient bootstrap",
                "val_score": g["val_score"].mean(),
                "test_score": m,
                "test_lo": lo,
                "test_hi": hi,
                "test_sd": g["test_score"].std(ddof=1) if len(g) > 1 else np.nan,
            }
        )
    board = pd.DataFrame(out).sort_values([*GROUP, "val_score"], ascending=[True] * len(GROUP) + [False])
    board["rank"] = board.groupby(GROUP).cumcount() + 1  # rank by validation AUROC within each method
    return board.reset_index(drop=True)


def chosen(board: pd.DataFrame) -> pd.DataFrame:
    """A leaderboard's rows chosen on validation: rank 1 per (body part, abnormal fraction, method)."""
    return board[board["rank"] == 1].reset_index(drop=True) if len(board) else board


def seed_runs(frame: pd.DataFrame, row) -> pd.DataFrame:
    """The runs (one per seed, in seed order) of a leaderboard row: its method and recipe in its group."""
    mask = frame["recipe"] == row.recipe
    for column in GROUP:
        mask &= frame[column] == getattr(row, column)
    return frame[mask].sort_values("seed")


def best_recipes(frame: pd.DataFrame) -> pd.DataFrame:
    """The recipe chosen on validation per (body part, abnormal fraction, method)."""
    return chosen(leaderboard(frame))
