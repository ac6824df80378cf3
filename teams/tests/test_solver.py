"""The team solver: exact vs heuristic vs greedy, infeasibility explained (pure, no database)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from teams.solver import EXACT_MAX_PAIRS, Candidate, Role, propose


def _candidates(seed: int, n: int, skills: list[str]) -> list[Candidate]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        held = rng.choice(len(skills), size=int(rng.integers(1, min(2, len(skills)) + 1)), replace=False)
        out.append(
            Candidate(
                id=i,
                name=f"c{i}",
                quotes={skills[k]: float(rng.integers(1000, 9000)) for k in held},
                slots=int(rng.integers(0, 3)),
                reputation=None if rng.random() < 0.3 else float(rng.random()),
            )
        )
    return out


def _brute_force(cands: list[Candidate], roles: list[Role], fee: float) -> float | None:
    """Enumerate every assignment (tiny instances only)."""
    seats = [r.skill for r in roles for _ in range(r.count)]
    best: float | None = None
    options = [[c for c in cands if s in c.quotes and c.slots > 0] for s in seats]
    for combo in itertools.product(*options):
        pairs = list(zip(combo, seats, strict=True))
        if len(set((c.id, s) for c, s in pairs)) < len(pairs):
            continue
        used: dict[int, int] = {}
        for c, _s in pairs:
            used[c.id] = used.get(c.id, 0) + 1
        if any(used[c.id] > c.slots for c, _s in pairs):
            continue
        total = 0.0
        for c, s in pairs:
            rep = 0.6 if c.reputation is None else c.reputation
            total += c.quotes[s] * (1 + 0.2 * (1 - rep))
        total += fee * len(used)
        best = total if best is None or total < best else best
    return best


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), counts=st.lists(st.integers(1, 2), min_size=1, max_size=3))
def test_exact_matches_brute_force(seed, counts):
    skills = ["a", "b", "c"][: len(counts)]
    cands = _candidates(seed, 6, skills)
    roles = [Role(s, n) for s, n in zip(skills, counts, strict=True)]
    proposal = propose(cands, roles, member_fee=800.0, method="exact")
    best = _brute_force(cands, roles, 800.0)
    if best is None:
        assert not proposal.feasible
    else:
        assert proposal.feasible
        assert abs(proposal.objective - best) < 1e-6 * best
        for role in roles:
            assert sum(1 for s in proposal.seats if s.skill == role.skill) == role.count


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_heuristic_and_greedy_are_valid_and_close(seed):
    skills = [f"s{k}" for k in range(6)]
    cands = _candidates(seed, 400, skills)
    roles = [Role(s, 2) for s in skills[:4]]
    exact = propose(cands, roles, member_fee=500.0, method="exact")
    for method in ("heuristic", "greedy"):
        p = propose(cands, roles, member_fee=500.0, method=method)
        assert p.feasible == exact.feasible
        if p.feasible:
            assert p.objective >= exact.objective - 1e-6
            by = p.members_by_candidate()
            slots = {c.id: c.slots for c in cands}
            assert all(len(seats) <= slots[cid] for cid, seats in by.items())
    if exact.feasible:
        heuristic = propose(cands, roles, member_fee=500.0, method="heuristic")
        assert heuristic.objective <= exact.objective * 1.05


def test_auto_picks_exact_for_small_and_heuristic_for_large():
    small = _candidates(1, 10, ["a", "b"])
    assert propose(small, [Role("a", 1)], method="auto").method in ("exact", "none")
    large = _candidates(2, 2000, ["a", "b", "c"])
    assert len(large) * 1 > EXACT_MAX_PAIRS
    assert propose(large, [Role("a", 2), Role("b", 1)]).method == "heuristic"


def test_infeasible_requests_are_explained():
    cands = [
        Candidate(1, "busy", {"a": 100.0}, slots=0),
        Candidate(2, "free", {"b": 100.0}, slots=1),
        Candidate(3, "free2", {"c": 100.0, "b": 50.0}, slots=1),
    ]
    p = propose(cands, [Role("a", 1), Role("x", 1), Role("b", 3)])
    assert not p.feasible and p.method == "none"
    assert {(q.code, q.skill) for q in p.problems} == {
        ("no_capacity", "a"),
        ("no_holder", "x"),
        ("too_few", "b"),
    }
    # per-skill counts fine, but one person cannot take both seats: a joint capacity problem
    joint = propose([Candidate(1, "only", {"b": 1.0, "c": 1.0}, slots=1)], [Role("b", 1), Role("c", 1)])
    assert not joint.feasible and joint.problems[0].code == "joint"


def test_multi_skilled_member_saves_a_fee():
    cands = [
        Candidate(1, "both", {"a": 1000.0, "b": 1000.0}, slots=2, reputation=1.0),
        Candidate(2, "a-only", {"a": 900.0}, slots=1, reputation=1.0),
        Candidate(3, "b-only", {"b": 900.0}, slots=1, reputation=1.0),
    ]
    p = propose(cands, [Role("a", 1), Role("b", 1)], member_fee=500.0, method="exact")
    assert p.members == 1 and p.cost == 2000.0
    cheap = propose(cands, [Role("a", 1), Role("b", 1)], member_fee=0.0, method="exact")
    assert cheap.members == 2 and cheap.cost == 1800.0
