"""The 1:1 meeting scheduler of matchmaking events: pure numpy/scipy, no Django.

Problem
-------
*Hosts* (investors and industry parties, one per table while they meet) and *attendees* meet in time slots.
``weights[a, h]`` is the mutual interest of attendee ``a`` and host ``h`` (both sides' ratings plus shared
interests, see ``events.services.interest_matrix``); a pair with weight ≤ 0 is never scheduled. Choose
meetings ``(a, h, s)`` maximising the total mutual interest such that

* a pair meets at most once;
* in each slot a host meets at most one attendee and an attendee at most one host;
* in each slot at most ``tables`` meetings take place;
* everyone meets only in slots they are available (``attendee_available`` / ``host_available``);
* an attendee has at most ``attendee_max[a]`` meetings (spreads the hosts' time over the room).

Method
------
``solve`` writes it as an integer programme over the variables x[p, s] (eligible pair p, slot s with both
available) and solves it exactly with HiGHS (``scipy.optimize.milp``, relative gap 0). The 120 × 30 × 12
benchmark has ≈ 10⁴ variables and solves in about a second (``bench/scheduler.py``). When the solver hits its
time limit it returns its best incumbent with HiGHS' dual bound; when it has none, ``greedy`` (slot by slot,
a maximum-weight assignment of the still-unmet pairs with ``scipy.optimize.linear_sum_assignment``, capped at
the table count) provides the schedule and the LP relaxation the bound. Either way the result says whether
it is proven optimal and carries an upper bound of the optimum, so the ratio achieved / optimum is known to
be at least ``total / bound``.

Tables: a host keeps one table all afternoon when there are enough tables (``assign_tables``); otherwise
tables are handed out per slot, keeping a host at the table it used in the previous slot where possible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, linprog, milp

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EPS = 1e-9


@dataclass(frozen=True)
class MeetingProblem:
    weights: FloatArray  # (A, H)
    attendee_available: BoolArray  # (A, S)
    host_available: BoolArray  # (H, S)
    tables: int
    attendee_max: IntArray | None = None  # (A,), None: no limit

    @property
    def shape(self) -> tuple[int, int, int]:
        a, h = self.weights.shape
        return a, h, self.attendee_available.shape[1]

    def validate(self) -> None:
        a, h, s = self.shape
        if self.attendee_available.shape != (a, s) or self.host_available.shape != (h, s):
            raise ValueError("availability shapes do not match the weights")
        if self.tables < 0:
            raise ValueError("tables must be >= 0")
        if self.attendee_max is not None and self.attendee_max.shape != (a,):
            raise ValueError("attendee_max must have one entry per attendee")


@dataclass(frozen=True)
class Meeting:
    attendee: int
    host: int
    slot: int
    table: int
    weight: float


@dataclass
class Schedule:
    meetings: list[Meeting]
    total: float
    bound: float  # an upper bound of the optimum (== total when proven optimal)
    optimal: bool
    method: str
    seconds: float
    stats: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ MILP


@dataclass(frozen=True)
class _Model:
    pair_attendee: IntArray
    pair_host: IntArray
    var_pair: IntArray
    var_slot: IntArray
    objective: FloatArray  # minimised: −weight
    matrix: sparse.csr_matrix
    upper: FloatArray


def _build(problem: MeetingProblem) -> _Model:
    a_count, h_count, s_count = problem.shape
    pa, ph = np.nonzero(problem.weights > EPS)
    both = problem.attendee_available[pa] & problem.host_available[ph]  # (P, S)
    var_pair, var_slot = np.nonzero(both)
    n = len(var_pair)
    p_count = len(pa)
    # Row blocks: pair once | host per slot | attendee per slot | tables per slot | attendee cap
    rows = [
        var_pair,
        p_count + ph[var_pair] * s_count + var_slot,
        p_count + h_count * s_count + pa[var_pair] * s_count + var_slot,
        p_count + (h_count + a_count) * s_count + var_slot,
    ]
    base = p_count + (h_count + a_count + 1) * s_count
    upper = [np.ones(base - s_count), np.full(s_count, float(problem.tables))]
    if problem.attendee_max is not None:
        rows.append(base + pa[var_pair])
        upper.append(problem.attendee_max.astype(float))
        base += a_count
    r = np.concatenate(rows)
    c = np.tile(np.arange(n), len(rows))
    matrix = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(base, n))
    return _Model(
        pair_attendee=pa,
        pair_host=ph,
        var_pair=var_pair,
        var_slot=var_slot,
        objective=-problem.weights[pa[var_pair], ph[var_pair]].astype(float),
        matrix=matrix,
        upper=np.concatenate(upper),
    )


def _chosen(problem: MeetingProblem, model: _Model, x: FloatArray) -> list[tuple[int, int, int]]:
    picked = np.nonzero(x > 0.5)[0]
    return [
        (
            int(model.pair_attendee[model.var_pair[v]]),
            int(model.pair_host[model.var_pair[v]]),
            int(model.var_slot[v]),
        )
        for v in picked
    ]


def lp_bound(problem: MeetingProblem) -> float:
    """The LP relaxation's optimum: an upper bound of the best total interest."""
    model = _build(problem)
    if len(model.objective) == 0:
        return 0.0
    res = linprog(model.objective, A_ub=model.matrix, b_ub=model.upper, bounds=(0, 1), method="highs")
    return float(-res.fun) if res.status == 0 else float("inf")


