"""Issue 22: a missing class is uncovered, index arrays are whole numbers, the report states
its uncertainty, and a missing subset file is one clear line."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from xfactor_lib import _validation as v
from xfactor_lib import data, quality, subsets
from xfactor_lib.studies import q_report


def _toy(seed=0, per=12, K=3, side=5):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(40, 215, size=(K, side, side))
    y = np.repeat(np.arange(K), per)
    X = np.clip(centres[y] + rng.normal(0, 30, size=(y.size, side, side)), 0, 255).astype(np.uint8)[:, None]
    return X, y


# --------------------------------------------------------------------------- 4. missing class
def test_a_missing_class_is_uncovered_in_the_worst_class_and_mean_coverage():
    X, y = _toy()
    ref = quality.make_reference(X, y, per_class=12, probe_per_class=4, seed=0)
    full = np.flatnonzero(np.isin(np.arange(y.size) % 12, [0, 1, 2]))  # 3 images of each class
    lacking = full[y[full] != 2]  # no image of class 2
    m_full = quality.measures(X[full], y[full], reference=ref, index=full)
    m_lack = quality.measures(X[lacking], y[lacking], reference=ref, index=lacking)
    per = quality.class_table(X[lacking], y[lacking], reference=ref, index=lacking)
    assert per["class"].tolist() == [0, 1, 2] and per["images"].tolist() == [3, 3, 0]
    assert per.loc[2, "cov_fl"] == 0.0 and per.loc[2, "cov_rmsd"] == quality.MISSING_RMSD == 1.0
    assert per.loc[2, "vendi_1"] == 0.0 and np.isnan(per.loc[2, "ambiguity"]) and np.isnan(per.loc[2, "typ_own"])
    assert m_lack["q_cov_fl_min"] == 0.0 and m_lack["q_cov_rmsd_max"] == 1.0 and m_lack["q_vendi_1_min"] == 0.0
    assert m_lack["q_cov_fl_mean"] == pytest.approx(per["cov_fl"].mean())
    assert m_lack["q_cov_rmsd_mean"] == pytest.approx(per["cov_rmsd"].mean())
    assert m_full["q_cov_fl_min"] > 0 and m_full["q_cov_rmsd_max"] < 1.0
    brute = [  # brute force: the classes present, from pairwise RMSD to the nearest subset image of the class
        np.mean([min(np.sqrt(np.mean((ref.X[r].astype(float) / 255 - X[s].reshape(-1) / 255) ** 2)) for s in lacking
                     if y[s] == k) for r in np.flatnonzero(ref.y == k)])
        for k in (0, 1)
    ]  # fmt: skip
    assert per.loc[:1, "cov_rmsd"].to_numpy() == pytest.approx(brute)
    table = quality.measures_table({"full": full, "lacking": lacking}, X, y, reference=ref).set_index("subset_id")
    assert table.loc["lacking", "q_cov_fl_min"] == 0.0 and table.loc["full", "q_cov_fl_min"] == m_full["q_cov_fl_min"]


def _rd(tmp_path):
    X, y = _toy(per=20)
    path = tmp_path / "toy.npz"
    np.savez(path, x_train=X[:, 0], y_train=y, x_test=X[:6, 0], y_test=y[:6], classes=np.array(["ant", "bee", "cat"]))
    return q_report.report_data(f"npz:{path}", per_class=20, probe_per_class=5)


def test_report_keeps_a_missing_class_and_the_verdict_names_it(tmp_path):
    rd = _rd(tmp_path)
    idx = np.flatnonzero((rd.y != 1) & (np.arange(rd.y.size) % 20 < 4))
    classes = q_report.report_classes(rd, idx)
    assert classes["name"].tolist() == ["ant", "bee", "cat"] and classes["images"].tolist() == [4, 0, 4]
    assert classes["train_images"].tolist() == [20, 20, 20]
    table = q_report.report_measures(rd, idx, n_random=10)
    text = q_report.prediction_text({"available": False, "note": "none"}, table, classes=classes)
    assert text.splitlines()[0] == (
        "**The subset has no image of 1 class(es): bee.** They are uncovered (coverage 0, worst-class measures at "
        "their worst); the random subsets below have the same class counts, so the percentiles do not show this. "
        "Add images of these classes."
    )
    assert table.set_index("measure").loc["q_cov_fl_min", "value"] == 0.0


# --------------------------------------------------------------------------- 8. uncertainty in the report
def test_wilson_interval_matches_the_formula_by_hand():
    lo, hi = q_report.wilson_interval(np.array([0.37, 0.0, 1.0]), 30)
    # p = 0.37, n = 30, z = 1.96: centre 0.434027 / 1.128053 = 0.38476, half 1.7375 * sqrt(0.008837) = 0.16334
    z2n = 1.96**2 / 30
    half = 1.96 / (1 + z2n) * np.sqrt(0.37 * 0.63 / 30 + z2n / 120)
    assert lo[0] == pytest.approx((0.37 + z2n / 2) / (1 + z2n) - half) and lo[0] == pytest.approx(0.2214, abs=1e-4)
    assert hi[0] == pytest.approx(0.5481, abs=1e-4)
    assert lo[1] == 0.0 and hi[1] == pytest.approx(0.1135, abs=1e-4) and hi[2] == 1.0


def _measures(rows):
    frame = pd.DataFrame(rows, columns=["measure", "value", "percentile", "percentile_lo", "percentile_hi"])
    return frame.assign(n_random=30)


def test_prediction_text_says_indistinguishable_when_the_interval_covers_50():
    table = _measures(
        [
            ("q_cov_nn_err", 0.2, 37.0, 21.9, 55.0),  # lower is better; covers 50
            ("q_td_A_0", 3.0, 43.0, 26.0, 61.0),
            ("q_ambiguity", 0.1, 5.0, 1.0, 17.0),  # lower is better: better than typical
            ("q_cov_nll", 0.5, 96.0, 83.0, 99.0),  # lower is better: worse
        ]
    )
    lines = q_report.prediction_text({"available": False, "note": "n/a"}, table).splitlines()
    assert lines[0] == (
        "- error of the subset's 1-nearest-neighbour classifier on the reference probe (`q_cov_nn_err`): 0.2, "
        "percentile 37 (95 % interval 22 to 55, from 30 random subsets) among random subsets of the same class "
        "counts: indistinguishable from random"
    )
    assert lines[1].endswith("cross-entropy of the subset's kernel classifier on the probe (`q_cov_nll`): 0.5, "
                             "percentile 96 (95 % interval 83 to 99, from 30 random subsets) among random subsets "
                             "of the same class counts: worse than a typical random subset")  # fmt: skip
    assert lines[2].endswith("percentile 43 (95 % interval 26 to 61, from 30 random subsets) among random subsets "
                             "of the same class counts: indistinguishable from random")  # fmt: skip
    assert lines[3].endswith("of the same class counts: better than a typical random subset")
    assert "as good as than" not in "\n".join(lines)


def test_report_measures_gives_the_interval_of_each_percentile(tmp_path):
    rd = _rd(tmp_path)
    idx = q_report.report_subset(rd, "", n=3, seed=0)
    table = q_report.report_measures(rd, idx, n_random=6).set_index("measure")
    lo, hi = q_report.wilson_interval(table["percentile"].to_numpy() / 100, 6)
    assert np.allclose(table["percentile_lo"], 100 * lo) and np.allclose(table["percentile_hi"], 100 * hi)
    assert (table["n_random"] == 6).all() and table.loc["q_size", "percentile"] == 50


def test_a_missing_subset_file_is_one_clear_line(tmp_path):
    rd = _rd(tmp_path)
    with pytest.raises(ValueError) as err:
        q_report.report_subset(rd, str(tmp_path / "picked.npy"))
    assert str(err.value) == (
        f"subset file {tmp_path / 'picked.npy'} does not exist; give an existing .npy / .txt / .csv file of "
        "indices, a comma-separated list such as '3,17,42', or nothing for a random draw"
    )
    with pytest.raises(ValueError, match=r"^subset 'a,b' is neither an existing indices file nor a comma-separated"):
        q_report.report_subset(rd, "a,b")


# --------------------------------------------------------------------------- 5. index arrays
def test_check_indices_refuses_fractions_and_handles_masks():
    assert v.check_indices([3, 1]).tolist() == [3, 1]
    assert v.check_indices(np.array([2.0, 0.0])).tolist() == [2, 0]  # np.loadtxt gives floats
    with pytest.raises(ValueError, match=re.escape("found fractional value(s) [1.7] (at position(s) [1])")):
        v.check_indices([0, 1.7])
    mask = np.array([False, True, True, False])
    assert v.check_indices(mask, n=4).tolist() == [1, 2]
    with pytest.raises(ValueError, match="is a boolean mask of length 4, but there are 5 items"):
        v.check_indices(mask, n=5)
    with pytest.raises(TypeError, match=re.escape("pass integer indices (np.flatnonzero(mask))")):
        v.check_indices(mask)
    with pytest.raises(ValueError, match=re.escape("must lie in [0, 4), got range [-1, 2]")):
        v.check_indices([-1, 2], n=4)
    with pytest.raises(TypeError, match="must be integer indices, got dtype <U1"):
        v.check_indices(["a"])


def test_fractional_indices_are_refused_where_indices_enter(tmp_path):
    X, y = _toy()
    ds = data.Dataset(X, y, ["a", "b", "c"], "toy", "train")
    with pytest.raises(ValueError, match=re.escape("subset indices of toy/train must be whole numbers")):
        ds.subset([0.0, 1.7])
    assert ds.subset(np.arange(y.size) < 2).N == 2 and ds.subset([1.0]).labels.tolist() == [0]
    ref = quality.make_reference(X, y, per_class=12, probe_per_class=4, seed=0)
    with pytest.raises(
        ValueError, match=re.escape("subset 'a' must be whole numbers; found fractional value(s) [1.7]")
    ):
        quality.measures_table({"a": [0.0, 1.7, 14.0]}, X, y, reference=ref)
    with pytest.raises(ValueError, match=re.escape("index must be whole numbers")):
        quality.measures(X[:2], y[:2], reference=ref, index=[0, 1.5])
    with pytest.raises(ValueError, match=re.escape("the manifest row's indices must be whole numbers")):
        subsets.manifest_indices({"indices": [1.7]})
    rd = _rd(tmp_path)
    with pytest.raises(
        ValueError, match=re.escape("the subset must be whole numbers; found fractional value(s) [1.7]")
    ):
        q_report.report_subset(rd, "0,1.7,30")
    np.savetxt(tmp_path / "s.txt", [0.5, 2])
    with pytest.raises(ValueError, match=re.escape("found fractional value(s) [0.5]")):
        q_report.report_subset(rd, str(tmp_path / "s.txt"))
    keep = np.zeros(rd.y.size, bool)
    keep[[2, 25]] = True
    assert q_report.report_subset(rd, keep).tolist() == [2, 25]


@pytest.mark.parametrize(
    ("pct", "lo", "hi", "lower_better", "word"),
    [
        (80, 62, 92, False, "better"),  # interval above 50, higher is better
        (80, 62, 92, True, "worse"),  # the same interval when lower is better
        (20, 8, 38, True, "better"),
        (20, 8, 38, False, "worse"),
        (70, 45, 88, False, "indistinguishable"),  # the interval covers 50
        (50, None, None, True, "indistinguishable"),  # no interval: the percentile itself
        (51, None, None, False, "better"),
    ],
)
def test_standing_word_says_better_or_worse_only_when_the_interval_excludes_50(pct, lo, hi, lower_better, word):
    assert q_report.standing_word(pct, lo, hi, lower_better=lower_better) == word
