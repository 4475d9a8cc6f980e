"""Study E's figure by family (issue 20): facets, distinct lines, legends outside, differences from balanced Random."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from xfactor_lib.plots import study_e
from xfactor_lib.studies import e
from xfactor_lib.studies.e import compare as e_compare

sys.path.insert(0, str(Path(__file__).parent))
from test_studies_e_compare import ACCS, records  # noqa: E402


def _figure(recs):
    return study_e.accuracy_by_family(e.coreset_summary(recs), e_compare.paired_differences(recs))


def test_figure_has_a_facet_per_family_and_a_difference_row():
    fig = _figure(records())
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == [
        "papers' methods — mnist / mlp-1",
        "training-free — mnist / mlp-1",
        "anchors — mnist / mlp-1",
    ]
    top, bottom = fig.axes[1], fig.axes[4]  # training-free: accuracy, then differences
    labels = [c.get_label() for c in top.containers]
    assert labels == ["Random", "Random (balanced)", "Coverage", "k-Center"]
    cov = [c for c in bottom.containers if c.get_label() == "Coverage"][0]
    want = [100 * (np.mean(ACCS[r]["coverage"]) - np.mean(ACCS[r]["random_balanced"])) for r in (0.02, 0.05)]
    np.testing.assert_allclose(cov.lines[0].get_ydata(), want)
    diffs = e_compare.paired_differences(records()).query("method == 'coverage'").sort_values("rate")
    seg = cov.lines[2][0].get_segments()  # the interval bars
    np.testing.assert_allclose([s[:, 1] for s in seg], 100 * diffs[["ci_low", "ci_high"]].to_numpy())
    assert "Random (balanced)" not in [c.get_label() for c in bottom.containers]  # the zero line itself
    full = [line for line in top.get_lines() if line.get_label() == "Full dataset"][0]
    assert full.get_ydata()[0] == pytest.approx(97.0)


def test_every_line_of_a_facet_looks_different_and_legends_sit_outside_the_axes():
    recs = records()
    many = [recs] + [
        recs[recs["method"] == "eva"].assign(method=m, acc=lambda d, i=i: d["acc"] - 0.01 * i)
        for i, m in enumerate(["forgetting", "entropy", "el2n", "aum", "var_s", "exp_s", "var_d", "exp_d"], 1)
    ]
    fig = _figure(pd.concat(many))
    FigureCanvasAgg(fig).draw()
    for ax in fig.axes:
        styles = [(str(c.lines[0].get_color()), c.lines[0].get_marker()) for c in ax.containers]
        assert len(styles) == len(set(styles)), ax.get_title()
    papers = fig.axes[0]
    assert len(papers.containers) == 2 + 10  # the two references and all ten papers' methods
    colours = [c.lines[0].get_color() for c in papers.containers[2:]]
    assert len(set(colours)) == 10
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 3  # one per family column, under its difference axes
    for leg in legends:
        box = leg.get_window_extent(renderer)
        assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)


def test_many_methods_in_one_facet_never_repeat_a_colour_and_marker_pair():
    styles = study_e.facet_styles([f"m{i}" for i in range(25)])
    assert len(set(styles.values())) == 25
    assert len({c for c, _ in list(styles.values())[:10]}) == 10 and "C7" not in {c for c, _ in styles.values()}
