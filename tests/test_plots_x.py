import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from xfactor_lib import agreement, plots, stats

import synthetic

MODELS = ("rf", "svc", "resnet18")


def make_records(*, n_random=6, n_selected=4, ns=(10, 30), models=MODELS, K=3, seed=0):
    """Small study-X records (see ``tests/synthetic.py``) with two selection rules."""
    return synthetic.make_records(
        n_random=n_random,
        n_selected=n_selected,
        ns=ns,
        models=models,
        K=K,
        seed=seed,
        strategies=("own_mean", "own_mean", "uniqueness", "uniqueness"),
    )


def points(ax):
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


def images(fig):
    return [ax for ax in fig.axes if any(isinstance(i, AxesImage) for i in ax.get_images())]


def test_error_vs_size_draws_hand_worked_means_and_points_on_labelled_log_axes():
    rows = [  # (kind, model, n, error)
        ("random", "rf", 10, 0.1), ("random", "rf", 10, 0.2), ("random", "rf", 10, 0.6),  # mean 0.3, median 0.2
        ("random", "rf", 100, 0.02), ("random", "rf", 100, 0.06),  # mean 0.04
        ("random", "svc", 10, 0.2), ("random", "svc", 10, 0.4),  # mean 0.3
        ("random", "svc", 100, 0.05), ("random", "svc", 100, 0.07),  # mean 0.06
        ("random", "gnb", 10, 0.9), ("random", "gnb", 100, 0.8),
        ("selected", "rf", 10, 0.5), ("selected", "rf", 100, 0.01),
    ]  # fmt: skip
    records = pd.DataFrame(rows, columns=["kind", "model", "n", "error"]).assign(bacc=lambda d: 1 - d["error"])
    fig = plots.error_vs_size(records, exclude=("gnb",))
    random, selected = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["random subsets", "selected subsets"]
    assert [ax.get_xlabel() for ax in fig.axes] == ["images per class (n)"] * 2 and random.get_ylabel() == "error"
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "log" for ax in fig.axes)
    assert [line.get_label() for line in random.lines] == ["rf", "svc"]
    assert [t.get_text() for t in random.get_legend().get_texts()] == ["rf", "svc"]
    np.testing.assert_allclose(random.lines[0].get_xdata(), [10, 100])
    np.testing.assert_allclose(random.lines[0].get_ydata(), [0.3, 0.04])
    np.testing.assert_allclose(random.lines[1].get_ydata(), [0.3, 0.06])
    drawn = sorted(map(tuple, np.concatenate([c.get_offsets() for c in random.collections])))
    assert drawn == sorted((n, e) for kind, model, n, e in rows if kind == "random" and model != "gnb")
    rf_dots = random.collections[0].get_facecolor()[0]
    assert tuple(rf_dots[:3]) == tuple(to_rgb(random.lines[0].get_color()))
    assert random.lines[0].get_color() != random.lines[1].get_color()
    assert [line.get_label() for line in selected.lines] == ["rf"]
    np.testing.assert_allclose(selected.lines[0].get_ydata(), [0.5, 0.01])
    assert points(selected) == 2

    by_bacc = plots.error_vs_size(records[records["kind"] == "random"], value="bacc", models=["svc", "rf"])
    random, selected = by_bacc.axes
    assert random.get_ylabel() == "bacc" and selected.get_title() == "selected subsets (none)"
    assert [line.get_label() for line in random.lines] == ["svc", "rf"]
    np.testing.assert_allclose(random.lines[1].get_ydata(), [0.7, 0.96])


def test_error_vs_size_draws_a_line_per_model_and_a_point_per_row_on_log_axes():
    records = make_records()
    fig = plots.error_vs_size(records)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    for ax, kind in zip(fig.axes, ("random", "selected")):
        assert len(ax.lines) == len(MODELS)
        assert points(ax) == (records["kind"] == kind).sum()
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    rf = fig.axes[0].lines[0]
    means = records[(records["kind"] == "random") & (records["model"] == "rf")]
    np.testing.assert_allclose(rf.get_xdata(), [10, 30])
    np.testing.assert_allclose(rf.get_ydata(), means.groupby("n")["error"].mean().to_numpy())


