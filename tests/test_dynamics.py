"""EVA: the dynamics recorder, EVA scores and ablations, window search, summaries, figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from xfactor_lib import eva
from xfactor_lib.eva import Dynamics, DynamicsRecorder


# --------------------------------------------------------------------------- helpers
def reference_stats(logits: np.ndarray, y: np.ndarray):
    """Independent numpy computation of S, correct, margin and softmax."""
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    onehot = np.eye(z.shape[1])[y]
    S = np.sqrt(((p - onehot) ** 2).sum(axis=1))
    others = np.where(onehot.astype(bool), -np.inf, z)
    margin = z[np.arange(len(y)), y] - others.max(axis=1)
    correct = z.argmax(axis=1) == y
    return S, correct, margin, p


def record_epochs(rec, logits, y, batches):
    """Feed ``rec`` the logits (T, N, K) epoch by epoch in the given batches of indices."""
    for t in range(logits.shape[0]):
        for b in batches[t]:
            idx = torch.as_tensor(b, dtype=torch.long)
            rec.on_batch(t, idx, torch.as_tensor(logits[t, b]), torch.as_tensor(y[b]))


@pytest.fixture
def shuffled_run():
    """N=7 samples, K=3, 3 epochs; each epoch a different order in batches of 3, 3, 1."""
    rng = np.random.default_rng(0)
    N, K, T = 7, 3, 3
    logits = rng.normal(scale=3.0, size=(T, N, K)).astype(np.float32)
    y = rng.integers(0, K, N)
    batches = []
    for _ in range(T):
        perm = rng.permutation(N)
        batches.append([perm[0:3], perm[3:6], perm[6:7]])  # last batch partial
    return logits, y, batches


# --------------------------------------------------------------------------- recorder
def test_recorder_matches_direct_computation_for_shuffled_and_partial_batches(shuffled_run):
    logits, y, batches = shuffled_run
    rec = DynamicsRecorder(7, T=3)
    record_epochs(rec, logits, y, batches)
    d = rec.dynamics()
    assert d.S.shape == (7, 3) and d.S.dtype == np.float32
    for t in range(3):
        S, correct, margin, p = reference_stats(logits[t], y)
        np.testing.assert_allclose(d.S[:, t], S, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(d.margin[:, t], margin, rtol=1e-5, atol=1e-5)
        assert d.correct[:, t].tolist() == correct.tolist()
    np.testing.assert_allclose(d.probs, reference_stats(logits[2], y)[3], rtol=1e-5, atol=1e-7)
    assert d.y.tolist() == y.tolist()
    assert d.mask.all() and rec.mask.shape == (7, 3)


def test_recorder_raises_on_missing_entries_unless_allowed(shuffled_run):
    logits, y, batches = shuffled_run
    batches[1] = [b[b != 4] for b in batches[1]]  # sample 4 skipped in epoch 1 (a drop_last)
    rec = DynamicsRecorder(7, T=3)
    record_epochs(rec, logits, y, batches)
    with pytest.raises(ValueError, match=r"1 of 21 .*never recorded.*\(sample 4, epoch 1\).*allow_missing"):
        rec.dynamics()
    d = rec.dynamics(allow_missing=True)
    assert np.argwhere(~d.mask).tolist() == [[4, 1]]
    assert np.isnan(d.S[4, 1]) and np.isnan(d.margin[4, 1]) and not d.correct[4, 1]
    assert np.isfinite(d.S[4, [0, 2]]).all()


def test_recorder_float16_option_stores_half_precision(shuffled_run):
    logits, y, batches = shuffled_run
    rec = DynamicsRecorder(7, T=3, dtype="float16")
    record_epochs(rec, logits, y, batches)
    assert rec._S.dtype == torch.float16 and rec._correct.dtype == torch.bool
    d = rec.dynamics()
    assert d.S.dtype == np.float16 and d.margin.dtype == np.float16
    S, _, margin, _ = reference_stats(logits[0], y)
    np.testing.assert_array_equal(d.S[:, 0], S.astype(np.float32).astype(np.float16))
    np.testing.assert_allclose(d.margin[:, 0], margin, rtol=1e-3)


def test_recorder_grows_past_its_epoch_capacity(shuffled_run):
    logits, y, batches = shuffled_run
    rec = DynamicsRecorder(7, T=1)
    record_epochs(rec, logits, y, batches)
    d = rec.dynamics()
    assert d.T == 3 and d.mask.all()
    np.testing.assert_allclose(d.S[:, 2], reference_stats(logits[2], y)[0], rtol=1e-5)


def test_recorder_save_and_load_round_trip(shuffled_run, tmp_path):
    logits, y, batches = shuffled_run
    rec = DynamicsRecorder(7, T=3)
    record_epochs(rec, logits, y, batches)
    path = rec.save(tmp_path / "dynamics.npz")
    d, back = rec.dynamics(), Dynamics.load(path)
    for name in ("S", "correct", "margin", "probs", "y", "mask"):
        np.testing.assert_array_equal(getattr(back, name), getattr(d, name))
    assert back.mode == "train"
    assert [p.name for p in tmp_path.iterdir()] == ["dynamics.npz"]  # no temporaries left


def test_recorder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode='eval' needs X, y and batch_size"):
        DynamicsRecorder(5, mode="eval")
    with pytest.raises(ValueError, match="dtype must be one of"):
        DynamicsRecorder(5, dtype="float64")
    with pytest.raises(ValueError, match="nothing recorded yet"):
        DynamicsRecorder(5).dynamics()
    rec = DynamicsRecorder(5)
    with pytest.raises(ValueError, match="idx \\(B,\\), logits \\(B, K\\)"):
        rec.on_batch(0, torch.arange(3), torch.zeros(2, 4), torch.zeros(3, dtype=torch.long))


class _DropoutNet(torch.nn.Module):
    """Linear model with dropout: eval-mode outputs differ from train-mode ones."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(4, 3))

    def forward(self, x):
        return self.net(x)


