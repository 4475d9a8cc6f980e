"""Study E's fair comparisons (issue 20): families, paired tests over seeds, Holm, the verdict's claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xfactor_lib.studies import e
from xfactor_lib.studies.e import compare as e_compare

ACCS = {
    0.02: {
        "random": [0.50, 0.52, 0.54],
        "random_balanced": [0.55, 0.56, 0.60],
        "eva": [0.40, 0.43, 0.44],
        "ccs": [0.49, 0.53, 0.52],
        "coverage": [0.70, 0.71, 0.76],
        "k_center": [0.50, 0.58, 0.57],
        "typiclust": [0.66, 0.70, 0.72],
    },
    0.05: {
        "random": [0.70, 0.72, 0.74],
        "random_balanced": [0.72, 0.73, 0.77],
        "eva": [0.71, 0.74, 0.74],
        "ccs": [0.69, 0.70, 0.73],
        "coverage": [0.78, 0.80, 0.83],
        "k_center": [0.70, 0.75, 0.76],
        "typiclust": [0.80, 0.80, 0.84],
    },
}


def records(drop_anchor: bool = False) -> pd.DataFrame:
    rows = [
        dict(dataset="mnist", arch="mlp-1", method=m, rate=r, seed=s, acc=a)
        for r, by in ACCS.items()
        for m, vals in by.items()
        for s, a in enumerate(vals)
        if not (drop_anchor and m == "typiclust")
    ]
    rows += [dict(dataset="mnist", arch="mlp-1", method="full", rate=1.0, seed=s, acc=0.97) for s in range(3)]
    out = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # pairing must not depend on row order
    return out.assign(scale="quick", device="cpu", pretrained=False, steps_run=80, n_test=2000)


def brute(a, b):
    d = np.asarray(a) - np.asarray(b)
    n, mu, sd = len(d), d.mean(), d.std(ddof=1)
    t = mu / (sd / np.sqrt(n))
    half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    return mu, t, 2 * stats.t.sf(abs(t), n - 1), mu - half, mu + half


def test_families_put_the_anchors_and_the_balanced_reference_where_the_issue_says():
    assert e_compare.family_of("typiclust") == e_compare.family_of("probcover") == "anchors"
    assert e_compare.family_of("random_balanced") == e_compare.family_of("random") == "reference"
    assert e_compare.family_of("ccs") == "papers' methods" and e_compare.family_of("coverage_clean") == "training-free"
    assert e_compare.family_of("something_new") == "other"
    assert e.TRAINING_FREE == (
        "coverage", "coverage_wide", "herding", "coverage_emb", "coverage_clean", "a_max", "k_center"
    )  # fmt: skip
    summary = e_compare.add_family(e.coreset_summary(records()))
    assert list(summary.columns[:4]) == ["dataset", "arch", "method", "family"]
    assert summary.set_index("method")["family"].to_dict()["typiclust"] == "anchors"


def test_holm_adjusts_a_hand_example_and_leaves_nan_out_of_the_count():
    got = e_compare.holm([0.01, 0.04, 0.03, np.nan])
    # sorted 0.01, 0.03, 0.04 with m = 3: 3 x 0.01, 2 x 0.03, max(0.06, 1 x 0.04)
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, np.nan])
    np.testing.assert_allclose(e_compare.holm([0.5, 0.6]), [1.0, 1.0])


def test_paired_differences_pair_by_seed_and_match_the_t_formula():
    out = e_compare.paired_differences(records())
    assert set(out["method"]) == {"random", "eva", "ccs", "coverage", "k_center", "typiclust"}
    row = out[(out["method"] == "coverage") & (out["rate"] == 0.02)].iloc[0]
    mu, t, p, lo, hi = brute(ACCS[0.02]["coverage"], ACCS[0.02]["random_balanced"])
    assert row["n"] == 3 and row["reference"] == "random_balanced"
    assert row["diff"] == pytest.approx(mu) and row["t"] == pytest.approx(t) and row["p"] == pytest.approx(p)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    assert row["mean"] == pytest.approx(np.mean(ACCS[0.02]["coverage"]))
    # a seed missing on one side: the other two pairs are compared
    recs = records()
    recs = recs[~((recs["method"] == "eva") & (recs["seed"] == 1))]
    row = e_compare.paired_differences(recs, reference="random", methods=["eva"]).query("rate == 0.05").iloc[0]
    assert row["n"] == 2
    assert row["p"] == pytest.approx(brute([0.71, 0.74], [0.70, 0.74])[2])
    one = e_compare.paired_differences(recs[recs["seed"] == 0], reference="random", methods=["eva"])
    assert one["n"].tolist() == [1, 1] and one["p"].isna().all()  # one seed: untested


def test_claims_holm_correct_within_each_claim_and_test_every_training_free_method():
    cl = e_compare.claims(records())
    assert cl.groupby("claim").size().to_dict() == {
        "eva_vs_random": 2,
        "ccs_vs_random": 2,
        "free_vs_balanced": 4,  # coverage and k_center at two rates
        "free_vs_anchors": 4,
    }
    free = cl[cl["claim"] == "free_vs_balanced"]
    assert (free["m"] == 4).all()
    np.testing.assert_allclose(free["p_holm"], e_compare.holm(free["p"].to_numpy()))
    eva2 = cl[(cl["claim"] == "eva_vs_random") & (cl["rate"] == 0.02)].iloc[0]
    assert eva2["outcome"] == "worse" and eva2["p_holm"] == pytest.approx(
        min(1, 2 * brute(ACCS[0.02]["eva"], ACCS[0.02]["random"])[2])
    )
    cov2 = cl[(cl["claim"] == "free_vs_balanced") & (cl["method"] == "coverage") & (cl["rate"] == 0.02)].iloc[0]
    assert cov2["outcome"] == "better"
    ccs2 = cl[(cl["claim"] == "ccs_vs_random") & (cl["rate"] == 0.02)].iloc[0]
    assert ccs2["outcome"] == "no difference shown"
    assert set(e_compare.claims(records(drop_anchor=True))["claim"]) == {
        "eva_vs_random",
        "ccs_vs_random",
        "free_vs_balanced",
    }


def surrogates() -> pd.DataFrame:
    return pd.DataFrame(
        dict(arch="resnet18", surrogate_epochs=12, window=3, step=3, n_pool=2000, pool_size=2000, pretrained=False,
             rate=[0.02, 0.05], best_early=0, best_late=[3, 6])
    )  # fmt: skip


def test_verdict_answers_each_papers_claim_in_a_sentence_from_the_records():
    text = e.verdict(records(), surrogates(), note="")
    assert "paired t-test over the 3 seed(s)" in text and "Holm-corrected within each claim" in text
    assert "beyond the seeds' spread" not in text
    eva = next(line for line in text.splitlines() if line.startswith("- **EVA vs Random** (mnist / mlp-1)"))
    assert "it reproduces at 0 of 2 rates, Random is better at 1 of 2 (m = 2)" in eva
    mu, _, _, lo, hi = brute(ACCS[0.02]["eva"], ACCS[0.02]["random"])
    assert f"2 %: EVA 42.3 vs 52.0, {100 * mu:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}], p_Holm = " in eva
    ccs = next(line for line in text.splitlines() if line.startswith("- **CCS vs Random**"))
    assert "CCS is at most 5 points below Random at 2 of 2 rates" in ccs
    free = next(
        line for line in text.splitlines() if line.startswith("- **Best training-free method vs Random (balanced)**")
    )
    assert "2 %: Coverage 72.3 vs 57.0, +15.3" in free and "m = 4" in free
    anchor = next(line for line in text.splitlines() if line.startswith("- **Best training-free method vs TypiClust**"))
    assert "5 %: Coverage 80.3 vs 81.3, -1.0" in anchor
    assert "- Full pool: 97.0 ± 0.0 (n = 3)" in text
    text = e.verdict(records(drop_anchor=True), surrogates(), note="")
    assert "- **Anchors** (mnist / mlp-1): no TypiClust or ProbCover records in this run." in text
