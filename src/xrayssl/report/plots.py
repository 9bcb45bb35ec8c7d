"""Matplotlib figures for the report, each returned as a base64 PNG data URI."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

COLORS = {"simclr": "#1f77b4", "byol": "#d62728", "moco": "#2ca02c", "simsiam": "#9467bd", "barlowtwins": "#8c564b",
          "vicreg": "#e377c2"}  # fmt: skip


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes (closed after), for a file a study keeps."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def data_uri(fig: Any) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig)).decode()


def file_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _err(mean: pd.Series, lo: pd.Series, hi: pd.Series) -> np.ndarray:
    lo = lo.astype(float).fillna(mean)
    hi = hi.astype(float).fillna(mean)
    return np.vstack([mean - lo, hi - mean]).clip(min=0)


def leaderboard_plot(board: pd.DataFrame, metric: str = "AUROC", top: int = 12) -> str:
    """Test score (the task's primary metric, ``metric``; mean over seeds, 95 % interval) of each method's recipes,
    in validation order."""
    plt = _plt()
    methods = list(dict.fromkeys(board["method"]))
    fig, axes = plt.subplots(1, len(methods), figsize=(5.2 * len(methods), 0.32 * min(top, len(board)) + 1.4),
                             squeeze=False)  # fmt: skip
    for ax, method in zip(axes[0], methods):
        b = board[board["method"] == method].head(top).iloc[::-1]
        y = np.arange(len(b))
        ax.errorbar(b["test_score"], y, xerr=_err(b["test_score"], b["test_lo"], b["test_hi"]), fmt="o",
                    color=COLORS.get(method, "k"), capsize=2)  # fmt: skip
        ax.set_yticks(y, b["recipe"], fontsize=8)
        ax.set_title(f"{method} (top by validation {metric})", fontsize=10)
        ax.set_xlabel(f"test {metric} (95 % CI: {interval_words(b)})")
        ax.grid(axis="x", alpha=0.3)
    return data_uri(fig)


def interval_words(board: pd.DataFrame) -> str:
    """What a leaderboard's intervals are: over seeds, a patient bootstrap (one seed), or both kinds."""
    kinds = set(board["interval"]) if "interval" in board else {"over seeds"}
    if kinds == {"patient bootstrap"}:
        return "patient bootstrap, one seed"
    return "over seeds" if kinds == {"over seeds"} else "over seeds; one-seed rows: patient bootstrap"


MIN_CURVE_POINTS = 2  # a training curve of fewer points is no curve: the report says so in words instead


def plottable_logs(logs: dict[str, dict[str, pd.DataFrame]]) -> dict[str, dict[str, pd.DataFrame]]:
    """The training logs with enough points to draw a line."""
    kept = {m: {r: g for r, g in by.items() if len(g) >= MIN_CURVE_POINTS} for m, by in logs.items()}
    return {m: by for m, by in kept.items() if by}


def effects_plot(effects: pd.DataFrame, label: str) -> str:
    """Forest plot of effects (AUROC difference) per method, zero line marked."""
    plt = _plt()
    methods = list(dict.fromkeys(effects["method"]))
    n = effects.groupby("method").size().max()
    fig, axes = plt.subplots(1, len(methods), figsize=(5.2 * len(methods), 0.3 * n + 1.4), squeeze=False,
                             sharex=True)  # fmt: skip
    for ax, method in zip(axes[0], methods):
        e = effects[effects["method"] == method].iloc[::-1]
        y = np.arange(len(e))
        ax.axvline(0, color="grey", lw=1)
        ax.errorbar(e["effect"], y, xerr=_err(e["effect"], e["lo"], e["hi"]), fmt="s",
                    color=COLORS.get(method, "k"), capsize=2)  # fmt: skip
        ax.set_yticks(y, e["label"], fontsize=8)
        ax.set_title(method, fontsize=10)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    return data_uri(fig)


def heatmap(matrix: pd.DataFrame, title: str, label: str = "test AUROC") -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.0 * len(matrix) + 2, 0.9 * len(matrix) + 1.2))
    im = ax.imshow(matrix.to_numpy(float), cmap="viridis")
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(matrix.index)), matrix.index)
    ax.set_xlabel("second augmentation")
    ax.set_ylabel("first augmentation")
    for i in range(len(matrix)):
        for j in range(len(matrix.columns)):
            v = matrix.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.3f}", ha="center", va="center", color="w", fontsize=8)
    fig.colorbar(im, ax=ax, label=label)
    ax.set_title(title, fontsize=10)
    return data_uri(fig)


