"""Team proposals: which OPCs fill which roles of an order (pure numpy/scipy, no Django).

The problem. An order needs ``count`` people per required skill (its *roles*). Each candidate OPC holds some
of these skills with a quoted price per role, a reputation in [0, 1] (``None``: no history yet) and a number
of free *slots* (its capacity minus the work it already holds). Choose who takes which seat so that

- every role is filled exactly (``Σ_i x[i,s] = count[s]``), a candidate takes at most one seat of one skill
  and at most ``slots[i]`` seats in all;
- the **adjusted cost** is minimal: ``Σ quote[i,s] · (1 + REPUTATION_WEIGHT · (1 − reputation[i])) · x[i,s]
  + member_fee · y[i]`` — quotes are favoured by reputation (an unknown reputation counts as
  ``REPUTATION_PRIOR``) and every extra member costs a fixed coordination fee, so one OPC covering two skills
  can beat two cheaper specialists. That fee makes this a facility-location-like problem (NP-hard), hence
  the two methods below.

Methods (``Proposal.method``):

- ``exact`` — the integer programme above with HiGHS (``scipy.optimize.milp``); used when the instance has
  at most ``EXACT_MAX_PAIRS`` (candidate, skill) pairs, and as the reference in ``bench/teams.py``;
- ``heuristic`` — candidate pruning + the same integer programme on the pruned instance: per skill only the
  ``keep(count)`` cheapest candidates by *amortised* cost (quote + fee shared over the skills the candidate
  could cover) stay, so the programme has a few hundred variables whatever the pool size;
- ``greedy`` — the fallback when pruning loses feasibility (capacity clashes among the kept candidates):
  seats are filled skill by skill (scarcest first) with the cheapest marginal candidate.

Infeasible requests (a skill nobody holds, holders without free capacity, or too few people for all seats
together) return a ``Proposal`` with ``feasible=False`` and ``problems`` that say why — never an exception.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

REPUTATION_WEIGHT = 0.2  # a candidate with reputation 0 costs 20 % more than one with reputation 1
REPUTATION_PRIOR = 0.6  # newcomers: the same prior as dispatch
EXACT_MAX_PAIRS = 300  # up to this many (candidate, skill) pairs the production method is exact
EXACT_TIME_LIMIT = 20.0  # seconds for the reference solve
HEURISTIC_TIME_LIMIT = 0.3


def keep(count: int) -> int:
    """How many candidates per skill the heuristic keeps for a skill needing ``count`` seats."""
    return 3 * count + 12


@dataclass(frozen=True)
class Candidate:
    id: int
    name: str
    quotes: dict[str, float]  # skill code → quoted price for one seat of that skill
    slots: int  # free capacity: how many seats it may take in all
    reputation: float | None = None


@dataclass(frozen=True)
class Role:
    skill: str
    count: int
    label: str = ""


@dataclass(frozen=True)
class Seat:
    candidate_id: int
    skill: str
    quote: float
    adjusted: float


@dataclass(frozen=True)
class Problem:
    """Why a request cannot be met. ``code``: ``no_holder`` | ``no_capacity`` | ``too_few`` | ``joint``."""

    code: str
    skill: str = ""
    needed: int = 0
    available: int = 0
    holders: int = 0


@dataclass
class Proposal:
    feasible: bool
    method: str  # exact | heuristic | greedy | none
    seats: list[Seat] = field(default_factory=list)
    cost: float = 0.0  # the quoted cost of the seats
    objective: float = 0.0  # adjusted cost + member fees (what is minimised)
    members: int = 0
    seconds: float = 0.0
    candidates: int = 0
    problems: list[Problem] = field(default_factory=list)

    def members_by_candidate(self) -> dict[int, list[Seat]]:
        out: dict[int, list[Seat]] = {}
        for seat in self.seats:
            out.setdefault(seat.candidate_id, []).append(seat)
        return out


class _Pairs:
    """The (candidate, skill) pairs of an instance as arrays."""

    def __init__(self, candidates: Sequence[Candidate], roles: Sequence[Role]) -> None:
        self.skills = [r.skill for r in roles]
        self.need = np.array([r.count for r in roles], dtype=np.int64)
        index = {s: k for k, s in enumerate(self.skills)}
        cand: list[int] = []
        skill: list[int] = []
        quote: list[float] = []
        adjusted: list[float] = []
        for i, c in enumerate(candidates):
            if c.slots <= 0:
                continue
            rep = REPUTATION_PRIOR if c.reputation is None else min(1.0, max(0.0, float(c.reputation)))
            factor = 1.0 + REPUTATION_WEIGHT * (1.0 - rep)
            for code, q in c.quotes.items():
                k = index.get(code)
                if k is None:
                    continue
                cand.append(i)
                skill.append(k)
                quote.append(float(q))
                adjusted.append(float(q) * factor)
        self.cand = np.array(cand, dtype=np.int64)
        self.skill = np.array(skill, dtype=np.int64)
        self.quote = np.array(quote, dtype=np.float64)
        self.adjusted = np.array(adjusted, dtype=np.float64)
        self.slots = np.array([max(0, c.slots) for c in candidates], dtype=np.int64)

    def subset(self, mask: np.ndarray) -> _Pairs:
        sub = object.__new__(_Pairs)
        sub.skills, sub.need, sub.slots = self.skills, self.need, self.slots
        sub.cand, sub.skill = self.cand[mask], self.skill[mask]
        sub.quote, sub.adjusted = self.quote[mask], self.adjusted[mask]
        return sub


def _problems(candidates: Sequence[Candidate], roles: Sequence[Role]) -> list[Problem]:
    """Per-skill reasons a request cannot be met (holders, free holders)."""
    found: list[Problem] = []
    for role in roles:
        holders = [c for c in candidates if role.skill in c.quotes]
        free = [c for c in holders if c.slots > 0]
        if not holders:
            found.append(Problem("no_holder", role.skill, role.count, 0, 0))
        elif not free:
            found.append(Problem("no_capacity", role.skill, role.count, 0, len(holders)))
        elif len(free) < role.count:
            found.append(Problem("too_few", role.skill, role.count, len(free), len(holders)))
    return found


def _milp(pairs: _Pairs, fee: float, time_limit: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Solve the integer programme on ``pairs``; return (chosen pair mask, members) or ``None``."""
    n_pairs = len(pairs.cand)
    if n_pairs == 0:
        return None
    members, member_of = np.unique(pairs.cand, return_inverse=True)
    n_mem = len(members)
    n = n_pairs + n_mem
    c = np.concatenate([pairs.adjusted, np.full(n_mem, fee)])
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lo: list[np.ndarray] = []
    hi: list[np.ndarray] = []
    r = 0
    # seats per skill: Σ x = need
    n_sk = len(pairs.skills)
    rows.append(pairs.skill + r)
    cols.append(np.arange(n_pairs))
    vals.append(np.ones(n_pairs))
    lo.append(pairs.need.astype(np.float64))
    hi.append(pairs.need.astype(np.float64))
    r += n_sk
    # slots per member: Σ_s x[i,s] − slots[i]·y[i] ≤ 0
    rows += [member_of + r, np.arange(n_mem) + r]
    cols += [np.arange(n_pairs), n_pairs + np.arange(n_mem)]
    vals += [np.ones(n_pairs), -pairs.slots[members].astype(np.float64)]
    lo.append(np.full(n_mem, -np.inf))
    hi.append(np.zeros(n_mem))
    r += n_mem
    # linking: x[i,s] − y[i] ≤ 0 (tightens the relaxation)
    rows += [np.arange(n_pairs) + r, np.arange(n_pairs) + r]
    cols += [np.arange(n_pairs), n_pairs + member_of]
    vals += [np.ones(n_pairs), -np.ones(n_pairs)]
    lo.append(np.full(n_pairs, -np.inf))
    hi.append(np.zeros(n_pairs))
    r += n_pairs
    a = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r, n)).tocsr()
    result = milp(
        c,
        constraints=LinearConstraint(a, np.concatenate(lo), np.concatenate(hi)),
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit, "disp": False},
    )
    if result.x is None:
        return None
    x = result.x[:n_pairs] > 0.5
    if not np.array_equal(np.bincount(pairs.skill[x], minlength=n_sk), pairs.need):
        return None
    return x, members