def solve(problem: MeetingProblem, *, time_limit: float = 20.0) -> Schedule:
    """Exact schedule by integer programming (HiGHS); falls back to ``greedy`` when the solver returns no
    solution within ``time_limit`` seconds."""
    problem.validate()
    start = time.perf_counter()
    model = _build(problem)
    if len(model.objective) == 0 or problem.tables == 0:
        return Schedule([], 0.0, 0.0, True, "milp", time.perf_counter() - start, {"variables": 0})
    res = milp(
        model.objective,
        constraints=LinearConstraint(model.matrix, -np.inf, model.upper),
        integrality=np.ones(len(model.objective)),
        bounds=Bounds(0, 1),
        options={"time_limit": float(time_limit), "mip_rel_gap": 0.0, "presolve": True},
    )
    stats = {"variables": float(len(model.objective)), "constraints": float(model.matrix.shape[0])}
    if res.x is None:
        fallback = greedy(problem)
        dual = getattr(res, "mip_dual_bound", None)
        bound = float(-dual) if dual is not None and np.isfinite(dual) else lp_bound(problem)
        fallback.bound = max(bound, fallback.total)
        fallback.method = "greedy"
        fallback.seconds = time.perf_counter() - start
        fallback.stats = stats
        return fallback
    triples = _chosen(problem, model, res.x)
    total = float(sum(problem.weights[a, h] for a, h, _s in triples))
    dual = getattr(res, "mip_dual_bound", None)
    optimal = res.status == 0
    bound = (
        total if optimal else float(-dual) if dual is not None and np.isfinite(dual) else lp_bound(problem)
    )
    meetings = assign_tables(problem, triples)
    return Schedule(
        meetings=meetings,
        total=total,
        bound=max(bound, total),
        optimal=optimal,
        method="milp" if optimal else "milp-time-limit",
        seconds=time.perf_counter() - start,
        stats=stats,
    )


# ------------------------------------------------------------------------------------------------ heuristic


