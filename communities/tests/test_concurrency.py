"""Real parallel connections against PostgreSQL: many operators' clicks assigning the same workstation at once
end in exactly one residency (row lock + the partial unique constraint), and batches of workstation codes
added at once never duplicate a code."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from communities.models import Residency, Workstation, WorkstationStatus
from communities.services import add_workstations, assign_workstation
from core.errors import Conflict
from core.testing import build_world, make_org, make_user
from organisations.capabilities import OrgKind
from organisations.models import VerificationStatus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 12


def run_together(task: Callable[[int], Any], workers: int = WORKERS) -> list[Any]:
    if connection.vendor != "postgresql":  # the marker already skips elsewhere
        pytest.skip("needs PostgreSQL (real parallel connections)")
    results: list[Any] = [None] * workers
    barrier = threading.Barrier(workers)

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            try:
                results[i] = task(i)
            except Exception as exc:
                results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    return results


def test_one_workstation_assigned_at_once_to_many_members() -> None:
    world = build_world()
    members = [
        make_org(
            OrgKind.OPC, f"并发工作室{i}", make_user(f"race{i}"), community=world.community, verified=True
        )
        for i in range(WORKERS)
    ]
    assert all(m.verification_status == VerificationStatus.VERIFIED for m in members)
    station = world.workstations[0]

    def assign(i: int) -> Residency:
        return assign_workstation(
            workstation=station,
            organisation=members[i],
            start_date=dt.date(2026, 1, 5),
            actor=world.operator_user,
        )

    results = run_together(assign)
    winners = [r for r in results if isinstance(r, Residency)]
    assert len(winners) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Residency)), results
    assert Residency.objects.filter(workstation=station).count() == 1
    assert Workstation.objects.get(pk=station.pk).status == WorkstationStatus.OCCUPIED


def test_overlapping_batches_at_once_never_duplicate_codes() -> None:
    world = build_world()

    def add(i: int) -> list[Workstation]:
        return add_workstations(
            community=world.community,
            actor=world.operator_user,
            zone="R",
            prefix="R-",
            first=1 + i,
            last=10 + i,
        )

    results = run_together(add)
    codes = list(
        Workstation.objects.filter(community=world.community, zone="R").values_list("code", flat=True)
    )
    assert len(codes) == len(set(codes))
    created = sum(len(r) for r in results if isinstance(r, list))
    assert created == len(codes)
    assert all(isinstance(r, list | Conflict) for r in results), results
