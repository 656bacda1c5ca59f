"""One PNG per task: score against layers removed for each strategy, with the retention line."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: the benchmark runs on servers without a display
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from worker.pruning.strategies import threshold_for

COLORS = {
    "aglp": "tab:red",
    "glp": "tab:blue",
    "top": "tab:green",
    "aglp-shortlist1": "tab:orange",
    "aglp-shortlist2": "tab:purple",
}


def mean_curve(runs: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """Mean of `key` over seeds at each number of layers removed."""
    values: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        for point in run["curve"]:
            values[point["layers_removed"]].append(point[key])
    xs = sorted(values)
    return xs, [statistics.fmean(values[x]) for x in xs]


def plot_task(title: str, by_strategy: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    """Draw selection (solid) and report (dashed) scores per strategy, the 95% line and chance."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    baselines, chances, retention, metric = [], [], 0.95, ""
    for strategy, runs in sorted(by_strategy.items()):
        color = COLORS.get(strategy)
        n = len(runs)
        xs, ys = mean_curve(runs, "score")
        ax.plot(xs, ys, marker="o", color=color, label=f"{strategy} selection (n={n})")
        xs, ys = mean_curve(runs, "report_score")
        ax.plot(xs, ys, marker=".", linestyle="--", color=color, alpha=0.6, label=f"{strategy} report")
        baselines += [r["summary"]["baseline_score"] for r in runs]
        chances += [r["summary"]["chance_score"] for r in runs]
        retention, metric = runs[0]["retention"], runs[0]["summary"]["metric"]
    if baselines:
        threshold = threshold_for(statistics.fmean(baselines), retention)
        ax.axhline(threshold, color="black", linewidth=1, label=f"{retention:.0%} retention (selection)")
        ax.axhline(statistics.fmean(chances), color="gray", linestyle=":", linewidth=1, label="chance")
    ax.set_xlabel("layers removed")
    ax.set_ylabel(metric or "score")
    ax.set_title(title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
