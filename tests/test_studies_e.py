"""Study E pipeline: window search per rate on validation, the step-budget recipe, records, verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xfactor_lib import coresets, records, sweep, training
from xfactor_lib.coresets import scores as cs
from xfactor_lib.data import load_dataset
from xfactor_lib.studies import e

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- window search
def test_window_grid_lists_non_overlapping_pairs_on_the_step_grid():
    assert e.window_grid(40, window=10, step=10) == [(0, 10), (0, 20), (0, 30), (10, 20), (10, 30), (20, 30)]
    assert e.window_grid(25, window=10, step=5) == [(0, 10), (0, 15), (5, 15)]
    assert len(e.window_grid(200, window=10, step=10)) == 190


def test_window_search_evaluates_every_combination_on_its_coreset():
    S = np.random.default_rng(5).random((30, 40))
    calls = []

    def evaluate(indices, early, late):
        calls.append((early, late, indices.tolist()))
        return 1.0 if (early, late) == (10, 20) else 0.5 if late is None else 0.0

    frame = e.window_search(S, evaluate, rate=0.1, window=10, step=10)
    assert list(frame.columns) == ["rate", "early_start", "late_start", "score"]
    assert list(zip(frame.early_start, frame.late_start)) == e.window_grid(40, window=10, step=10)
    assert e.best_window(frame) == (10, 20)
    early, late, idx = calls[3]
    assert (early, late) == (10, 20) and len(idx) == 3
    assert idx == coresets.select_top(cs.eva_scores(S, early_start=10, late_start=20), 0.1).tolist()

    single = e.window_search(S[:, :30], evaluate, rate=0.1, single=True)
    assert single.late_start.isna().sum() == 3 and len(single) == 6
    assert e.best_window(single) == (10, 20)  # a single window never wins the EVA pair
    early, late, idx = calls[len(frame) + 1]
    assert (early, late) == (10, None) and idx == coresets.select_top(S[:, 10:20].var(axis=1), 0.1).tolist()
    with pytest.raises(ValueError, match="no window pair fits"):
        e.window_search(np.zeros((4, 15)), evaluate, rate=0.5)


# --------------------------------------------------------------------------- the pipeline on digits
SGD = dict(
    optimizer="sgd",
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
    lr_schedule=[[1, 0.1]],
    schedule="cosine",
    batch_size=64,
)


@pytest.fixture(scope="module")
def digits_surrogate(tmp_path_factory):
    """A surrogate cell on digits written as the e_surrogate template writes it, tiny settings."""
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    pool, val_idx = e.split_pool(train, pool_size=400, val_size=150, seed=0)
    X_val, y_val = train.images[val_idx], train.labels[val_idx]
    config = training.TrainConfig.from_dict({**SGD, "min_epochs": 4, "max_epochs": 4})
    search = e.coreset_config(SGD, n_pool=len(pool), full_epochs=2)
    dyn, info, model = e.train_surrogate(train, pool, model="mlp-1", config=config, device="cpu", seed=0)
    seen = []
    real = training.evaluate

    def spy(model, X, y, **kw):
        seen.append(np.asarray(X))
        return real(model, X, y, **kw)

    training.evaluate = spy
    try:
        windows = e.search_windows(
            dyn,
            train,
            pool,
            X_val,
            y_val,
            rates=[0.05, 0.3],
            window=1,
            step=1,
            arch="mlp-1",
            config=search,
            device="cpu",
        )
    finally:
        training.evaluate = real
    out = tmp_path_factory.mktemp("run") / "e_surrogate--digits-0"
    out.mkdir()
    E, _ = e.pool_embedding(train, pool, out_dir=out, per_class=40, epochs=1, seed=0, device="cpu")
    e.save_surrogate(out, dyn, pool, val_idx, embed=E)
    recs = e.surrogate_records(
        windows,
        info=info,
        test_metrics=training.evaluate(model, test.images, test.labels, K=10, device="cpu"),
        config=config,
        search_config=search,
        n_pool=len(pool),
        n_val=len(y_val),
        device="cpu",
        out_dir=str(out),
        params=dict(dataset="digits", seed=0, arch="mlp-1", scale="smoke", window=1, step=1, pool_size=400),
    )
    records.write_records(recs, out)
    return dict(
        train=train,
        test=test,
        pool=pool,
        val_idx=val_idx,
        dyn=dyn,
        windows=windows,
        seen=seen,
        run_dir=out.parent,
        recs=recs,
        search=search,
        embed=E,
    )


def test_surrogate_records_every_pool_sample_every_epoch(digits_surrogate):
    dyn, pool = digits_surrogate["dyn"], digits_surrogate["pool"]
    assert dyn.S.shape == (400, 4) and dyn.complete and np.isfinite(dyn.S).all()
    assert dyn.y.tolist() == digits_surrogate["train"].labels[pool].tolist()
    assert not np.isin(digits_surrogate["val_idx"], pool).any()  # validation is disjoint from the pool


def test_window_search_runs_per_rate_on_validation_and_never_reads_the_test_split(digits_surrogate):
    ws, test = digits_surrogate["windows"], digits_surrogate["test"]
    X_val = digits_surrogate["train"].images[digits_surrogate["val_idx"]]
    # T=4, window 1, step 1: 6 pairs and 4 single windows at each of the two rates
    assert ws.table.groupby("rate").size().to_dict() == {0.05: 10, 0.3: 10}
    assert set(ws.best) == {0.05, 0.3}
    for rate, (early, late) in ws.best.items():
        part = ws.table[(ws.table["rate"] == rate) & ws.table["late_start"].notna()]
        assert part["score"].max() == part[(part.early_start == early) & (part.late_start == late)]["score"].iloc[0]
    assert len(digits_surrogate["seen"]) == 20
    assert all(X.shape == X_val.shape and np.array_equal(X, X_val) for X in digits_surrogate["seen"])
    assert not any(X.shape == test.images.shape for X in digits_surrogate["seen"])


def test_load_surrogate_gives_back_the_dynamics_pool_and_windows_per_rate(digits_surrogate):
    s = e.load_surrogate(digits_surrogate["run_dir"], dataset="digits", seed=0)
    np.testing.assert_array_equal(s.pool, digits_surrogate["pool"])
    np.testing.assert_array_equal(s.dynamics.S, digits_surrogate["dyn"].S)
    assert s.windows == digits_surrogate["windows"].best and s.window == 1
    assert s.windows_at(0.3) == digits_surrogate["windows"].best[0.3]
    with pytest.raises(ValueError, match=r"no window search at rate 0.1 .*searched: \[0.05, 0.3\]"):
        s.windows_at(0.1)
    recs = digits_surrogate["recs"]
    assert {"surrogate_optimizer", "search_steps", "best_early", "best_late", "rate"} <= set(recs.columns)
    assert (recs["search_steps"] == digits_surrogate["search"].steps).all() and recs["search_steps"].iloc[0] == 14
    assert (recs["surrogate_steps_run"] == 4 * 7).all() and (recs["surrogate_steps"] == 0).all()  # epochs, no budget


def test_every_coreset_trains_the_full_runs_steps_and_the_full_run_once_per_seed(digits_surrogate):
    s = e.load_surrogate(digits_surrogate["run_dir"], dataset="digits", seed=0)
    config = e.coreset_config(SGD, n_pool=len(s.pool), full_epochs=2)
    assert config.steps == 2 * 7  # ceil(400 / 64) = 7 steps per full-pool epoch
    recs = e.evaluate_coresets(
        s,
        digits_surrogate["train"],
        digits_surrogate["test"],
        methods=["full", "random", "eva"],
        rates=[0.05, 0.3],
        seeds=[0, 1],
        arch="mlp-1",
        config=config,
        eva_variant="released",
        device="cpu",
        quiet=True,
        extra={"dataset": "digits"},
    )
    full = recs[recs["method"] == "full"]
    assert len(full) == 2 and (full["rate"] == 1.0).all() and (full["n_coreset"] == 400).all()
    two_pct = recs[(recs["method"] != "full") & (recs["rate"] == 0.05)]
    assert (two_pct["n_coreset"] == 20).all()
    assert set(recs["steps_run"]) == {14} and (recs["optimizer"] == "sgd").all() and (recs["steps"] == 14).all()
    eva = recs[(recs["method"] == "eva") & (recs["rate"] == 0.3)].iloc[0]
    assert (eva["early_start"], eva["late_start"]) == s.windows[0.3] and eva["eva_variant"] == "released"
    assert recs["acc"].between(0, 1).all() and (recs["n_test"] == digits_surrogate["test"].N).all()


def test_training_free_methods_join_table_1_from_the_pool_images_without_dynamics(digits_surrogate):
    s = e.load_surrogate(digits_surrogate["run_dir"], dataset="digits", seed=0)
    assert s.embed.shape == (400, digits_surrogate["embed"].shape[1])
    np.testing.assert_array_equal(s.embed, digits_surrogate["embed"])
    assert (Path(digits_surrogate["run_dir"]) / "e_surrogate--digits-0" / "encoder.json").exists()  # cached
    train, pool = digits_surrogate["train"], s.pool
    chosen = []
    real = training.fit_model

    def spy(arch, X, y, **kw):
        chosen.append(np.asarray(X))
        return real(arch, X, y, **kw)

    training.fit_model = spy
    try:
        recs = e.evaluate_coresets(
            s, train, digits_surrogate["test"], methods=["coverage", "coverage_emb", "a_max", "random"],
            rates=[0.1], seeds=[0], arch="mlp-1", config=e.coreset_config(SGD, n_pool=400, full_epochs=1),
            device="cpu", quiet=True, extra={"dataset": "digits"},
        )  # fmt: skip
    finally:
        training.fit_model = real
    assert recs["method"].tolist() == ["coverage", "coverage_emb", "a_max", "random"]
    assert (recs["n_coreset"] == 40).all() and (recs["select_seconds"] >= 0).all()
    X, y = train.images[pool], train.labels[pool]
    want = [
        coresets.select("coverage", rate=0.1, X=X, y=y),
        coresets.select("coverage_emb", rate=0.1, y=y, embed=s.embed),
        coresets.select("a_max", rate=0.1, X=X, y=y),
    ]
    for got, idx in zip(chosen, want):  # trained on exactly the greedy picks of the pool, 4 per class
        np.testing.assert_array_equal(got, train.images[pool[idx]])
        assert np.bincount(y[idx], minlength=10).tolist() == [4] * 10
    summary = e.coreset_summary(recs)
    best = e.best_methods(summary, among=e.TRAINING_FREE)
    assert len(best) == 1 and best["method"].iloc[0] in {"coverage", "coverage_emb", "a_max"}
    row = summary.set_index("method").loc[best["method"].iloc[0]]
    assert best["margin"].iloc[0] == pytest.approx(row["mean"] - summary.set_index("method").loc["random", "mean"])


# --------------------------------------------------------------------------- summaries and verdict
def synthetic_records(repeat_full: int = 1) -> pd.DataFrame:
    """Three seeds; at 2 % EVA clearly beats Random, at 30 % only within the spread."""
    rows = []
    accs = {
        ("random", 0.02): [0.50, 0.52, 0.54],
        ("eva", 0.02): [0.70, 0.71, 0.72],
        ("aum", 0.02): [0.30, 0.31, 0.32],
        ("random", 0.3): [0.85, 0.86, 0.87],
        ("eva", 0.3): [0.86, 0.87, 0.88],
    }
    for (method, rate), vals in accs.items():
        for seed, acc in enumerate(vals):
            rows.append(dict(dataset="mnist", arch="mlp-1", method=method, rate=rate, seed=seed, acc=acc))
    for _ in range(repeat_full):  # e.g. one full-data cell per rate, as the old paper grid ran
        for seed, acc in enumerate([0.97, 0.98, 0.99]):
            rows.append(dict(dataset="mnist", arch="mlp-1", method="full", rate=0.02, seed=seed, acc=acc))
    out = pd.DataFrame(rows)
    return out.assign(
        scale="quick", device="cpu", pretrained=False, steps_run=80, test_sample=2000, n_test=2000, optimizer="sgd"
    )


def synthetic_surrogates() -> pd.DataFrame:
    return pd.DataFrame(
        dict(
            arch="resnet18",
            surrogate_epochs=12,
            window=3,
            step=3,
            n_pool=2000,
            pool_size=2000,
            pretrained=False,
            rate=[0.02, 0.3],
            best_early=0,
            best_late=[3, 6],
        )
    )


def test_full_reference_counts_once_per_seed_in_table_1():
    out = e.coreset_summary(synthetic_records(repeat_full=5))
    full = out[out["method"] == "full"].iloc[0]
    assert full["n"] == 3 and full["rate"] == 1.0 and full["mean"] == pytest.approx(0.98)
    assert full["sd"] == pytest.approx(0.01)
    row = out[(out.method == "eva") & (out.rate == 0.02)].iloc[0]
    assert row["mean"] == pytest.approx(0.71) and row["sd"] == pytest.approx(0.01) and row["n"] == 3
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['acc'\]"):
        e.coreset_summary(synthetic_records().drop(columns="acc"))


def test_paper_grid_trains_the_full_reference_once_per_dataset_arch_and_seed():
    cfg = sweep.load_config(REPO / "configs" / "study_e.yaml", scale="paper")
    cells = [c.params for c in cfg.stages[1].cells("paper")]
    full = pd.DataFrame(
        [dict(dataset=p["dataset"], arch=p["arch"], seed=p["seeds"][0]) for p in cells if p["methods"] == ["full"]]
    )
    assert len(full) == 2 * 4 * 3 and not full.duplicated().any()
    eva = [p for p in cells if p["methods"] == ["eva"]]
    assert len(eva) == 2 * 4 * 3 * 5


def test_window_summary_averages_seeds_per_combination():
    wr = pd.DataFrame(
        {
            "early_start": [0, 0, 0, 10],
            "late_start": [20, 20, None, 20],
            "score": [0.5, 0.7, 0.4, 0.9],
            "seed": [0, 1, 0, 0],
        }
    )
    out = e.window_summary(wr)
    assert out["early_start"].tolist() == [0, 0, 10]
    assert out["late_start"].isna().tolist() == [False, True, False] and out["late_start"].iloc[0] == 20
    assert out["mean"].tolist() == pytest.approx([0.6, 0.4, 0.9]) and out["n"].tolist() == [2, 1, 1]


def test_beats_random_needs_the_seed_bands_apart():
    out = e.beats_random(e.coreset_summary(synthetic_records()))
    assert out.set_index("rate")["winners"].to_dict() == {0.02: ["eva"], 0.3: []}
    assert out["random_mean"].tolist() == pytest.approx([0.52, 0.86])


def test_verdict_states_what_ran_the_deviations_the_winners_and_the_anchor():
    text = e.verdict(synthetic_records(), synthetic_surrogates(), note="Read 13 of 13 cells.")
    assert text.startswith("## Verdict\n\nRead 13 of 13 cells.")
    assert "coresets trained with MLP-1, not ResNet-18" in text
    assert "surrogate trained 12 epochs, not 200" in text and "data set mnist, not OrganAMNIST" in text
    assert "80 optimizer steps per coreset" in text and "device: cpu" in text and "ImageNet weights: no" in text
    eva = "- **EVA vs Random** (mnist / mlp-1) — the EVA paper claims EVA > Random at every rate: it reproduces at "
    assert eva + "1 of 2 rates, Random is better at 0 of 2 (m = 1)" in text  # 30 %: no spread, untested
    assert "2 %: EVA 71.0 vs 52.0, +19.0 [" in text and "30 %: EVA 87.0 vs 86.0, +1.0 [+1.0, +1.0], untested" in text
    assert "no anchor for mnist" in text
    organ = synthetic_records().assign(dataset="organamnist", arch="resnet18")
    text = e.verdict(organ, synthetic_surrogates(), note="")
    assert "| 2 % | 87.6 | 88.8 | 52.0 | 71.0 |" in text and "| 5 % | 93.4 | 94.4 | – | – |" in text
    assert "coresets trained with" not in text


def test_verdict_names_the_best_method_and_the_best_training_free_one_per_rate():
    recs = synthetic_records()
    free = [
        dict(dataset="mnist", arch="mlp-1", method=m, rate=r, seed=s, acc=a)
        for m, r, vals in [("coverage", 0.02, [0.60, 0.62, 0.64]), ("k_center", 0.02, [0.40, 0.41, 0.42])]
        for s, a in enumerate(vals)
    ]
    recs = pd.concat([recs, pd.DataFrame(free).assign(**recs.iloc[0][["scale", "device", "pretrained"]])])
    text = e.verdict(recs, synthetic_surrogates(), note="")
    assert (
        "- **Training-free methods**: untested, no Random (balanced) records (the fair reference) in this run." in text
    )
    bal = recs[recs["method"] == "random"].assign(
        method="random_balanced", acc=lambda d: d["acc"] + 0.05 + 0.01 * d["seed"]
    )
    text = e.verdict(pd.concat([recs, bal]), synthetic_surrogates(), note="")
    free_part = text.split("- **Best training-free method vs Random (balanced)** (mnist / mlp-1)")[1].split("\n")[0]
    assert "m = 2) is better at 1 of 1 rates. 2 %: Coverage 62.0 vs 58.0, +4.0 [" in free_part  # Holm p 0.02
    assert "30 %" not in free_part  # no training-free row at 30 %
    table = e.best_methods(e.coreset_summary(recs), among=["k_center"])
    assert table["method"].tolist() == ["k_center"] and table["margin"].iloc[0] == pytest.approx(-0.11)
    assert not table["beyond_spread"].iloc[0]


def test_carve_validates_on_carved_training_images_disjoint_from_the_pool():
    train = load_dataset("digits", "train")
    pool, val_idx, X_val, y_val = e.carve(
        train, dataset="digits", use_val_split=False, pool_size=300, val_size=100, seed=0
    )
    assert len(pool) == 300 and len(val_idx) == 100 and not set(pool) & set(val_idx)
    assert (X_val == train.images[val_idx]).all() and (y_val == train.labels[val_idx]).all()
    assert np.bincount(y_val).min() >= 9  # class-balanced
