"""Property-based tests of the Django layer (hypothesis), through the real services and the ledger:

* a distribution's shares sum exactly to the amount received, none exceeds its member's eligible amount (its
  cap), none is negative — and the ledger moved exactly that;
* the same invoice is never claimed, across batches of policies sharing a stacking group, beyond what the
  group's stacking limit allows;
* submitting a batch (any number of times, mixed with other steps) has one effect.

Each example runs in a savepoint that is rolled back, so examples do not see each other's rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditRecord
from core.errors import DomainError, InvalidTransition
from core.testing import World, make_org, make_user
from ledger import selectors as ledger_selectors
from ledger.models import Entry
from organisations.capabilities import OrgKind
from subsidies import catalog, services
from subsidies.engine import Period
from subsidies.engine.loader import parse_policy
from subsidies.engine.money import floor_fen
from subsidies.models import BatchStatus, ClaimBatch, ClaimLine, Payout
from subsidies.tests.helpers import HAISHU, approved, consent, expense, invoice_number

pytestmark = pytest.mark.django_db
D = Decimal
Q1 = Period.quarter(2026, 1)
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@contextmanager
def rolled_back() -> Iterator[None]:
    """A savepoint around one example, always rolled back."""
    sid = transaction.savepoint()
    try:
        yield
    finally:
        transaction.savepoint_rollback(sid)


# -- distribution ------------------------------------------------------------------------------------------------

fen = st.integers(min_value=1, max_value=10**9).map(lambda n: D(n) / 100)


@st.composite
def claims(draw: st.DrawFn) -> tuple[list[Decimal], Decimal, Decimal, list[str]]:
    eligible = draw(st.lists(fen, min_size=1, max_size=8))
    claimed = sum(eligible, D("0.00"))
    approved_cents = draw(st.integers(min_value=1, max_value=int(claimed * 100)))
    received_cents = draw(st.integers(min_value=1, max_value=approved_cents))
    payouts = draw(
        st.lists(st.sampled_from(["cash", "quota"]), min_size=len(eligible), max_size=len(eligible))
    )
    return eligible, D(approved_cents) / 100, D(received_cents) / 100, payouts


@given(case=claims())
@settings(max_examples=40, deadline=None, suppress_health_check=HEALTH)
def test_distribution_is_exact_capped_and_non_negative(
    world: World, case: tuple[list[Decimal], Decimal, Decimal, list[str]]
) -> None:
    eligible, approved_amount, received, payouts = case
    with rolled_back():
        members = [
            make_org(OrgKind.OPC, f"成员{i}", make_user(f"p{i}"), community=world.community)
            for i in range(len(eligible))
        ]
        batch = ClaimBatch.objects.create(
            operator=world.operator,
            policy_id=HAISHU,
            policy_version="t",
            policy_title="t",
            period_label=str(Q1),
            period_start=Q1.start,
            period_end=Q1.end,
            status=BatchStatus.UNDER_REVIEW,
            submitted_at=timezone.now() - dt.timedelta(days=3),
            claimed_amount=sum(eligible, D("0.00")),
            created_by=world.operator_user,
        )
        for org, amount, payout in zip(members, eligible, payouts, strict=True):
            ClaimLine.objects.create(
                batch=batch,
                organisation=org,
                policy_id=HAISHU,
                period_start=Q1.start,
                period_end=Q1.end,
                eligible_amount=amount,
                payout=payout,
            )
        services.approve_batch(batch=batch, actor=world.operator_user, amount=approved_amount)
        services.record_funds(batch=batch, actor=world.operator_user, amount=received)
        done = services.distribute_batch(batch=batch, actor=world.operator_user)
        lines = list(done.lines.all())
        assert sum((line.share for line in lines), D("0.00")) == received == done.distributed_amount
        for line in lines:
            assert line.share is not None and D(0) <= line.share <= line.eligible_amount
            assert line.share == line.share.quantize(D("0.01"))
        # the ledger paid exactly the shares, each into the account the member chose, and the pool is empty
        entries = Entry.objects.filter(transaction=done.distribution_transaction).select_related("account")
        paid = defaultdict(lambda: D("0.00"))
        for entry in entries:
            if entry.account.owner_id != world.operator.pk:
                paid[(entry.account.owner_id, entry.account.purpose)] += entry.amount
        expected = {
            (line.organisation_id, "quota" if line.payout == Payout.QUOTA else "available"): line.share
            for line in lines
            if line.share
        }
        assert dict(paid) == expected
        assert services.subsidy_pool(world.operator).balance == 0
        assert ledger_selectors.ledger_is_balanced()


# -- stacking across batches -------------------------------------------------------------------------------------


def _stacked_policy(pid: str, rate: Decimal, stack: Decimal) -> Any:
    start = dt.date(2025, 1, 1)
    return parse_policy(
        {
            "id": pid,
            "version": "1",
            "title": pid,
            "instrument": "compute_voucher",
            "issuer": "test",
            "document": {"title": "test"},
            "sources": {"s": {"title": "test"}},
            "effective": {"from": start},
            "parameters": {
                "rate": {
                    "label": "rate",
                    "unit": "rate",
                    "values": [{"value": rate, "from": start, "source": "s"}],
                },
                "stack": {
                    "label": "stack",
                    "unit": "rate",
                    "values": [{"value": stack, "from": start, "source": "s"}],
                },
            },
            "formula": {
                "kind": "spend",
                "terms": [{"label": "c", "categories": ["compute"], "rate": "rate"}],
            },
            "stacking": {"group": "g", "max_rate": "stack"},
            "application": {"applicants": ["operator"], "payee": "company", "benefit": "cash"},
        },
        f"{pid}.yaml",
    )


rates = st.sampled_from(["0.10", "0.20", "0.30", "0.50", "0.60", "0.333", "1.00"]).map(D)
invoice_amounts = st.lists(
    st.integers(min_value=1, max_value=10**7).map(lambda n: D(n) / 100), min_size=1, max_size=4
)


@given(rate_a=rates, rate_b=rates, stack=rates, amounts=invoice_amounts, order=st.booleans())
@settings(max_examples=25, deadline=None, suppress_health_check=HEALTH)
def test_an_invoice_is_never_claimed_beyond_the_stacking_limit(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    rate_a: Decimal,
    rate_b: Decimal,
    stack: Decimal,
    amounts: list[Decimal],
    order: bool,
) -> None:
    a, b = _stacked_policy("stack-a", rate_a, stack), _stacked_policy("stack-b", rate_b, stack)
    monkeypatch.setattr(catalog, "_policies", lambda: {"stack-a": a, "stack-b": b})
    with rolled_back():
        for amount in amounts:
            approved(world, amount=str(amount), day=dt.date(2026, 2, 3))
        consent(world, policy="stack-a")
        consent(world, policy="stack-b")
        opened = []
        for policy in (a, b) if order else (b, a):
            with suppress(DomainError):  # nothing left to claim under the limit
                opened.append(
                    services.open_batch(
                        operator=world.operator, policy=policy, period=Q1, actor=world.operator_user
                    )
                )
        claimed: dict[str, Decimal] = defaultdict(lambda: D("0.00"))
        for line in ClaimLine.objects.filter(active=True):
            assert line.stacking_group == "g"
            for key, share in line.invoice_allocations.items():
                claimed[key] += D(share)
            assert sum((D(s) for s in line.invoice_allocations.values()), D("0.00")) == line.eligible_amount
        for e in world.opc.subsidy_expenses.all():
            key = f"{e.seller_uscc}:{e.invoice_key}"
            assert claimed[key] <= floor_fen(stack * e.amount), (key, claimed[key], e.amount)
        # and refusing the first batch gives its headroom back to a new one
        if opened:
            first = opened[0]
            services.cancel_batch(batch=first, actor=world.operator_user)
            assert not ClaimLine.objects.filter(batch=first, active=True).exists()


# -- submitting twice --------------------------------------------------------------------------------------------

steps = st.lists(st.sampled_from(["submit", "submit", "refresh", "review", "cancel"]), min_size=1, max_size=6)


@given(sequence=steps)
@settings(max_examples=12, deadline=None, suppress_health_check=HEALTH)
def test_submitting_a_batch_has_one_effect(world: World, sequence: list[str]) -> None:
    with rolled_back():
        approved(world, amount="800.00")
        consent(world)
        batch = services.open_batch(
            operator=world.operator, policy=catalog.get_policy(HAISHU), period=Q1, actor=world.operator_user
        )
        first_submission = None
        for step in sequence:
            try:
                if step == "submit":
                    batch = services.submit_batch(batch=batch, actor=world.operator_user)
                    if first_submission is None:
                        first_submission = (batch.submitted_at, batch.pdf_sha256, batch.xlsx_sha256)
                    assert (batch.submitted_at, batch.pdf_sha256, batch.xlsx_sha256) == first_submission
                elif step == "refresh":
                    batch = services.refresh_batch(batch=batch, actor=world.operator_user)
                elif step == "review":
                    batch = services.start_review(batch=batch, actor=world.operator_user)
                else:
                    batch = services.cancel_batch(batch=batch, actor=world.operator_user)
            except InvalidTransition:
                batch.refresh_from_db()
        submitted = AuditRecord.objects.filter(
            action="subsidies.batch_submitted", object_id=str(batch.pk)
        ).count()
        assert submitted == (1 if first_submission is not None else 0)
        assert ClaimLine.objects.filter(batch=batch).count() == 1
        batch.refresh_from_db()
        if first_submission is not None:
            assert batch.submitted_at == first_submission[0]


def test_a_different_invoice_number_is_a_different_invoice(world: World) -> None:
    """(Sanity for the stacking test: keys are seller + invoice.)"""
    e = expense(world.opc, world.opc_user, number=invoice_number())
    assert e.invoice_key.startswith(":")
