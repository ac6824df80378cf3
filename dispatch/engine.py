"""The matching and batch-dispatch engine: pure Python + numpy/scipy, no Django.

Vocabulary
----------
* An **OPC** (candidate) has skills (indices into the skill taxonomy, at most 32), a capacity (concurrent
  orders) and a current load, a rate range, a reputation in [0, 1], completed-order counts per category, a
  verification flag, a home community and an *exposure* count (offers / recommendations shown recently).
* An **order** has a category (a skill index), further required skills, a budget range and a community.

Score
-----
``score(order, opc)`` is a weighted sum of factors, each in [0, 1]; the weights (``Weights``) sum to 1, so a
score lies in [0, 1] and the explanation (factor → weight × factor) sums to the score exactly.

=============  ======  ==========================================================================
factor         weight  value
=============  ======  ==========================================================================
coverage       0.30    share of the order's skills (category + required) the OPC holds
experience     0.15    n / (n + 3) for n completed orders in the order's category
reputation     0.15    reputation in [0, 1]; unknown → ``REPUTATION_PRIOR`` (0.6)
price          0.15    price-band fit of the OPC's rate range against the budget (``price_fit_bands``)
load           0.10    free share of capacity: (capacity − active) / capacity
verified       0.05    1 when the OPC's organisation is verified
community      0.05    1 when the OPC's home community is the order's community
newcomer       0.05    newness × freshness: max(0, 1 − completed/5) / (1 + exposure/10)
=============  ======  ==========================================================================

A pair is **eligible** only when the OPC holds the order's category skill, has free capacity and is not
excluded for that order (e.g. it declined the order before); an ineligible pair scores 0.  Every eligible pair
scores > 0 (coverage ≥ 1/|skills|), and the assignment never uses a pair whose score is ≤ ``min_score``
(default 0), so **a zero-score pair is never assigned**.

Prices are compared in *bands* on a log-2 scale (band 0 below ¥1,000, then ¥1k–2k, 2k–4k, … up to band 11 at
¥1.024M and above).  Banding keeps the price term a lookup on a small set of rate classes, which is what lets
the candidate generator score all OPCs of a category with one matrix product (see ``top_k_candidates``).

Candidate generation (exact top-K)
----------------------------------
Orders are grouped by category; the OPCs holding that category (inverted index: skill bit) and having free
capacity are the columns of a feature matrix ``F`` (skill bits, rate-class one-hot, community one-hot) and
every order is a weight row ``W``, so ``W @ F + static`` is the exact score of every eligible pair of the
group (float32, one BLAS call per block of orders).  Columns are sorted by their order-independent part; the
K-th best score among the first ``probe`` columns is a lower bound of each order's true K-th best, so only
entries at or above it survive and are ranked (and columns whose static part plus the order's largest
possible order-dependent part cannot reach it are not scored).  The result is the exact top-K by score
(ties broken arbitrarily).  Blocks run on two threads.

K adapts to crowding (``adaptive_k``): orders of a popular category all want the same best OPCs, so their
lists must reach deeper for the assignment to find free capacity: K = clip(⌈2.5·√(orders in the
category)⌉, 30, 200).

Assignment
----------
Maximise the total score with each order assigned at most once and each OPC at most its free capacity, on
the sparse candidate graph: edges no optimal solution needs are dropped first (``prune_dominated``, exact),
each OPC is expanded into ``min(free capacity, degree)`` identical slots, every order gets a private dummy
column (= stay unassigned), and ``scipy.sparse.csgraph.min_weight_full_bipartite_matching`` (LAPJVsp)
minimises Σ(2 − score).  This is exact on the graph given; with K ≥ the number of eligible OPCs it is the
exact optimum of the whole problem (``exact_assignment``).  Maximising total score can leave an order
unassigned even though it had candidates, when its OPCs serve other orders better.

``dual_upper_bound`` gives a Lagrangian (LP-dual) upper bound of the optimum for any OPC prices ≥ 0; the
benchmark uses it to certify the ratio on instances too large for the exact solver.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

MAX_SKILLS = 32
REPUTATION_PRIOR = 0.6
EXPERIENCE_HALF = 3.0  # completed orders in a category for an experience factor of 0.5
NEWCOMER_COMPLETED = 5.0  # completed orders after which an OPC is no longer a newcomer
EXPOSURE_HALF = 10.0  # exposure (offers/recommendations shown) that halves the newcomer boost
PRICE_BAND_BASE = 1000.0  # CNY; band b covers [1000·2^(b−1), 1000·2^b)
PRICE_BANDS = 12
PRICE_TOO_EXPENSIVE_SLOPE = 0.5  # fit lost per band the OPC's minimum rate lies above the budget
PRICE_TOO_CHEAP_SLOPE = 0.25  # fit lost per band the OPC's maximum rate lies below the budget
PRICE_UNKNOWN = 0.5  # fit when either side gave no price
NO_COMMUNITY = -1
UNKNOWN_BAND = -1


@dataclass(frozen=True)
class Weights:
    """Factor weights; they sum to 1 so that a score lies in [0, 1]."""

    coverage: float = 0.30
    experience: float = 0.15
    reputation: float = 0.15
    price: float = 0.15
    load: float = 0.10
    verified: float = 0.05
    community: float = 0.05
    newcomer: float = 0.05

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


DEFAULT_WEIGHTS = Weights()
FACTORS: tuple[str, ...] = tuple(f.name for f in fields(Weights))


# --------------------------------------------------------------------------------------------------------
# Records (one OPC, one order) and their columnar forms
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OPC:
    id: int
    skills: frozenset[int]
    capacity: int = 2
    active: int = 0
    rate_min: float | None = None
    rate_max: float | None = None
    reputation: float | None = None
    experience: Mapping[int, int] = field(default_factory=dict)  # category → completed orders
    completed: int = 0
    verified: bool = False
    community: int | None = None
    exposure: int = 0

    @property
    def free_capacity(self) -> int:
        return max(0, self.capacity - self.active)


@dataclass(frozen=True)
class Order:
    id: int
    category: int
    required: frozenset[int] = frozenset()
    budget_min: float | None = None
    budget_max: float | None = None
    community: int | None = None
    excluded: frozenset[int] = frozenset()  # OPC ids that must not be matched (declined, the client itself)

    @property
    def skills(self) -> frozenset[int]:
        return self.required | {self.category}


def price_band(amount: float | None) -> int:
    """Log-2 price band of an amount in CNY; ``UNKNOWN_BAND`` for None."""
    if amount is None or not math.isfinite(amount) or amount <= 0:
        return UNKNOWN_BAND
    return int(min(PRICE_BANDS - 1, max(0, math.floor(math.log2(amount / PRICE_BAND_BASE)) + 1)))


def price_bands(amounts: npt.ArrayLike) -> npt.NDArray[np.int16]:
    """Vectorised ``price_band``; NaN or ≤ 0 → ``UNKNOWN_BAND``."""
    a = np.asarray(amounts, dtype=np.float64)
    out = np.full(a.shape, UNKNOWN_BAND, dtype=np.int16)
    ok = np.isfinite(a) & (a > 0)
    out[ok] = np.clip(np.floor(np.log2(a[ok] / PRICE_BAND_BASE)) + 1, 0, PRICE_BANDS - 1)
    return out


def _range_bands(lo: int, hi: int) -> tuple[int, int]:
    """Complete a half-known range; both unknown stays unknown."""
    if lo == UNKNOWN_BAND and hi == UNKNOWN_BAND:
        return UNKNOWN_BAND, UNKNOWN_BAND
    if lo == UNKNOWN_BAND:
        return 0, hi
    if hi == UNKNOWN_BAND:
        return lo, PRICE_BANDS - 1
    return min(lo, hi), max(lo, hi)


def price_fit_bands(
    opc_lo: npt.ArrayLike, opc_hi: npt.ArrayLike, order_lo: npt.ArrayLike, order_hi: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Fit in [0, 1] of an OPC rate band range against an order budget band range (broadcasting).

    1 when the ranges overlap; an OPC too expensive loses ``PRICE_TOO_EXPENSIVE_SLOPE`` per band of gap, one
    too cheap (possibly under-qualified) loses ``PRICE_TOO_CHEAP_SLOPE`` per band; unknown → 0.5.
    """
    olo, ohi = np.asarray(opc_lo), np.asarray(opc_hi)
    blo, bhi = np.asarray(order_lo), np.asarray(order_hi)
    too_expensive = np.maximum(olo - bhi, 0)
    too_cheap = np.maximum(blo - ohi, 0)
    fit = np.clip(
        1.0 - PRICE_TOO_EXPENSIVE_SLOPE * too_expensive - PRICE_TOO_CHEAP_SLOPE * too_cheap, 0.0, 1.0
    )
    unknown = (olo == UNKNOWN_BAND) | (blo == UNKNOWN_BAND)
    return np.where(unknown, PRICE_UNKNOWN, fit)


