"""The pure engine: scores and explanations, candidate generation, assignment (no database)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from dispatch import engine as E

N_SKILLS = 16


def random_opc(rng: random.Random, i: int) -> E.OPC:
    skills = frozenset(rng.sample(range(N_SKILLS), rng.randint(1, 4)))
    capacity = rng.randint(1, 4)
    rate_min = rng.choice([None, rng.uniform(300, 50_000)])
    return E.OPC(
        id=1000 + i,
        skills=skills,
        capacity=capacity,
        active=rng.randint(0, capacity),
        rate_min=rate_min,
        rate_max=None if rate_min is None else rate_min * rng.uniform(1, 4),
        reputation=rng.choice([None, rng.random()]),
        experience={s: rng.randint(0, 12) for s in skills if rng.random() < 0.6},
        completed=rng.randint(0, 20),
        verified=rng.random() < 0.5,
        community=rng.choice([None, 1, 2, 3]),
        exposure=rng.randint(0, 30),
    )


def random_order(rng: random.Random, i: int, excluded: frozenset[int] = frozenset()) -> E.Order:
    budget_min = rng.choice([None, rng.uniform(500, 60_000)])
    return E.Order(
        id=i + 1,
        category=rng.randrange(N_SKILLS),
        required=frozenset(rng.sample(range(N_SKILLS), rng.randint(0, 2))),
        budget_min=budget_min,
        budget_max=None if budget_min is None else budget_min * rng.uniform(1, 3),
        community=rng.choice([None, 1, 2, 3]),
        excluded=excluded,
    )


def random_market(seed: int, n_opcs: int, n_orders: int) -> tuple[list[E.OPC], list[E.Order]]:
    rng = random.Random(seed)
    opcs = [random_opc(rng, i) for i in range(n_opcs)]
    orders = []
    for i in range(n_orders):
        excluded = frozenset(rng.sample([o.id for o in opcs], 2)) if rng.random() < 0.2 else frozenset()
        orders.append(random_order(rng, i, excluded))
    return opcs, orders


def test_weights_sum_to_one() -> None:
    assert math.isclose(sum(E.DEFAULT_WEIGHTS.as_dict().values()), 1.0)


@pytest.mark.parametrize("seed", range(5))
def test_explanation_sums_to_score_and_matches_vectorised(seed: int) -> None:
    opcs, orders = random_market(seed, 40, 25)
    pool = E.OPCPool.from_records(opcs, N_SKILLS)
    batch = E.OrderBatch.from_records(orders)
    oi, pi = np.meshgrid(np.arange(len(orders)), np.arange(len(opcs)), indexing="ij")
    vec = E.score_pairs(pool, batch, oi.ravel(), pi.ravel()).reshape(oi.shape)
    for a, order in enumerate(orders):
        for b, opc in enumerate(opcs):
            total, expl = E.score(order, opc)
            assert set(expl) == set(E.FACTORS)
            assert math.isclose(sum(expl.values()), total, abs_tol=1e-12)
            assert 0.0 <= total <= 1.0 + 1e-12
            assert vec[a, b] == pytest.approx(total, abs=1e-6)  # reputation is float32 in a pool
            if E.ineligibility(order, opc) is None:
                assert total > 0
                assert expl["coverage"] >= E.DEFAULT_WEIGHTS.coverage / len(order.skills) - 1e-12
            else:
                assert total == 0.0


def test_ineligibility_reasons() -> None:
    opc = E.OPC(id=1, skills=frozenset({3}), capacity=2, active=0)
    assert E.ineligibility(E.Order(id=1, category=4), opc) == "category_skill_missing"
    assert E.ineligibility(
        E.Order(id=1, category=3), E.OPC(id=1, skills=frozenset({3}), capacity=1, active=1)
    ) == ("no_free_capacity")
    assert E.ineligibility(E.Order(id=1, category=3, excluded=frozenset({1})), opc) == "excluded"
    assert E.ineligibility(E.Order(id=1, category=3), opc) is None


def test_price_fit() -> None:
    assert E.price_band(None) == E.UNKNOWN_BAND
    assert E.price_band(999) == 0
    assert E.price_band(1000) == 1
    assert E.price_band(10**9) == E.PRICE_BANDS - 1
    assert list(E.price_bands([np.nan, 999, 1000, 2500])) == [E.UNKNOWN_BAND, 0, 1, 2]
    fit = E.price_fit_bands
    assert fit(3, 5, 4, 6) == 1.0  # overlap
    assert fit(7, 8, 3, 5) == pytest.approx(1 - 2 * E.PRICE_TOO_EXPENSIVE_SLOPE)  # 2 bands too expensive
    assert fit(1, 2, 4, 5) == pytest.approx(1 - 2 * E.PRICE_TOO_CHEAP_SLOPE)  # 2 bands too cheap
    assert fit(E.UNKNOWN_BAND, E.UNKNOWN_BAND, 3, 4) == E.PRICE_UNKNOWN


def test_newcomer_exposure_factor() -> None:
    order = E.Order(id=1, category=0)

    def newcomer(completed: int, exposure: int) -> float:
        opc = E.OPC(id=1, skills=frozenset({0}), completed=completed, exposure=exposure)
        return E.score(order, opc)[1]["newcomer"]

    assert newcomer(0, 0) == pytest.approx(E.DEFAULT_WEIGHTS.newcomer)
    # the boost fades with exposure already received …
    values = [newcomer(0, e) for e in (0, 5, 10, 40, 200)]
    assert values == sorted(values, reverse=True) and values[2] == pytest.approx(values[0] / 2)
    # … and with experience; an established OPC gets none
    assert newcomer(2, 0) < newcomer(0, 0)
    assert newcomer(int(E.NEWCOMER_COMPLETED), 0) == 0.0
    assert newcomer(50, 0) == 0.0
    # two otherwise equal OPCs: the unexposed newcomer ranks first
    fresh = E.OPC(id=1, skills=frozenset({0}), completed=0, exposure=0)
    seen = E.OPC(id=2, skills=frozenset({0}), completed=0, exposure=50)
    ranked = E.recommend(order, [seen, fresh], limit=2)
    assert [r.opc_id for r in ranked] == [1, 2]


def brute_top_k(pool: E.OPCPool, batch: E.OrderBatch, k: int) -> dict[int, list[float]]:
    oi, pi = np.meshgrid(np.arange(len(batch)), np.arange(len(pool)), indexing="ij")
    s = E.score_pairs(pool, batch, oi.ravel(), pi.ravel()).reshape(oi.shape)
    return {o: sorted((v for v in s[o] if v > 0), reverse=True)[:k] for o in range(len(batch))}


@pytest.mark.parametrize(("seed", "k"), [(1, 1), (2, 3), (3, 8), (4, 50)])
def test_top_k_candidates_are_the_exact_top_k(seed: int, k: int) -> None:
    opcs, orders = random_market(seed, 300, 60)
    pool = E.OPCPool.from_records(opcs, N_SKILLS)
    batch = E.OrderBatch.from_records(orders)
    cands = E.top_k_candidates(pool, batch, k, probe=k, chunk_cells=500)  # tiny probe and blocks
    expected = brute_top_k(pool, batch, k)
    for o in range(len(orders)):
        got = sorted(cands.score[cands.order == o].tolist(), reverse=True)
        assert got == pytest.approx(expected[o], abs=1e-5)
    # each edge carries its exact score and respects exclusions
    exact = E.score_pairs(pool, batch, cands.order, cands.opc)
    assert np.allclose(cands.score, exact, atol=1e-5)
    for e in range(len(cands)):
        assert int(pool.ids[cands.opc[e]]) not in orders[int(cands.order[e])].excluded


def milp_optimum(pool: E.OPCPool, cands: E.Candidates, n_orders: int) -> float:
    """Independent exact solver: the b-matching as an integer programme (HiGHS)."""
    n = len(cands)
    if n == 0:
        return 0.0
    e = np.arange(n)
    a_orders = csr_array((np.ones(n), (cands.order, e)), shape=(n_orders, n))
    a_opcs = csr_array((np.ones(n), (cands.opc, e)), shape=(len(pool), n))
    res = milp(
        c=-cands.score.astype(np.float64),
        constraints=[LinearConstraint(a_orders, 0, 1), LinearConstraint(a_opcs, 0, pool.free.astype(float))],
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
    )
    assert res.success
    return float(-res.fun)


@pytest.mark.parametrize("seed", range(8))
def test_production_equals_exact_optimum_when_k_covers_all_candidates(seed: int) -> None:
    rng = random.Random(seed)
    opcs, orders = random_market(seed, rng.randint(5, 60), rng.randint(1, 40))
    pool = E.OPCPool.from_records(opcs, N_SKILLS)
    batch = E.OrderBatch.from_records(orders)
    everything = E.all_candidates(pool, batch)
    production = E.batch_dispatch(pool, batch, k=len(opcs), k_scale=0)
    exact = E.exact_assignment(pool, batch)
    reference = milp_optimum(pool, everything, len(orders))
    for result in (production, exact):
        E.check_assignment(result, pool.free, len(orders))
        assert result.total == pytest.approx(reference, abs=1e-4)
    # greedy is feasible too (and never better than the optimum)
    greedy = E.greedy_assign(everything, pool.free, len(orders))
    E.check_assignment(greedy, pool.free, len(orders))
    assert greedy.total <= reference + 1e-6


@pytest.mark.parametrize("seed", range(6))
def test_capacity_never_exceeded_and_one_opc_per_order(seed: int) -> None:
    # scarce capacity: many orders, few OPCs
    opcs, orders = random_market(100 + seed, 25, 120)
    pool = E.OPCPool.from_records(opcs, N_SKILLS)
    batch = E.OrderBatch.from_records(orders)
    result = E.batch_dispatch(pool, batch, k=5, k_scale=1.0)
    assert np.bincount(result.order, minlength=len(orders)).max(initial=0) <= 1
    used = np.bincount(result.opc, minlength=len(opcs))
    assert np.all(used <= pool.free)
    assert np.all(result.score > 0)
    for o, p, s in zip(result.order, result.opc, result.score, strict=True):
        assert E.ineligibility(orders[o], opcs[p]) is None
        assert s == pytest.approx(E.score(orders[o], opcs[p])[0], abs=1e-5)


def test_unassigned_when_no_feasible_candidate() -> None:
    opcs = [E.OPC(id=1, skills=frozenset({0}), capacity=1)]
    orders = [E.Order(id=1, category=0), E.Order(id=2, category=0), E.Order(id=3, category=5)]
    pool = E.OPCPool.from_records(opcs, N_SKILLS)
    result = E.batch_dispatch(pool, E.OrderBatch.from_records(orders), k=3)
    assert len(result) == 1 and int(result.opc[0]) == 0


def test_recommend_ranks_and_explains() -> None:
    opcs, orders = random_market(9, 80, 1)
    order = orders[0]
    ranked = E.recommend(order, opcs, limit=10)
    scores = [r.score for r in ranked]
    assert scores == sorted(scores, reverse=True)
    eligible = sorted((E.score(order, o)[0] for o in opcs if E.ineligibility(order, o) is None), reverse=True)
    assert scores == pytest.approx(eligible[:10], abs=1e-5)
    for r in ranked:
        assert math.isclose(sum(r.explanation.values()), r.score, abs_tol=1e-12)
    assert E.recommend(order, [], limit=5) == []


def test_adaptive_k() -> None:
    batch = E.OrderBatch.from_records([E.Order(id=i, category=0 if i < 400 else 1) for i in range(410)])
    ks = E.adaptive_k(batch, 20, 2.5, 45)
    assert ks == {0: 45, 1: 20}


def test_deterministic_with_a_seed() -> None:
    from bench.dispatch import make_market

    runs = []
    for _ in range(2):
        market = make_market(3000, 300, seed=11)
        result = E.batch_dispatch(market.pool, market.orders)
        runs.append((result.order.tolist(), result.opc.tolist(), result.total))
    assert runs[0] == runs[1]
    other = make_market(3000, 300, seed=12)
    assert E.batch_dispatch(other.pool, other.orders).total != runs[0][2]


@pytest.mark.parametrize("seed", range(6))
def test_pruning_dominated_edges_keeps_the_optimum(seed: int) -> None:
    opcs, orders = random_market(200 + seed, 40, 90)
    pool = E.OPCPool.from_records(opcs, N_SKILLS)
    batch = E.OrderBatch.from_records(orders)
    cands = E.all_candidates(pool, batch)
    pruned = E.prune_dominated(cands, pool.free, passes=3)
    assert len(pruned) <= len(cands)
    full = E.assign(cands, pool.free, len(orders))
    assert E.assign(pruned, pool.free, len(orders)).total == pytest.approx(full.total, abs=1e-5)
