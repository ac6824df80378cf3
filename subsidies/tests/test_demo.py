"""The subsidy demo data on top of the base demo (other apps' demo data left out)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from accounts.models import User
from core import extensions
from core.demo import load_demo
from ledger import selectors as ledger_selectors
from ledger.services import account_for
from subsidies import demo_data
from subsidies.models import BatchStatus, ClaimBatch, Expense, ExpenseStatus

pytestmark = pytest.mark.django_db


def test_demo_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extensions, "load_app_demos", lambda rng: None)
    load_demo()
    demo_data.load(random.Random(2026))
    demo_data.load(random.Random(2026))  # a second run adds nothing

    org = User.objects.get(email="opc@demo.cn").memberships.get().organisation
    mine = Expense.objects.filter(organisation=org)
    assert mine.filter(status=ExpenseStatus.APPROVED).count() >= 10
    assert mine.filter(category="train_ticket").count() == 3
    duplicate = Expense.objects.get(status=ExpenseStatus.REJECTED)
    assert duplicate.duplicate_of is not None and duplicate.duplicate_of.organisation == org
    assert Expense.objects.filter(status=ExpenseStatus.SUBMITTED).exists()

    done = ClaimBatch.objects.get(status=BatchStatus.DISTRIBUTED)
    assert ClaimBatch.objects.filter(status=BatchStatus.UNDER_REVIEW).count() == 1
    assert done.payout_days == 72
    assert sum(line.share for line in done.lines.all()) == done.received_amount
    line = done.lines.get(organisation=org)
    assert line.payout == "quota" and line.share > 0
    assert account_for(owner=org, purpose="quota").balance >= line.share
    assert done.received_amount < done.claimed_amount  # approved for less
    assert done.package_pdf and done.pdf_sha256
    assert ledger_selectors.ledger_is_balanced()
    assert Decimal(0) < done.received_amount