def greedy(problem: MeetingProblem) -> Schedule:
    """Slot by slot (scarcest first), a maximum-weight assignment of still-unmet eligible pairs available in
    that slot, keeping the ``tables`` heaviest meetings. Fast and feasible; not optimal in general."""
    problem.validate()
    start = time.perf_counter()
    a_count, _h, s_count = problem.shape
    weights = np.where(problem.weights > EPS, problem.weights, 0.0).astype(float)
    remaining = weights.copy()
    left = (
        problem.attendee_max.astype(np.int64).copy()
        if problem.attendee_max is not None
        else np.full(a_count, s_count, dtype=np.int64)
    )
    supply = problem.attendee_available.sum(axis=0) + problem.host_available.sum(axis=0)
    triples: list[tuple[int, int, int]] = []
    for s in np.argsort(supply, kind="stable"):
        mask = problem.attendee_available[:, s][:, None] & problem.host_available[:, s][None, :]
        mask &= (left > 0)[:, None]
        scores = np.where(mask, remaining, 0.0)
        if not scores.any() or problem.tables == 0:
            continue
        rows, cols = linear_sum_assignment(scores, maximize=True)
        chosen = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if scores[r, c] > EPS]
        chosen.sort(key=lambda rc: -scores[rc[0], rc[1]])
        for a, h in chosen[: problem.tables]:
            triples.append((a, h, int(s)))
            remaining[a, h] = 0.0
            left[a] -= 1
    total = float(sum(weights[a, h] for a, h, _s in triples))
    return Schedule(
        meetings=assign_tables(problem, triples),
        total=total,
        bound=float("inf"),
        optimal=False,
        method="greedy",
        seconds=time.perf_counter() - start,
    )


# ------------------------------------------------------------------------------------------------ tables


def assign_tables(problem: MeetingProblem, triples: list[tuple[int, int, int]]) -> list[Meeting]:
    """Number the tables 1..T. With at least one table per host, host h always sits at the same table;
    otherwise a host keeps the table of its previous slot when it is free."""
    _a, h_count, _s = problem.shape
    by_slot: dict[int, list[tuple[int, int]]] = {}
    for a, h, s in triples:
        by_slot.setdefault(s, []).append((a, h))
    fixed = problem.tables >= h_count
    last_table: dict[int, int] = {}
    meetings: list[Meeting] = []
    for s in sorted(by_slot):
        pairs = sorted(by_slot[s], key=lambda ah: ah[1])
        if fixed:
            for a, h in pairs:
                meetings.append(Meeting(a, h, s, h + 1, float(problem.weights[a, h])))
            continue
        used: set[int] = set()
        pending: list[tuple[int, int]] = []
        for a, h in pairs:
            table = last_table.get(h)
            if table is not None and table not in used:
                used.add(table)
                meetings.append(Meeting(a, h, s, table, float(problem.weights[a, h])))
            else:
                pending.append((a, h))
        free = iter(t for t in range(1, problem.tables + 1) if t not in used)
        for a, h in pending:
            table = next(free)
            last_table[h] = table
            meetings.append(Meeting(a, h, s, table, float(problem.weights[a, h])))
    meetings.sort(key=lambda m: (m.slot, m.table))
    return meetings


def check_schedule(problem: MeetingProblem, meetings: list[Meeting]) -> None:
    """Raise ``AssertionError`` when a schedule breaks a constraint (used by tests and the benchmark)."""
    a_count, h_count, s_count = problem.shape
    seen_pairs: set[tuple[int, int]] = set()
    per_slot_host: set[tuple[int, int]] = set()
    per_slot_attendee: set[tuple[int, int]] = set()
    per_slot_table: set[tuple[int, int]] = set()
    per_attendee = np.zeros(a_count, dtype=np.int64)
    for m in meetings:
        assert 0 <= m.attendee < a_count and 0 <= m.host < h_count and 0 <= m.slot < s_count
        assert problem.weights[m.attendee, m.host] > EPS, "pair without interest"
        assert problem.attendee_available[m.attendee, m.slot], "attendee not available"
        assert problem.host_available[m.host, m.slot], "host not available"
        assert (m.attendee, m.host) not in seen_pairs, "pair meets twice"
        assert (m.slot, m.host) not in per_slot_host, "host double-booked"
        assert (m.slot, m.attendee) not in per_slot_attendee, "attendee double-booked"
        assert 1 <= m.table <= problem.tables and (m.slot, m.table) not in per_slot_table, "table clash"
        seen_pairs.add((m.attendee, m.host))
        per_slot_host.add((m.slot, m.host))
        per_slot_attendee.add((m.slot, m.attendee))
        per_slot_table.add((m.slot, m.table))
        per_attendee[m.attendee] += 1
    if problem.attendee_max is not None:
        assert (per_attendee <= problem.attendee_max).all(), "attendee over their meeting limit"
