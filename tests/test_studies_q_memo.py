"""Study Q's summary fits each cell's nested CV once (issue 21b): the memo behind cv_table,
cv_predictions and importance_table, and the group-bootstrap interval read from its predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xfactor_lib.quality import nested as pn
from xfactor_lib.quality.predictor import r2_score
from xfactor_lib.studies import q


def _cell(seed=0, n=10, random=14, groups=4, per_group=3):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(random + groups * per_group):
        kind = "random" if i < random else "selected"
        a = rng.uniform(1, 5)
        rows.append(
            {"study": "x", "dataset": "mnist", "n": n, "size": 10 * n, "kind": kind, "strategy": "none",
             "direction": "none", "m": 0, "repeat": 0, "subset_id": f"s{n}-{i}",
             "group": f"r{i}" if kind == "random" else f"g{(i - random) // per_group}",
             "q_cov_a": a, "q_vendi_b": rng.uniform(1, 2), "q_typ_c": a + rng.normal(0, 1),
             "z_mean": 0.8 * a + 0.2 * rng.normal()}
        )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture
def recs(monkeypatch):
    monkeypatch.setattr(q.cv, "HEADLINE_MODELS", ("ridge",))
    q.cv._MEMO.clear()
    yield pd.concat([_cell(0, 10), _cell(1, 30)], ignore_index=True)
    q.cv._MEMO.clear()


@pytest.fixture
def calls(monkeypatch):
    made = []
    real = pn.cross_validated

    def spy(frame, measures, target, **kw):
        made.append((len(frame), tuple(measures), kw["n_boot"]))
        return real(frame, measures, target, **kw)

    monkeypatch.setattr(pn, "cross_validated", spy)
    return made


def test_predictions_and_importance_reuse_the_fits_of_cv_table(recs, calls):
    cv = q.cv_table(recs, families=("all",), n_boot=50)
    fitted = len(calls)
    assert fitted == 4  # two sizes x (all, random)
    pred = q.cv_predictions(recs)
    imp = q.importance_table(recs)
    assert len(calls) == fitted  # nothing refitted
    # the same numbers as a nested CV run directly
    for n, part in recs.groupby("n"):
        cols = ["q_cov_a", "q_vendi_b", "q_typ_c"]  # the frame's column order
        g = part["group"].to_numpy()
        direct = pn.cross_validated(part, cols, "z_mean", groups=g, families=("ridge",), n_boot=0)
        got = pred[pred["n"] == n]
        np.testing.assert_allclose(got["predicted"], direct.predicted, rtol=0, atol=1e-12)
        row = cv[(cv["n"] == n) & (cv["kinds"] == "all")].iloc[0]
        assert row["r2"] == pytest.approx(r2_score(part["z_mean"].to_numpy(), direct.predicted))
        top = imp[(imp["n"] == n) & (imp["kinds"] == "all")]
        assert top["measure"].iloc[0] == direct.importance["measure"].iloc[0]


def test_bootstrap_count_never_changes_predictions_and_the_interval_is_a_group_bootstrap(recs, calls):
    part = recs[recs["n"] == 10]
    a = q.cv._run(part, "all", "z_mean", folds=5, n_boot=0, seed=0)
    b = q.cv._run(part, "all", "z_mean", folds=5, n_boot=300, seed=0)
    assert len(calls) == 1
    np.testing.assert_array_equal(a.predicted, b.predicted)
    assert np.isnan(a.ci_low) and np.isnan(a.ci_high)
    g = part["group"].to_numpy()
    t = part["z_mean"].to_numpy()
    boot = [r2_score(t[i], b.predicted[i]) for i in pn.group_bootstrap(g, 300, seed=0)]
    assert (b.ci_low, b.ci_high) == pytest.approx(tuple(np.percentile(boot, [2.5, 97.5])))
    assert not b.predicted.flags.writeable  # shared with later calls


def test_a_changed_value_group_or_search_refits(recs, calls):
    part = recs[recs["n"] == 10].copy()
    q.cv._run(part, "all", "z_mean", folds=5, n_boot=0, seed=0)
    part.loc[part.index[0], "q_typ_c"] += 1e-9
    q.cv._run(part, "all", "z_mean", folds=5, n_boot=0, seed=0)
    part["group"] = part["group"].where(part["kind"] == "random", "one")
    q.cv._run(part, "all", "z_mean", folds=5, n_boot=0, seed=0)
    q.cv._run(part, "all", "z_mean", folds=4, n_boot=0, seed=0)
    q.cv._run(part, "all", "z_mean", folds=4, n_boot=0, seed=1)
    assert len(calls) == 5
    q.cv._run(part, "all", "z_mean", folds=4, n_boot=10, seed=1)
    assert len(calls) == 5


def test_the_memo_keeps_the_most_recent_fits(recs, calls, monkeypatch):
    monkeypatch.setattr(q.cv, "MEMO_SIZE", 2)
    parts = [recs[recs["n"] == 10].assign(z_mean=lambda d, k=k: d["z_mean"] + k) for k in range(3)]
    for p in parts:
        q.cv._run(p, "all", "z_mean", folds=5, n_boot=0, seed=0)
    assert len(q.cv._MEMO) == 2
    q.cv._run(parts[2], "all", "z_mean", folds=5, n_boot=0, seed=0)
    assert len(calls) == 3
    q.cv._run(parts[0], "all", "z_mean", folds=5, n_boot=0, seed=0)  # dropped: refitted
    assert len(calls) == 4


def test_measures_keep_the_defined_varying_q_columns_in_frame_order():
    part = pd.DataFrame(
        {"q_b": [1.0, 2.0, 3.0], "x": [1, 2, 3], "q_const": [2.0, 2.0, 2.0], "q_nan": [1.0, np.nan, 2.0],
         "q_a": [0.3, 0.1, 0.2], "q_emb_c": [5.0, 6.0, 5.0]}
    )  # fmt: skip
    assert q.measure_columns(part) == ["q_b", "q_const", "q_a", "q_emb_c"]
    assert q.measure_columns(part, family="pixel") == ["q_b", "q_const", "q_a"]
    assert q.cv._measures(part, "all") == ["q_b", "q_a", "q_emb_c"]
    assert q.cv._measures(part.drop(columns=["q_b", "q_a", "q_emb_c"]), "all") == []
