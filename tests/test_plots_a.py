"""Study A figures: what they draw, and that they render without library warnings."""

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from xfactor_lib import data, plots, regression, similarity
from xfactor_lib.studies import a

from synthetic import make_a_records


def heatmap_values(fig, N):
    """The N x N values of a clustermap's heatmap (the mesh with N * N cells), sorted."""
    meshes = [np.asarray(c.get_array()).ravel() for ax in fig.axes for c in ax.collections]
    (values,) = [v for v in meshes if v.size == N * N]
    return np.sort(values)


@pytest.fixture(autouse=True)
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_balance_and_performance_labels_a0_bins_as_quantiles():
    recs = make_a_records()
    fig = plots.study_a.balance_and_performance(recs)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    labels = [t.get_text() for t in fig.axes[2].get_xticklabels()]
    assert labels == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    strip = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert strip == ["64", "128", "256"]


def test_top_regressions_draws_the_top_k_of_each_kind():
    results = a.fit_regressions(make_a_records(), ["bacc"])["bacc"]
    fig = plots.study_a.top_regressions(results, k=4)
    assert [ax.get_title() for ax in fig.axes] == ["top singles", "top pairs", "top triples", "top groups"]
    bars = [p.get_width() for p in fig.axes[0].patches]
    top = regression.top_table(results, "single", k=4)
    np.testing.assert_allclose(bars, top["adj_r2"].to_numpy()[::-1])


def test_feature_r2_clustermap_shows_the_feature_r2_matrix():
    recs = make_a_records()
    fig = plots.study_a.feature_r2_clustermap(recs, features=["A_0", "R_0", "G_0", "size"])
    values = heatmap_values(fig, 4)
    expected = np.sort(regression.feature_r2_matrix(recs, ["A_0", "R_0", "G_0", "size"]).to_numpy().ravel())
    np.testing.assert_allclose(values, expected)


def test_similarity_clustermap_is_exp_minus_rmsd_of_the_images():
    ds = data.load_dataset("digits", "train")
    X, y = ds.images[:30], ds.labels[:30]
    fig = plots.study_a.similarity_clustermap(X, y, classes=ds.classes)
    values = heatmap_values(fig, 30)
    Z = similarity.similarity_from_rmsd(similarity.pairwise_rmsd(X))
    np.testing.assert_allclose(values, np.sort(Z.ravel()), rtol=1e-12)
    assert values.min() >= np.exp(-1) and values.max() == pytest.approx(1.0)


def test_balance_histogram_counts_every_subset_once():
    manifest = a.make_subsets("digits", 40, n_bins=5, per_bin=2, seed=1)
    fig = plots.study_a.balance_histogram(manifest)
    heights = sum(p.get_height() for p in fig.axes[0].patches)
    assert heights == len(manifest)
