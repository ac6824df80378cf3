"""The policy model: what a YAML file in ``subsidies/policies`` becomes after ``loader.load_policy``.

All numbers are ``Decimal``; every number a rule uses is a :class:`Parameter` whose values are keyed by the
date they take effect and carry the key of the source (document, article, URL) they come from.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Instrument(StrEnum):
    COMPUTE_VOUCHER = "compute_voucher"  # 算力券 / 训力券
    MODEL_VOUCHER = "model_voucher"  # 模型券
    CORPUS_VOUCHER = "corpus_voucher"  # 语料券
    SMART_VOUCHER = "smart_voucher"  # 智能券
    TOKEN_QUOTA = "token_quota"  # 词元额度
    WORKSTATION_RENT = "workstation_rent"  # 零租金工位
    COMMUTE_VOUCHER = "commute_voucher"  # 通勤券
    STARTUP_GRANT = "startup_grant"  # 创业补助
    OPERATOR_SUBSIDY = "operator_subsidy"  # 运营机构补贴
    LEGAL_SERVICE = "legal_service"  # 免费法务服务


INSTRUMENT_LABELS: dict[str, str] = {
    "compute_voucher": "算力券",
    "model_voucher": "模型券",
    "corpus_voucher": "语料券",
    "smart_voucher": "智能券",
    "token_quota": "词元额度",
    "workstation_rent": "零租金工位",
    "commute_voucher": "通勤券",
    "startup_grant": "创业补助",
    "operator_subsidy": "运营机构补贴",
    "legal_service": "免费法务服务",
}


class Role(StrEnum):
    COMPANY = "company"  # the company that used / paid for the service
    OPERATOR = "operator"  # the community operator, on its members' behalf


class Benefit(StrEnum):
    CASH = "cash"
    QUOTA = "quota"  # credited as token quota (CNY value)
    IN_KIND = "in_kind"  # e.g. a zero-rent workstation, valued in CNY
    SERVICE = "service"  # e.g. free legal service, valued in CNY


class Mode(StrEnum):
    AUTO = "免申即享"  # paid without application: scope, standard and data are all on the platform
    QUICK = "快申快享"  # apply, with the listed missing evidence
    NONE = "不适用"  # not eligible


# ---------------------------------------------------------------------------------------------- periods


_PERIOD_RE = re.compile(r"^(\d{4})(?:-(\d{2})|-Q([1-4]))?$")


@dataclass(frozen=True, slots=True)
class Period:
    """A closed date interval ``[start, end]``; months, quarters and years have helpers."""

    start: date
    end: date
    label: str = ""

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        last = calendar.monthrange(year, month)[1]
        return cls(date(year, month, 1), date(year, month, last), f"{year}-{month:02d}")

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        first = 3 * (quarter - 1) + 1
        last_month = first + 2
        return cls(
            date(year, first, 1),
            date(year, last_month, calendar.monthrange(year, last_month)[1]),
            f"{year}-Q{quarter}",
        )

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(date(year, 1, 1), date(year, 12, 31), str(year))

    @classmethod
    def parse(cls, value: Any) -> Period:
        """``2025``, ``"2025-03"``, ``"2025-Q1"`` or ``{from: 2025-01-01, to: 2025-06-30}``."""
        if isinstance(value, Period):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls.year(value)
        if isinstance(value, str):
            match = _PERIOD_RE.match(value.strip())
            if not match:
                raise ValueError(f"“{value}” is not a period (2025, 2025-03, 2025-Q1)")
            year = int(match.group(1))
            if match.group(2):
                return cls.month(year, int(match.group(2)))
            if match.group(3):
                return cls.quarter(year, int(match.group(3)))
            return cls.year(year)
        if (
            isinstance(value, dict)
            and isinstance(value.get("from"), date)
            and isinstance(value.get("to"), date)
        ):
            return cls(value["from"], value["to"], f"{value['from']}…{value['to']}")
        raise ValueError(f"{value!r} is not a period")

    def intersect(self, start: date | None, end: date | None) -> Period | None:
        lo = max(self.start, start) if start else self.start
        hi = min(self.end, end) if end else self.end
        if hi < lo:
            return None
        return Period(lo, hi, self.label)

    @property
    def month_aligned(self) -> bool:
        return self.start.day == 1 and (self.end + timedelta(days=1)).day == 1

    @property
    def first_month(self) -> int:
        return self.start.year * 12 + self.start.month - 1

    @property
    def last_month(self) -> int:
        return self.end.year * 12 + self.end.month - 1

    def __str__(self) -> str:
        return self.label or f"{self.start}…{self.end}"


# ---------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class Source:
    key: str
    title: str
    url: str | None = None
    issuer: str | None = None
    number: str | None = None  # 文号, e.g. 川办函〔2024〕17号
    note: str | None = None

    def cite(self) -> str:
        return self.url or self.title


@dataclass(frozen=True, slots=True)
class ParameterVersion:
    value: Decimal
    effective_from: date
    source: str  # key into Policy.sources
    placeholder: bool = False  # a made-up number (illustrative policy)
    uncertain: str | None = None  # why the published number is not certain


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    label: str
    unit: str  # rate | cny | years | count
    versions: tuple[ParameterVersion, ...]  # sorted by effective_from
    _starts: tuple[date, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(v.effective_from for v in self.versions))

    def at(self, day: date) -> ParameterVersion | None:
        """The version in force on ``day`` (the latest one that took effect on or before it)."""
        index = bisect_right(self._starts, day)
        return self.versions[index - 1] if index else None


UNITS = ("rate", "cny", "years", "count")


@dataclass(frozen=True, slots=True)
class ParamRef:
    """A parameter, optionally switched by conditions: the first rule whose condition holds wins."""

    param: str
    rules: tuple[tuple[Condition, str], ...] = ()


# ---------------------------------------------------------------------------------------------- conditions

FACT_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "intersects", "exists")


@dataclass(frozen=True, slots=True)
class FactCondition:
    fact: str
    op: str
    value: Any  # Decimal | str | date | bool | tuple | ParamRef | None
    label: str | None = None
    evidence: str | None = None  # what to supply when the fact is unknown on the platform


@dataclass(frozen=True, slots=True)
class RegisteredWithin:
    """Registered no more than ``years`` before the end of the evaluated period."""

    years: ParamRef
    label: str | None = None
    evidence: str | None = None


@dataclass(frozen=True, slots=True)
class SpendCondition:
    """A comparison over the company's spend in some categories, in the period or its calendar year."""

    categories: tuple[str, ...]
    op: str
    value: ParamRef
    window: str = "year"  # period | year
    label: str | None = None


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[Condition, ...]
    label: str | None = None


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Condition, ...]
    label: str | None = None


