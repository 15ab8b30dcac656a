"""Figures for the reports. Each function returns a matplotlib ``Figure`` and never shows it."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

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


def _legend_outside(ax) -> None:
    """The legend below the axes, where it can neither cover data nor squeeze the plot (long system names)."""
    handles, labels = ax.get_legend_handles_labels()
    if not labels:
        return
    columns = 1 if max(map(len, labels)) > 32 else min(3, len(labels))
    ax.figure.legend(handles, labels, loc="outside lower center", ncols=columns, fontsize=8, frameon=False)


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
    _legend_outside(ax)
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
    _legend_outside(ax)
    return fig


def histogram(
    values: Sequence[float] | dict[str, Sequence[float]], xlabel: str, title: str = "", bins: int = 30
) -> Figure:
    """Histogram of one series or overlaid series (a dict of name → values); an empty chart says so."""
    fig, ax = _fig()
    series = {name: list(vals) for name, vals in (values if isinstance(values, dict) else {"": values}).items()}
    for name, vals in series.items():
        ax.hist(vals, bins=bins, alpha=0.6, label=name or None)
    if not any(series.values()):
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    if isinstance(values, dict):
        _legend_outside(ax)
    return fig


def curve(
    xs: Sequence[float],
    ys: Sequence[float],
    xlabel: str,
    ylabel: str,
    title: str = "",
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """One line of ``ys`` against ``xs`` (an empty chart says so).

    Whole-number ``xs`` (epochs, versions) get whole-number ticks only. ``ylim`` fixes the y-axis, e.g.
    ``(0, 1)`` for a metric, so that two nearly equal points do not look like a steep change.
    """
    fig, ax = _fig()
    ax.plot(list(xs), list(ys), marker="o" if len(xs) < 20 else ".")
    if not len(xs):
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    elif all(float(x).is_integer() for x in xs):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ylim is not None:
        ax.set_ylim(*ylim)
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
    _legend_outside(ax)
    ax.set_title("Model versions")
    return fig


def confidence_chart(table, metric: str = "ndcg@10", title: str = "", marks: dict[str, float] | None = None) -> Figure:
    """Mean and 95 % interval of ``metric`` per system, from :func:`nbutils.evaluation.confidence_table`.

    Args:
        marks: label → value drawn as vertical dashed lines (e.g. the decision rule's thresholds).
    """
    fig, ax = _fig()
    rows = table[table["metric"] == metric].reset_index(drop=True)
    ys = list(range(len(rows)))
    err = [rows["mean"] - rows["low"], rows["high"] - rows["mean"]]
    ax.errorbar(rows["mean"], ys, xerr=err, fmt="o", capsize=4)
    for i, (label, value) in enumerate((marks or {}).items()):
        ax.axvline(value, linestyle="--", color=f"C{i + 1}", alpha=0.7, label=f"{label} {value:g}")
    if marks:
        _legend_outside(ax)
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
    _legend_outside(ax)
    ax.set_title(title)
    return fig


def robustness_chart(table, metric: str = "nDCG@10", title: str = "") -> Figure:
    """Base vs fine-tuned ``metric`` on each evaluation set, from :func:`nbutils.evaluation.robustness_table`."""
    fig, ax = _fig(6.5, 3.5)
    labels = [f"{s}\n({k})" for s, k in zip(table["set"], table["kind"], strict=True)]
    xs = list(range(len(table)))
    for offset, system in ((-0.2, "base"), (0.2, "fine-tuned")):
        bars = ax.bar([x + offset for x in xs], table[f"{system} {metric}"], 0.4, label=system)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(xs, labels, fontsize=7)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(metric)
    _legend_outside(ax)
    ax.set_title(title or f"{metric}: {_kinds_title(list(table['kind']))}")
    return fig


def _kinds_title(kinds: list[str]) -> str:
    """The evaluation sets a robustness chart holds, in words: only the kinds that are there."""
    words = {"general-domain regression": "general English"}
    present = [words.get(k, k) for k in dict.fromkeys(kinds)]
    return " and ".join([", ".join(present[:-1]), present[-1]]) if len(present) > 1 else "".join(present)


__all__ += ["robustness_chart"]


def evaluation_history(records: Sequence[dict], metrics: Sequence[str] = ("recall@10", "ndcg@10")) -> Figure:
    """Each metric over successive evaluations (from :func:`nbutils.monitoring.read_evaluations`), one colour
    per model version, one marker per query source, with the 95 % interval as error bars."""
    fig = Figure(figsize=(6.5, 2.6 * len(metrics)), layout="constrained")
    axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    versions = sorted({r["version"] for r in records}, key=lambda v: (len(v), v))
    sources = sorted({r["source"] for r in records})
    colours = {v: f"C{i % 10}" for i, v in enumerate(versions)}
    markers = {s: "os^Dv"[i % 5] for i, s in enumerate(sources)}
    groups: dict[tuple[str, str], list[int]] = {}
    for x, r in enumerate(records):
        groups.setdefault((r["version"], r["source"]), []).append(x)
    for ax, m in zip(axes, metrics, strict=True):
        for (version, source), xs in groups.items():
            means = [records[x]["metrics"][m] for x in xs]
            err = [[mu - records[x]["ci"][m][0] for x, mu in zip(xs, means, strict=True)]]
            err.append([records[x]["ci"][m][1] - mu for x, mu in zip(xs, means, strict=True)])
            style = dict(fmt=f"{markers[source]}-", color=colours[version], capsize=3, label=f"{version}, {source}")
            ax.errorbar(xs, means, yerr=err, **style)
        ax.set_ylabel(f"{m} (95 % interval)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    if groups:
        _legend_outside(axes[0])
    if not records:
        axes[0].text(0.5, 0.5, "no evaluations yet", ha="center", va="center", transform=axes[0].transAxes)
    axes[-1].set_xticks(range(len(records)), _evaluation_ticks([r["at"] for r in records]), fontsize=7)
    axes[-1].set_xlabel("evaluation (number, then date and time in UTC where it changes)")
    axes[0].set_title("Evaluation history")
    return fig


def _evaluation_ticks(times: Sequence[str]) -> list[str]:
    """One label per evaluation, none repeated: its number, and its date and minute where they change."""
    out, last = [], ""
    for i, at in enumerate(times, 1):
        stamp = at[:16].replace("T", "\n")
        out.append(f"#{i}" + (f"\n{stamp}" if stamp != last else ""))
        last = stamp
    return out


__all__ += ["evaluation_history"]


_FLOW_TAKEN = "#c0392b"  # boxes and arrows on the path the rule took
_FLOW_COLOURS = {"fine-tune": "#e8f5e9", "hybrid": "#e3f2fd", "skip": "#f5f5f5"}


def decision_flowchart(rec, rule, last_no, title: str = "") -> Figure:
    """A decision rule as a flowchart: questions down the left, outcomes on the right.

    The boxes and arrows on the path the rule took for ``rec`` (a recommendation with ``path``, ``decision``
    and ``outcome_node``, e.g. :class:`~nbutils.decide.Recommendation`) are highlighted and carry the measured
    numbers. Every box and arrow has a ``gid`` (``box:<node>``, ``box:<node>:yes``, ``arrow:<from>-><to>``) so
    tests can find them.

    Args:
        rule: the questions in order, each with ``node``, ``label``, ``on_yes`` (an outcome or ``None``) and ``note``.
        last_no: ``(outcome, note)`` when the last question is answered no.
    """
    RULE, LAST_NO = rule, last_no  # noqa: N806 - read as the rule's constants

    rows = len(RULE) + 1
    fig = Figure(figsize=(8, 0.95 * rows + 0.6), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, rows)
    ax.axis("off")
    taken = {c.node: c for c in rec.path}
    on_path = _flow_path_ids(rec)
    for i, step in enumerate(RULE):
        y = rows - i - 0.5
        check = taken.get(step.node)
        text = step.label if check is None else f"{check.question}\n{'yes' if check.answer else 'no'}: {check.evidence}"
        _flow_box(ax, 3.0, y, 5.0, text, f"box:{step.node}", on_path, "white")
        below = RULE[i + 1].node if i + 1 < len(RULE) else f"{step.node}:no"
        _flow_arrow(ax, (3.0, y - 0.36), (3.0, y - 0.64), f"arrow:{step.node}->{below}", on_path,
               "no" if step.on_yes else "either way")  # fmt: skip
        if step.on_yes is not None:
            _flow_outcome(ax, 8.2, y, step.on_yes.value, step.note, f"{step.node}:yes", on_path)
            _flow_arrow(ax, (5.5, y), (6.9, y), f"arrow:{step.node}->{step.node}:yes", on_path, "yes")
    _flow_outcome(ax, 3.0, 0.5, LAST_NO[0].value, LAST_NO[1], f"{RULE[-1].node}:no", on_path)
    ax.set_title(title or f"Decision rule: {rec.decision.value}")
    return fig


__all__ += ["decision_flowchart"]


def _flow_path_ids(rec) -> set[str]:
    """gids of the boxes and arrows on the recommendation's path."""
    from itertools import pairwise

    nodes = [c.node for c in rec.path] + ([rec.outcome_node] if rec.outcome_node else [])
    arrows = {f"arrow:{a}->{b}" for a, b in pairwise(nodes)}
    return {f"box:{n}" for n in nodes} | arrows


def _flow_box(ax, x: float, y: float, width: float, text: str, gid: str, on_path: set[str], face: str) -> None:
    from matplotlib.patches import FancyBboxPatch

    hit = gid in on_path
    ax.add_patch(
        FancyBboxPatch((x - width / 2, y - 0.34), width, 0.68, boxstyle="round,pad=0.02", gid=gid, facecolor=face,
                       edgecolor=_FLOW_TAKEN if hit else "#9e9e9e", linewidth=2.5 if hit else 1.0)
    )  # fmt: skip
    ax.text(x, y, text, ha="center", va="center", fontsize=8, color="black" if hit else "#616161",
            fontweight="bold" if hit else "normal")  # fmt: skip


def _flow_outcome(ax, x: float, y: float, decision: str, note: str, node: str, on_path: set[str]) -> None:
    _flow_box(ax, x, y, 2.6, f"{decision}\n{note}", f"box:{node}", on_path, _FLOW_COLOURS.get(decision, "white"))


def _flow_arrow(
    ax, start: tuple[float, float], end: tuple[float, float], gid: str, on_path: set[str], label: str
) -> None:
    from matplotlib.patches import FancyArrowPatch

    hit = gid in on_path
    colour = _FLOW_TAKEN if hit else "#9e9e9e"
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, gid=gid, color=colour,
                        linewidth=2.5 if hit else 1.0)
    )  # fmt: skip
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    ax.text(mid[0] + 0.1, mid[1] + 0.05, label, fontsize=7, color=colour, ha="left", va="bottom")


def pairs_by_source(table, min_pairs: int, title: str = "Training pairs by source") -> Figure:
    """Horizontal bars of :func:`nbutils.decide.pairs_by_source` with the ``min_pairs`` threshold."""
    fig, ax = _fig(6.5, 2.8)
    rows = table.drop(index="total", errors="ignore")
    ax.barh(list(rows.index), list(rows["pairs"]), color=["C0", "C1", "C2"][: len(rows)])
    ax.axvline(min_pairs, linestyle="--", color="C3", label=f"min_pairs {min_pairs:,}")
    ax.invert_yaxis()
    ax.set_xlabel("pairs")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    return fig


__all__ += ["pairs_by_source"]
