"""What the engine knows about one company. ``None`` means *not known on the platform*: a condition over an
unknown fact is neither met nor failed, it becomes missing evidence (快申快享)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

KNOWN_FACTS = frozenset(
    {
        "kind",  # opc | operator | client | provider
        "registered_on",
        "verified",
        "city",
        "district",
        "community",
        "residency_since",
        "skills",
        "headcount",
        "talent_level",
    }
)


@dataclass(frozen=True, slots=True)
class Expense:
    category: str  # compute, compute.training, model_api, corpus, token_api, train_ticket, rent, …
    amount: Decimal
    day: date
    invoice_id: str | None = None
    seller_uscc: str | None = None
    metered: bool = False  # measured on the platform (token gateway statements)

    @property
    def invoice_key(self) -> str | None:
        """One invoice is identified by its seller and its number."""
        if not self.invoice_id:
            return None
        return f"{self.seller_uscc or '?'}:{self.invoice_id}"


@dataclass(frozen=True, slots=True)
class PriorPayout:
    policy: str
    year: int
    amount: Decimal


# Buckets of the per-month spend index.
INVOICED, METERED, BARE = 0, 1, 2


@dataclass(slots=True)
class CompanyFacts:
    company_id: str
    kind: str | None = "opc"
    registered_on: date | None = None
    verified: bool | None = None
    city: str | None = None
    district: str | None = None
    community: str | None = None
    residency_since: date | None = None
    skills: frozenset[str] | None = None
    headcount: int | None = None
    talent_level: str | None = None
    expenses: tuple[Expense, ...] = ()
    prior_payouts: tuple[PriorPayout, ...] = ()
    # invoice key → stacking group → amount already paid on that invoice by policies of that group
    prior_invoice_claims: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    evidence: frozenset[str] = frozenset()  # evidence held on the platform (contract, gateway statement, …)
    extra: Mapping[str, Any] = field(default_factory=dict)
    _index: dict[tuple[str, int], list[Decimal]] | None = field(default=None, repr=False)
    _categories: tuple[str, ...] = field(default=(), repr=False)

    def fact(self, name: str) -> Any:
        if name.startswith("extra."):
            return self.extra.get(name[6:])
        return getattr(self, name)

    def spend_index(self) -> dict[tuple[str, int], list[Decimal]]:
        """(category, month number) → [invoiced, metered without invoice, neither], built once."""
        if self._index is None:
            index: dict[tuple[str, int], list[Decimal]] = {}
            for expense in self.expenses:
                key = (expense.category, expense.day.year * 12 + expense.day.month - 1)
                bucket = index.get(key)
                if bucket is None:
                    bucket = index[key] = [Decimal(0), Decimal(0), Decimal(0)]
                slot = INVOICED if expense.invoice_id else METERED if expense.metered else BARE
                bucket[slot] += expense.amount
            self._index = index
            self._categories = tuple(sorted({e.category for e in self.expenses}))
        return self._index

    @property
    def categories(self) -> tuple[str, ...]:
        self.spend_index()
        return self._categories


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError(f"{where}: give amounts as strings or integers, not {type(value).__name__}")
    try:
        return Decimal(str(value).replace(",", ""))
    except Exception:
        raise ValueError(f"{where}: “{value}” is not a number") from None


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: “{value}” is not a date (YYYY-MM-DD)") from None


def facts_from_mapping(data: Mapping[str, Any], *, company_id: str = "case") -> CompanyFacts:
    """Build facts from a plain mapping (YAML test cases, fixtures). Unknown keys are refused."""
    allowed = KNOWN_FACTS | {
        "company_id",
        "expenses",
        "prior_payouts",
        "prior_invoice_claims",
        "evidence",
        "extra",
    }
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"facts: unknown fields {', '.join(unknown)}")
    expenses = []
    for i, row in enumerate(data.get("expenses") or ()):
        where = f"facts.expenses[{i}]"
        bad = sorted(set(row) - {"category", "amount", "date", "invoice", "seller", "metered"})
        if bad:
            raise ValueError(f"{where}: unknown fields {', '.join(bad)}")
        expenses.append(
            Expense(
                category=str(row["category"]),
                amount=_decimal(row["amount"], f"{where}.amount"),
                day=_date(row["date"], f"{where}.date"),
                invoice_id=str(row["invoice"]) if row.get("invoice") is not None else None,
                seller_uscc=str(row["seller"]) if row.get("seller") is not None else None,
                metered=bool(row.get("metered", False)),
            )
        )
    payouts = tuple(
        PriorPayout(str(p["policy"]), int(p["year"]), _decimal(p["amount"], f"facts.prior_payouts[{i}]"))
        for i, p in enumerate(data.get("prior_payouts") or ())
    )
    claims = {
        str(inv): {str(g): _decimal(a, f"facts.prior_invoice_claims.{inv}") for g, a in groups.items()}
        for inv, groups in (data.get("prior_invoice_claims") or {}).items()
    }
    skills = data.get("skills")
    return CompanyFacts(
        company_id=str(data.get("company_id", company_id)),
        kind=data.get("kind", "opc"),
        registered_on=_date(data["registered_on"], "facts.registered_on")
        if data.get("registered_on") is not None
        else None,
        verified=data.get("verified"),
        city=data.get("city"),
        district=data.get("district"),
        community=data.get("community"),
        residency_since=_date(data["residency_since"], "facts.residency_since")
        if data.get("residency_since") is not None
        else None,
        skills=frozenset(skills) if skills is not None else None,
        headcount=data.get("headcount"),
        talent_level=data.get("talent_level"),
        expenses=tuple(expenses),
        prior_payouts=payouts,
        prior_invoice_claims=claims,
        evidence=frozenset(_as_list(data.get("evidence"))),
        extra=dict(data.get("extra") or {}),
    )


def _as_list(value: Any) -> Iterable[str]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return (str(v) for v in value)
