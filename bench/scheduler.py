"""Benchmark of the 1:1 meeting scheduler of matchmaking events (no Django needed).

    .venv/bin/python bench/scheduler.py [--seed 2026] [--attendees 120] [--investors 30] [--slots 12]
                                        [--tables 24] [--per-attendee 4] [--verbose]

Builds a seeded synthetic matchmaking afternoon (see ``instance``), times the production method
(``events.scheduling.solve``: exact integer programme with HiGHS) and compares the interest it achieved with
the exact optimum. The optimum is computed here by an *independent* model (``reference_optimum``: written
out constraint by constraint from the problem statement, sharing no code with ``events.scheduling``),
solved without a time limit at a relative gap of 0 (interest is in whole points); its proof of optimality
is checked, and so is its own schedule. The achieved interest is summed from the production schedule's meetings (not taken from the
solver), after the schedule is checked against every constraint. Prints exactly

    scheduler: attendees=120 investors=30 slots=12 seconds=S interest_ratio=R

``--verbose`` adds, on stderr, the instance size, the exact optimum, the LP bound and the greedy
heuristic's ratio (the fallback when the solver runs out of time).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from events.scheduling import Meeting, MeetingProblem, check_schedule, greedy, lp_bound, solve

N_SKILLS = 16  # the skill taxonomy


def instance(
    *, seed: int, attendees: int, investors: int, slots: int, tables: int, per_attendee: int
) -> MeetingProblem:
    """A matchmaking afternoon like the seeds' resource-matching event:

    * attendees hold 1–3 skills and investors look for 2–5, both drawn Zipf-like from the 16 skills;
    * every attendee rates 3–8 investors (1–3, leaning towards shared skills); every investor rates 10–30
      attendees the same way; mutual interest = both ratings + shared skills (at most 2) for rated pairs;
    * 40% of attendees arrive late or leave early (up to 3 slots each); 30% of investors step out for 1–2
      slots;
    * fewer tables than investors, and at most ``per_attendee`` meetings per attendee.
    """
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, N_SKILLS + 1) ** 0.7
    pop /= pop.sum()
    a_skills = np.zeros((attendees, N_SKILLS), dtype=bool)
    h_skills = np.zeros((investors, N_SKILLS), dtype=bool)
    for a in range(attendees):
        a_skills[a, rng.choice(N_SKILLS, rng.integers(1, 4), replace=False, p=pop)] = True
    for h in range(investors):
        h_skills[h, rng.choice(N_SKILLS, rng.integers(2, 6), replace=False, p=pop)] = True
    overlap = a_skills.astype(np.int64) @ h_skills.T.astype(np.int64)
    a_rates = np.zeros((attendees, investors))
    h_rates = np.zeros((attendees, investors))
    for a in range(attendees):
        pref = 0.2 + overlap[a]
        k = min(investors, int(rng.integers(3, 9)))
        chosen = rng.choice(investors, k, replace=False, p=pref / pref.sum())
        a_rates[a, chosen] = rng.integers(1, 4, size=k)
    for h in range(investors):
        pref = 0.1 + overlap[:, h]
        k = min(attendees, int(rng.integers(10, 31)))
        chosen = rng.choice(attendees, k, replace=False, p=pref / pref.sum())
        h_rates[chosen, h] = rng.integers(1, 4, size=k)
    rated = (a_rates + h_rates) > 0
    weights = np.where(rated, a_rates + h_rates + np.minimum(overlap, 2), 0.0)
    a_avail = np.ones((attendees, slots), dtype=bool)
    h_avail = np.ones((investors, slots), dtype=bool)
    for a in range(attendees):
        if rng.random() < 0.4:
            a_avail[a, : rng.integers(0, 4)] = False
            a_avail[a, slots - rng.integers(0, 4) :] = False
    for h in range(investors):
        if rng.random() < 0.3:
            begin = rng.integers(0, slots)
            h_avail[h, begin : begin + rng.integers(1, 3)] = False
    return MeetingProblem(
        weights=weights,
        attendee_available=a_avail,
        host_available=h_avail,
        tables=tables,
        attendee_max=np.full(attendees, per_attendee, dtype=np.int64),
    )


def reference_optimum(problem: MeetingProblem) -> tuple[float, list[tuple[int, int, int]]]:
    """The exact optimum from a model written independently of ``events.scheduling``: one binary variable
    per possible meeting (attendee a, host h, slot s) with interest > 0 where both are available, and one
    row per constraint of the problem. Raises when HiGHS does not prove optimality."""
    a_count, h_count = problem.weights.shape
    s_count = problem.attendee_available.shape[1]
    variables: list[tuple[int, int, int]] = []
    for a in range(a_count):
        for h in range(h_count):
            if problem.weights[a, h] <= 0:
                continue
            for s in range(s_count):
                if problem.attendee_available[a, s] and problem.host_available[h, s]:
                    variables.append((a, h, s))
    if not variables or problem.tables == 0:
        return 0.0, []
    groups: dict[tuple[str, int, int], list[int]] = {}
    for i, (a, h, s) in enumerate(variables):
        groups.setdefault(("pair", a, h), []).append(i)  # a pair meets at most once
        groups.setdefault(("host", h, s), []).append(i)  # a host meets one attendee per slot
        groups.setdefault(("attendee", a, s), []).append(i)  # an attendee meets one host per slot
        groups.setdefault(("tables", s, 0), []).append(i)  # at most `tables` meetings per slot
        if problem.attendee_max is not None:
            groups.setdefault(("cap", a, 0), []).append(i)  # at most attendee_max[a] meetings
    rows, cols, upper = [], [], []
    for r, (key, members) in enumerate(groups.items()):
        rows.extend([r] * len(members))
        cols.extend(members)
        kind, first, _second = key
        if kind == "tables":
            upper.append(float(problem.tables))
        elif kind == "cap":
            assert problem.attendee_max is not None
            upper.append(float(problem.attendee_max[first]))
        else:
            upper.append(1.0)
    matrix = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(groups), len(variables)))
    gain = np.array([problem.weights[a, h] for a, h, _s in variables], dtype=float)
    res = milp(
        -gain,
        constraints=LinearConstraint(matrix.tocsr(), -np.inf, np.array(upper)),
        integrality=np.ones(len(variables)),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": 0.0},  # HiGHS' absolute gap (1e-6) is below one point
    )
    if res.status != 0 or res.x is None:
        raise SystemExit(f"the reference solve did not prove optimality: {res.message}")
    chosen = [variables[i] for i in np.nonzero(res.x > 0.5)[0]]
    return float(sum(problem.weights[a, h] for a, h, _s in chosen)), chosen


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--attendees", type=int, default=120)
    parser.add_argument("--investors", type=int, default=30)
    parser.add_argument("--slots", type=int, default=12)
    parser.add_argument("--tables", type=int, default=24)
    parser.add_argument("--per-attendee", type=int, default=4)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    problem = instance(
        seed=args.seed,
        attendees=args.attendees,
        investors=args.investors,
        slots=args.slots,
        tables=args.tables,
        per_attendee=args.per_attendee,
    )
    start = time.perf_counter()
    schedule = solve(problem)
    seconds = time.perf_counter() - start
    check_schedule(problem, schedule.meetings)
    achieved = float(sum(problem.weights[m.attendee, m.host] for m in schedule.meetings))

    optimum, reference = reference_optimum(problem)
    # The reference schedule must itself be feasible (tables numbered per slot just for the check).
    numbered: dict[int, int] = {}
    reference_meetings = []
    for a, h, s in sorted(reference, key=lambda t: t[2]):
        numbered[s] = numbered.get(s, 0) + 1
        reference_meetings.append(Meeting(a, h, s, numbered[s], float(problem.weights[a, h])))
    check_schedule(problem, reference_meetings)
    ratio = achieved / optimum if optimum else 1.0

    if args.verbose:
        fallback = greedy(problem)
        check_schedule(problem, fallback.meetings)
        print(
            f"pairs={int((problem.weights > 0).sum())} variables={int(schedule.stats.get('variables', 0))} "
            f"meetings={len(schedule.meetings)} achieved={achieved:.0f} optimum={optimum:.0f} "
            f"lp_bound={lp_bound(problem):.2f} method={schedule.method} "
            f"greedy_ratio={fallback.total / optimum:.4f} greedy_seconds={fallback.seconds:.3f}",
            file=sys.stderr,
        )
    print(
        f"scheduler: attendees={args.attendees} investors={args.investors} slots={args.slots} "
        f"seconds={seconds:.3f} interest_ratio={ratio:.4f}"
    )


if __name__ == "__main__":
    main()