def test_zscore_cdfs_draw_ecdfs_by_size_by_model_and_selected_with_the_normal():
    records = make_records()
    fig = plots.zscore_cdfs(records)
    by_size, by_model, selected = fig.axes
    assert len(by_size.lines) == 2 + 1 and len(by_model.lines) == len(MODELS) + 1
    assert len(selected.lines) == 2
    for ax in fig.axes:
        assert ax.lines[-1].get_label() == "N(0, 1)"
    z = stats.zscores(records)[records["kind"] == "selected"]
    ecdf = selected.lines[0]
    np.testing.assert_allclose(ecdf.get_xdata(), np.sort(z.to_numpy()))
    assert ecdf.get_ydata()[-1] == 1.0


def test_zscore_scatter_has_a_point_per_shared_subset_and_marks_directions():
    records = make_records()
    records = records[~((records["model"] == "svc") & (records["subset_id"] == "x-10-random-0"))]
    fig = plots.zscore_scatter(records)  # default: (rf, resnet18), (rf, svc)
    assert len(fig.axes) == 2
    n_subsets = records["subset_id"].nunique()
    assert points(fig.axes[0]) == n_subsets
    assert points(fig.axes[1]) == n_subsets - 1
    plus = [c for c in fig.axes[0].collections if c.get_label().endswith(" +")]
    n_plus = records.loc[(records["direction"] == "+"), "subset_id"].nunique()
    assert sum(len(c.get_offsets()) for c in plus) == n_plus


def test_zscore_scatter_rejects_unknown_models():
    with pytest.raises(ValueError, match=r"models \['mlp-9'\] not in records"):
        plots.zscore_scatter(make_records(), pairs=[("rf", "mlp-9")])


def test_overlap_heatmaps_show_subset_overlap_per_size():
    rng = np.random.default_rng(0)
    manifest = pd.DataFrame(
        {
            "subset_id": [f"s{i}" for i in range(6)],
            "n": [4, 4, 4, 9, 9, 9],
            "indices": [np.sort(rng.choice(20, 4 if i < 3 else 9, replace=False)) for i in range(6)],
        }
    )
    fig = plots.overlap_heatmaps(manifest, vmax=50)
    heat = images(fig)
    assert len(heat) == 2 and len(fig.axes) == 4  # two heatmaps, two colour bars
    for ax, n in zip(heat, (4, 9)):
        image = ax.get_images()[0]
        np.testing.assert_allclose(image.get_array(), stats.subset_overlap(manifest, n=n))
        assert image.get_clim() == (0, 50)


def test_r2_heatmaps_show_r2_matrix_with_annotations():
    records = make_records()
    fig = plots.r2_heatmaps(records)
    heat = images(fig)
    assert len(heat) == 3 and len(fig.axes) == 4  # all / selected / random + colour bar
    for ax, kind in zip(heat, ("all", "selected", "random")):
        r2 = agreement.r2_matrix(records, kind=kind, n_boot=0)["r2"].to_numpy()
        np.testing.assert_allclose(ax.get_images()[0].get_array().ravel(), r2)
        assert len(ax.texts) == len(MODELS) ** 2


def test_class_spearman_heatmaps_show_one_matrix_per_class():
    records = make_records(K=3)
    fig = plots.class_spearman_heatmaps(records, ncols=2)
    heat = images(fig)
    assert len(heat) == 3 and len(fig.axes) == 4  # the 4th grid cell removed; + colour bar
    rho = agreement.class_spearman(records)
    for ax, k in zip(heat, range(3)):
        np.testing.assert_allclose(ax.get_images()[0].get_array(), rho[k].to_numpy())
        assert ax.get_title() == f"class {k}"


def test_class_spearman_heatmaps_can_pool_over_sizes():
    records = make_records(K=2)
    fig = plots.class_spearman_heatmaps(records, within=())
    pooled = agreement.class_spearman(records, within=())[1]
    np.testing.assert_allclose(images(fig)[1].get_images()[0].get_array(), pooled.to_numpy())
    assert "pooled" in fig._suptitle.get_text()


def test_optimized_z_draws_one_row_per_group_a_dot_per_model_and_the_pooled_bar():
    table = pd.DataFrame(
        {
            "group": ["random", "random", "random", "coverage (class)", "coverage (class)", "coverage (class)"],
            "model": ["all models", "rf", "svc", "all models", "rf", "svc"],
            "mean_z": [0.0, 0.1, -0.1, -1.5, -1.0, -2.0],
        }
    )
    fig = plots.study_x.optimized_z(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["random", "coverage (class)"]
    dots = {c.get_label(): c.get_offsets() for c in ax.collections}
    np.testing.assert_allclose(dots["rf"], [[0.1, 0], [-1.0, 1]])
    np.testing.assert_allclose(dots["all models"], [[0.0, 0], [-1.5, 1]])
