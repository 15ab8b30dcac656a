"""Figures for the reports. Each function returns a matplotlib ``Figure`` and never shows it."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

__all__ = [
    "bar_metrics",
    "confidence_chart",
    "term_bars",
    "curve",
    "histogram",
    "loss_curve",
    "recall_curves",
    "version_history",
]


def _fig(width: float = 6.5, height: float = 3.5) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def bar_metrics(
    scores: dict[str, dict[str, float]], metrics: Sequence[str] = ("recall@10", "ndcg@10"), title: str = ""
) -> Figure:
    """Grouped bars: one group per metric, one bar per system."""
    fig, ax = _fig()
    names = list(scores)
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs = [j + i * width for j in range(len(metrics))]
        vals = [scores[name][m] for m in metrics]
        bars = ax.bar(xs, vals, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(metrics))], list(metrics))
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def recall_curves(scores: dict[str, dict[str, float]], k_values: Sequence[int], title: str = "Recall@K") -> Figure:
    """Recall at each cut-off, one line per system."""
    fig, ax = _fig()
    for name, row in scores.items():
        ax.plot(list(k_values), [row[f"recall@{k}"] for k in k_values], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xticks(list(k_values), [str(k) for k in k_values])
    ax.set_xlabel("K")
    ax.set_ylabel("recall@K")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def histogram(
    values: Sequence[float] | dict[str, Sequence[float]], xlabel: str, title: str = "", bins: int = 30
) -> Figure:
    """Histogram of one series or overlaid series (a dict of name → values)."""
    fig, ax = _fig()
    series = values if isinstance(values, dict) else {"": values}
    for name, vals in series.items():
        ax.hist(list(vals), bins=bins, alpha=0.6, label=name or None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    if isinstance(values, dict):
        ax.legend(fontsize=8)
    return fig


def curve(xs: Sequence[float], ys: Sequence[float], xlabel: str, ylabel: str, title: str = "") -> Figure:
    """One line of ``ys`` against ``xs`` (an empty chart says so)."""
    fig, ax = _fig()
    ax.plot(list(xs), list(ys), marker=".")
    if not len(xs):
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


def loss_curve(epochs: Sequence[float], losses: Sequence[float], title: str = "Training loss") -> Figure:
    """Training loss against epoch."""
    return curve(epochs, losses, "epoch", "loss", title)


def version_history(
    versions: Sequence[dict], metrics: Sequence[str] = ("recall@10", "ndcg@10"), current: str | None = None
) -> Figure:
    """Test metrics of each registered model version; the current one is marked."""
    fig, ax = _fig()
    names = [v["version"] for v in versions]
    for m in metrics:
        ax.plot(names, [v.get("metrics", {}).get(m, float("nan")) for v in versions], marker="o", label=m)
    if current in names:
        ax.axvline(names.index(current), color="grey", linestyle="--", label=f"current ({current})")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("model version")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Model versions")
    return fig


def confidence_chart(table, metric: str = "ndcg@10", title: str = "") -> Figure:
    """Mean and 95 % interval of ``metric`` per system, from :func:`nbutils.evaluation.confidence_table`."""
    fig, ax = _fig()
    rows = table[table["metric"] == metric].reset_index(drop=True)
    ys = list(range(len(rows)))
    err = [rows["mean"] - rows["low"], rows["high"] - rows["mean"]]
    ax.errorbar(rows["mean"], ys, xerr=err, fmt="o", capsize=4)
    ax.set_yticks(ys, list(rows["system"]))
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} (95 % bootstrap interval)")
    ax.grid(alpha=0.3, axis="x")
    ax.set_title(title or f"{metric} with uncertainty")
    return fig


def term_bars(terms: list[dict], title: str = "Most domain-specific terms") -> Figure:
    """Corpus vs general-English Zipf frequency of the top domain terms (from the vocabulary analysis)."""
    fig, ax = _fig(6.5, max(2.5, 0.22 * len(terms) + 1))
    names = [t["term"] for t in terms][::-1]
    ax.barh(names, [t["corpus zipf"] for t in terms][::-1], label="in this corpus")
    ax.barh(names, [t["general zipf"] for t in terms][::-1], label="in general English", alpha=0.8)
    ax.set_xlabel("Zipf frequency (log10 per billion words)")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    return fig