def label_efficiency_plot(curves: list[dict], metric: str = "AUROC") -> str:
    """curves: {name, fractions, auroc, lo, hi, kind}; SSL probes solid, supervised dashed, floors dotted."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    styles = {"ssl": "-", "supervised": "--", "floor": ":"}
    for c in curves:
        x, y = np.asarray(c["fractions"]), np.asarray(c["auroc"], float)
        line = ax.plot(x * 100, y, styles.get(c["kind"], "-"), marker="o", label=c["name"])[0]
        lo, hi = np.asarray(c["lo"], float), np.asarray(c["hi"], float)
        ok = np.isfinite(lo) & np.isfinite(hi)  # a single fit (all labels) has no interval: a bar where there is one
        if ok.any():
            err = np.vstack([y[ok] - lo[ok], hi[ok] - y[ok]]).clip(min=0)
            ax.errorbar(x[ok] * 100, y[ok], yerr=err, fmt="none", color=line.get_color(), capsize=3, alpha=0.7)
    ax.set_xscale("log")  # fractions are spread by factors (1 %, 10 %, 100 %), but the ticks say plain percents
    percents = sorted({100 * f for c in curves for f in c["fractions"]})
    ax.set_xticks(percents)
    ax.xaxis.set_major_formatter(_percent_formatter())
    ax.xaxis.set_minor_locator(_null_locator())
    ax.set_xlabel("labelled training patients")
    ax.set_ylabel(f"test {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return data_uri(fig)


def _percent_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:.3g} %")


def _null_locator():
    from matplotlib.ticker import NullLocator

    return NullLocator()


def roc_plot(curves: list[dict]) -> str:
    """curves: {name, kind, label, prob}; ROC of each model on the test images, AUROC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _plt()
    styles = {"ssl": "-", "supervised": "--", "floor": ":"}
    fig, ax = plt.subplots(figsize=(5.4, 4.6))
    ax.plot([0, 1], [0, 1], color="#bbb", lw=1)
    for c in curves:
        fpr, tpr, _ = roc_curve(c["label"], c["prob"])
        auc = roc_auc_score(c["label"], c["prob"])
        ax.plot(fpr, tpr, styles.get(c["kind"], "-"), lw=1.6, label=f"{c['name']} ({auc:.3f})")
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", title="test AUROC", title_fontsize=7)
    return data_uri(fig)


def training_plot(logs: dict[str, dict[str, pd.DataFrame]]) -> str:
    """logs: method -> {recipe: log with step, loss and, where recorded, knn_val_score}. Top row: the loss
    (a moving average over 5 steps); bottom row, when any run recorded one: the validation kNN AUROC."""
    plt = _plt()
    methods = list(logs)
    with_val = any("knn_val_score" in g and g["knn_val_score"].notna().any() for m in logs.values() for g in m.values())
    rows = 2 if with_val else 1
    fig, axes = plt.subplots(rows, len(methods), figsize=(5.2 * len(methods), 3.2 * rows), squeeze=False)
    for j, method in enumerate(methods):
        for recipe, log in logs[method].items():
            loss = log["loss"].rolling(5, min_periods=1).mean()
            line = axes[0, j].plot(log["step"], loss, lw=1.2, label=recipe)[0]
            if with_val and "knn_val_score" in log:
                val = log.dropna(subset=["knn_val_score"])
                axes[1, j].plot(val["step"], val["knn_val_score"], "o-", ms=3, lw=1.2, color=line.get_color())
        axes[0, j].set_title(method, fontsize=10)
        axes[0, j].set_ylabel("training loss")
        axes[0, j].legend(fontsize=7)
        if with_val:
            axes[1, j].set_ylabel("validation kNN AUROC")
        for ax in axes[:, j]:
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
    fig.tight_layout()
    return data_uri(fig)


def comparison_plot(rows: pd.DataFrame, metric: str = "AUROC") -> str:
    """rows: name, kind, test_score, test_lo, test_hi."""
    plt = _plt()
    colors = {"ssl": "#1f77b4", "supervised": "#2ca02c", "floor": "#7f7f7f"}
    fig, ax = plt.subplots(figsize=(6.4, 0.42 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    ax.barh(y, rows["test_score"] - 0.5, left=0.5, color=[colors.get(k, "k") for k in rows["kind"]], alpha=0.8,
            xerr=_err(rows["test_score"], rows["test_lo"], rows["test_hi"]), capsize=3)  # fmt: skip
    ax.set_yticks(y, rows["name"], fontsize=8)
    ax.axvline(0.5, color="k", lw=0.8)
    ax.set_xlabel(f"test {metric} (95 % CI)")
    ax.grid(axis="x", alpha=0.3)
    return data_uri(fig)
