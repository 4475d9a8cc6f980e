"""``python -m xfactor_lib select`` / ``report`` (issue 23): round trips on a small folder dataset,
the label-free path reading no label, and every bad input refused with exit status 2 and nothing written."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from xfactor_lib import __main__ as entry
from xfactor_lib import cli, coresets, data, similarity
from xfactor_lib.coresets import greedy

K, PER_CLASS, SIDE = 3, 14, 8


def _images(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``n`` noisy 8x8 grey images around a class pattern (a bright band at row 2k)."""
    base = np.full((SIDE, SIDE), 40.0)
    base[2 * k : 2 * k + 2] = 220.0
    return np.clip(base + rng.normal(0, 35, (n, SIDE, SIDE)), 0, 255).astype(np.uint8)


def _write_folder(root: Path, *, seed: int = 0, per_class: int = PER_CLASS) -> Path:
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("test", 4)):
        for k in range(K):
            d = root / split / f"class{k}"
            d.mkdir(parents=True, exist_ok=True)
            for i, im in enumerate(_images(rng, n + k * (split == "train"), k)):
                Image.fromarray(im).save(d / f"img{i:03d}.png")
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XFACTOR_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def folder(tmp_path) -> Path:
    return _write_folder(tmp_path / "pics")


def _select(capsys, *args: str) -> tuple[int, str, str]:
    rc = entry.main(["select", *args, "--quiet", "--n-random", "4"])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _picks(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("method", [cli.DEFAULT_METHOD, "k_center", "a_max"])
def test_select_round_trip_equals_the_registry(folder, tmp_path, capsys, method):
    out = tmp_path / "o" / "picks.csv"
    rc, stdout, _ = _select(capsys, f"folder:{folder}", "--budget", "10", "--method", method, "--seed", "3",
                            "--out", str(out))  # fmt: skip
    assert rc == 0
    ds = data.load_dataset(f"folder:{folder}")
    want = coresets.select(method, rate=10 / ds.N, X=ds.images, y=ds.labels, seed=3)
    picks = _picks(out)
    assert list(picks.columns) == ["index", "label", "path"]
    np.testing.assert_array_equal(picks["index"], want)
    np.testing.assert_array_equal(picks["label"], ds.labels[want])
    # budgets exact per class: 10 over 3 classes -> 4 to the largest class, 3 to the others
    np.testing.assert_array_equal(np.bincount(picks["label"], minlength=K), [3, 3, 4])
    for p, i in zip(picks["path"], picks["index"]):
        f = folder / p
        assert f.is_file() and f.parent.name == ds.classes[ds.labels[i]]
        np.testing.assert_array_equal(np.asarray(Image.open(f))[None], ds.images[i])  # the very image
    assert f"method {method}" in stdout and "class0 3, class1 3, class2 4 (total 10)" in stdout
    assert "## Verdict" in stdout and "percentile" in stdout
    assert _picks(out).shape[0] == 10 and out.read_text().startswith("# xfactor-select dataset=folder:")


def test_select_rate_gives_ceil_rate_times_n(folder, tmp_path, capsys):
    out = tmp_path / "p.csv"
    rc, _, _ = _select(capsys, f"folder:{folder}", "--rate", "0.25", "--out", str(out))
    N = K * PER_CLASS + 3
    assert rc == 0 and len(_picks(out)) == math.ceil(0.25 * N)


def test_select_on_a_builtin_and_an_npz_dataset(tmp_path, capsys):
    ds = data.load_dataset("digits")
    out = tmp_path / "d.csv"
    assert _select(capsys, "digits", "--budget", "30", "--method", "coverage", "--out", str(out))[0] == 0
    picks = _picks(out)
    assert list(picks.columns) == ["index", "label"]  # no path outside folder: data
    np.testing.assert_array_equal(picks["index"], coresets.select("coverage", rate=30 / ds.N, X=ds.images, y=ds.labels))
    np.testing.assert_array_equal(np.bincount(picks["label"], minlength=10), [3] * 10)
    npz = tmp_path / "arr.npz"
    np.savez(npz, x_train=ds.images[:200, 0], y_train=ds.labels[:200], x_test=ds.images[:20, 0], y_test=ds.labels[:20])
    assert _select(capsys, f"npz:{npz}", "--rate", "0.1", "--unlabeled", "--out", str(tmp_path / "n.csv"))[0] == 0
    np.testing.assert_array_equal(
        _picks(tmp_path / "n.csv")["index"], cli.label_free_select(cli.DEFAULT_UNLABELED_METHOD, ds.images[:200], 20)
    )


class _NoLabels(data.Dataset):
    """A Dataset whose labels may not be read."""

    @property
    def labels(self):  # noqa: D102
        raise AssertionError("the labels were read")

    @labels.setter
    def labels(self, value):
        self._labels = value


def test_unlabeled_reads_no_label(folder, tmp_path, capsys, monkeypatch):
    real = data.load_dataset(f"folder:{folder}")
    spy = _NoLabels(real.images, real.labels, real.classes, real.name, real.split, {})
    monkeypatch.setattr(cli.data, "load_dataset", lambda *a, **k: spy)
    out = tmp_path / "u.csv"
    rc, stdout, _ = _select(capsys, f"folder:{folder}", "--budget", "5", "--unlabeled", "--out", str(out))
    assert rc == 0 and "no label read" in stdout
    picks = _picks(out)
    assert list(picks.columns) == ["index", "path"]
    np.testing.assert_array_equal(picks["index"], cli.label_free_select(cli.DEFAULT_UNLABELED_METHOD, real.images, 5))
    with pytest.raises(AssertionError, match="labels were read"):  # the spy bites when labels are used
        _select(capsys, f"folder:{folder}", "--budget", "5", "--out", str(tmp_path / "l.csv"))


def test_label_free_coverage_is_facility_location_over_the_whole_pool(folder):
    X = data.load_dataset(f"folder:{folder}").images
    picks = cli.label_free_select("coverage", X, 6, seed=0)
    one = np.zeros(len(X), dtype=np.int64)
    sim = similarity.similarity_from_rmsd(similarity.pairwise_rmsd(X), tau=similarity.tau_data(X, one, seed=0))
    brute, _ = greedy.lazy_facility_location(sim, 6)  # every image a client and a candidate
    np.testing.assert_array_equal(picks, np.sort(brute))
    rand = cli.label_free_select("random", X, 6, seed=1)
    assert rand.size == np.unique(rand).size == 6


def test_unlabeled_flat_folder_without_classes(tmp_path, capsys):
    flat = tmp_path / "flat" / "train"
    flat.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, im in enumerate(np.concatenate([_images(rng, 5, k) for k in range(K)])):
        Image.fromarray(im).save(flat / f"x{i:02d}.png")
    out = tmp_path / "f.csv"
    rc, _, _ = _select(capsys, f"folder:{tmp_path / 'flat'}", "--budget", "4", "--unlabeled", "--method", "k_center",
                       "--out", str(out))  # fmt: skip
    assert rc == 0
    picks = _picks(out)
    assert all((tmp_path / "flat" / p).is_file() for p in picks["path"])
    X = np.stack([np.asarray(Image.open(tmp_path / "flat" / p)) for p in sorted(picks["path"])])[:, None]
    files = sorted(flat.iterdir())
    np.testing.assert_array_equal([files[i].name for i in picks["index"]], [Path(p).name for p in picks["path"]])
    assert X.shape == (4, 1, SIDE, SIDE)


# --------------------------------------------------------------------------- bad input
def _refused(capsys, tmp_path, argv: list[str], match: str) -> None:
    before = sorted(p for p in tmp_path.rglob("*") if "cache" not in p.parts)
    rc = entry.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("error: ") and match in err[0], err
    assert sorted(p for p in tmp_path.rglob("*") if "cache" not in p.parts) == before  # nothing written


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--budget", "200"], "above the pool"),
        (["--budget", "2"], "below the number of classes (3)"),
        (["--rate", "0"], "--rate must lie in (0, 1]"),
        (["--budget", "5", "--method", "eva"], "needs dynamics"),
        (["--budget", "5", "--method", "nope"], "unknown"),
        (["--budget", "5", "--unlabeled", "--method", "random_balanced"], "no label-free variant"),
    ],
)
def test_select_refuses_bad_budgets_and_methods(folder, tmp_path, capsys, extra, match):
    _refused(capsys, tmp_path, ["select", f"folder:{folder}", *extra, "--quiet", "--out", str(tmp_path / "o.csv")],
             match)  # fmt: skip


