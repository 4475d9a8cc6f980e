"""Coreset selection: every method behind one call, :func:`select`.

``select(method, *, rate, X=None, y=None, dynamics=None, embed=None, seed=0, **options)``
returns the sorted int64 indices of a coreset of M = ceil(rate x N) samples (:func:`coreset_size`).
Dynamics-based methods score the samples from one recorded surrogate run
(:class:`~xfactor_lib.dynamics.Dynamics`, scores in :mod:`xfactor_lib.coresets.scores`)
and keep one end of the score (:func:`select_top`, ties to the lower index):

| method | score per sample | keeps |
| --- | --- | --- |
| ``random`` | uniform [0, 1) draws from ``seed`` | highest (a uniform draw) |
| ``random_balanced`` | uniform draws within classes, class-balanced budgets (needs ``y``) | stratified by class |
| ``forgetting`` | correct -> incorrect flips; never learned = T + 1 | highest (most forgotten) |
| ``entropy`` | prediction entropy of the final softmax | highest |
| ``el2n`` | S at one early epoch (``epoch``, default 20), averaged over runs | highest |
| ``aum`` | mean over epochs of target logit minus largest other logit | **lowest** (hardest) |
| ``ccs`` | mean probability margin; drop the hardest ``beta`` x N, then 50 bins smallest-first | stratified |
| ``eva`` | Var(S, early window) + Var(S, late window) (``variant="released"``: normalised mean) | highest |
| ``var_s`` / ``exp_s`` | variance / mean of S in one window (``start``) | highest |
| ``var_d`` / ``exp_d`` | variance sum / mean of S over two windows | highest |

Training-free methods (SPEC 5, :mod:`xfactor_lib.coresets.greedy`) read the images ``X`` and labels
``y`` (no surrogate run) and pick greedily under class-balanced budgets (M split evenly over
the classes, the remainder to the largest; :func:`~xfactor_lib.coresets.greedy.class_budgets`):

| method | objective per class | keeps |
| --- | --- | --- |
| ``coverage`` | facility location on pixel ``exp(-RMSD / tau)``, ``tau = tau_data`` | greedy |
| ``coverage_emb`` | facility location on the clipped cosine of ``embed`` (an (N, d) array) | greedy |
| ``coverage_clean`` | ``coverage`` picking only images whose nearest neighbours share their label | greedy |
| ``a_max`` | the Alpha paper's ``A_q`` (``q`` = 0), greedily maximised | greedy |
| ``k_center`` | farthest-first traversal on pixel RMSD (first pick seeded) | greedy |
| ``coverage_wide`` | facility location on pixel ``exp(-RMSD / (4 tau_data))`` (issue 20) | greedy |
| ``herding`` | kernel herding on pixel ``exp(-RMSD / tau_data)``: the picks' kernel mean matches the class's | greedy |

The low-budget anchors (SPEC 5, :mod:`xfactor_lib.coresets.anchors`) with the same class
budgets, on pixel RMSD (as ``coverage``) or, ``_emb``, on the embedding ``embed`` (as
``coverage_emb``; Euclidean distance of unit rows, a monotone function of the cosine):

| method | per class | keeps |
| --- | --- | --- |
| ``typiclust`` / ``typiclust_emb`` | k-means into the budget's clusters; the most typical image of each | greedy |
| ``probcover`` / ``probcover_emb`` | greedy max coverage of delta-balls, delta the 95 %-purity radius | greedy |

Every training-free method also has a label-free variant, ``select(..., unlabeled=True)``:
the whole pool is one class with budget M and the labels are never read (choosing what to
annotate; see :func:`select`).

A new method joins by one :func:`register` call with a :class:`Method` entry;
:func:`select` needs no change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .._validation import check_choice, check_int, check_rate
from ..dynamics import Dynamics
from . import anchors, greedy
from . import baselines as cb
from . import scores as cs
from .baselines import ccs_default_beta, ccs_select
from .coverage_kernel import kernel_coverage_select
from .herding import herding_select

__all__ = [
    "Method",
    "METHODS",
    "KEEPS",
    "register",
    "select",
    "coreset_size",
    "select_top",
    "ccs_select",
    "ccs_default_beta",
    "WINDOW_METHODS",
]

_ENDS = ("highest", "lowest")
_NEEDS = ("dynamics", "images", "embedding", "none")


@dataclass(frozen=True)
class Method:
    """One coreset method of the registry.

    Attributes
    ----------
    name : str
    keeps : str
        Which end of the score the coreset keeps (``"highest"``, ``"lowest"``) or how it
        picks (``"stratified"``, ``"greedy"``); stated in the docs table too.
    needs : {"dynamics", "images", "embedding", "none"}
        What :func:`select` must be given: a Dynamics, images ``X`` with labels ``y``, an
        embedding ``embed`` with labels ``y``, or only a sample count (from whichever is given).
    options : tuple of str
        Keyword options the method takes; ``required`` those without a default.
    score : callable, optional
        ``score(inputs, seed=..., **options) -> (N,)``; ``inputs`` is a :class:`Inputs`.
    pick : callable, optional
        ``pick(inputs, rate, seed=..., **options) -> indices`` for methods that do not
        keep one end of a score (CCS, the greedy methods).
    many_runs : bool
        Accepts a list of Dynamics (averaged), as EL2N does.
    label_free : bool
        Has a label-free variant: ``pick`` takes ``unlabeled=True`` and then never reads
        ``y`` (whole pool, one budget); see :func:`select`.
    """

    name: str
    keeps: str
    needs: str
    options: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    score: Callable[..., np.ndarray] | None = None
    pick: Callable[..., np.ndarray] | None = None
    many_runs: bool = False
    label_free: bool = False


@dataclass(frozen=True)
class Inputs:
    """What a method reads: ``X`` (N, ...), ``y`` (N,), ``runs`` (list of Dynamics), ``embed`` (N, d), ``N``."""

    N: int
    X: Any = None
    y: Any = None
    runs: tuple[Dynamics, ...] = ()
    embed: Any = None

    @property
    def dynamics(self) -> Dynamics:
        return self.runs[0]


#: Every registered method by name.
METHODS: dict[str, Method] = {}
#: Which end of each method's score a coreset keeps (a view of :data:`METHODS`).
KEEPS: dict[str, str] = {}
#: Methods whose options are EVA window starts: option names taken from the chosen windows.
WINDOW_METHODS = {
    "eva": ("early_start", "late_start", "window"),
    "var_d": ("early_start", "late_start", "window"),
    "exp_d": ("early_start", "late_start", "window"),
    "var_s": ("start", "window"),
    "exp_s": ("start", "window"),
}


def register(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` (a name may be registered once)."""
    if method.name in METHODS:
        raise ValueError(f"coreset method {method.name!r} is already registered")
    if method.keeps not in (*_ENDS, "stratified", "greedy") or (method.score is None) == (method.pick is None):
        raise ValueError(
            f"method {method.name!r}: keeps must be highest/lowest/stratified/greedy and exactly one of score or pick"
            " given"
        )
    check_choice(method.needs, "needs", _NEEDS)
    METHODS[method.name] = method
    KEEPS[method.name] = method.keeps
    return method


