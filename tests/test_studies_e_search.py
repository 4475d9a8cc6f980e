"""Study E's choices on validation (issue 20): CCS's beta per rate, a search seed outside the evaluation seeds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from xfactor_lib import coresets, records, training
from xfactor_lib.coresets.baselines import CCS_BETAS, ccs_scores
from xfactor_lib.data import load_dataset
from xfactor_lib.studies import e
from xfactor_lib.studies.e import search as e_search

SGD = dict(
    optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=5e-4, lr_schedule=[[1, 0.1]], schedule="cosine",
    batch_size=64,
)  # fmt: skip


def test_beta_search_scores_every_feasible_cutoff_and_keeps_the_best_first_on_ties():
    scores = np.linspace(-1, 1, 40)
    seen = []

    def evaluate(idx, beta):
        seen.append((beta, idx.tolist()))
        return {0.0: 0.5, 0.1: 0.7, 0.2: 0.7}.get(beta, 0.1)

    frame = e_search.beta_search(scores, evaluate, rate=0.5, seed=3)
    assert frame["beta"].tolist() == list(CCS_BETAS) and (frame["n_coreset"] == 20).all()
    # M = 20 of 40: beta 0.5 leaves exactly 20 (evaluated); nothing is infeasible here
    assert frame["score"].notna().all() and e_search.best_beta(frame) == 0.1  # 0.1 and 0.2 tie: the smaller
    beta, idx = seen[3]
    assert beta == 0.3 and idx == coresets.ccs_select(scores, 20, beta=0.3, seed=3).tolist()
    assert min(idx) >= 12  # the 12 lowest margins (the hardest 30 %) are dropped
    frame = e_search.beta_search(scores, evaluate, rate=0.6, seed=3)  # M = 24: beta >= 0.5 leaves 20
    assert frame["score"].isna().tolist() == [False] * 5 + [True]
    with pytest.raises(ValueError, match="no beta could be evaluated"):
        e_search.best_beta(frame.assign(score=np.nan))


def test_beta_search_averages_each_cutoff_over_its_draws_with_stepped_seeds():
    scores = np.random.default_rng(0).normal(size=400)
    calls = []

    def evaluate(idx, beta):
        calls.append((beta, idx.tolist()))
        return float(len(calls))  # 1, 2, 3 for the first beta, 4, 5, 6 for the next, ...

    frame = e_search.beta_search(scores, evaluate, rate=0.05, betas=(0.0, 0.3), draws=3, seed=5)
    assert frame["score"].tolist() == [2.0, 5.0] and (frame["draws"] == 3).all()
    step = e_search.DRAW_SEED_STEP
    expect = [coresets.ccs_select(scores, 20, beta=0.3, seed=5 + step * d).tolist() for d in range(3)]
    assert [idx for beta, idx in calls if beta == 0.3] == expect
    assert len({tuple(i) for i in expect}) == 3  # the draws differ
    with pytest.raises(ValueError, match="draws"):
        e_search.beta_search(scores, evaluate, rate=0.05, draws=0, seed=5)


def test_search_seed_lies_outside_every_evaluation_seed():
    assert e.search_seed(0) == 10_000 and e.search_seed(2) == 10_002
    assert e.SEARCH_SEED_OFFSET == 10_000
    with pytest.raises(ValueError):
        e.search_seed(10_000)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A digits surrogate whose windows and betas are searched through spies on the trainer."""
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    pool, val_idx = e.split_pool(train, pool_size=400, val_size=150, seed=1)
    X_val, y_val = train.images[val_idx], train.labels[val_idx]
    config = training.TrainConfig.from_dict({**SGD, "min_epochs": 4, "max_epochs": 4})
    search = e.coreset_config(SGD, n_pool=len(pool), full_epochs=2)
    dyn, info, model = e.train_surrogate(train, pool, model="mlp-1", config=config, device="cpu", seed=1)
    fits, evals = [], []
    real_fit, real_eval = training.fit_model, training.evaluate

    def fit_spy(arch, X, y, **kw):
        fits.append((kw["seed"], len(X), kw["config"].steps))
        return real_fit(arch, X, y, **kw)

    def eval_spy(model, X, y, **kw):
        evals.append(np.asarray(X))
        return real_eval(model, X, y, **kw)

    training.fit_model, training.evaluate = fit_spy, eval_spy
    try:
        found = e.run_searches(
            dyn, train, pool, X_val, y_val, rates=[0.05, 0.3], window=1, step=1, arch="mlp-1", config=search,
            device="cpu", seed=1,
        )  # fmt: skip
    finally:
        training.fit_model, training.evaluate = real_fit, real_eval
    out = tmp_path_factory.mktemp("run") / "e_surrogate--digits-1"
    out.mkdir()
    e.save_surrogate(out, dyn, pool, val_idx)
    recs = e.surrogate_records(
        found.windows, info=info, test_metrics={"acc": 0.0}, config=config, search_config=search, n_pool=len(pool),
        n_val=len(y_val), device="cpu", out_dir=str(out),
        params=dict(dataset="digits", seed=1, arch="mlp-1", scale="smoke", window=1, step=1, pool_size=400),
    )  # fmt: skip
    recs = e.search_columns(recs, found)
    records.write_records(recs, out)
    return dict(train=train, test=test, pool=pool, dyn=dyn, found=found, fits=fits, evals=evals, X_val=X_val,
                y_val=y_val, recs=recs, run_dir=out.parent, search=search)  # fmt: skip