def test_unlabeled_budget_may_be_below_the_classes_but_not_above_the_pool(folder, tmp_path, capsys):
    rc, _, _ = _select(capsys, f"folder:{folder}", "--budget", "2", "--unlabeled", "--out", str(tmp_path / "a.csv"))
    assert rc == 0
    _refused(capsys, tmp_path, ["select", f"folder:{folder}", "--budget", "999", "--unlabeled", "--quiet", "--out",
                                str(tmp_path / "b.csv")], "above the pool")  # fmt: skip


def test_select_refuses_an_unwritable_output(folder, tmp_path, capsys):
    (tmp_path / "adir").mkdir()
    argv = ["select", f"folder:{folder}", "--budget", "5", "--quiet", "--out", str(tmp_path / "adir")]
    _refused(capsys, tmp_path, argv, "cannot write")


def test_select_refuses_unknown_dataset_and_unreadable_image(folder, tmp_path, capsys):
    out = str(tmp_path / "o.csv")
    _refused(capsys, tmp_path, ["select", "mnistt", "--budget", "5", "--quiet", "--out", out], "unknown dataset")
    _refused(capsys, tmp_path, ["select", f"folder:{tmp_path / 'none'}", "--budget", "5", "--out", out], "")
    (folder / "train" / "class1" / "broken.png").write_bytes(b"not a png at all")
    for flag in ([], ["--unlabeled"]):
        _refused(capsys, tmp_path, ["select", f"folder:{folder}", "--budget", "5", *flag, "--quiet", "--out", out],
                 "broken.png is not a readable image")  # fmt: skip


