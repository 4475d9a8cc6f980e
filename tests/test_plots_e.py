"""Study E figures and Table 1, laid out from studies.e summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xfactor_lib.dynamics import Dynamics
from xfactor_lib.plots import study_e
from xfactor_lib.studies.e import coreset_summary, window_summary


def _records() -> pd.DataFrame:
    rows = []
    accs = {
        ("random", 0.1): [0.80, 0.82, 0.84],
        ("eva", 0.1): [0.90, 0.91, 0.92],
        ("random", 0.2): [0.85, 0.86, 0.87],
        ("eva", 0.2): [0.93, 0.95, 0.97],
        ("full", 1.0): [0.99, 0.98, 0.97],
    }
    for (method, rate), vals in accs.items():
        for seed, acc in enumerate(vals):
            rows.append(dict(method=method, rate=rate, seed=seed, arch="resnet18", acc=acc, bacc=acc - 0.01))
    return pd.DataFrame(rows)


def test_coreset_table_formats_mean_and_sd_in_percent_per_method_and_rate():
    table = study_e.coreset_table(coreset_summary(_records()))
    assert list(table.columns) == ["10%", "20%"]
    assert list(table.index) == ["Full dataset", "Random", "EVA"]
    assert table.loc["EVA", "20%"] == "95.00 ± 2.00"
    assert table.loc["Random", "10%"] == "82.00 ± 2.00"
    assert table.loc["Full dataset"].tolist() == ["98.00 ± 1.00"] * 2


def test_accuracy_vs_rate_draws_one_errorbar_line_per_method_and_the_full_reference():
    fig = study_e.accuracy_vs_rate(coreset_summary(_records()))
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Full dataset", "Random", "EVA"]
    eva_line = [c for c in ax.containers if c.get_label() == "EVA"][0]
    np.testing.assert_allclose(eva_line.lines[0].get_ydata(), [91.0, 95.0])
    full = [line for line in ax.get_lines() if line.get_label() == "Full dataset"][0]
    assert full.get_ydata()[0] == pytest.approx(98.0)
    with pytest.raises(ValueError, match="not in records"):
        study_e.accuracy_vs_rate(coreset_summary(_records()), methods=["ccs"])


def test_ablation_plot_has_the_four_paper_panels_with_eva_reference():
    rows = []
    for i, m in enumerate(["var_s", "exp_s", "var_d", "exp_d", "eva"]):
        for rate in (0.02, 0.1):
            for seed in range(2):
                rows.append(dict(method=m, rate=rate, seed=seed, acc=0.5 + 0.1 * i + rate + 0.01 * seed))
    fig = study_e.ablation_plot(coreset_summary(pd.DataFrame(rows)))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["(a) EXP-S vs VAR-S", "(b) EXP-D vs VAR-D", "(c) VAR-S vs VAR-D", "(d) EXP-S vs EXP-D"]
    assert [t.get_text() for t in fig.axes[2].get_legend().get_texts()] == ["VAR-S", "VAR-D", "EVA"]
    var_d = [c for c in fig.axes[2].containers if c.get_label() == "VAR-D"][0]
    np.testing.assert_allclose(var_d.lines[0].get_ydata(), [100 * (0.7 + 0.02 + 0.005), 100 * (0.7 + 0.1 + 0.005)])
    with pytest.raises(ValueError, match="none of the ablation methods"):
        study_e.ablation_plot(coreset_summary(_records()))
    with pytest.raises(ValueError, match="coreset_summary output"):
        study_e.ablation_plot(_records())  # raw records, not a summary


def test_window_curves_lines_per_combination_across_rates_and_heatmap_for_one_rate():
    rows = [
        dict(rate=r, early_start=e, late_start=lt, score=r + e / 100 + (lt or 0) / 1000)
        for r in (0.02, 0.1)
        for e, lt in [(0, None), (0, 20), (10, 20)]
    ]
    fig = study_e.window_curves(window_summary(pd.DataFrame(rows)))
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["[0,9]", "[0,9]+[20,29]", "[10,19]+[20,29]"]
    np.testing.assert_allclose(ax.get_lines()[2].get_ydata(), [0.02 + 0.1 + 0.02, 0.1 + 0.1 + 0.02])

    one = pd.DataFrame([r for r in rows if r["rate"] == 0.1])
    fig = study_e.window_curves(window_summary(one))
    grid = fig.axes[0].get_images()[0].get_array()
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["single", "20"]
    np.testing.assert_allclose(np.ma.filled(grid, np.nan), [[0.1, 0.12], [np.nan, 0.22]])


def _multi_records() -> pd.DataFrame:
    """Two datasets x two archs, methods eva / var_s / random, one rate, two seeds."""
    rows = []
    for d_i, dataset in enumerate(["organamnist", "organsmnist"]):
        for a_i, arch in enumerate(["mobilenet_v2", "resnet18"]):
            for m_i, method in enumerate(["random", "var_s", "eva"]):
                for seed in range(2):
                    rows.append(
                        dict(
                            dataset=dataset,
                            arch=arch,
                            method=method,
                            rate=0.1,
                            seed=seed,
                            acc=0.5 + 0.1 * d_i + 0.01 * a_i + 0.001 * m_i + 0.0002 * seed,
                        )
                    )
    return pd.DataFrame(rows)


def test_paper_scale_records_give_one_panel_per_dataset_and_arch():
    fig = study_e.accuracy_vs_rate(coreset_summary(_multi_records()))
    assert [ax.get_title() for ax in fig.axes] == [
        "organamnist / mobilenet_v2",
        "organamnist / resnet18",
        "organsmnist / mobilenet_v2",
        "organsmnist / resnet18",
    ]
    eva_line = [c for c in fig.axes[3].containers if c.get_label() == "EVA"][0]
    np.testing.assert_allclose(eva_line.lines[0].get_ydata(), [100 * (0.6 + 0.01 + 0.002 + 0.0001)])

    table = study_e.coreset_table(coreset_summary(_multi_records()))
    assert table.index.names == ["dataset", "arch", "method"]
    assert table.loc[("organsmnist", "resnet18", "EVA"), "10%"] == "61.21 ± 0.01"


def test_ablation_plot_draws_resnet18_by_default_with_a_row_per_dataset():
    fig = study_e.ablation_plot(coreset_summary(_multi_records()))
    assert fig.get_suptitle() == "ablations, resnet18"
    assert len(fig.axes) == 8
    assert fig.axes[4].get_title() == "organsmnist: (a) EXP-S vs VAR-S (no rows for EXP-S)"
    var_s = [c for c in fig.axes[4].containers if c.get_label() == "VAR-S"][0]
    np.testing.assert_allclose(var_s.lines[0].get_ydata(), [100 * (0.6 + 0.01 + 0.001 + 0.0001)])
    fig = study_e.ablation_plot(coreset_summary(_multi_records()), arch="mobilenet_v2")
    assert fig.get_suptitle() == "ablations, mobilenet_v2"
    with pytest.raises(ValueError, match="no ablation records for arch 'vgg16'"):
        study_e.ablation_plot(coreset_summary(_multi_records()), arch="vgg16")


def test_error_score_curves_draw_chosen_samples_from_steady_to_fluctuating_and_the_mean():
    t = np.arange(12)
    S = np.vstack([np.full(12, 0.5), np.where(t % 2 == 0, 0.1, 1.3), np.linspace(1.0, 0.2, 12)])
    d = Dynamics(S=S, correct=S < 0.7, margin=-S, probs=np.full((3, 2), 0.5), y=np.zeros(3, int))
    fig = study_e.error_score_curves(d, n=2, early_start=0, late_start=6, window=3)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["sample 0", "sample 1", "mean of 3"]
    np.testing.assert_array_equal(lines[1].get_ydata(), S[1])
    np.testing.assert_allclose(lines[2].get_ydata(), S.mean(axis=0))
    lines = study_e.error_score_curves(d, indices=[2]).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["sample 2", "mean of 3"]
