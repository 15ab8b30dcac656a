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