def coreset_size(N: int, rate: float) -> int:
    """M = ceil(rate x N), the number of samples a coreset keeps (at least 1).

    ``rate x N`` is rounded to 9 decimals first so that e.g. 0.1 x 30 gives 3, not 4.
    """
    N = check_int(N, "N", low=1)
    rate = check_rate(rate)
    return max(1, int(math.ceil(round(rate * N, 9))))


def select_top(scores: Any, rate: float, *, keep: str = "highest") -> np.ndarray:
    """Sorted indices of the M = ceil(rate x N) samples at one end of ``scores``.

    Parameters
    ----------
    scores : ndarray, shape (N,)
    rate : float in (0, 1]
    keep : {"highest", "lowest"}
        Which end is kept; among equal scores the lower index is kept first.

    Returns
    -------
    ndarray, shape (M,), int64, sorted ascending
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"scores must be a non-empty vector (N,), got shape {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError(
            f"scores contain {int(np.isnan(scores).sum())} NaN value(s), e.g. from "
            "unrecorded epochs; record every sample every epoch or drop those samples"
        )
    check_choice(keep, "keep", _ENDS)
    M = coreset_size(scores.size, rate)
    key = -scores if keep == "highest" else scores
    order = np.lexsort((np.arange(scores.size), key))
    return np.sort(order[:M]).astype(np.int64)


# --------------------------------------------------------------------------- the registry
def _ccs_pick(inp: Inputs, rate: float, *, seed: int, beta: float | None = None, n_bins: int = 50) -> np.ndarray:
    beta = ccs_default_beta(rate) if beta is None else beta
    return ccs_select(
        cb.ccs_scores(inp.dynamics),  # the authors' probability margin, not AUM's logit margin
        coreset_size(inp.N, rate),
        beta=beta,
        n_bins=n_bins,
        seed=seed,
        hard_is_low=True,
    )


def _random_balanced(inp: Inputs, rate: float, *, seed: int) -> np.ndarray:
    y = inp.y if inp.y is not None else inp.dynamics.y if inp.runs else None
    if y is None:
        raise ValueError("method 'random_balanced' draws class-balanced budgets: pass y= (or dynamics=)")
    return cb.random_balanced_select(y, rate=rate, seed=seed)


def _windowed(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda inp, seed, **opts: fn(inp.dynamics.S, **opts)


_DUAL = ("early_start", "late_start", "window")
for _m in (
    Method("random", "highest", "none", score=lambda inp, seed: cs.random_scores(inp.N, seed=seed), label_free=True),
    Method("random_balanced", "stratified", "none", pick=_random_balanced),
    Method("forgetting", "highest", "dynamics", score=lambda inp, seed: cs.forgetting_scores(inp.dynamics.correct)),
    Method("entropy", "highest", "dynamics", score=lambda inp, seed: cs.entropy_scores(inp.dynamics.probs)),
    Method(
        "el2n",
        "highest",
        "dynamics",
        ("epoch",),
        many_runs=True,
        score=lambda inp, seed, **o: cs.el2n_scores(list(inp.runs), **o),
    ),
    Method("aum", "lowest", "dynamics", score=lambda inp, seed: cs.aum_scores(inp.dynamics.margin)),
    Method("ccs", "stratified", "dynamics", ("beta", "n_bins"), pick=_ccs_pick),
    Method(
        "eva", "highest", "dynamics", (*_DUAL, "variant"), ("early_start", "late_start"), score=_windowed(cs.eva_scores)
    ),
    Method("var_s", "highest", "dynamics", ("start", "window"), ("start",), score=_windowed(cs.var_single)),
    Method("exp_s", "highest", "dynamics", ("start", "window"), ("start",), score=_windowed(cs.exp_single)),
    Method("var_d", "highest", "dynamics", _DUAL, _DUAL[:2], score=_windowed(cs.var_dual)),
    Method("exp_d", "highest", "dynamics", _DUAL, _DUAL[:2], score=_windowed(cs.exp_dual)),
):
    register(_m)


def _greedy(fn: Callable[..., np.ndarray], *, seeded: bool = True, **fixed: Any) -> Callable[..., np.ndarray]:
    """A pick function running a :mod:`greedy` selector on the inputs at ``rate``; label-free
    (``unlabeled=True``) it runs on the whole pool as one class (:func:`_label_free`)."""

    def pick(
        inp: Inputs, rate: float, *, seed: int, unlabeled: bool = False, n_clusters: int = 10, **opts: Any
    ) -> np.ndarray:
        kw = {"seed": seed} if seeded else {}
        y, extra = _label_free(inp, fixed, seed, n_clusters) if unlabeled else (inp.y, {})
        return fn(inp.X, y, rate=rate, **fixed, **extra, **kw, **opts)

    return pick


def _label_free(inp: Inputs, fixed: dict[str, Any], seed: int, n_clusters: int) -> tuple[np.ndarray, dict[str, Any]]:
    """One class holding every image; ``coverage_clean``'s neighbour vote then compares
    ``n_clusters`` k-means cluster ids (on the pixels) instead of labels, ProbCover's
    label-free heuristic."""
    extra: dict[str, Any] = {}
    if fixed.get("drop_ambiguous"):
        F = anchors.features(inp.X)
        extra["vote_labels"] = anchors.kmeans_labels(F, min(n_clusters, inp.N), seed=seed)
    return np.zeros(inp.N, dtype=np.int64), extra


def _coverage_emb(
    inp: Inputs, rate: float, *, seed: int, unlabeled: bool = False, max_clients: int = 8192
) -> np.ndarray:
    y = np.zeros(inp.N, dtype=np.int64) if unlabeled else inp.y
    return greedy.coverage_select(None, y, rate=rate, embed=inp.embed, max_clients=max_clients, seed=seed)


def _coverage_wide(
    inp: Inputs, rate: float, *, seed: int, unlabeled: bool = False, joint: bool = False, **opts: Any
) -> np.ndarray:
    y = None if unlabeled else inp.y
    E = inp.embed if joint else None
    return kernel_coverage_select(inp.X, y, rate=rate, embed=E, joint=joint, unlabeled=unlabeled, seed=seed, **opts)


def _herding(inp: Inputs, rate: float, *, seed: int, unlabeled: bool = False, **opts: Any) -> np.ndarray:
    return herding_select(inp.X, None if unlabeled else inp.y, rate=rate, unlabeled=unlabeled, seed=seed, **opts)


def _anchor(fn: Callable[..., np.ndarray], *, on_embedding: bool) -> Callable[..., np.ndarray]:
    """A pick function for :mod:`.anchors` on the pixels or on ``embed``."""

    def pick(inp: Inputs, rate: float, *, seed: int, unlabeled: bool = False, **opts: Any) -> np.ndarray:
        X, E = (None, inp.embed) if on_embedding else (inp.X, None)
        return fn(X, None if unlabeled else inp.y, rate=rate, embed=E, unlabeled=unlabeled, seed=seed, **opts)

    return pick


_COVER = ("tau", "max_clients")
_PROBCOVER = ("purity", "delta", "n_clusters")
for _m in (
    Method("coverage", "greedy", "images", _COVER, pick=_greedy(greedy.coverage_select), label_free=True),
    Method("coverage_emb", "greedy", "embedding", ("max_clients",), pick=_coverage_emb, label_free=True),
    Method(
        "coverage_clean",
        "greedy",
        "images",
        (*_COVER, "neighbours", "n_clusters"),
        pick=_greedy(greedy.coverage_select, drop_ambiguous=True),
        label_free=True,
    ),
    Method("a_max", "greedy", "images", ("q", "tau"), pick=_greedy(greedy.a_max_select, seeded=False), label_free=True),
    Method("k_center", "greedy", "images", pick=_greedy(greedy.k_center_select), label_free=True),
    # issue 20: coverage on a kernel 4 x wider than tau_data (bench/bench_low_budget.py chose it on validation)
    Method(
        "coverage_wide",
        "greedy",
        "images",
        ("scale", "tau", "clean", "neighbours", "typical", "joint", "max_clients", "n_clusters"),
        pick=_coverage_wide,
        label_free=True,
    ),
    # issue 20: kernel herding per class (greedy MMD to the class) on coverage's kernel
    Method(
        "herding",
        "greedy",
        "images",
        ("scale", "tau", "max_clients"),
        pick=_herding,
        label_free=True,
    ),
    # the low-budget anchors (SPEC 5), on the pixels as coverage, on the embedding as coverage_emb
    Method(
        "typiclust",
        "greedy",
        "images",
        ("neighbours",),
        pick=_anchor(anchors.typiclust_select, on_embedding=False),
        label_free=True,
    ),
    Method(
        "typiclust_emb",
        "greedy",
        "embedding",
        ("neighbours",),
        pick=_anchor(anchors.typiclust_select, on_embedding=True),
        label_free=True,
    ),
    Method(
        "probcover",
        "greedy",
        "images",
        _PROBCOVER,
        pick=_anchor(anchors.probcover_select, on_embedding=False),
        label_free=True,
    ),
    Method(
        "probcover_emb",
        "greedy",
        "embedding",
        _PROBCOVER,
        pick=_anchor(anchors.probcover_select, on_embedding=True),
        label_free=True,
    ),
):
    register(_m)


def _inputs(m: Method, X: Any, y: Any, dynamics: Any, embed: Any = None, unlabeled: bool = False) -> Inputs:
    runs: tuple[Dynamics, ...] = ()
    if dynamics is not None:
        runs = tuple(dynamics) if isinstance(dynamics, (list, tuple)) else (dynamics,)
        if not runs or not all(isinstance(r, Dynamics) for r in runs):
            raise TypeError("dynamics must be a Dynamics (or, for el2n, a list of them)")
        if len(runs) > 1 and not m.many_runs:
            raise ValueError(f"only el2n averages several surrogate runs; pass one Dynamics for {m.name!r}")
    if m.needs == "dynamics" and not runs:
        raise ValueError(f"method {m.name!r} scores training dynamics: pass dynamics= (a recorded surrogate run)")
    if unlabeled:
        y = None  # label-free: the labels are never read
        if m.needs == "images" and X is None:
            raise ValueError(f"method {m.name!r} scores the images: pass X=")
    elif m.needs == "images" and (X is None or y is None):
        raise ValueError(f"method {m.name!r} scores the images: pass X= and y=")
    if m.needs == "embedding" and (embed is None or (y is None and not unlabeled)):
        raise ValueError(f"method {m.name!r} works on an embedding: pass embed= (an (N, d) array) and y=")
    sizes = {len(v) for v in (X, y, embed) if v is not None} | {r.N for r in runs}
    if len(sizes) != 1:
        raise ValueError(
            f"X, y, embed and dynamics must describe the same N samples; got sizes {sorted(sizes) or 'none'}"
        )
    return Inputs(N=sizes.pop(), X=X, y=y, runs=runs, embed=embed)


def select(
    method: str,
    *,
    rate: float,
    X: Any = None,
    y: Any = None,
    dynamics: Dynamics | Sequence[Dynamics] | None = None,
    embed: Any = None,
    seed: int = 0,
    unlabeled: bool = False,
    **options: Any,
) -> np.ndarray:
    """Coreset indices by any registered method.

    Parameters
    ----------
    method : str
        A name of :data:`METHODS` (module table: what each scores and keeps).
    rate : float in (0, 1]
        Coreset fraction; M = ceil(rate x N).
    X : ndarray, shape (N, C, H, W), optional
        Images, for methods that score them (``needs="images"``).
    y : ndarray, shape (N,), optional
        Labels, likewise.
    dynamics : Dynamics or list of Dynamics, optional
        One recorded surrogate run (``el2n`` also takes several, averaged).
    embed : ndarray, shape (N, d), optional
        An embedding of the N samples (``coverage_emb``, ``typiclust_emb``, ``probcover_emb``;
        e.g. the reference encoder's, :func:`xfactor_lib.quality.encoder.load_or_train`).
    seed : int
        For ``random`` and ``random_balanced``, the sampling inside ``ccs``, the first pick of ``k_center``,
        the client sample of ``coverage`` on classes above ``max_clients`` and the k-means
        of ``typiclust`` / ``probcover``.
    unlabeled : bool
        The label-free variant (choosing what to annotate): ``y`` is not needed and never
        read; the whole pool is one class with budget M. For ``coverage``, ``coverage_emb``,
        ``a_max``, ``k_center`` the objective runs over the whole pool; ``coverage_clean``'s
        neighbour vote compares k-means cluster ids (as many as ``y``'s classes when ``y``
        is given, else 10); ``typiclust`` clusters the pool into M clusters; ``probcover``
        takes its radius from the purity of k-means clusters, as does ``coverage_clean``'s vote
        (``n_clusters``, default 10: the classes you expect); ``random``
        is unchanged. Methods reading training dynamics have no label-free variant (error).
    **options
        ``el2n``: ``epoch`` (20). ``ccs``: ``beta`` (study E searches it per rate on
        validation, :func:`xfactor_lib.studies.e.search.search_beta`; default :func:`ccs_default_beta`),
        ``n_bins`` (50). ``eva``: ``early_start``, ``late_start``, ``window`` (10),
        ``variant`` ("sum" | "released"). ``var_s``/``exp_s``: ``start``, ``window``.
        ``var_d``/``exp_d``: ``early_start``, ``late_start``, ``window``. ``coverage``:
        ``tau`` (default ``tau_data``), ``max_clients`` (8192); ``coverage_emb``:
        ``max_clients``; ``coverage_clean``: those and ``neighbours`` (10); ``a_max``:
        ``q`` (0), ``tau`` (1, the Alpha paper's). ``typiclust``: ``neighbours`` (20);
        ``probcover``: ``purity`` (0.95), ``delta`` (default the purity radius),
        ``n_clusters`` (label-free purity, 10); ``coverage_clean`` takes ``n_clusters`` too.
        The ``_emb`` variants take the same options (:mod:`xfactor_lib.coresets.anchors`).

    Returns
    -------
    ndarray, shape (M,), int64, sorted
    """
    check_choice(method, "coreset method", list(METHODS))
    m = METHODS[method]
    rate = check_rate(rate)
    bad = set(options) - set(m.options)
    if bad:
        raise ValueError(f"method {method!r} takes options {list(m.options) or 'none'}; got unexpected {sorted(bad)}")
    missing = [k for k in m.required if k not in options]
    if missing:
        raise ValueError(
            f"method {method!r} needs {missing} (window start epochs, chosen on the validation split "
            "by studies.e.search_windows)"
        )
    if unlabeled and not m.label_free:
        free = [k for k, meth in METHODS.items() if meth.label_free]
        raise ValueError(f"method {method!r} has no label-free variant; unlabeled=True works for {free}")
    inp = _inputs(m, X, y, dynamics, embed, unlabeled)
    if m.pick is not None:
        return m.pick(inp, rate, seed=seed, **({"unlabeled": True} if unlabeled else {}), **options)
    return select_top(m.score(inp, seed=seed, **options), rate, keep=m.keeps)
