"""Benchmark of the 1:1 meeting scheduler of matchmaking events (no Django needed).

    .venv/bin/python bench/scheduler.py [--seed 2026] [--attendees 120] [--investors 30] [--slots 12]
                                        [--tables 24] [--per-attendee 4] [--verbose]

Builds a seeded synthetic matchmaking afternoon (see ``instance``), times the production method
(``events.scheduling.solve``: exact integer programme with HiGHS) and compares the interest it achieved with
the exact optimum, computed again by a separate solve without a time limit and a relative gap of 0 (its
proof of optimality is checked). The schedule is checked against every constraint. Prints exactly

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

from events.scheduling import MeetingProblem, check_schedule, greedy, lp_bound, solve

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
        k = int(min(investors, rng.integers(3, 9)))
        chosen = rng.choice(investors, k, replace=False, p=pref / pref.sum())
        a_rates[a, chosen] = rng.integers(1, 4, size=k)
    for h in range(investors):
        pref = 0.1 + overlap[:, h]
        k = int(min(attendees, rng.integers(10, 31)))
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

    exact = solve(problem, time_limit=3600.0)
    if not exact.optimal:
        raise SystemExit("the exact solve did not prove optimality")
    check_schedule(problem, exact.meetings)
    ratio = schedule.total / exact.total if exact.total else 1.0

    if args.verbose:
        fallback = greedy(problem)
        check_schedule(problem, fallback.meetings)
        print(
            f"pairs={int((problem.weights > 0).sum())} variables={int(schedule.stats.get('variables', 0))} "
            f"meetings={len(schedule.meetings)} achieved={schedule.total:.0f} optimum={exact.total:.0f} "
            f"lp_bound={lp_bound(problem):.2f} method={schedule.method} "
            f"greedy_ratio={fallback.total / exact.total:.4f} greedy_seconds={fallback.seconds:.3f}",
            file=sys.stderr,
        )
    print(
        f"scheduler: attendees={args.attendees} investors={args.investors} slots={args.slots} "
        f"seconds={seconds:.3f} interest_ratio={ratio:.4f}"
    )


if __name__ == "__main__":
    main()
