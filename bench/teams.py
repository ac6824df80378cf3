"""Team proposal benchmark (issue 6): production method vs the exact integer programme.

    .venv/bin/python bench/teams.py [--seed 11] [--instances 60]

No Django needed (pure ``teams.solver``). Each instance: 200–2,000 candidate OPCs, 3–8 required skills out
of a 16-skill taxonomy with Zipf-like popularity, 1–3 seats per skill; candidates hold 1–3 skills with
log-normal quotes around a per-skill price level, 0–3 free slots (some busy), reputation in [0, 1] or unknown
(30 %), and a coordination fee per member of ¥300–¥3,000. Prints
``teams: instances=… mean_cost_gap=… p95_seconds=…`` where the gap is (production − exact) / exact of the
minimised objective and the seconds are the production method's wall time (array building included).
Target: mean gap ≤ 2 %, p95 ≤ 0.5 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from teams.solver import Candidate, Role, propose

SKILLS = [f"s{k:02d}" for k in range(16)]


def instance(rng: np.random.Generator) -> tuple[list[Candidate], list[Role], float]:
    n = int(rng.integers(200, 2001))
    popularity = 1.0 / np.arange(1, len(SKILLS) + 1) ** 0.8
    popularity /= popularity.sum()
    level = rng.lognormal(mean=9.0, sigma=0.5, size=len(SKILLS))
    candidates = []
    for i in range(n):
        held = rng.choice(len(SKILLS), size=int(rng.integers(1, 4)), replace=False, p=popularity)
        quotes = {SKILLS[k]: float(round(level[k] * rng.lognormal(0.0, 0.35), 2)) for k in held}
        slots = int(rng.choice([0, 1, 1, 2, 2, 3]))
        rep = None if rng.random() < 0.3 else float(rng.random())
        candidates.append(Candidate(id=i, name=f"opc{i}", quotes=quotes, slots=slots, reputation=rep))
    k = int(rng.integers(3, 9))
    chosen = rng.choice(len(SKILLS), size=k, replace=False)
    roles = [Role(skill=SKILLS[s], count=int(rng.integers(1, 4))) for s in chosen]
    fee = float(rng.uniform(300, 3000))
    return candidates, roles, fee


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--instances", type=int, default=60)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    gaps: list[float] = []
    seconds: list[float] = []
    methods: dict[str, int] = {}
    infeasible = 0
    exact_seconds: list[float] = []
    while len(gaps) + infeasible < args.instances:
        candidates, roles, fee = instance(rng)
        started = time.perf_counter()
        production = propose(candidates, roles, member_fee=fee)
        seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        exact = propose(candidates, roles, member_fee=fee, method="exact")
        exact_seconds.append(time.perf_counter() - started)
        methods[production.method] = methods.get(production.method, 0) + 1
        if not exact.feasible:
            infeasible += 1
            assert not production.feasible, "production found a team where the exact programme found none"
            continue
        assert production.feasible, "production found no team where the exact programme found one"
        gaps.append((production.objective - exact.objective) / exact.objective)
    used = ",".join(f"{m}:{c}" for m, c in sorted(methods.items()))
    print(
        f"  methods={used} infeasible={infeasible} max_gap={max(gaps):.4%} "
        f"exact_p95_seconds={np.percentile(exact_seconds, 95):.3f}"
    )
    print(
        f"teams: instances={len(gaps) + infeasible} mean_cost_gap={np.mean(gaps):.4%} "
        f"p95_seconds={np.percentile(seconds, 95):.3f}"
    )


if __name__ == "__main__":
    main()