def _skill_mask(skills: Iterable[int]) -> int:
    mask = 0
    for s in skills:
        if not 0 <= s < MAX_SKILLS:
            raise ValueError(f"skill index {s} outside 0..{MAX_SKILLS - 1}")
        mask |= 1 << s
    return mask


def _popcount(x: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
    return np.bitwise_count(x).astype(np.int64)


@dataclass
class OPCPool:
    """Columnar OPC data (one row per OPC).  Build with ``from_records`` or directly from arrays."""

    ids: IntArray
    masks: npt.NDArray[np.uint32]
    capacity: npt.NDArray[np.int32]
    active: npt.NDArray[np.int32]
    rate_lo: npt.NDArray[np.int16]  # price band of rate_min (UNKNOWN_BAND when no price at all)
    rate_hi: npt.NDArray[np.int16]
    reputation: FloatArray  # NaN → prior
    experience: npt.NDArray[np.int32]  # (n, n_skills) completed orders per category
    completed: npt.NDArray[np.int32]
    verified: npt.NDArray[np.bool_]
    community: IntArray  # NO_COMMUNITY when none
    exposure: npt.NDArray[np.int32]

    def __post_init__(self) -> None:
        n = len(self.ids)
        for f in fields(self):
            if len(getattr(self, f.name)) != n:
                raise ValueError(f"OPCPool.{f.name} has {len(getattr(self, f.name))} rows, expected {n}")
        self._index: dict[int, int] | None = None
        self._static_cache: dict[tuple[int, Weights], tuple[IntArray, FloatArray]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_skills(self) -> int:
        return int(self.experience.shape[1])

    @property
    def free(self) -> npt.NDArray[np.int32]:
        return np.maximum(self.capacity - self.active, 0).astype(np.int32)

    def position(self, opc_id: int) -> int:
        if self._index is None:
            self._index = {int(i): p for p, i in enumerate(self.ids.tolist())}
        return self._index[opc_id]

    @classmethod
    def from_records(cls, opcs: Sequence[OPC], n_skills: int) -> OPCPool:
        n = len(opcs)
        exp = np.zeros((n, n_skills), dtype=np.int32)
        lo = np.empty(n, dtype=np.int16)
        hi = np.empty(n, dtype=np.int16)
        for i, o in enumerate(opcs):
            for cat, cnt in o.experience.items():
                exp[i, cat] = cnt
            lo[i], hi[i] = _range_bands(price_band(o.rate_min), price_band(o.rate_max))
        return cls(
            ids=np.array([o.id for o in opcs], dtype=np.int64),
            masks=np.array([_skill_mask(o.skills) for o in opcs], dtype=np.uint32),
            capacity=np.array([o.capacity for o in opcs], dtype=np.int32),
            active=np.array([o.active for o in opcs], dtype=np.int32),
            rate_lo=lo,
            rate_hi=hi,
            reputation=np.array(
                [np.nan if o.reputation is None else o.reputation for o in opcs], dtype=np.float32
            ),
            experience=exp,
            completed=np.array([o.completed for o in opcs], dtype=np.int32),
            verified=np.array([o.verified for o in opcs], dtype=bool),
            community=np.array(
                [NO_COMMUNITY if o.community is None else o.community for o in opcs], dtype=np.int64
            ),
            exposure=np.array([o.exposure for o in opcs], dtype=np.int32),
        )

    def skill_index(self) -> list[IntArray]:
        """Inverted index: skill → positions of the OPCs holding it (ascending)."""
        return [np.flatnonzero((self.masks >> np.uint32(s)) & np.uint32(1)) for s in range(self.n_skills)]

    def static_part(self, category: int, weights: Weights = DEFAULT_WEIGHTS) -> tuple[IntArray, FloatArray]:
        """Positions of the eligible OPCs of a category (skill held, free capacity) and their
        order-independent score part, sorted by that part (descending).  Cached per pool."""
        key = (category, weights)
        if key not in self._static_cache:
            holds = ((self.masks >> np.uint32(category)) & np.uint32(1)).astype(bool)
            pos = np.flatnonzero(holds & (self.capacity > self.active))
            st = opc_static_scores(self, pos, category, weights)
            order = np.argsort(-st, kind="stable")
            self._static_cache[key] = (pos[order], st[order])
        return self._static_cache[key]


def opc_static_scores(pool: OPCPool, pos: IntArray, category: int, weights: Weights) -> FloatArray:
    """The order-independent part of the score of OPCs ``pos`` for orders of ``category``."""
    f = opc_static_factors(pool, pos, category)
    total = np.zeros(len(pos), dtype=np.float64)
    for name, values in f.items():
        total += getattr(weights, name) * values
    return total.astype(np.float32)


def opc_static_factors(pool: OPCPool, pos: IntArray, category: int) -> dict[str, npt.NDArray[np.float64]]:
    exp = pool.experience[pos, category].astype(np.float64)
    rep = pool.reputation[pos].astype(np.float64)
    cap = pool.capacity[pos].astype(np.float64)
    free = np.maximum(cap - pool.active[pos], 0)
    completed = pool.completed[pos].astype(np.float64)
    return {
        "experience": exp / (exp + EXPERIENCE_HALF),
        "reputation": np.clip(np.where(np.isnan(rep), REPUTATION_PRIOR, rep), 0.0, 1.0),
        "load": np.divide(free, cap, out=np.zeros_like(cap), where=cap > 0),
        "verified": pool.verified[pos].astype(np.float64),
        "newcomer": np.maximum(0.0, 1.0 - completed / NEWCOMER_COMPLETED)
        / (1.0 + pool.exposure[pos] / EXPOSURE_HALF),
    }


@dataclass
class OrderBatch:
    ids: IntArray
    category: npt.NDArray[np.int16]
    masks: npt.NDArray[np.uint32]  # category + required skills
    budget_lo: npt.NDArray[np.int16]
    budget_hi: npt.NDArray[np.int16]
    community: IntArray
    excluded: Mapping[int, frozenset[int]] = field(default_factory=dict)  # order position → OPC ids

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_records(cls, orders: Sequence[Order]) -> OrderBatch:
        lo = np.empty(len(orders), dtype=np.int16)
        hi = np.empty(len(orders), dtype=np.int16)
        for i, o in enumerate(orders):
            lo[i], hi[i] = _range_bands(price_band(o.budget_min), price_band(o.budget_max))
        return cls(
            ids=np.array([o.id for o in orders], dtype=np.int64),
            category=np.array([o.category for o in orders], dtype=np.int16),
            masks=np.array([_skill_mask(o.skills) for o in orders], dtype=np.uint32),
            budget_lo=lo,
            budget_hi=hi,
            community=np.array(
                [NO_COMMUNITY if o.community is None else o.community for o in orders], dtype=np.int64
            ),
            excluded={i: o.excluded for i, o in enumerate(orders) if o.excluded},
        )


# --------------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------------


def ineligibility(order: Order, opc: OPC) -> str | None:
    """Why a pair cannot be matched, or None when it can."""
    if order.category not in opc.skills:
        return "category_skill_missing"
    if opc.free_capacity <= 0:
        return "no_free_capacity"
    if opc.id in order.excluded:
        return "excluded"
    return None


def explain(order: Order, opc: OPC, weights: Weights = DEFAULT_WEIGHTS) -> dict[str, float]:
    """Factor → contribution (weight × factor value); all zeros for an ineligible pair."""
    if ineligibility(order, opc) is not None:
        return dict.fromkeys(FACTORS, 0.0)
    wanted = order.skills
    exp = float(opc.experience.get(order.category, 0))
    olo, ohi = _range_bands(price_band(opc.rate_min), price_band(opc.rate_max))
    blo, bhi = _range_bands(price_band(order.budget_min), price_band(order.budget_max))
    rep = REPUTATION_PRIOR if opc.reputation is None else min(1.0, max(0.0, opc.reputation))
    values = {
        "coverage": len(wanted & opc.skills) / len(wanted),
        "experience": exp / (exp + EXPERIENCE_HALF),
        "reputation": rep,
        "price": float(price_fit_bands(olo, ohi, blo, bhi)),
        "load": opc.free_capacity / opc.capacity,
        "verified": 1.0 if opc.verified else 0.0,
        "community": 1.0 if order.community is not None and order.community == opc.community else 0.0,
        "newcomer": max(0.0, 1.0 - opc.completed / NEWCOMER_COMPLETED) / (1.0 + opc.exposure / EXPOSURE_HALF),
    }
    w = weights.as_dict()
    return {k: w[k] * v for k, v in values.items()}


def score(order: Order, opc: OPC, weights: Weights = DEFAULT_WEIGHTS) -> tuple[float, dict[str, float]]:
    """The match score of one pair and its explanation (factor → contribution, summing to the score)."""
    contributions = explain(order, opc, weights)
    return math.fsum(contributions.values()), contributions


def score_pairs(
    pool: OPCPool,
    orders: OrderBatch,
    order_pos: npt.ArrayLike,
    opc_pos: npt.ArrayLike,
    weights: Weights = DEFAULT_WEIGHTS,
) -> npt.NDArray[np.float64]:
    """Vectorised score of many (order position, OPC position) pairs; 0 for ineligible pairs."""
    oi = np.asarray(order_pos, dtype=np.int64)
    pi = np.asarray(opc_pos, dtype=np.int64)
    cat = orders.category[oi].astype(np.int64)
    omask = orders.masks[oi]
    pmask = pool.masks[pi]
    eligible = (((pmask >> cat.astype(np.uint32)) & np.uint32(1)) == 1) & (
        pool.capacity[pi] > pool.active[pi]
    )
    for o, excl in orders.excluded.items():
        if excl:
            hit = (oi == o) & np.isin(pool.ids[pi], np.fromiter(excl, dtype=np.int64))
            eligible &= ~hit
    exp = pool.experience[pi, cat].astype(np.float64)
    rep = pool.reputation[pi].astype(np.float64)
    cap = pool.capacity[pi].astype(np.float64)
    free = np.maximum(cap - pool.active[pi], 0)
    same = (orders.community[oi] == pool.community[pi]) & (orders.community[oi] != NO_COMMUNITY)
    values = {
        "coverage": _popcount(omask & pmask) / _popcount(omask),
        "experience": exp / (exp + EXPERIENCE_HALF),
        "reputation": np.clip(np.where(np.isnan(rep), REPUTATION_PRIOR, rep), 0.0, 1.0),
        "price": price_fit_bands(
            pool.rate_lo[pi], pool.rate_hi[pi], orders.budget_lo[oi], orders.budget_hi[oi]
        ),
        "load": np.divide(free, cap, out=np.zeros_like(cap), where=cap > 0),
        "verified": pool.verified[pi].astype(np.float64),
        "community": same.astype(np.float64),
        "newcomer": np.maximum(0.0, 1.0 - pool.completed[pi] / NEWCOMER_COMPLETED)
        / (1.0 + pool.exposure[pi] / EXPOSURE_HALF),
    }
    total = np.zeros(len(oi), dtype=np.float64)
    for name, v in values.items():
        total += getattr(weights, name) * v
    return np.where(eligible, total, 0.0)


# --------------------------------------------------------------------------------------------------------
# Candidate generation
# --------------------------------------------------------------------------------------------------------


@dataclass
class Candidates:
    """A sparse candidate graph: edge e links order position ``order[e]`` to OPC position ``opc[e]``."""

    order: IntArray
    opc: IntArray
    score: FloatArray

    def __len__(self) -> int:
        return len(self.order)

    @classmethod
    def concat(cls, parts: Sequence[Candidates]) -> Candidates:
        if not parts:
            return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))
        return cls(
            np.concatenate([p.order for p in parts]),
            np.concatenate([p.opc for p in parts]),
            np.concatenate([p.score for p in parts]),
        )


