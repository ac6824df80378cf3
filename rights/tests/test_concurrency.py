"""Real parallel connections against PostgreSQL: registrations racing for the chain head, and the same
compensation recorded from several connections at once."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from core.testing import make_org, make_user
from ledger import selectors as ledger_selectors
from ledger.models import Account, Purpose
from organisations.capabilities import OrgKind, OrgSubkind
from rights import chain, services, synthetic
from rights.models import ChainEntry, Compensation, WorkStatus
from rights.tests.helpers import register, upload

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_in_parallel(task: Callable[[int], Any], count: int) -> list[Any]:
    if connection.vendor != "postgresql":  # the marker already skips elsewhere
        pytest.skip("needs PostgreSQL (real parallel connections)")
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = task(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    return results


def test_parallel_registrations_form_one_unbroken_chain() -> None:
    user = make_user("race-opc")
    opc = make_org(OrgKind.OPC, "并发登记工作室", user)
    count = 16
    works = [
        register(
            opc, user, synthetic.image_bytes(500 + i, width=160, height=120), name=f"{i}.png", process=False
        )
        for i in range(count)
    ]
    results = run_in_parallel(lambda i: services.process_work(work_id=works[i].pk, certificate=False), count)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert all(r.status == WorkStatus.REGISTERED for r in results)
    entries = list(ChainEntry.objects.order_by("sequence"))
    assert [e.sequence for e in entries] == list(range(1, count + 1))
    assert {e.work_id for e in entries} == {w.pk for w in works}
    for previous, entry in itertools.pairwise(entries):
        assert entry.previous_hash == previous.entry_hash
    report = chain.verify_chain()
    assert report.ok and report.entries == count, report.problems


def test_the_same_compensation_from_many_connections_is_recorded_once() -> None:
    user = make_user("race-holder")
    opc = make_org(OrgKind.OPC, "并发维权工作室", user)
    agent = make_user("race-agent")
    agency = make_org(OrgKind.PROVIDER, "并发版权代理", agent, subkind=OrgSubkind.COPYRIGHT_AGENCY)
    data = synthetic.image_bytes(77)
    register(opc, user, data, name="w.png")
    scan = services.submit_scan(organisation=opc, actor=user, uploads=[upload(data, "c.png")])
    match = services.check_suspect(suspect_id=scan.suspects.get().pk).matches.get()
    case = services.open_case(match=match, organisation=opc, actor=user, agency=agency, agency_share="25")
    services.change_case_status(case=case, organisation=agency, actor=agent, status="accepted")

    def record(i: int) -> Any:
        return services.record_compensation(
            case=case,
            organisation=agency,
            actor=agent,
            amount="1234.56",
            payer="侵权方",
            idempotency_key="same-payment" if i % 2 == 0 else f"payment-{i}",
        )

    count = 12
    results = run_in_parallel(record, count)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({results[i].pk for i in range(0, count, 2)}) == 1
    assert Compensation.objects.count() == 1 + count // 2
    total = Decimal("1234.56") * (1 + count // 2)
    case.refresh_from_db()
    assert case.compensation_total == total
    agency_part = Account.objects.get(owner=agency, purpose=Purpose.AVAILABLE).balance
    creator_part = Account.objects.get(owner=opc, purpose=Purpose.AVAILABLE).balance
    assert agency_part == Decimal("308.64") * (1 + count // 2)
    assert agency_part + creator_part == total
    assert (
        ledger_selectors.ledger_is_balanced() and ledger_selectors.accounts_with_inconsistent_balance() == []
    )
