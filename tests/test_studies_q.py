"""Study Q pipeline: targets, grouping, the q_measures records, the analysis and the verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xfactor_lib import records, stats, subsets, sweep
from xfactor_lib.data import load_dataset
from xfactor_lib.quality import nested as predictor_nested
from xfactor_lib.studies import q
from xfactor_lib.studies.q import cv as q_cv


# --------------------------------------------------------------------------- synthetic records
def _x_cell(rng, n, *, groups=8, per_group=3, random=12, dataset="mnist", noise=0.1):
    """Study X rows of one n: q_cov_a drives z_mean, q_vendi_b is noise, q_typ_c weakly."""
    rows = []
    for i in range(random + groups * per_group):
        kind = "random" if i < random else "selected"
        group = f"r{i}" if kind == "random" else f"g{(i - random) // per_group}"
        a = rng.uniform(1, 5) * (1.0 if kind == "random" else rng.uniform(0.5, 2))
        rows.append(
            {"study": "x", "dataset": dataset, "n": n, "size": 10 * n, "kind": kind, "strategy": "none",
             "direction": "none", "m": 0, "repeat": 0, "subset_id": f"{dataset}-{n}-{i}", "group": group,
             "q_size": 10.0 * n, "q_cb_1": 10.0, "q_cov_a": a, "q_vendi_b": rng.uniform(1, 2),
             "q_typ_c": a + rng.normal(0, 2), "z_mean": 0.8 * a + noise * rng.normal(), "bacc": np.nan,
             "ref_per_class": 50, "ref_images": 500, "tau_data": 0.2, "encoder_acc": 0.9, "scale": "smoke"}
        )  # fmt: skip
    return rows


def _a_rows(rng, dataset, sizes=(64, 128), per=24):
    rows = []
    for size in sizes:
        for i in range(per):
            cb = rng.uniform(1, 10)
            a = rng.uniform(1, 5)
            rows.append(
                {"study": "a", "dataset": dataset, "n": np.nan, "size": size, "kind": "balance", "strategy": "none",
                 "direction": "none", "m": 0, "repeat": 0, "subset_id": f"a-{dataset}-{size}-{i}",
                 "group": f"a-{dataset}-{size}-{i}", "q_size": float(size), "q_cb_1": cb, "q_cov_a": a,
                 "q_vendi_b": rng.uniform(1, 2), "q_typ_c": rng.uniform(1, 2), "z_mean": np.nan,
                 "bacc": 0.1 * np.log(size) + 0.01 * cb + 0.05 * a + 0.01 * rng.normal(),
                 "ref_per_class": 50, "ref_images": 500, "tau_data": 0.2, "encoder_acc": np.nan, "scale": "smoke"}
            )  # fmt: skip
    return rows


@pytest.fixture(autouse=True)
def _linear_headline(monkeypatch):
    """Linear model families only (boosting is tested in test_predictor_nested; here it only costs time)."""
    monkeypatch.setattr(q.cv, "HEADLINE_MODELS", ("ridge", "pls"))


@pytest.fixture(scope="module")
def recs():
    rng = np.random.default_rng(0)
    rows = _x_cell(rng, 10) + _x_cell(rng, 30) + _a_rows(rng, "mnist") + _a_rows(rng, "digits")
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- pieces
def test_group_ids_follow_shared_candidates():
    man = pd.DataFrame({"subset_id": ["r0", "s1", "s2", "s3"], "candidates": [[1, 2], [5, 3, 4], [3, 4, 5], [3, 4, 6]]})
    g = q.group_ids(man)
    assert g[1] == g[2] and len({g[0], g[1], g[3]}) == 3
    assert q.group_ids(pd.DataFrame({"subset_id": ["a", "b"]})).tolist() == ["a", "b"]


def test_x_targets_are_mean_z_over_the_non_gnb_models():
    rng = np.random.default_rng(1)
    rows = [
        {"subset_id": f"s{i}", "kind": "random" if i < 6 else "selected", "dataset": "d", "n": 5, "model": m,
         "error": rng.uniform(0.1, 0.5)}
        for i in range(9) for m in ("gnb", "rf", "svc")
    ]  # fmt: skip
    recs = pd.DataFrame(rows)
    got = q.x_targets(recs).set_index("subset_id")
    kept = recs[recs["model"] != "gnb"].copy()
    kept["z"] = stats.zscores(kept)
    want = kept.groupby("subset_id")["z"].mean()
    np.testing.assert_allclose(got.loc[want.index, "z_mean"], want, rtol=1e-12)
    assert (got["z_models"] == 2).all()
    assert "zt_even" not in got.columns  # records without half-test errors


def test_x_targets_on_each_half_of_the_test_sample_and_the_test_split_ceiling():
    rng = np.random.default_rng(3)
    rows = [
        {"subset_id": f"s{i}", "kind": "random" if i < 8 else "selected", "dataset": "d", "n": 5, "model": m,
         "error": rng.uniform(0.1, 0.5), "error_even": rng.uniform(0.1, 0.5), "error_odd": rng.uniform(0.1, 0.5)}
        for i in range(10) for m in ("gnb", "rf", "svc")
    ]  # fmt: skip
    recs = pd.DataFrame(rows)
    got = q.x_targets(recs).set_index("subset_id")
    kept = recs[recs["model"] != "gnb"]
    halves = {}
    order = kept.groupby("model").get_group("rf")["subset_id"]
    for half, prefix in (("even", "zme_"), ("odd", "zmo_")):  # by hand: Z against the same model's random rows
        z = {}
        for model, g in kept.groupby("model"):
            ran = g.loc[g["kind"] == "random", f"error_{half}"]
            z[model] = ((g[f"error_{half}"] - ran.mean()) / ran.std(ddof=1)).to_numpy()
            np.testing.assert_allclose(got.loc[order, f"{prefix}{model}"], z[model], rtol=1e-12)
        halves[half] = np.mean(list(z.values()), axis=0)
        np.testing.assert_allclose(got.loc[order, f"zt_{half}"], halves[half], rtol=1e-12)
    r = np.corrcoef(halves["even"], halves["odd"])[0, 1]
    part = got.reset_index()
    assert q_cv.ceiling_test(part) == pytest.approx(2 * r / (1 + r))
    assert np.isnan(q_cv.ceiling_test(part.drop(columns="zt_odd")))
    want = predictor_nested.two_facet_ceiling(*[part[[f"{p}rf", f"{p}svc"]] for p in ("zm_", "zme_", "zmo_")])
    assert q_cv.ceiling_both(part) == pytest.approx(want) or (np.isnan(want) and np.isnan(q_cv.ceiling_both(part)))
    assert np.isnan(q_cv.ceiling_both(part.drop(columns="zmo_svc")))  # one model with both halves


# --------------------------------------------------------------------------- analysis
def test_cv_table_scores_the_true_family_high_and_noise_low(recs):
    cv = q.cv_table(recs, n_boot=100)
    x = cv[(cv["study"] == "x") & (cv["kinds"] == "all")].set_index(["n", "family"])
    for n in (10, 30):
        assert x.loc[(n, "coverage"), "r2"] > 0.9
        assert x.loc[(n, "vendi"), "r2"] < 0.3
        assert x.loc[(n, "all"), "lo"] <= x.loc[(n, "all"), "r2"] <= x.loc[(n, "all"), "hi"]
        assert x.loc[(n, "all"), "groups"] == 12 + 8
    assert set(cv["study"]) == {"x", "a"}


def test_single_table_ranks_measures_within_each_cell(recs):
    single = q.single_table(recs)
    top = single[single["study"] == "x"].groupby("n").head(1)
    assert top["measure"].tolist() == ["q_cov_a", "q_cov_a"] and (top["family"] == "coverage").all()


def test_predictions_weights_a_gain_and_transfer(recs):
    pred = q.cv_predictions(recs)
    x = pred[pred["study"] == "x"]
    assert len(x) == 72 and np.corrcoef(x["measured"], x["predicted"])[0, 1] > 0.9
    w = q.weights_table(recs)
    assert w[w["study"] == "x"].groupby("n").head(1)["measure"].eq("q_cov_a").all()
    gain = q.a_gain(recs)
    best = gain.drop_duplicates("dataset").set_index("dataset")
    assert (best["measure"] == "q_cov_a").all() and (best["gain"] > 0.1).all()
    tr = q.transfer_table(recs)
    assert set(zip(tr["train"], tr["test"])) == {("mnist", "digits"), ("digits", "mnist")}
    assert (tr["r2"] > 0.4).all()
    assert (q.transfer_table(recs, family="vendi")["r2"] < 0.2).all()  # noise does not transfer


def test_verdict_starts_with_the_note_and_reports_r2_per_n(recs):
    text = q.verdict(recs, note="Read 3 of 3 cells.")
    assert text.startswith("Read 3 of 3 cells.")
    assert "n = 10: 0.9" in text and "n = 30: 0.9" in text and "coverage" in text
    assert "Optimized" not in text
    opt = recs[recs["study"] == "x"].head(3).assign(kind="optimized", subset_id=lambda d: d["subset_id"] + "o")
    assert "Optimized subsets" in q.verdict(pd.concat([recs, opt], ignore_index=True))


# --------------------------------------------------------------------------- the stage
def _write_cell(run_dir, stage, name, frame):
    out = run_dir / f"{stage}--{name}"
    out.mkdir(parents=True)
    records.write_records(frame, out, stage=stage)


def test_measure_dataset_joins_measures_groups_and_targets(tmp_path):
    train = load_dataset("digits", "train")
    man = subsets.study_x_manifest(
        train.images, train.labels, 5, n_random=4, ms=[6], strategies=["own_mean"], directions=["+", "-"],
        repeats=1, seed=0, dataset="digits",
    ).assign(scale="smoke")  # fmt: skip
    _write_cell(tmp_path, "x_subsets", "digits-5", man)
    rng = np.random.default_rng(0)
    fits = [
        {"subset_id": s, "dataset": "digits", "n": 5, "size": 50, "model": m, "kind": k, "error": rng.uniform(0.2, 0.6),
         "scale": "smoke"}
        for s, k in zip(man["subset_id"], man["kind"]) for m in ("gnb", "rf")
    ]  # fmt: skip
    _write_cell(tmp_path, "x_train", "digits-5", pd.DataFrame(fits))
    recs, info = q.measure_dataset(
        tmp_path, "digits", per_class=30, probe_per_class=10, encoder_per_class=20, encoder_epochs=1,
        cache_dir=tmp_path / "enc", device="cpu", scale="smoke", quiet=True,
    )  # fmt: skip
    records.check_schema(recs, "q_measures")
    assert len(recs) == len(man) and (tmp_path / "enc" / "encoder.json").is_file()
    assert recs.groupby("group").size().sort_values().tolist() == [1, 1, 1, 1, 2]  # + and - share candidates
    assert "q_cov_emb_nn_err" in recs and recs["q_cov_nll"].notna().all()
    want = q.x_targets(pd.DataFrame(fits)).set_index("subset_id")["z_mean"]
    np.testing.assert_allclose(recs.set_index("subset_id").loc[want.index, "z_mean"], want)
    assert info["reference"] == 300 and info["probe"] == 100 and 0 <= info["encoder_acc"] <= 1
    with pytest.raises(FileNotFoundError, match="no study X or study A subsets"):
        q.measure_dataset(tmp_path, "mnist", encoder_epochs=0)
    assert sweep.collect(tmp_path, "x_subsets")["subset_id"].tolist() == man["subset_id"].tolist()


# --------------------------------------------------------------------------- the quality report
def _npz(tmp_path, K=3, per=60, side=12, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.integers(30, 225, size=(K, side, side))

    def split(count):
        y = np.repeat(np.arange(K), count)
        x = np.clip(centres[y] + rng.normal(0, 45, size=(y.size, side, side)), 0, 255).astype(np.uint8)
        return x, y

    (xtr, ytr), (xte, yte) = split(per), split(10)
    xtr[5] = xtr[9]  # a near-duplicate pair to find
    path = tmp_path / "toy.npz"
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return path


def test_report_pieces_on_an_npz_dataset(tmp_path):
    from xfactor_lib.studies import q_report

    rd = q_report.report_data(f"npz:{_npz(tmp_path)}", per_class=40, probe_per_class=20)
    idx = q_report.report_subset(rd, "", n=4, seed=1)
    assert np.bincount(rd.y[idx]).tolist() == [4, 4, 4]
    np.save(tmp_path / "s.npy", idx)
    assert np.array_equal(q_report.report_subset(rd, str(tmp_path / "s.npy")), idx)
    assert np.array_equal(q_report.report_subset(rd, ",".join(map(str, idx[::-1]))), idx)
    with pytest.raises(ValueError, match="repeats"):
        q_report.report_subset(rd, "1,1,2")
    table = q_report.report_measures(rd, idx, n_random=8)
    row = table.set_index("measure").loc["q_size"]
    assert row["value"] == 12 and row["percentile"] == 50  # every random subset has the same size
    assert table["percentile"].between(0, 100).all()
    assert q_report.report_prediction("", table) == {"available": False, "note": "no run_dir given: no predictor"}


def test_quality_report_runs_under_papermill_on_an_npz_dataset(tmp_path):
    import papermill

    from xfactor_lib import quality
    from xfactor_lib.data import load_dataset

    path = _npz(tmp_path)
    # a run whose q_measures records let the report fit the study X predictor
    train = load_dataset(f"npz:{path}", "train")
    ref = quality.make_reference(train.images, train.labels, per_class=40, probe_per_class=20)
    rng = np.random.default_rng(3)
    sets = {f"s{i}": np.sort(np.concatenate([rng.choice(np.flatnonzero(train.labels == k), 4, replace=False)
                                             for k in range(3)])) for i in range(12)}  # fmt: skip
    meas = quality.measures_table(sets, train.images, train.labels, reference=ref)
    fake = meas.assign(study="x", dataset="toy", n=4, size=12, kind="random", group=meas["subset_id"],
                       z_mean=10 * meas["q_cov_rmsd_mean"], bacc=np.nan, scale="smoke")  # fmt: skip
    _write_cell(tmp_path / "run", "q_measures", "toy", fake)
    out = tmp_path / "report.ipynb"
    papermill.execute_notebook(
        "notebooks/quality_report.ipynb",
        str(out),
        parameters={"dataset": f"npz:{path}", "subset_n": 4, "per_class": 40, "probe_per_class": 20, "n_random": 8,
                    "top": 4, "run_dir": str(tmp_path / "run"), "out_dir": str(tmp_path)},
        kernel_name="python3",
        progress_bar=False,
    )  # fmt: skip
    text = out.read_text()
    assert "Predicted mean Z" in text and "image/png" in text
    classes = pd.read_csv(tmp_path / "quality_report_classes.csv")
    assert classes["images"].tolist() == [4, 4, 4]
    assert len(pd.read_csv(tmp_path / "quality_report_measures.csv")) == len(quality.measure_names())


def test_figures_have_one_panel_per_cell_and_handle_missing_kinds(recs):
    from xfactor_lib.plots import study_q

    pred = q.cv_predictions(recs)
    assert len(study_q.predicted_vs_measured(pred).axes) == 2  # study X: n = 10 and 30
    assert len(study_q.r2_by_family(q.cv_table(recs, n_boot=20)).axes) == 3  # X mnist, A mnist, A digits
    assert len(study_q.coverage_vs_diversity(recs, coverage="q_cov_a", diversity="q_vendi_b").axes) == 4  # + colorbars
    weights = q.weights_table(recs)
    bars = study_q.predictor_weights(weights).axes[0].patches
    assert len(bars) == len(weights[(weights["study"] == "x") & (weights["n"] == 10)])
    ax = study_q.z_by_kind(recs).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["random", "selected"]  # no optimized subsets here
    assert study_q.predicted_vs_measured(pred.iloc[:0]).axes[0].texts  # an empty frame says so
    worst = pd.DataFrame({"index": [3, 1], "class": [0, 2], "rmsd": [0.41, 0.3]})
    fig = study_q.least_covered(np.zeros((5, 1, 4, 4), np.uint8), worst)
    assert [ax.get_title() for ax in fig.axes] == ["class 0\n0.410", "class 2\n0.300"]


def test_optimized_subsets_stay_out_of_the_fit_and_are_scored_out_of_design(recs):
    # optimized subsets follow the same law but far outside the design (and one breaks it):
    # they must not change the cross-validated R^2, and the design's predictor must rank them
    rng = np.random.default_rng(7)
    extra = []
    for i, a in enumerate([0.2, 6.0, 9.0, 12.0]):
        row = recs[(recs["study"] == "x") & (recs["n"] == 10)].iloc[0].to_dict()
        row.update(kind="optimized", strategy="coverage", m=10 * i, subset_id=f"opt-{i}", group=f"opt-{i}",
                   q_cov_a=a, q_typ_c=a + rng.normal(0, 2), z_mean=0.8 * a + (30.0 if i == 3 else 0.0))  # fmt: skip
        extra.append(row)
    both = pd.concat([recs, pd.DataFrame(extra)], ignore_index=True)
    pd.testing.assert_frame_equal(q.cv_table(both, n_boot=50), q.cv_table(recs, n_boot=50))
    check = q.optimized_check(both)
    assert check["subset_id"].tolist() == [f"opt-{i}" for i in range(4)]
    assert check["candidates"].tolist() == ["whole class", "n + 10", "n + 20", "n + 30"]
    assert check["predicted"].is_monotonic_increasing
    assert "Spearman rho" in q.verdict(both, cv=q.cv_table(both, n_boot=50))
    assert q.optimized_check(recs).empty


def test_cv_table_reports_random_subsets_alone_beside_the_ceiling(recs):
    from xfactor_lib.quality import nested as predictor_nested

    rng = np.random.default_rng(11)
    x = recs[recs["study"] == "x"].copy()
    x["zm_rf"] = x["z_mean"] + 0.3 * rng.normal(size=len(x))
    x["zm_svc"] = x["z_mean"] + 0.3 * rng.normal(size=len(x))
    cv = q.cv_table(x, families=("all",), n_boot=20)
    assert set(cv["kinds"]) == {"all", "random"}
    for (n, kinds), row in cv.set_index(["n", "kinds"]).iterrows():
        part = x[(x["n"] == n) & ((x["kind"] == "random") if kinds == "random" else True)]
        assert row["subsets"] == len(part)
        assert row["ceiling"] == pytest.approx(predictor_nested.noise_ceiling(part[["zm_rf", "zm_svc"]].to_numpy()))
    assert "random subsets alone" in q.verdict(x, cv=cv) and "ceiling" in q.verdict(x, cv=cv)