def _greedy(pairs: _Pairs, fee: float) -> np.ndarray | None:
    """Fill seats skill by skill (fewest free holders per seat first) with the cheapest marginal candidate."""
    chosen = np.zeros(len(pairs.cand), dtype=bool)
    used = np.zeros(len(pairs.slots), dtype=np.int64)
    holders = np.bincount(pairs.skill, minlength=len(pairs.skills))
    order = np.argsort(holders / np.maximum(pairs.need, 1), kind="stable")
    for k in order:
        idx = np.flatnonzero(pairs.skill == k)
        for _seat in range(int(pairs.need[k])):
            ok = idx[(~chosen[idx]) & (used[pairs.cand[idx]] < pairs.slots[pairs.cand[idx]])]
            if len(ok) == 0:
                return None
            marginal = pairs.adjusted[ok] + np.where(used[pairs.cand[ok]] > 0, 0.0, fee)
            best = ok[int(np.argmin(marginal))]
            chosen[best] = True
            used[pairs.cand[best]] += 1
    return chosen


def _prune(pairs: _Pairs, fee: float) -> np.ndarray:
    """Keep, per skill, the ``keep(count)`` pairs with the lowest amortised cost."""
    covers = np.bincount(pairs.cand, minlength=len(pairs.slots))
    share = np.minimum(covers, pairs.slots)[pairs.cand].clip(min=1)
    amortised = pairs.adjusted + fee / share
    mask = np.zeros(len(pairs.cand), dtype=bool)
    for k in range(len(pairs.skills)):
        idx = np.flatnonzero(pairs.skill == k)
        n_keep = keep(int(pairs.need[k]))
        if len(idx) <= n_keep:
            mask[idx] = True
        else:
            mask[idx[np.argpartition(amortised[idx], n_keep)[:n_keep]]] = True
    # the candidates kept for one skill also keep their pairs of the other skills (multi-skill members)
    kept = np.zeros(len(pairs.slots), dtype=bool)
    kept[pairs.cand[mask]] = True
    return mask | kept[pairs.cand]


