"""The first-year free legal service: legal tickets draw it down one consultation at a time, never past what
was granted (guarded UPDATE; real parallel connections on PostgreSQL), only within its year; the operator sets
it; a ticket cancelled before a provider took it gives its consultation back."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone, translation

from core.errors import Conflict, NotPermitted
from core.testing import World, build_world
from servicedesk import services
from servicedesk.models import LegalServiceQuota, Ticket
from servicedesk.tests.conftest import legal_ticket


@pytest.mark.django_db
def test_legal_tickets_draw_down_the_free_quota(world: World) -> None:
    legal_ticket(world)
    quota = LegalServiceQuota.objects.get(organisation=world.opc)
    assert (quota.granted, quota.used) == (services.DEFAULT_FREE_CONSULTATIONS, 1)
    assert quota.starts_on == timezone.localdate(world.opc.created_at)
    assert quota.ends_on - quota.starts_on == dt.timedelta(days=364)
    legal_ticket(world, free=False)
    quota.refresh_from_db()
    assert quota.used == 1


@pytest.mark.django_db
def test_used_up_quota_refuses_and_opens_nothing(world: World) -> None:
    services.grant_legal_quota(
        operator=world.operator, organisation=world.opc, actor=world.operator_user, consultations=1
    )
    legal_ticket(world)
    with translation.override("en"), pytest.raises(Conflict, match="used up"):
        legal_ticket(world)
    assert Ticket.objects.count() == 1
    assert LegalServiceQuota.objects.get(organisation=world.opc).used == 1


@pytest.mark.django_db
def test_quota_outside_its_first_year_refuses(world: World) -> None:
    start = timezone.localdate() - dt.timedelta(days=400)
    services.grant_legal_quota(
        operator=world.operator, organisation=world.opc, actor=None, consultations=6, starts_on=start
    )
    with pytest.raises(Conflict):
        legal_ticket(world)


@pytest.mark.django_db
def test_cancel_before_routing_gives_the_consultation_back(world: World) -> None:
    ticket = legal_ticket(world)
    services.act_on_ticket(ticket=ticket, organisation=world.opc, actor=world.opc_user, action="cancel")
    ticket.refresh_from_db()
    assert ticket.quota_returned
    assert LegalServiceQuota.objects.get(organisation=world.opc).used == 0


@pytest.mark.django_db
def test_only_the_members_operator_grants_and_never_below_what_is_used(world: World) -> None:
    legal_ticket(world)
    legal_ticket(world)
    with pytest.raises(NotPermitted):
        services.grant_legal_quota(
            operator=world.other_operator, organisation=world.opc, actor=None, consultations=10
        )
    with pytest.raises(Conflict):
        services.grant_legal_quota(
            operator=world.operator, organisation=world.opc, actor=None, consultations=1
        )
    quota = services.grant_legal_quota(
        operator=world.operator, organisation=world.opc, actor=None, consultations=12
    )
    assert quota.remaining == 10


WORKERS = 24
GRANTED = 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_legal_tickets_never_overdraw_the_quota() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (real parallel connections)")
    world = build_world()
    services.grant_legal_quota(
        operator=world.operator, organisation=world.opc, actor=None, consultations=GRANTED
    )
    barrier = threading.Barrier(WORKERS)
    results: list[Any] = [None] * WORKERS

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = legal_ticket(world, subject=f"并发 {i}").pk
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    opened = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(opened) == GRANTED and len(refused) == WORKERS - GRANTED, results
    assert LegalServiceQuota.objects.get(organisation=world.opc).used == GRANTED
    assert Ticket.objects.filter(uses_free_quota=True).count() == GRANTED