@dataclass(frozen=True, slots=True)
class NotOf:
    item: Condition
    label: str | None = None


Condition = FactCondition | RegisteredWithin | SpendCondition | AllOf | AnyOf | NotOf


# ---------------------------------------------------------------------------------------------- formula


@dataclass(frozen=True, slots=True)
class Term:
    """``rate × Σ eligible spend`` over expenses in ``categories`` (``compute`` matches ``compute.gpu``)."""

    label: str
    categories: tuple[str, ...]
    rate: ParamRef
    requires_invoice: bool = True  # 无票失补: expenses without an invoice do not count …
    accepts_metered: bool = False  # … unless metered on the platform (gateway statements) and allowed here
    weekends_only: bool = False


@dataclass(frozen=True, slots=True)
class Formula:
    """``spend``: Σ terms; ``fixed``: one amount; ``monthly``: amount × months in the period (residency)."""

    kind: str  # spend | fixed | monthly
    terms: tuple[Term, ...] = ()
    amount: ParamRef | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Caps:
    per_period: ParamRef | None = None
    per_year: ParamRef | None = None  # per company per calendar year, net of prior payouts that year
    lifetime_years: ParamRef | None = None  # at most N distinct calendar years of payouts
    lifetime_amount: ParamRef | None = None
    minimum: ParamRef | None = None  # below this nothing is paid


@dataclass(frozen=True, slots=True)
class Stacking:
    """Policies in one group share each invoice: together they pay at most ``max_rate`` of it."""

    group: str
    max_rate: ParamRef
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Application:
    applicants: tuple[Role, ...]
    payee: Role
    benefit: Benefit
    evidence: tuple[Evidence, ...] = ()
    auto_allowed: bool = True  # 免申即享 possible when all evidence is on the platform
    payout_working_days: int | None = None
    note: str | None = None
    # How a member may take its share when the operator redistributes (``benefit`` first); e.g. a cash subsidy
    # that the policy lets members take as token quota instead: ``(cash, quota)``.
    payout_options: tuple[Benefit, ...] = ()

    @property
    def payouts(self) -> tuple[Benefit, ...]:
        return self.payout_options or (self.benefit,)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    period: Period
    facts: dict[str, Any]
    expect: dict[str, Any]
    applicant: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    version: str
    title: str
    instrument: Instrument
    issuer: str
    document_title: str
    document_number: str | None
    sources: dict[str, Source]
    effective_from: date
    effective_to: date | None
    parameters: dict[str, Parameter]
    eligibility: Condition | None
    formula: Formula
    caps: Caps
    stacking: Stacking | None
    application: Application
    illustrative: bool = False
    uncertain: tuple[str, ...] = ()
    region: dict[str, str] = field(default_factory=dict)
    cases: tuple[Case, ...] = ()
    path: str = ""