class CategoryBlock:
    """The eligible OPCs of one category as a feature matrix, so that ``W @ F + static`` scores a block of
    the category's orders against all of them at once.

    ``F`` rows: the skill bits, a one-hot of the OPC's rate class (its pair of price bands) and a one-hot of
    its home community (restricted to the communities of the batch's orders of this category).  Columns are
    sorted by the order-independent part ``static`` (descending), so a prefix of columns holds the OPCs with
    the best static part.
    """

    MAX_COMMUNITY_COLUMNS = 512

    def __init__(
        self,
        pool: OPCPool,
        orders: OrderBatch,
        category: int,
        order_rows: IntArray,
        weights: Weights,
        price: FloatArray | None = None,
    ) -> None:
        self.pool, self.orders, self.weights = pool, orders, weights
        self.cols, self.static = pool.static_part(category, weights)
        if price is not None:  # reduced scores s − price (for dual bounds); re-sort by the adjusted part
            adjusted = (self.static - price[self.cols]).astype(np.float32)
            order = np.argsort(-adjusted, kind="stable")
            self.cols, self.static = self.cols[order], adjusted[order]
        cols = self.cols
        n_skills = pool.n_skills
        skill_bits = (
            (pool.masks[cols][None, :] >> np.arange(n_skills, dtype=np.uint32)[:, None]) & np.uint32(1)
        ).astype(np.float32)
        rate_key = (pool.rate_lo[cols].astype(np.int64) + 1) * (PRICE_BANDS + 1) + pool.rate_hi[cols] + 1
        classes, class_of = np.unique(rate_key, return_inverse=True)
        self.class_lo = (classes // (PRICE_BANDS + 1) - 1).astype(np.int16)
        self.class_hi = (classes % (PRICE_BANDS + 1) - 1).astype(np.int16)
        rate_onehot = np.zeros((len(classes), len(cols)), dtype=np.float32)
        rate_onehot[class_of, np.arange(len(cols))] = 1.0
        blocks = [skill_bits, rate_onehot]
        ocomm = orders.community[order_rows]
        self.comms = np.unique(ocomm[ocomm != NO_COMMUNITY])
        self.comm_onehot = 0 < len(self.comms) <= self.MAX_COMMUNITY_COLUMNS
        if self.comm_onehot:
            pc = pool.community[cols]
            idx = np.minimum(np.searchsorted(self.comms, pc), len(self.comms) - 1)
            ok = self.comms[idx] == pc
            onehot = np.zeros((len(self.comms), len(cols)), dtype=np.float32)
            onehot[idx[ok], np.flatnonzero(ok)] = 1.0
            blocks.append(onehot)
        self.F = np.ascontiguousarray(np.concatenate(blocks, axis=0))

    def __len__(self) -> int:
        return len(self.cols)

    def order_weights(self, rows: IntArray) -> FloatArray:
        w, orders, n_skills = self.weights, self.orders, self.pool.n_skills
        omask = orders.masks[rows]
        skill_w = ((omask[:, None] >> np.arange(n_skills, dtype=np.uint32)[None, :]) & np.uint32(1)).astype(
            np.float32
        )
        skill_w *= (w.coverage / _popcount(omask)).astype(np.float32)[:, None]
        price_w = (
            w.price
            * price_fit_bands(
                self.class_lo[None, :],
                self.class_hi[None, :],
                orders.budget_lo[rows][:, None],
                orders.budget_hi[rows][:, None],
            )
        ).astype(np.float32)
        blocks = [skill_w, price_w]
        if self.comm_onehot:
            ocomm = orders.community[rows]
            comm_w = np.zeros((len(rows), len(self.comms)), dtype=np.float32)
            has = np.flatnonzero(ocomm != NO_COMMUNITY)
            comm_w[has, np.searchsorted(self.comms, ocomm[has])] = w.community
            blocks.append(comm_w)
        return np.concatenate(blocks, axis=1)

    def max_dynamic(self, rows: IntArray) -> FloatArray:
        """Upper bound of each order's order-dependent part (coverage + price + community)."""
        w = self.weights
        has = self.orders.community[rows] != NO_COMMUNITY
        return (w.coverage + w.price + w.community * has).astype(np.float32)

    def scores(self, rows: IntArray, W: FloatArray, n_cols: int) -> FloatArray:
        """Exact scores (float32) of orders ``rows`` against the first ``n_cols`` columns."""
        s: FloatArray = W @ self.F[:, :n_cols]
        s += self.static[None, :n_cols]
        if not self.comm_onehot and len(self.comms):
            ocomm = self.orders.community[rows]
            pc = self.pool.community[self.cols[:n_cols]]
            s += self.weights.community * ((ocomm[:, None] == pc[None, :]) & (ocomm[:, None] != NO_COMMUNITY))
        for r, o in enumerate(rows.tolist()):
            excl = self.orders.excluded.get(o)
            if excl:
                hit = np.isin(self.pool.ids[self.cols[:n_cols]], np.fromiter(excl, dtype=np.int64))
                s[r, hit] = -np.inf
        return s


def top_k_candidates(
    pool: OPCPool,
    orders: OrderBatch,
    k: int = 40,
    *,
    weights: Weights = DEFAULT_WEIGHTS,
    min_score: float = 0.0,
    probe: int | None = None,
    chunk_cells: int = 2_000_000,
    k_by_category: Mapping[int, int] | None = None,
    threads: int = 2,
    price: FloatArray | None = None,
) -> Candidates:
    """For every order its ``k`` best eligible OPCs by exact score (``k_by_category`` may set K per
    category).  Edges with score ≤ ``min_score`` are dropped.  With ``price`` (one value per OPC position)
    the ranking and the returned values are the *reduced* scores ``score − price`` (used for dual bounds).

    Per block of orders: score the first ``probe`` columns (best static part); the K-th best there is a lower
    bound ``thr`` of each order's true K-th best; a column whose static part plus the order's largest possible
    order-dependent part stays below ``thr`` cannot enter the top K, and since columns are sorted by static
    part, every column after the first such one is skipped.  Blocks run on ``threads`` threads (numpy
    releases the GIL in the heavy kernels).
    """
    if k <= 0:
        raise ValueError("k must be positive")
    probe = probe if probe is not None else max(8 * k, 512)
    tasks: list[tuple[CategoryBlock, IntArray, int]] = []
    for cat in np.unique(orders.category).tolist():
        rows_all = np.flatnonzero(orders.category == cat)
        block = CategoryBlock(pool, orders, int(cat), rows_all, weights, price)
        if len(block) == 0:
            continue
        k_cat = k if k_by_category is None else k_by_category.get(int(cat), k)
        step = max(1, chunk_cells // len(block))
        for start in range(0, len(rows_all), step):
            tasks.append((block, rows_all[start : start + step], k_cat))

    def run(task: tuple[CategoryBlock, IntArray, int]) -> Candidates:
        block, rows, k_cat = task
        n = len(block)
        W = block.order_weights(rows)
        n_probe = min(n, max(probe, 8 * k_cat))
        if n > k_cat:
            head = block.scores(rows, W, n_probe)
            thr = np.partition(head, n_probe - k_cat, axis=1)[:, n_probe - k_cat]
            floor = float(np.min(thr - block.max_dynamic(rows)))
            # columns are sorted by static part (descending): keep those that might still reach thr
            n_cols = max(n_probe, int(np.searchsorted(-block.static, -floor, side="right")))
            s = block.scores(rows, W, n_cols) if n_cols > n_probe else head
        else:
            thr = None
            n_cols = n
            s = block.scores(rows, W, n)
        r, c, v = _top_entries(s, k_cat, thr, min_score)
        return Candidates(rows[r], block.cols[c], v.astype(np.float32))

    if threads > 1 and len(tasks) > 1:
        with ThreadPoolExecutor(max_workers=threads) as ex:
            parts = list(ex.map(run, tasks))
    else:
        parts = [run(t) for t in tasks]
    return Candidates.concat(parts)


def _top_entries(
    s: FloatArray, k: int, thr: FloatArray | None, min_score: float
) -> tuple[IntArray, IntArray, FloatArray]:
    """(row, column, value) of the ``k`` largest entries > ``min_score`` of each row of ``s``; ``thr`` is a
    per-row lower bound of the K-th largest value (entries below it are not looked at)."""
    if thr is not None:
        thr = np.maximum(thr, np.float32(np.nextafter(np.float32(min_score), np.float32(1))))
        r, c = np.nonzero(s >= thr[:, None])
    else:
        r, c = np.nonzero(s > min_score)
    v = s[r, c]
    # rows come sorted from nonzero; order each row by value, descending (v ∈ [-inf, 1] → key in row band)
    key = r.astype(np.float64) * 4.0 + (2.0 - np.maximum(v, -1.0).astype(np.float64))
    order = np.argsort(key)
    r, c, v = r[order], c[order], v[order]
    starts = np.searchsorted(r, r, side="left")
    keep = ((np.arange(len(r)) - starts) < k) & (v > min_score)
    return r[keep], c[keep], v[keep]


def all_candidates(
    pool: OPCPool, orders: OrderBatch, *, weights: Weights = DEFAULT_WEIGHTS, min_score: float = 0.0
) -> Candidates:
    """Every eligible pair with score > ``min_score`` (for the exact reference; dense work)."""
    return top_k_candidates(pool, orders, k=len(pool) + 1, weights=weights, min_score=min_score)


# --------------------------------------------------------------------------------------------------------
# Assignment
# --------------------------------------------------------------------------------------------------------


@dataclass
class Assignment:
    order: IntArray  # order positions
    opc: IntArray  # OPC positions
    score: npt.NDArray[np.float64]

    @property
    def total(self) -> float:
        return float(np.sum(self.score, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.order)


def prune_dominated(cands: Candidates, free_capacity: npt.ArrayLike, passes: int = 2) -> Candidates:
    """Drop edges that no optimal assignment needs (exact).

    If an order's candidate ``p`` is *uncontested* — listed by no more orders than its free capacity — the
    order can always move to ``p`` without displacing anyone, so its edges scoring below ``p`` are never
    needed.  Dropping them lowers other OPCs' degrees, so a second pass may prune more.
    """
    free = np.asarray(free_capacity, dtype=np.int64)
    for _ in range(passes):
        if len(cands) == 0:
            return cands
        order = np.lexsort((-cands.score, cands.order))
        o, p, v = cands.order[order], cands.opc[order], cands.score[order]
        deg = np.bincount(p, minlength=len(free))
        uncontested = deg[p] <= free[p]
        starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
        group = np.cumsum(np.r_[False, o[1:] != o[:-1]])
        idx = np.arange(len(o))
        first_free = np.minimum.reduceat(np.where(uncontested, idx, len(o)), starts)
        keep = idx <= first_free[group]
        if keep.all():
            return Candidates(o, p, v)
        cands = Candidates(o[keep], p[keep], v[keep])
    return cands


def assign(cands: Candidates, free_capacity: npt.ArrayLike, n_orders: int) -> Assignment:
    """Maximum-total-score assignment on a candidate graph: each order at most once, each OPC at most its
    free capacity.  Exact on the graph (LAPJVsp on slot-expanded OPCs plus one dummy per order)."""
    free = np.asarray(free_capacity, dtype=np.int64)
    ok = free[cands.opc] > 0
    e_order, e_opc, e_score = cands.order[ok], cands.opc[ok], cands.score[ok].astype(np.float64)
    if len(e_order) == 0:
        return Assignment(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))
    # compact rows and OPCs
    rows, e_row = np.unique(e_order, return_inverse=True)
    opcs, e_col = np.unique(e_opc, return_inverse=True)
    degree = np.bincount(e_col, minlength=len(opcs))
    slots = np.minimum(free[opcs], degree)
    slot_start = np.concatenate([[0], np.cumsum(slots)[:-1]])
    n_slots = int(slots.sum())
    # expand each edge into one edge per slot of its OPC
    reps = slots[e_col]
    idx = np.repeat(np.arange(len(e_row)), reps)
    within = np.arange(len(idx)) - np.repeat(np.cumsum(reps) - reps, reps)
    m = len(rows)
    r = np.concatenate([e_row[idx], np.arange(m)])
    c = np.concatenate([slot_start[e_col[idx]] + within, n_slots + np.arange(m)])
    cost = np.concatenate([2.0 - e_score[idx], np.full(m, 2.0)])
    graph = sparse.csr_array((cost, (r, c)), shape=(m, n_slots + m))
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    real = col_ind < n_slots
    row_ind, col_ind = row_ind[real], col_ind[real]
    slot_opc = np.repeat(np.arange(len(opcs)), slots)
    opc_of = slot_opc[col_ind]
    # recover the score of each chosen (row, opc) edge
    key_e = e_row.astype(np.int64) * len(opcs) + e_col
    key_c = row_ind.astype(np.int64) * len(opcs) + opc_of
    srt = np.argsort(key_e)
    pos = srt[np.searchsorted(key_e, key_c, sorter=srt)]
    return Assignment(rows[row_ind], opcs[opc_of], e_score[pos])


def greedy_assign(cands: Candidates, free_capacity: npt.ArrayLike, n_orders: int) -> Assignment:
    """Best-edge-first greedy (a ½-approximation), for comparison and as a fallback."""
    free = np.array(free_capacity, dtype=np.int64)
    taken = np.zeros(n_orders, dtype=bool)
    order = np.argsort(-cands.score, kind="stable")
    out_o: list[int] = []
    out_p: list[int] = []
    out_s: list[float] = []
    for e in order.tolist():
        o, p = int(cands.order[e]), int(cands.opc[e])
        if taken[o] or free[p] <= 0:
            continue
        taken[o] = True
        free[p] -= 1
        out_o.append(o)
        out_p.append(p)
        out_s.append(float(cands.score[e]))
    return Assignment(np.array(out_o, np.int64), np.array(out_p, np.int64), np.array(out_s, np.float64))


def adaptive_k(orders: OrderBatch, k_min: int, k_scale: float, k_max: int) -> dict[int, int]:
    """Per category K = clip(⌈k_scale·√(orders of the category)⌉, k_min, k_max).

    Orders of a crowded category share the same best OPCs, so their lists must reach deeper for the
    assignment to find free capacity; a quiet category needs only a few candidates per order.
    """
    cats, counts = np.unique(orders.category, return_counts=True)
    return {
        int(c): int(min(k_max, max(k_min, math.ceil(k_scale * math.sqrt(int(n))))))
        for c, n in zip(cats.tolist(), counts.tolist(), strict=True)
    }


def dual_upper_bound(
    pool: OPCPool, orders: OrderBatch, price: FloatArray, *, weights: Weights = DEFAULT_WEIGHTS
) -> tuple[float, Candidates]:
    """Lagrangian upper bound of the optimum for OPC prices ``price`` ≥ 0 (weak LP duality):
    Σ_orders max(0, max_p score − price_p) + Σ_p free_p · price_p.  Also returns each order's best edge."""
    best = top_k_candidates(pool, orders, 1, weights=weights, min_score=0.0, price=price)
    bound = float(best.score.astype(np.float64).sum()) + float(np.dot(pool.free, price.astype(np.float64)))
    return bound, best


def batch_dispatch(
    pool: OPCPool,
    orders: OrderBatch,
    *,
    k: int = 30,
    k_scale: float = 2.5,
    k_max: int = 200,
    weights: Weights = DEFAULT_WEIGHTS,
) -> Assignment:
    """The production method: exact top-K candidates per order (K adapted to how crowded the order's
    category is, see ``adaptive_k``), then the exact maximum-score assignment on that candidate graph."""
    k_by_category = adaptive_k(orders, k, k_scale, k_max) if k_scale > 0 else None
    cands = top_k_candidates(pool, orders, k, weights=weights, k_by_category=k_by_category)
    return assign(prune_dominated(cands, pool.free), pool.free, len(orders))


def exact_assignment(pool: OPCPool, orders: OrderBatch, *, weights: Weights = DEFAULT_WEIGHTS) -> Assignment:
    """The exact optimum over *all* eligible pairs (reference solver; memory grows with the pair count)."""
    return assign(all_candidates(pool, orders, weights=weights), pool.free, len(orders))


# --------------------------------------------------------------------------------------------------------
# Recommendations
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    opc_id: int
    score: float
    explanation: dict[str, float]


def recommend(
    order: Order,
    opcs: Sequence[OPC],
    *,
    limit: int = 10,
    n_skills: int = 16,
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[Ranked]:
    """The ``limit`` best OPCs for one order, best first, each with its explanation."""
    if not opcs:
        return []
    pool = OPCPool.from_records(opcs, n_skills)
    batch = OrderBatch.from_records([order])
    cands = top_k_candidates(pool, batch, limit, weights=weights)
    by_id = {o.id: o for o in opcs}
    out = []
    for p in cands.opc.tolist():
        opc = by_id[int(pool.ids[p])]
        total, expl = score(order, opc, weights)
        out.append(Ranked(opc.id, total, expl))
    out.sort(key=lambda r: (-r.score, r.opc_id))
    return out[:limit]


def check_assignment(assignment: Assignment, free_capacity: npt.ArrayLike, n_orders: int) -> None:
    """Raise AssertionError when an assignment breaks a constraint (used by tests and the benchmark)."""
    free = np.asarray(free_capacity)
    if len(assignment) and np.bincount(assignment.order, minlength=n_orders).max() > 1:
        raise AssertionError("an order was assigned twice")
    used = np.bincount(assignment.opc, minlength=len(free))
    if np.any(used > free):
        raise AssertionError("an OPC's capacity was exceeded")
    if np.any(assignment.score <= 0):
        raise AssertionError("a non-positive pair was assigned")
