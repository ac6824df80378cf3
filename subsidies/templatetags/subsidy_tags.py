"""Template helpers for the subsidy pages: trace marks, parameter values, look-ups in dicts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from subsidies.engine.money import cny, pct

register = template.Library()


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def trace_mark(ok: Any) -> str:
    """✓ met, ✗ not met, ? not known on the platform."""
    return {True: "✓", False: "✗"}.get(ok, "?")


@register.filter
def trace_class(ok: Any) -> str:
    return {True: "trace-ok", False: "trace-fail"}.get(ok, "trace-unknown")


@register.filter
def param_value(value: Decimal, unit: str) -> str:
    if unit == "rate":
        return pct(value)
    if unit == "cny":
        return cny(value)
    return f"{value.normalize():f}"


@register.filter
def trace_kind(kind: str) -> str:
    from django.utils.translation import gettext as _

    labels = {
        "window": _("Period"),
        "applicant": _("Applicant"),
        "condition": _("Condition"),
        "parameter": _("Parameter"),
        "spend": _("Eligible spend"),
        "stacking": _("Stacking"),
        "formula": _("Amount"),
        "cap": _("Cap"),
        "minimum": _("Minimum"),
        "evidence": _("Evidence"),
    }
    return labels.get(kind, kind)


@register.filter
def instrument(policy: Any) -> str:
    from subsidies.engine.schema import INSTRUMENT_LABELS

    return INSTRUMENT_LABELS.get(getattr(getattr(policy, "instrument", None), "value", ""), "")


@register.filter
def benefit(value: str) -> str:
    from django.utils.translation import gettext as _

    return {
        "cash": _("money"),
        "quota": _("token quota"),
        "in_kind": _("in kind"),
        "service": _("a service"),
    }.get(str(value), str(value))


@register.filter
def iso(value: Any) -> str:
    """A date as YYYY-MM-DD whether it is a date or already a string (traces frozen as JSON)."""
    if value is None or value == "":
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
