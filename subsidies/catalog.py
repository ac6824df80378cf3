"""The policies the platform knows: every file in ``subsidies/policies/``, loaded and compiled once per process.

Batches record the policy ``id`` and ``version`` they were computed with, so a later change of a policy file
does not silently change what an old batch claimed.
"""

from __future__ import annotations

import functools
from datetime import date

from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, NotFound
from subsidies.engine import Period, Plan, Policy, Role, compile_policy, load_all
from subsidies.engine.schema import INSTRUMENT_LABELS, Benefit


@functools.cache
def _policies() -> dict[str, Policy]:
    return {p.id: p for p in load_all()}


def policies() -> list[Policy]:
    """All policies, in file order (the order in which stacking groups fill an invoice)."""
    return list(_policies().values())


def get_policy(policy_id: str) -> Policy:
    policy = _policies().get(str(policy_id))
    if policy is None:
        raise NotFound(_("There is no policy “%(id)s”.") % {"id": str(policy_id)[:80]})
    return policy


def plan(policy: Policy) -> Plan:
    return compile_policy(policy)


def plans() -> list[Plan]:
    return [compile_policy(p) for p in policies()]


def operator_applies(policy: Policy) -> bool:
    """The operator may apply on its members' behalf (the middle layer)."""
    return Role.OPERATOR in policy.application.applicants


def company_applies(policy: Policy) -> bool:
    return Role.COMPANY in policy.application.applicants


def quota_allowed(policy: Policy) -> bool:
    return Benefit.QUOTA in policy.application.payouts


def cash_allowed(policy: Policy) -> bool:
    return Benefit.CASH in policy.application.payouts


def paid_in_ledger(policy: Policy) -> bool:
    """Cash or quota: amounts that move through the ledger (in-kind and service benefits are valued, not paid)."""
    return bool({Benefit.CASH, Benefit.QUOTA} & set(policy.application.payouts))


def own_claim(policy: Policy) -> bool:
    """A subsidy to the operating organisation itself (operation, rent, events)."""
    return policy.application.payee is Role.OPERATOR and policy.instrument.value == "operator_subsidy"


def instrument_label(policy: Policy) -> str:
    return INSTRUMENT_LABELS[policy.instrument.value]


def parse_period(raw: str | None, *, default: Period | None = None) -> Period:
    """``2026``, ``2026-04`` or ``2026-Q2`` (the default: the current year)."""
    text = (raw or "").strip()
    if not text:
        return default or Period.year(timezone.localdate().year)
    try:
        period = Period.parse(int(text) if text.isdigit() else text)
    except ValueError:
        raise DomainError(
            _("“%(value)s” is not a period: give a year (2026), a month (2026-04) or a quarter (2026-Q2).")
            % {"value": text[:20]}
        ) from None
    if not (2000 <= period.start.year <= 2100):
        raise DomainError(_("The period must lie between the years 2000 and 2100."))
    return period


def period_choices(today: date | None = None) -> list[str]:
    """Labels offered in period pickers: this and last year, their quarters and the last twelve months."""
    today = today or timezone.localdate()
    labels = [str(today.year), str(today.year - 1)]
    labels += [f"{today.year}-Q{q}" for q in range(1, (today.month - 1) // 3 + 2)]
    months = []
    year, month = today.year, today.month
    for _i in range(12):
        months.append(f"{year}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return labels + months
