"""Real parallel connections against PostgreSQL: seats, the waitlist and check-in under races.

Each worker thread has its own database connection (connections are thread-local) and closes it at the end;
a barrier releases all workers at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from core.errors import Conflict
from core.testing import build_world
from events import services, tickets
from events.models import Registration, RegistrationRole, RegistrationStatus
from events.tests.helpers import make_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 40  # PostgreSQL's default max_connections is 100


def run_in_parallel(task: Callable[[int], Any], count: int, workers: int = WORKERS) -> list[Any]:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (real parallel connections)")
    results: list[Any] = [None] * count
    barrier = threading.Barrier(workers)

    def worker(w: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(w, count, workers):
                try:
                    results[i] = task(i)
                except Exception as exc:
                    results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    return results


def test_120_parallel_sign_ups_for_40_seats_confirm_exactly_40() -> None:
    world = build_world()
    event = make_event(world, capacity=40)
    results = run_in_parallel(
        lambda i: services.register(event=event, name=f"来宾{i}", actor=None, contact=f"139{i:08d}"), 120
    )
    assert not [r for r in results if isinstance(r, Exception)]
    regs = Registration.objects.filter(event=event, role=RegistrationRole.ATTENDEE)
    assert regs.filter(status=RegistrationStatus.CONFIRMED).count() == 40
    assert regs.filter(status=RegistrationStatus.WAITLISTED).count() == 80
    # The waitlist is in sign-up order: nobody confirmed signed up after someone waiting.
    last_confirmed = max(
        regs.filter(status=RegistrationStatus.CONFIRMED).values_list("created_at", flat=True)
    )
    first_waiting = min(
        regs.filter(status=RegistrationStatus.WAITLISTED).values_list("created_at", flat=True)
    )
    assert last_confirmed <= first_waiting


def test_parallel_cancellations_promote_one_waiting_person_each() -> None:
    world = build_world()
    event = make_event(world, capacity=20)
    regs = [
        services.register(event=event, name=f"来宾{i}", actor=None, contact=f"138{i:08d}") for i in range(60)
    ]
    confirmed = [r for r in regs if r.status == RegistrationStatus.CONFIRMED]
    results = run_in_parallel(
        lambda i: services.cancel_registration(registration=confirmed[i], actor=None), 20, workers=20
    )
    assert not [r for r in results if isinstance(r, Exception)]
    promoted = [p.pk for _c, ps in results for p in ps]
    assert len(promoted) == len(set(promoted)) == 20
    status = dict(Registration.objects.filter(event=event).values_list("pk", "status"))
    assert sum(1 for s in status.values() if s == RegistrationStatus.CONFIRMED) == 20
    # Exactly the 20 earliest waiting sign-ups moved up.
    assert sorted(promoted) == [r.pk for r in regs[20:40]]


def test_the_same_ticket_scanned_at_two_doors_checks_in_once() -> None:
    world = build_world()
    event = make_event(world)
    reg = services.register(event=event, name="来宾", actor=None, contact="13900000000")
    code = tickets.sign(reg.code)
    results = run_in_parallel(
        lambda i: services.check_in(event=event, code_text=code, actor=world.operator_user), 20, workers=20
    )
    assert sum(1 for r in results if isinstance(r, Registration)) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Registration))
