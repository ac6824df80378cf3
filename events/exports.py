"""XLSX exports (openpyxl): an event's sign-ups and the dashboard figures with the rows behind them."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

    from events.dashboards import Figure
    from events.models import Event

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_SHEET_TITLE = 31


def cell(value: Any) -> Any:
    """A value a spreadsheet can hold: naive local datetimes, text for the rest; text that a spreadsheet
    would run as a formula is defused."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int | float | Decimal | dt.date):
        return value
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _sheet_title(text: str, taken: set[str]) -> str:
    base = "".join(ch for ch in text if ch not in "[]:*?/\\")[:MAX_SHEET_TITLE] or "sheet"
    title, n = base, 2
    while title in taken:
        suffix = f" ({n})"
        title = base[: MAX_SHEET_TITLE - len(suffix)] + suffix
        n += 1
    taken.add(title)
    return title


def _table(ws: Worksheet, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    ws.append([str(h) for h in header])
    for c in ws[ws.max_row]:
        c.font = Font(bold=True)
    for row in rows:
        ws.append([cell(v) for v in row])
    for i, title in enumerate(header, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = max(
            10, min(40, len(str(title)) * 2 + 4)
        )


def xlsx_response(workbook: Workbook, filename: str) -> HttpResponse:
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def registrations_workbook(event: Event) -> Workbook:
    from events.selectors import event_registrations

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = _sheet_title(_("Registrations"), set())
    _table(
        ws,
        [
            _("Name"),
            _("Company"),
            _("Role"),
            _("Status"),
            _("Mobile or e-mail"),
            _("Signed up"),
            _("Checked in"),
        ],
        (
            [
                r.name,
                r.organisation_name,
                r.get_role_display(),
                r.get_status_display(),
                r.contact,
                r.created_at,
                r.checked_in_at,
            ]
            for r in event_registrations(event)
        ),
    )
    return wb


def figures_workbook(figures: Sequence[Figure], *, title: str) -> Workbook:
    """One summary sheet (each figure, its value and how it is counted) and one sheet per figure with the
    rows behind it."""
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    taken: set[str] = set()
    summary.title = _sheet_title(_("Summary"), taken)
    summary.append([title])
    summary["A1"].font = Font(bold=True, size=13)
    summary.append([_("Generated"), cell(timezone.now())])
    summary.append([])
    _table(
        summary,
        [_("Section"), _("Figure"), _("Value"), _("Unit"), _("Rows"), _("How it is counted")],
        ([f.section_label, f.label, f.value, f.unit, f.row_count, f.definition] for f in figures),
    )
    for f in figures:
        ws = wb.create_sheet(_sheet_title(f.label, taken))
        ws.append([f.label, cell(f.value), f.unit])
        ws["A1"].font = Font(bold=True)
        ws.append([f.definition])
        ws.append([])
        _table(ws, f.columns, f.rows())
    return wb
