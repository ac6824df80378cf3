"""Benchmark: every encoded policy for 100,000 companies with 12 months of expenses each.

    python bench/policies.py [--companies N] [--workers W] [--year 2026]

Policies are loaded and compiled once per worker; each company is evaluated with ``evaluate_many`` (all
policies, one shared invoice-claims record for stacking, full trace). Company data is generated inside each
worker (deterministic per company) and that time is reported apart: ``seconds=`` is the wall-clock time of the
evaluation phase (workers start it together and the slowest one ends it). No Django needed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from subsidies.engine import CompanyFacts, Expense, Period, Plan, evaluate_many, load_all

CITIES = [
    ("杭州市", "西湖区"),
    ("上海市", "徐汇区"),
    ("深圳市", "南山区"),
    ("武汉市", "洪山区"),
    ("温州市", "永嘉县"),
    ("温州市", "平阳县"),
    ("宁波市", "海曙区"),
]
OPC_CATEGORIES = [
    "compute.general",
    "compute.intelligent_center",
    "compute.training",
    "compute.inference",
    "model_api",
    "model_deployment",
    "corpus",
    "token_api",
    "ai_service",
    "train_ticket",
]
OPERATOR_CATEGORIES = ["operation", "rent", "events"]


def make_company(i: int, year: int) -> CompanyFacts:
    rng = random.Random(i)
    city, district = CITIES[i % len(CITIES)]
    operator = i % 50 == 0
    categories = OPERATOR_CATEGORIES if operator else rng.sample(OPC_CATEGORIES, 4)
    expenses = []
    for month in range(1, 13):
        for category in categories:
            amount = Decimal(rng.randrange(100, 5_000_000)) / 100
            metered = category == "token_api"
            invoiced = not metered and rng.random() < 0.9
            expenses.append(
                Expense(
                    category,
                    amount,
                    date(year, month, rng.randrange(1, 28)),
                    f"INV{i}-{month}-{category}" if invoiced else None,
                    "91330100MA0000001X" if invoiced else None,
                    metered,
                )
            )
    return CompanyFacts(
        company_id=f"c{i}",
        kind="operator" if operator else "opc",
        registered_on=date(year - rng.randrange(0, 6), rng.randrange(1, 13), 1),
        verified=rng.random() < 0.8,
        city=city,
        district=district,
        community="社区" if rng.random() < 0.7 else None,
        residency_since=date(year - 1, 6, 1),
        headcount=rng.randrange(1, 4),
        expenses=tuple(expenses),
        evidence=frozenset({"compute_contract", "model_contract"}) if rng.random() < 0.5 else frozenset(),
        extra={"yongjia_project": rng.random() < 0.1},
    )


def _worker(start: int, stop: int, year: int, barrier: Any, out: Any) -> None:
    plans = [Plan(p) for p in load_all()]  # compiled once per worker
    t0 = time.perf_counter()
    companies = [make_company(i, year) for i in range(start, stop)]
    generated = time.perf_counter() - t0
    barrier.wait()
    period = Period.year(year)
    t1 = time.perf_counter()
    eligible = 0
    total = Decimal(0)
    for facts in companies:
        for result in evaluate_many(plans, facts, period):
            if result.eligible:
                eligible += 1
                total += result.amount
    out.put((generated, time.perf_counter() - t1, eligible, str(total)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--year", type=int, default=2026)
    args = parser.parse_args()
    n, workers = args.companies, max(1, args.workers)
    policies = load_all()
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(workers + 1)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(n * k // workers, n * (k + 1) // workers, args.year, barrier, out))
        for k in range(workers)
    ]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=3600)  # every worker has generated its companies
    t0 = time.perf_counter()
    results = [out.get() for _ in procs]
    wall = time.perf_counter() - t0
    for proc in procs:
        proc.join()
    generated = max(r[0] for r in results)
    eligible = sum(r[2] for r in results)
    total = sum((Decimal(r[3]) for r in results), Decimal(0))
    print(
        f"  (workers={workers}; data generation {generated:.1f} s, not counted; "
        f"eligible results={eligible}; total amount ¥{total:,.2f})"
    )
    print(
        f"policies: companies={n} policies={len(policies)} seconds={wall:.2f} per_company_ms={wall * 1000 / n:.3f}"
    )


if __name__ == "__main__":
    main()
