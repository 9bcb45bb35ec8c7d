"""Print a finished study's headline tables as Markdown (for the README).

python benchmarks/study_summary.py STUDY
"""

from __future__ import annotations

import argparse

from xrayssl.study import analysis
from xrayssl.study.store import Store


def _ci(m, lo, hi) -> str:
    return f"{m:.3f}" if lo is None or hi is None or lo != lo else f"{m:.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("study")
    p.add_argument("--top", type=int, default=3)
    args = p.parse_args()
    store = Store(args.study)
    config = store.get_meta("config")
    frame = analysis.ssl_frame(store)
    board = analysis.leaderboard(frame)
    print("| model | recipe (chosen on validation) | val AUROC | test AUROC [95 % CI over seeds] |")
    print("|---|---|---|---|")
    for method in config["methods"]:
        for r in board[board["method"] == method].head(args.top).itertuples():
            print(
                f"| {method} #{r.rank} | {r.recipe} | {r.val_auroc:.3f} | {_ci(r.test_auroc, r.test_lo, r.test_hi)} |"
            )
        worst = board[board["method"] == method].iloc[-1]
        print(f"| {method} last | {worst.recipe} | {worst.val_auroc:.3f} | "
              f"{_ci(worst.test_auroc, worst.test_lo, worst.test_hi)} |")  # fmt: skip
    for r in analysis.references(store).itertuples():
        print(f"| {r.model} | | {r.val_auroc:.3f} | {_ci(r.test_auroc, r.test_lo, r.test_hi)} (patient bootstrap) |")
    if config["design"] in ("full", "fractional"):
        eff = analysis.factorial_effects(frame, list(config["augmentations"]))
        print("\n| effect on test AUROC | " + " | ".join(config["methods"]) + " |")
        print("|---|" + "---|" * len(config["methods"]))
        for term in dict.fromkeys(eff["term"]):
            cells = []
            for method in config["methods"]:
                e = eff[(eff["term"] == term) & (eff["method"] == method)]
                cells.append(_ci(e["effect"].iloc[0], e["lo"].iloc[0], e["hi"].iloc[0]) if len(e) else "-")
            print(f"| {term} | " + " | ".join(cells) + " |")
    sens = analysis.sensitivity(frame)
    stab = analysis.ranking_stability(frame)
    stab = stab.set_index("method") if len(stab) else stab
    print("\n| method | SD across recipes [95 % CI] | best - worst | Kendall's W across seeds |")
    print("|---|---|---|---|")
    for r in sens.itertuples():
        w = stab.loc[r.method, "kendall_w"] if r.method in stab.index else float("nan")
        print(f"| {r.method} | {_ci(r.sd, r.lo, r.hi)} | {r.range:.3f} | {w:.2f} |")
    claims = analysis.claims(frame)
    if claims:
        print("\n| claim | measure | value [95 % CI] | verdict |")
        print("|---|---|---|---|")
        for c in claims:
            print(f"| {c['claim']} | {c['measure']} | {_ci(c['value'], c['lo'], c['hi'])} | {c['verdict']} |")
    times = [r["result"]["seconds"] for r in store.runs(status="done") if r["result"].get("seconds")]
    print(f"\n{len(times)} runs, {sum(times) / 60:.0f} min of run time in all")


if __name__ == "__main__":
    main()