def _proposal(
    method: str, pairs: _Pairs, chosen: np.ndarray, fee: float, candidates: Sequence[Candidate]
) -> Proposal:
    seats = [
        Seat(
            candidate_id=candidates[int(pairs.cand[j])].id,
            skill=pairs.skills[int(pairs.skill[j])],
            quote=float(pairs.quote[j]),
            adjusted=float(pairs.adjusted[j]),
        )
        for j in np.flatnonzero(chosen)
    ]
    members = len({s.candidate_id for s in seats})
    return Proposal(
        feasible=True,
        method=method,
        seats=seats,
        cost=float(pairs.quote[chosen].sum()),
        objective=float(pairs.adjusted[chosen].sum()) + fee * members,
        members=members,
        candidates=len(candidates),
    )


def propose(
    candidates: Sequence[Candidate],
    roles: Sequence[Role],
    *,
    member_fee: float = 0.0,
    method: str = "auto",
) -> Proposal:
    """Propose a team. ``method``: ``auto`` (exact when small, else heuristic), ``exact``, ``heuristic``,
    ``greedy``."""
    started = time.perf_counter()
    roles = [r for r in roles if r.count > 0]
    problems = _problems(candidates, roles)
    if not roles or problems:
        return Proposal(
            feasible=False,
            method="none",
            candidates=len(candidates),
            problems=problems,
            seconds=time.perf_counter() - started,
        )
    pairs = _Pairs(candidates, roles)
    if method == "auto":
        method = "exact" if len(pairs.cand) <= EXACT_MAX_PAIRS else "heuristic"
    proposal: Proposal | None = None
    if method == "exact":
        solved = _milp(pairs, member_fee, EXACT_TIME_LIMIT)
        if solved is not None:
            proposal = _proposal("exact", pairs, solved[0], member_fee, candidates)
    elif method in ("heuristic", "greedy"):
        if method == "heuristic":
            mask = _prune(pairs, member_fee)
            sub = pairs.subset(mask)
            solved = _milp(sub, member_fee, HEURISTIC_TIME_LIMIT)
            if solved is not None:
                proposal = _proposal("heuristic", sub, solved[0], member_fee, candidates)
        if proposal is None:
            chosen = _greedy(pairs, member_fee)
            if chosen is not None:
                proposal = _proposal("greedy", pairs, chosen, member_fee, candidates)
        if proposal is None:  # greedy can paint itself into a corner; the exact programme decides
            solved = _milp(pairs, member_fee, EXACT_TIME_LIMIT)
            if solved is not None:
                proposal = _proposal("exact", pairs, solved[0], member_fee, candidates)
    else:
        raise ValueError(f"unknown method {method!r}")
    if proposal is None:
        free = int(np.minimum(pairs.slots, 10**6)[np.unique(pairs.cand)].sum())
        proposal = Proposal(
            feasible=False,
            method="none",
            candidates=len(candidates),
            problems=[Problem("joint", "", int(pairs.need.sum()), free, 0)],
        )
    proposal.seconds = time.perf_counter() - started
    return proposal
