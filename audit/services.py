from __future__ import annotations

import datetime as dt
import decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.utils import translation

from audit.models import AuditRecord
from core.context import current_client_ip, current_request_id

if TYPE_CHECKING:
    from accounts.models import User
    from organisations.models import Organisation


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, decimal.Decimal | dt.date | dt.datetime):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def audit_summary(message: str, params: dict[str, Any] | None = None) -> str:
    """An audit summary in the platform's language (zh-hans), whoever acted in whatever UI language, so the
    trail reads the same for operators and authorities. Mark ``message`` with ``gettext_noop``."""
    with translation.override(settings.LANGUAGE_CODE):
        text = translation.gettext(message)
    return text % params if params else text


def record_audit(
    *,
    action: str,
    actor: User | None,
    organisation: Organisation | None,
    target: models.Model | None = None,
    summary: str = "",
    changes: dict[str, Any] | None = None,
    message: str = "",
    params: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one audit record for a state-changing service call. Call it inside the service's transaction
    so the record exists exactly when the change does. Give either a ready ``summary`` or a ``message``
    marked with ``gettext_noop`` and its ``params``, rendered by ``audit_summary``."""
    if message:
        summary = audit_summary(message, params)
    actor_obj = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditRecord.objects.create(
        actor=actor_obj,
        organisation=organisation,
        action=action,
        object_type=target._meta.label_lower if target is not None else "",
        object_id=str(target.pk) if target is not None else "",
        object_repr=str(target)[:200] if target is not None else "",
        summary=str(summary)[:500],
        changes=_jsonable(changes or {}),
        request_id=current_request_id()[:64],
        ip_address=current_client_ip()[:45],
    )


def diff(instance: models.Model, fields: list[str], new_values: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields whose value changes."""
    out: dict[str, list[Any]] = {}
    for name in fields:
        if name not in new_values:
            continue
        old = getattr(instance, name)
        new = new_values[name]
        if old != new:
            out[name] = [_jsonable(old), _jsonable(new)]
    return out