def test_read_picks_refuses_picks_of_another_dataset(folder, tmp_path, capsys):
    other = _write_folder(tmp_path / "other", seed=1)
    picks = tmp_path / "picks.csv"
    assert _select(capsys, f"folder:{other}", "--budget", "6", "--out", str(picks))[0] == 0
    html = str(tmp_path / "r.html")
    _refused(capsys, tmp_path, ["report", f"folder:{folder}", "--subset", str(picks), "--out", html],
             "picks of another dataset")  # fmt: skip
    body = _picks(picks)
    for name, frame, match in [
        ("range.csv", body.assign(index=body["index"] + 1000), "outside the training split"),
        ("labels.csv", body.assign(label=(body["label"] + 1) % K), "the label of index"),
        ("paths.csv", body.assign(path=body["path"].iloc[::-1].to_numpy()), "row 0 names"),
        ("repeat.csv", pd.concat([body, body.iloc[:1]]), "repeats an index"),
    ]:
        frame.to_csv(tmp_path / name, index=False)  # no header line: checked row by row
        _refused(capsys, tmp_path, ["report", f"folder:{folder}", "--subset", str(tmp_path / name), "--out", html],
                 match)  # fmt: skip
    ds = data.load_dataset(f"folder:{folder}")
    body.to_csv(tmp_path / "plain.csv", index=False, columns=["index"])
    np.testing.assert_array_equal(cli.read_picks(tmp_path / "plain.csv", ds), np.sort(body["index"]))


def test_report_refuses_unknown_dataset(tmp_path, capsys):
    _refused(capsys, tmp_path, ["report", "npz:/no/such.npz", "--out", str(tmp_path / "r.html")], "does not exist")


# --------------------------------------------------------------------------- report
@pytest.mark.slow  # a papermill kernel: about 15 s alone, a minute on a busy 2-core machine
def test_report_renders_verdict_first(folder, tmp_path, capsys):
    picks = tmp_path / "picks.csv"
    assert _select(capsys, f"folder:{folder}", "--budget", "9", "--out", str(picks))[0] == 0
    html = tmp_path / "out" / "report.html"
    rc = entry.main(["report", f"folder:{folder}", "--subset", str(picks), "--out", str(html)])
    assert rc == 0, capsys.readouterr().err
    page = html.read_text()
    assert page.index("Verdict") < page.index("Per class: coverage") < page.index("Predicted quality")
    assert "Better than random subsets beyond noise on" in page and page.count("<img") >= 2
    assert "subset: 9 images" in page


# --------------------------------------------------------------------------- similarity.nearest
def test_nearest_equals_stable_argsort_with_ties():
    rng = np.random.default_rng(0)
    D = rng.integers(0, 6, (40, 30)).astype(np.float64)  # many ties at every rank
    D[3] = 1.0  # a row of equal entries
    for k in (1, 4, 29):
        got = similarity.nearest(D.copy(), k)
        want = np.argsort(D, axis=1, kind="stable")[:, :k]  # nearest first, ties to the lower column
        np.testing.assert_array_equal(got, want)
