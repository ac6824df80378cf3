"""YAML → :class:`~subsidies.engine.schema.Policy`, with errors that name the file and the field.

YAML floats are read as ``Decimal`` from their text (``0.30`` → ``Decimal("0.30")``), never through
``float``. Unknown keys are refused, so a misspelt field cannot silently drop a rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

import yaml

from .facts import KNOWN_FACTS
from .schema import (
    FACT_OPS,
    UNITS,
    AllOf,
    AnyOf,
    Application,
    Benefit,
    Caps,
    Case,
    Condition,
    Evidence,
    FactCondition,
    Formula,
    Instrument,
    NotOf,
    Parameter,
    ParameterVersion,
    ParamRef,
    Period,
    Policy,
    RegisteredWithin,
    Role,
    Source,
    SpendCondition,
    Stacking,
    Term,
)

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"
COMPARE_OPS = ("eq", "ne", "lt", "lte", "gt", "gte")


class PolicyError(ValueError):
    """A policy file is invalid; the message starts with ``file: field:``."""


class _Loader(yaml.SafeLoader):
    pass


def _decimal_scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation:
        raise yaml.constructor.ConstructorError(
            None, None, f"“{text}” is not a number", node.start_mark
        ) from None
    if not value.is_finite():
        raise yaml.constructor.ConstructorError(None, None, f"“{text}” is not finite", node.start_mark)
    return value


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal_scalar)


def read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


class _Ctx:
    def __init__(self, path: str) -> None:
        self.path = path
        self.params: set[str] = set()
        self.sources: set[str] = set()
        self.param_refs: list[tuple[str, str]] = []

    def fail(self, field: str, message: str) -> NoReturn:
        raise PolicyError(f"{self.path}: {field}: {message}")

    def mapping(
        self, value: Any, field: str, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, f"expected a mapping, got {type(value).__name__}")
        for key in required:
            if key not in value:
                self.fail(f"{field}.{key}" if field else key, "is required")
        unknown = sorted(str(k) for k in value if k not in required and k not in optional)
        if unknown:
            self.fail(field or "(top level)", f"unknown field(s) {', '.join(unknown)}")
        return value

    def text(self, value: Any, field: str, *, optional: bool = False) -> str:
        if value is None and optional:
            return ""
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            self.fail(field, "expected text")
        return str(value)

    def number(self, value: Any, field: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            if isinstance(value, str):
                try:
                    return Decimal(value.replace(",", ""))
                except InvalidOperation:
                    pass
            self.fail(field, f"expected a number, got {value!r}")
        return Decimal(value)

    def day(self, value: Any, field: str) -> date:
        if isinstance(value, date):
            return value
        self.fail(field, f"expected a date YYYY-MM-DD, got {value!r}")

    def listing(self, value: Any, field: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(field, f"expected a list, got {type(value).__name__}")
        return value


def _param_ref(ctx: _Ctx, value: Any, field: str) -> ParamRef:
    if isinstance(value, str):
        ctx.param_refs.append((value, field))
        return ParamRef(value)
    data = ctx.mapping(value, field, required=("param",), optional=("when",))
    rules = []
    for i, rule in enumerate(ctx.listing(data.get("when", []), f"{field}.when")):
        r = ctx.mapping(rule, f"{field}.when[{i}]", required=("if", "param"))
        cond = _condition(ctx, r["if"], f"{field}.when[{i}].if")
        name = ctx.text(r["param"], f"{field}.when[{i}].param")
        ctx.param_refs.append((name, f"{field}.when[{i}].param"))
        rules.append((cond, name))
    name = ctx.text(data["param"], f"{field}.param")
    ctx.param_refs.append((name, f"{field}.param"))
    return ParamRef(name, tuple(rules))


def _fact_value(ctx: _Ctx, op: str, value: Any, field: str) -> Any:
    if isinstance(value, dict):
        return _param_ref(ctx, value, field)
    if op in ("in", "not_in", "intersects"):
        return tuple(ctx.listing(value, field))
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def _condition(ctx: _Ctx, value: Any, field: str) -> Condition:
    if not isinstance(value, dict):
        ctx.fail(field, "expected a condition mapping")
    label = value.get("label")
    if "all" in value or "any" in value:
        key = "all" if "all" in value else "any"
        data = ctx.mapping(value, field, required=(key,), optional=("label",))
        items = tuple(
            _condition(ctx, item, f"{field}.{key}[{i}]")
            for i, item in enumerate(ctx.listing(data[key], f"{field}.{key}"))
        )
        if not items:
            ctx.fail(f"{field}.{key}", "needs at least one condition")
        return AllOf(items, label) if key == "all" else AnyOf(items, label)
    if "not" in value:
        data = ctx.mapping(value, field, required=("not",), optional=("label",))
        return NotOf(_condition(ctx, data["not"], f"{field}.not"), label)
    if "registered_within_years" in value:
        data = ctx.mapping(
            value, field, required=("registered_within_years",), optional=("label", "evidence")
        )
        years = data["registered_within_years"]
        ref = (
            _param_ref(ctx, years, f"{field}.registered_within_years") if not isinstance(years, int) else None
        )
        if ref is None:
            ctx.fail(f"{field}.registered_within_years", "give a parameter name so the number has a source")
        return RegisteredWithin(ref, label, data.get("evidence"))
    if "spend" in value:
        data = ctx.mapping(value, field, required=("spend", "op", "value"), optional=("label", "window"))
        cats = tuple(str(c) for c in ctx.listing(data["spend"], f"{field}.spend"))
        if data["op"] not in COMPARE_OPS:
            ctx.fail(f"{field}.op", f"“{data['op']}” is not one of {', '.join(COMPARE_OPS)}")
        window = data.get("window", "year")
        if window not in ("year", "period"):
            ctx.fail(f"{field}.window", "is year or period")
        return SpendCondition(
            cats, data["op"], _param_ref(ctx, data["value"], f"{field}.value"), window, label
        )
    data = ctx.mapping(value, field, required=("fact", "op"), optional=("value", "label", "evidence"))
    fact = ctx.text(data["fact"], f"{field}.fact")
    if fact not in KNOWN_FACTS and not fact.startswith("extra."):
        ctx.fail(
            f"{field}.fact", f"unknown fact “{fact}” (known: {', '.join(sorted(KNOWN_FACTS))}, or extra.NAME)"
        )
    op = data["op"]
    if op not in FACT_OPS:
        ctx.fail(f"{field}.op", f"“{op}” is not one of {', '.join(FACT_OPS)}")
    if op != "exists" and "value" not in data:
        ctx.fail(f"{field}.value", "is required")
    return FactCondition(
        fact, op, _fact_value(ctx, op, data.get("value"), f"{field}.value"), label, data.get("evidence")
    )


def _parameters(ctx: _Ctx, value: Any) -> dict[str, Parameter]:
    params = {}
    for name, spec in ctx.mapping(value, "parameters", optional=tuple(value or ())).items():
        field = f"parameters.{name}"
        data = ctx.mapping(spec, field, required=("label", "unit", "values"))
        if data["unit"] not in UNITS:
            ctx.fail(f"{field}.unit", f"is one of {', '.join(UNITS)}")
        versions = []
        for i, row in enumerate(ctx.listing(data["values"], f"{field}.values")):
            f = f"{field}.values[{i}]"
            r = ctx.mapping(
                row, f, required=("value", "from", "source"), optional=("placeholder", "uncertain")
            )
            source = ctx.text(r["source"], f"{f}.source")
            if source not in ctx.sources:
                ctx.fail(f"{f}.source", f"unknown source “{source}” (declare it under sources:)")
            number = ctx.number(r["value"], f"{f}.value")
            if number < 0:
                ctx.fail(f"{f}.value", "may not be negative")
            if data["unit"] == "rate" and number > 1:
                ctx.fail(f"{f}.value", "a rate is between 0 and 1")
            versions.append(
                ParameterVersion(
                    number,
                    ctx.day(r["from"], f"{f}.from"),
                    source,
                    bool(r.get("placeholder", False)),
                    r.get("uncertain"),
                )
            )
        if not versions:
            ctx.fail(f"{field}.values", "needs at least one value")
        versions.sort(key=lambda v: v.effective_from)
        if len({v.effective_from for v in versions}) != len(versions):
            ctx.fail(f"{field}.values", "two values take effect on the same day")
        params[str(name)] = Parameter(
            str(name), ctx.text(data["label"], f"{field}.label"), data["unit"], tuple(versions)
        )
    ctx.params = set(params)
    return params


def _formula(ctx: _Ctx, value: Any) -> Formula:
    data = ctx.mapping(value, "formula", required=("kind",), optional=("terms", "amount", "label"))
    kind = data["kind"]
    if kind not in ("spend", "fixed", "monthly"):
        ctx.fail("formula.kind", "is spend, fixed or monthly")
    terms = []
    for i, t in enumerate(ctx.listing(data.get("terms", []), "formula.terms")):
        f = f"formula.terms[{i}]"
        row = ctx.mapping(
            t,
            f,
            required=("label", "categories", "rate"),
            optional=("requires_invoice", "accepts_metered", "weekends_only"),
        )
        terms.append(
            Term(
                ctx.text(row["label"], f"{f}.label"),
                tuple(str(c) for c in ctx.listing(row["categories"], f"{f}.categories")),
                _param_ref(ctx, row["rate"], f"{f}.rate"),
                bool(row.get("requires_invoice", True)),
                bool(row.get("accepts_metered", False)),
                bool(row.get("weekends_only", False)),
            )
        )
    if kind == "spend" and not terms:
        ctx.fail("formula.terms", "a spend formula needs at least one term")
    amount = _param_ref(ctx, data["amount"], "formula.amount") if data.get("amount") is not None else None
    if kind != "spend" and amount is None:
        ctx.fail("formula.amount", f"a {kind} formula needs an amount parameter")
    return Formula(kind, tuple(terms), amount, data.get("label"))


def _caps(ctx: _Ctx, value: Any) -> Caps:
    keys = ("per_period", "per_year", "lifetime_years", "lifetime_amount", "minimum")
    data = ctx.mapping(value or {}, "caps", optional=keys)
    return Caps(**{k: _param_ref(ctx, data[k], f"caps.{k}") for k in keys if data.get(k) is not None})


def _application(ctx: _Ctx, value: Any) -> Application:
    data = ctx.mapping(
        value,
        "application",
        required=("applicants", "payee", "benefit"),
        optional=("evidence", "auto_allowed", "payout_working_days", "note", "payout_options"),
    )
    try:
        applicants = tuple(Role(a) for a in ctx.listing(data["applicants"], "application.applicants"))
        payee = Role(data["payee"])
    except ValueError:
        ctx.fail("application.applicants", "roles are company or operator")
    try:
        benefit = Benefit(data["benefit"])
    except ValueError:
        ctx.fail("application.benefit", f"is one of {', '.join(b.value for b in Benefit)}")
    options: list[Benefit] = []
    for i, raw in enumerate(ctx.listing(data.get("payout_options", []), "application.payout_options")):
        try:
            options.append(Benefit(raw))
        except ValueError:
            ctx.fail(f"application.payout_options[{i}]", f"is one of {', '.join(b.value for b in Benefit)}")
    if options and options[0] != benefit:
        ctx.fail("application.payout_options", f"starts with the benefit “{benefit.value}”")
    if len(set(options)) != len(options):
        ctx.fail("application.payout_options", "lists an option twice")
    evidence = []
    for i, e in enumerate(ctx.listing(data.get("evidence", []), "application.evidence")):
        row = ctx.mapping(e, f"application.evidence[{i}]", required=("key", "label"))
        evidence.append(Evidence(str(row["key"]), str(row["label"])))
    return Application(
        applicants,
        payee,
        benefit,
        tuple(evidence),
        bool(data.get("auto_allowed", True)),
        data.get("payout_working_days"),
        data.get("note"),
        tuple(options),
    )


def _cases(ctx: _Ctx, value: Any) -> tuple[Case, ...]:
    cases = []
    for i, c in enumerate(ctx.listing(value or [], "cases")):
        f = f"cases[{i}]"
        row = ctx.mapping(c, f, required=("name", "period", "facts", "expect"), optional=("applicant",))
        try:
            period = Period.parse(row["period"])
        except ValueError as exc:
            ctx.fail(f"{f}.period", str(exc))
        expect = ctx.mapping(
            row["expect"],
            f"{f}.expect",
            optional=("eligible", "amount", "missing_evidence", "mode", "trace_contains"),
        )
        cases.append(
            Case(str(row["name"]), period, dict(row["facts"] or {}), dict(expect), row.get("applicant"))
        )
    return tuple(cases)


TOP_REQUIRED = (
    "id", "version", "title", "instrument", "issuer", "document", "sources", "effective",
    "parameters", "formula", "application",
)  # fmt: skip
TOP_OPTIONAL = ("eligibility", "caps", "stacking", "illustrative", "uncertain", "region", "cases")


def parse_policy(data: Any, path: str) -> Policy:
    ctx = _Ctx(path)
    top = ctx.mapping(data, "", required=TOP_REQUIRED, optional=TOP_OPTIONAL)
    sources = {}
    for key, spec in ctx.mapping(top["sources"], "sources", optional=tuple(top["sources"] or ())).items():
        s = ctx.mapping(
            spec, f"sources.{key}", required=("title",), optional=("url", "issuer", "number", "note")
        )
        sources[str(key)] = Source(
            str(key), str(s["title"]), s.get("url"), s.get("issuer"), s.get("number"), s.get("note")
        )
    if not sources:
        ctx.fail("sources", "every policy cites at least one source")
    ctx.sources = set(sources)
    document = ctx.mapping(top["document"], "document", required=("title",), optional=("number",))
    effective = ctx.mapping(top["effective"], "effective", required=("from",), optional=("to",))
    try:
        instrument = Instrument(top["instrument"])
    except ValueError:
        ctx.fail("instrument", f"is one of {', '.join(i.value for i in Instrument)}")
    parameters = _parameters(ctx, top["parameters"])
    eligibility = _condition(ctx, top["eligibility"], "eligibility") if top.get("eligibility") else None
    formula = _formula(ctx, top["formula"])
    caps = _caps(ctx, top.get("caps"))
    stacking = None
    if top.get("stacking"):
        s = ctx.mapping(top["stacking"], "stacking", required=("group", "max_rate"), optional=("label",))
        stacking = Stacking(
            ctx.text(s["group"], "stacking.group"),
            _param_ref(ctx, s["max_rate"], "stacking.max_rate"),
            s.get("label"),
        )
    application = _application(ctx, top["application"])
    for name, field in ctx.param_refs:
        if name not in parameters:
            ctx.fail(field, f"unknown parameter “{name}”")
    illustrative = bool(top.get("illustrative", False))
    has_placeholder = any(v.placeholder for p in parameters.values() for v in p.versions)
    if has_placeholder and not illustrative:
        ctx.fail("illustrative", "a policy with placeholder numbers must say illustrative: true")
    if illustrative and not has_placeholder:
        ctx.fail("parameters", "an illustrative policy marks its made-up numbers with placeholder: true")
    uncertain = tuple(str(u) for u in ctx.listing(top.get("uncertain", []), "uncertain"))
    region = {
        str(k): str(v)
        for k, v in ctx.mapping(
            top.get("region") or {}, "region", optional=("province", "city", "district")
        ).items()
    }
    effective_to = ctx.day(effective["to"], "effective.to") if effective.get("to") is not None else None
    return Policy(
        id=ctx.text(top["id"], "id"),
        version=ctx.text(top["version"], "version"),
        title=ctx.text(top["title"], "title"),
        instrument=instrument,
        issuer=ctx.text(top["issuer"], "issuer"),
        document_title=ctx.text(document["title"], "document.title"),
        document_number=document.get("number"),
        sources=sources,
        effective_from=ctx.day(effective["from"], "effective.from"),
        effective_to=effective_to,
        parameters=parameters,
        eligibility=eligibility,
        formula=formula,
        caps=caps,
        stacking=stacking,
        application=application,
        illustrative=illustrative,
        uncertain=uncertain,
        region=region,
        cases=_cases(ctx, top.get("cases")),
        path=path,
    )


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    name = path.name
    try:
        data = read_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"{name}: (yaml): {exc}") from None
    policy = parse_policy(data, name)
    if path.stem != policy.id:
        raise PolicyError(f"{name}: id: “{policy.id}” should match the file name")
    return policy


def policy_files(directory: Path = POLICY_DIR) -> Iterator[Path]:
    return iter(sorted(directory.glob("*.yaml")))


def load_all(directory: Path = POLICY_DIR) -> list[Policy]:
    policies = [load_policy(p) for p in policy_files(directory)]
    seen: set[str] = set()
    for p in policies:
        if p.id in seen:
            raise PolicyError(f"{p.path}: id: duplicate policy id “{p.id}”")
        seen.add(p.id)
    return policies