def test_eval_mode_scores_every_sample_with_the_model_in_eval_mode():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(11, 1, 2, 2), dtype=np.uint8)
    y = rng.integers(0, 3, 11)
    model = _DropoutNet().train()
    rec = DynamicsRecorder(11, mode="eval", X=X, y=y, batch_size=4)  # batches 4, 4, 3
    rec.on_batch(0, torch.arange(3), torch.zeros(3, 3), torch.zeros(3, dtype=torch.long))  # ignored
    rec.on_epoch_end(0, model)
    assert model.training
    with torch.no_grad():
        logits = model.eval()(torch.as_tensor(X).float() / 255).numpy()
    d = rec.dynamics()
    S, correct, margin, p = reference_stats(logits, y)
    np.testing.assert_allclose(d.S[:, 0], S, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d.margin[:, 0], margin, rtol=1e-5, atol=1e-6)
    assert d.correct[:, 0].tolist() == correct.tolist()
    assert d.mode == "eval"


def test_fit_torch_with_recorders_records_every_sample_and_eval_s_matches_the_model():
    training = pytest.importorskip("xfactor_lib.training")
    rng = np.random.default_rng(2)
    N = 23  # batch 8 -> a partial last batch every epoch
    X = rng.integers(0, 256, size=(N, 1, 2, 2), dtype=np.uint8)
    y = rng.integers(0, 3, N)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    config = training.TrainConfig(batch_size=8, min_epochs=3, max_epochs=3)
    rec_eval = DynamicsRecorder(N, T=3, mode="eval", X=X, y=y, batch_size=10)
    rec_train = DynamicsRecorder(N, T=3)
    training.fit_torch(model, X, y, config=config, device="cpu", seed=0, callbacks=[rec_eval, rec_train])
    d_eval, d_train = rec_eval.dynamics(), rec_train.dynamics()
    assert d_eval.T == d_train.T == 3 and d_train.mask.all()
    assert d_train.y.tolist() == y.tolist()
    with torch.no_grad():
        logits = model.eval()(torch.as_tensor(X).float() / 255).numpy()
    S, correct, margin, p = reference_stats(logits, y)
    np.testing.assert_allclose(d_eval.S[:, -1], S, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_eval.probs, p, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- scores
def test_eva_equals_direct_population_variance_of_both_windows():
    rng = np.random.default_rng(3)
    S = rng.random((20, 50))
    got = eva.eva_scores(S, 5, 30, window=10)
    want = np.var(S[:, 5:15], axis=1) + np.var(S[:, 30:40], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_array_equal(eva.var_dual(S, 5, 30, 10), got)


def test_released_variant_normalises_each_window_by_its_sum_then_averages():
    S = np.array([[0.0, 2.0, 1.0, 1.0],
                  [1.0, 1.0, 0.0, 4.0],
                  [3.0, 3.0, 3.0, 3.0]])
    # windows of 2 epochs: variances early [1, 0, 0], late [0, 4, 0]
    got = eva.eva_scores(S, 0, 2, window=2, variant="released")
    np.testing.assert_allclose(got, [(1 / 1 + 0 / 4) / 2, (0 / 1 + 4 / 4) / 2, 0.0])


def test_flipping_sample_scores_highest_and_constant_sample_scores_zero():
    T = 20
    flip = np.where(np.arange(T) % 2 == 0, 0.1, 1.3)
    constant = np.full(T, 0.7)
    learned = np.linspace(1.2, 0.05, T)
    S = np.vstack([constant, flip, learned])
    scores = eva.eva_scores(S, 0, 10, window=10)
    assert scores[0] == 0.0
    assert scores.argmax() == 1
    assert eva.select_top(scores, 1 / 3).tolist() == [1]


def test_single_window_ablations_are_variance_and_mean_of_that_window():
    rng = np.random.default_rng(4)
    S = rng.random((6, 30))
    np.testing.assert_allclose(eva.var_single(S, 10, 10), S[:, 10:20].var(axis=1))
    np.testing.assert_allclose(eva.exp_single(S, 10, 10), S[:, 10:20].mean(axis=1))
    np.testing.assert_allclose(eva.exp_dual(S, 0, 20, 10), np.hstack([S[:, 0:10], S[:, 20:30]]).mean(axis=1))


def test_windows_that_overlap_or_do_not_fit_are_errors():
    S = np.zeros((3, 30))
    with pytest.raises(ValueError, match="overlap or are out of order"):
        eva.eva_scores(S, 0, 5, window=10)
    with pytest.raises(ValueError, match="overlap or are out of order"):
        eva.eva_scores(S, 20, 0, window=10)
    with pytest.raises(ValueError, match=r"late window \[25, 34\] does not fit in the T=30"):
        eva.eva_scores(S, 0, 25, window=10)
    with pytest.raises(ValueError, match="variant must be"):
        eva.eva_scores(S, 0, 10, window=10, variant="mean")


def test_select_top_keeps_ceil_rate_n_with_ties_to_the_lower_index():
    scores = np.array([1.0, 3.0, 3.0, 0.0, 3.0, 2.0])
    assert eva.select_top(scores, 0.5).tolist() == [1, 2, 4]
    assert eva.select_top(scores, 0.3).tolist() == [1, 2]  # ceil(1.8) = 2, ties -> lower index
    assert eva.select_top(scores, 0.2, keep="lowest").tolist() == [0, 3]
    assert eva.coreset_size(30, 0.1) == 3 and eva.coreset_size(34561, 0.02) == 692
    with pytest.raises(ValueError, match="NaN"):
        eva.select_top(np.array([1.0, np.nan]), 0.5)
    with pytest.raises(ValueError, match="rate must be a fraction in"):
        eva.select_top(scores, 1.5)


# --------------------------------------------------------------------------- window search
def test_window_grid_lists_non_overlapping_pairs_on_the_step_grid():
    assert eva.window_grid(40, 10, 10) == [(0, 10), (0, 20), (0, 30), (10, 20), (10, 30), (20, 30)]
    assert eva.window_grid(25, 10, 5) == [(0, 10), (0, 15), (5, 15)]
    assert len(eva.window_grid(200, 10, 10)) == 190


def test_window_search_evaluates_every_combination_on_its_coreset_and_reports_the_best():
    rng = np.random.default_rng(5)
    S = rng.random((30, 40))
    calls = []

    def evaluate(indices, early, late):
        calls.append((early, late, indices.tolist()))
        return 1.0 if (early, late) == (10, 20) else 0.5 if late is None else 0.0

    frame = eva.window_search(S, evaluate, rate=0.1, window=10, step=10)
    assert list(frame.columns) == ["early_start", "late_start", "score"]
    assert list(zip(frame.early_start, frame.late_start)) == eva.window_grid(40, 10, 10)
    assert frame.attrs["best"] == (10, 20) == eva.best_window(frame)
    e, l, idx = calls[3]
    assert (e, l) == (10, 20)
    assert idx == eva.select_top(eva.eva_scores(S, 10, 20, 10), 0.1).tolist() and len(idx) == 3

    single = eva.window_search(S, evaluate, rate=0.1, T=30, single=True)
    assert single.late_start.isna().sum() == 3 and len(single) == 6
    assert single.early_start.tolist()[:3] == [0, 10, 20] and eva.best_window(single) == (10, 20)
    e, l, idx = calls[len(frame) + 1]
    assert (e, l) == (10, None) and idx == eva.select_top(S[:, 10:20].var(axis=1), 0.1).tolist()


def test_window_search_rejects_a_too_short_run():
    with pytest.raises(ValueError, match="no window combination fits"):
        eva.window_search(np.zeros((4, 15)), lambda i, e, l: 0.0, rate=0.5)


# --------------------------------------------------------------------------- summaries
def _records() -> pd.DataFrame:
    rows = []
    accs = {("random", 0.1): [0.80, 0.82, 0.84], ("eva", 0.1): [0.90, 0.91, 0.92],
            ("random", 0.2): [0.85, 0.86, 0.87], ("eva", 0.2): [0.93, 0.95, 0.97],
            ("full", 1.0): [0.99, 0.98, 0.97]}
    for (method, rate), vals in accs.items():
        for seed, acc in enumerate(vals):
            rows.append(dict(method=method, rate=rate, seed=seed, arch="resnet18", acc=acc, bacc=acc - 0.01))
    return pd.DataFrame(rows)


def test_coreset_summary_gives_mean_and_sample_sd_per_method_and_rate():
    out = eva.coreset_summary(_records())
    assert list(out.columns) == ["arch", "method", "rate", "mean", "sd", "n"]
    row = out[(out.method == "eva") & (out.rate == 0.2)].iloc[0]
    assert row["mean"] == pytest.approx(0.95) and row["sd"] == pytest.approx(0.02) and row["n"] == 3
    full = out[out.method == "full"].iloc[0]
    assert full["rate"] == 1.0 and full["mean"] == pytest.approx(0.98)
    with pytest.raises(ValueError, match="records lack columns"):
        eva.coreset_summary(_records().drop(columns="acc"))


def test_window_summary_averages_seeds_per_combination():
    wr = pd.DataFrame({"early_start": [0, 0, 0, 10], "late_start": [20, 20, None, 20],
                       "score": [0.5, 0.7, 0.4, 0.9], "seed": [0, 1, 0, 0]})
    out = eva.window_summary(wr)
    assert out["early_start"].tolist() == [0, 0, 10]
    assert out["late_start"].isna().tolist() == [False, True, False] and out["late_start"].iloc[0] == 20
    assert out["mean"].tolist() == pytest.approx([0.6, 0.4, 0.9]) and out["n"].tolist() == [2, 1, 1]


# --------------------------------------------------------------------------- figures
def test_coreset_table_formats_mean_and_sd_in_percent_per_method_and_rate():
    from xfactor_lib.plots import study_e

    table = study_e.coreset_table(_records())
    assert list(table.columns) == ["10%", "20%"]
    assert list(table.index) == ["Full dataset", "Random", "EVA"]
    assert table.loc["EVA", "20%"] == "95.00 ± 2.00"
    assert table.loc["Random", "10%"] == "82.00 ± 2.00"
    assert table.loc["Full dataset"].tolist() == ["98.00 ± 1.00"] * 2


def test_accuracy_vs_rate_draws_one_errorbar_line_per_method_and_the_full_reference():
    from xfactor_lib.plots import study_e

    fig = study_e.accuracy_vs_rate(_records())
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Full dataset", "Random", "EVA"]
    eva_line = [c for c in ax.containers if c.get_label() == "EVA"][0]
    np.testing.assert_allclose(eva_line.lines[0].get_ydata(), [91.0, 95.0])
    full = [line for line in ax.get_lines() if line.get_label() == "Full dataset"][0]
    assert full.get_ydata()[0] == pytest.approx(98.0)
    with pytest.raises(ValueError, match="not in records"):
        study_e.accuracy_vs_rate(_records(), methods=["ccs"])


def test_ablation_plot_has_the_four_paper_panels_with_eva_reference():
    from xfactor_lib.plots import study_e

    rows = []
    for i, m in enumerate(["var_s", "exp_s", "var_d", "exp_d", "eva"]):
        for rate in (0.02, 0.1):
            for seed in range(2):
                rows.append(dict(method=m, rate=rate, seed=seed, acc=0.5 + 0.1 * i + rate + 0.01 * seed))
    fig = study_e.ablation_plot(pd.DataFrame(rows))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["(a) EXP-S vs VAR-S", "(b) EXP-D vs VAR-D", "(c) VAR-S vs VAR-D", "(d) EXP-S vs EXP-D"]
    assert [t.get_text() for t in fig.axes[2].get_legend().get_texts()] == ["VAR-S", "VAR-D", "EVA"]
    var_d = [c for c in fig.axes[2].containers if c.get_label() == "VAR-D"][0]
    np.testing.assert_allclose(var_d.lines[0].get_ydata(), [100 * (0.7 + 0.02 + 0.005), 100 * (0.7 + 0.1 + 0.005)])
    with pytest.raises(ValueError, match="none of the ablation methods"):
        study_e.ablation_plot(_records())


def test_window_curves_lines_per_combination_across_rates_and_heatmap_for_one_rate():
    from xfactor_lib.plots import study_e

    rows = [dict(rate=r, early_start=e, late_start=l, score=r + e / 100 + (l or 0) / 1000)
            for r in (0.02, 0.1) for e, l in [(0, None), (0, 20), (10, 20)]]
    fig = study_e.window_curves(pd.DataFrame(rows))
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["[0,9]", "[0,9]+[20,29]", "[10,19]+[20,29]"]
    np.testing.assert_allclose(ax.get_lines()[2].get_ydata(), [0.02 + 0.1 + 0.02, 0.1 + 0.1 + 0.02])

    one = pd.DataFrame([r for r in rows if r["rate"] == 0.1])
    fig = study_e.window_curves(one)
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
                    rows.append(dict(dataset=dataset, arch=arch, method=method, rate=0.1, seed=seed,
                                     acc=0.5 + 0.1 * d_i + 0.01 * a_i + 0.001 * m_i + 0.0002 * seed))
    return pd.DataFrame(rows)


def test_paper_scale_records_give_one_panel_per_dataset_and_arch():
    from xfactor_lib.plots import study_e

    fig = study_e.accuracy_vs_rate(_multi_records())
    assert [ax.get_title() for ax in fig.axes] == ["organamnist / mobilenet_v2", "organamnist / resnet18",
                                                   "organsmnist / mobilenet_v2", "organsmnist / resnet18"]
    eva_line = [c for c in fig.axes[3].containers if c.get_label() == "EVA"][0]
    np.testing.assert_allclose(eva_line.lines[0].get_ydata(), [100 * (0.6 + 0.01 + 0.002 + 0.0001)])

    table = study_e.coreset_table(_multi_records())
    assert table.index.names == ["dataset", "arch", "method"]
    assert table.loc[("organsmnist", "resnet18", "EVA"), "10%"] == "61.21 ± 0.01"


def test_ablation_plot_draws_resnet18_by_default_with_a_row_per_dataset():
    from xfactor_lib.plots import study_e

    fig = study_e.ablation_plot(_multi_records())
    assert fig.get_suptitle() == "ablations, resnet18"
    assert len(fig.axes) == 8
    assert fig.axes[4].get_title() == "organsmnist: (a) EXP-S vs VAR-S (no rows for EXP-S)"
    var_s = [c for c in fig.axes[4].containers if c.get_label() == "VAR-S"][0]
    np.testing.assert_allclose(var_s.lines[0].get_ydata(), [100 * (0.6 + 0.01 + 0.001 + 0.0001)])
    fig = study_e.ablation_plot(_multi_records(), arch="mobilenet_v2")
    assert fig.get_suptitle() == "ablations, mobilenet_v2"
    with pytest.raises(ValueError, match="no ablation records for arch 'vgg16'"):
        study_e.ablation_plot(_multi_records(), arch="vgg16")


def test_error_score_curves_draw_chosen_samples_from_steady_to_fluctuating_and_the_mean():
    from xfactor_lib.plots import study_e

    t = np.arange(12)
    S = np.vstack([np.full(12, 0.5), np.where(t % 2 == 0, 0.1, 1.3), np.linspace(1.0, 0.2, 12)])
    d = Dynamics(S=S, correct=S < 0.7, margin=-S, probs=np.full((3, 2), 0.5), y=np.zeros(3, int))
    fig = study_e.error_score_curves(d, n=2, windows=(0, 6, 3))
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["sample 0", "sample 1", "mean of 3"]
    np.testing.assert_array_equal(lines[1].get_ydata(), S[1])
    np.testing.assert_allclose(lines[2].get_ydata(), S.mean(axis=0))
    lines = study_e.error_score_curves(d, indices=[2]).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["sample 2", "mean of 3"]
