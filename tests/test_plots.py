"""Charts: an empty chart says it has no data instead of showing bare axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_empty_charts_say_no_data():
    from nbutils.plots import curve, histogram

    assert _texts(histogram([], xlabel="rank")) == ["no data"]
    assert _texts(histogram({"a": [], "b": []}, xlabel="rank")) == ["no data"]
    assert _texts(curve([], [], "epoch", "nDCG@10")) == ["no data"]
    assert _texts(histogram([1, 2, 2, 3], xlabel="rank")) == []
    assert _texts(histogram({"a": [], "b": [1.0]}, xlabel="rank")) == []


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig


def _legend_clear_of_axes(fig) -> bool:
    ax = _drawn(fig).axes[0]
    legends = [*fig.legends, *([ax.get_legend()] if ax.get_legend() else [])]
    return len(legends) == 1 and not legends[0].get_window_extent().overlaps(ax.get_window_extent())


def test_legends_never_cover_the_data():
    import pandas as pd

    from nbutils.plots import bar_metrics, confidence_chart, recall_curves, term_bars

    scores = {s: {"recall@10": 0.9, "ndcg@10": 0.8, "recall@1": 0.5} for s in ("base", "bm25", "hybrid")}
    assert _legend_clear_of_axes(bar_metrics(scores))
    assert _legend_clear_of_axes(recall_curves(scores, [1, 10]))
    table = pd.DataFrame({"system": ["base", "bm25"], "metric": ["ndcg@10"] * 2, "mean": [0.5, 0.6]})
    table = table.assign(low=table["mean"] - 0.1, high=table["mean"] + 0.1)
    assert _legend_clear_of_axes(confidence_chart(table, marks={"fine-tune below": 0.7, "skip at": 0.9}))
    terms = [{"term": f"t{i}", "corpus zipf": 5.0, "general zipf": 1.0} for i in range(20)]
    assert _legend_clear_of_axes(term_bars(terms))


def test_a_short_dev_curve_has_whole_epochs_and_an_honest_axis():
    from nbutils.plots import curve

    ax = _drawn(curve([1, 2], [0.612, 0.615], "epoch", "dev nDCG@10", ylim=(0, 1))).axes[0]
    assert all(float(t).is_integer() for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1])
    assert ax.get_ylim() == (0, 1), "two nearly equal points do not fill the height"


def test_evaluation_ticks_never_repeat_and_titles_name_only_the_sets_there():
    import pandas as pd

    from nbutils.plots import evaluation_history, robustness_chart

    at = "2026-12-07T09:27:20+00:00"
    records = [
        {"version": "v1", "source": "gold", "at": at, "metrics": {"ndcg@10": 0.6}, "ci": {"ndcg@10": [0.5, 0.7]}}
    ] * 3
    labels = [t.get_text() for t in _drawn(evaluation_history(records, ["ndcg@10"])).axes[-1].get_xticklabels()]
    assert len(labels) == 3 and len(set(labels)) == 3 and labels[0].endswith("09:27")
    table = pd.DataFrame(
        {
            "set": ["test split (gold)", "general English (shipped pairs)"],
            "kind": ["in-domain", "general-domain regression"],
            "base nDCG@10": [0.5, 0.6],
            "fine-tuned nDCG@10": [0.6, 0.58],
        }
    )
    title = robustness_chart(table).axes[0].get_title()
    assert title == "nDCG@10: in-domain and general English" and "out-of-distribution" not in title