def test_beta_is_chosen_per_rate_on_validation_and_the_test_split_is_never_read(searched):
    found, test = searched["found"], searched["test"]
    table = found.betas.table
    assert table.groupby("rate").size().to_dict() == {0.05: 6, 0.3: 6}
    assert table["score"].notna().all()  # 30 % of 400 = 120 <= 200 left at beta 0.5
    for rate, beta in found.betas.best.items():
        part = table[table["rate"] == rate]
        assert beta == part.loc[part["score"].idxmax(), "beta"]
    # 2 rates x (6 window pairs + 4 single windows) + 2 rates x 6 betas x 3 draws, each scored once on validation
    draws = e_search.CCS_SEARCH_DRAWS
    assert draws == 3 and (table["draws"] == draws).all()
    assert len(searched["evals"]) == 20 + 12 * draws
    assert all(np.array_equal(X, searched["X_val"]) for X in searched["evals"])
    assert not any(X.shape == test.images.shape for X in searched["evals"])
    # the beta candidates are the CCS coresets of the pool on the authors' probability margin
    n = [m for _, m, _ in searched["fits"][20:]]
    assert n == [20] * 6 * draws + [120] * 6 * draws
    assert not np.array_equal(ccs_scores(searched["dyn"]), searched["dyn"].margin.mean(axis=1))


def test_every_search_candidate_trains_with_the_search_seed_and_the_coreset_step_budget(searched):
    seeds = {s for s, _, _ in searched["fits"]}
    assert seeds == {10_001} and searched["found"].seed == 10_001
    assert not seeds & {0, 1, 2}  # the evaluation seeds of e_coreset
    assert {steps for _, _, steps in searched["fits"]} == {searched["search"].steps}  # one budget for windows and betas
    recs = searched["recs"]
    assert (recs["search_seed"] == 10_001).all()
    by_rate = recs.drop_duplicates("rate").set_index("rate")
    assert by_rate["best_beta"].to_dict() == searched["found"].betas.best
    scores = json.loads(by_rate.loc[0.3, "beta_scores"])
    assert list(scores) == ["0", "0.1", "0.2", "0.3", "0.4", "0.5"]
    assert max(scores.values()) == pytest.approx(searched["found"].betas.table.query("rate == 0.3")["score"].max())


def test_ccs_coresets_use_the_beta_chosen_at_their_rate_and_record_it(searched):
    s = e.load_surrogate(searched["run_dir"], dataset="digits", seed=1)
    assert s.betas == searched["found"].betas.best and s.beta_at(0.1) is None
    recs = e.evaluate_coresets(
        s, searched["train"], searched["test"], methods=["ccs", "random_balanced"], rates=[0.05, 0.3], seeds=[0],
        arch="mlp-1", config=e.coreset_config(SGD, n_pool=400, full_epochs=1), device="cpu", quiet=True,
    )  # fmt: skip
    ccs = recs[recs["method"] == "ccs"].set_index("rate")
    assert ccs["beta"].to_dict() == searched["found"].betas.best
    assert recs.loc[recs["method"] == "random_balanced", "beta"].isna().all()
    assert (recs["search_seed"] == 10_001).all()
    bal = recs[recs["method"] == "random_balanced"]
    assert bal["n_coreset"].tolist() == [20, 120]
    # a surrogate cell from before the beta search falls back to the default rule, and says which beta it used
    old = e.Surrogate(s.dynamics, s.pool, s.windows, s.window, pd.Series(dtype=object))
    again = e.evaluate_coresets(
        old, searched["train"], searched["test"], methods=["ccs"], rates=[0.05], seeds=[0], arch="mlp-1",
        config=e.coreset_config(SGD, n_pool=400, full_epochs=1), device="cpu", quiet=True,
    )  # fmt: skip
    assert again["beta"].tolist() == [coresets.ccs_default_beta(0.05)]
