"""The quota console (mounted at ``/quota/``): members see their quota, keys, usage and statements; operators
grant quotas, set prices, watch usage, issue consumption statements and reconcile provider invoices;
operators and compliant compute providers manage their upstream channels.

Views are thin: objects come from the caller's ``Scope`` (another tenant's → 404, the wrong role → 403),
writes go through ``gateway.services``, and a refused rule comes back as a form error with a 4xx status.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError, NotFound
from core.http import acting_user
from gateway import selectors, services, upstream
from gateway.crypto import decrypt_api_key
from gateway.forms import (
    ChannelForm,
    GrantForm,
    InvoiceForm,
    KeyForm,
    PriceForm,
    RevokeForm,
    StatementIssueForm,
    StatementLookupForm,
    UsageFilterForm,
    format_model_mapping,
)
from gateway.models import Channel, ConsumptionStatement
from ledger.models import Purpose
from ledger.services import account_for
from organisations.access import Scope, capability_required, scope_for
from organisations.capabilities import Capability
from organisations.models import Organisation

EXPORT_LIMIT = 100_000


def _form_error(form: Any, exc: DomainError) -> None:
    form.add_error(None, exc.message)


def _status_of(exc: DomainError) -> int:
    return exc.status_code if exc.status_code in {400, 409} else 400


# --------------------------------------------------------------------------------------------- member


@capability_required()
@require_GET
def mine(request: HttpRequest) -> HttpResponse:
    """The member's quota: balance, grants received, keys, this month's usage and statements."""
    org = selectors.quota_member(scope_for(request))
    month = selectors.UsageFilter(start=timezone.localdate().replace(day=1), end=timezone.localdate())
    records = selectors.usage_records([org.pk], month)
    return render(
        request,
        "gateway/mine.html",
        {
            "org": org,
            "balance": selectors.balance_of(org),
            "grants": selectors.grants_received(org)[:10],
            "keys": selectors.keys_of(org).filter(revoked_at__isnull=True)[:10],
            "month_totals": selectors.usage_totals(records),
            "statements": selectors.statements_of_member(org)[:24],
            "models": selectors.current_prices(),
            "base_url": request.build_absolute_uri("/v1"),
        },
    )


def _keys_context(request: HttpRequest, org: Organisation, form: KeyForm, **extra: Any) -> dict[str, Any]:
    return {
        "org": org,
        "form": form,
        "keys": selectors.keys_of(org),
        "now": timezone.now(),
        "base_url": request.build_absolute_uri("/v1"),
        **extra,
    }


@capability_required(Capability.TOKENS_MANAGE)
@require_http_methods(["GET", "POST"])
def keys(request: HttpRequest) -> HttpResponse:
    """The member's virtual keys; creating one shows its secret once (it is not stored)."""
    org = selectors.quota_member(scope_for(request))
    models = selectors.served_models()
    if request.method != "POST":
        return render(request, "gateway/keys.html", _keys_context(request, org, KeyForm(models=models)))
    form = KeyForm(request.POST, models=models)
    if form.is_valid():
        data = form.cleaned_data
        try:
            key, secret = services.issue_virtual_key(
                organisation=org,
                name=data["name"],
                actor=acting_user(request),
                allowed_models=list(data["allowed_models"]),
                expires_at=form.expires_at(),
                rpm_limit=data["rpm_limit"],
                tpm_limit=data["tpm_limit"],
                tag=data["tag"],
            )
        except DomainError as exc:
            _form_error(form, exc)
        else:
            context = _keys_context(request, org, KeyForm(models=models), secret=secret, new_key=key)
            response = render(request, "gateway/keys.html", context, status=201)
            response["Cache-Control"] = "no-store"
            return response
    return render(request, "gateway/keys.html", _keys_context(request, org, form), status=400)


@capability_required(Capability.TOKENS_MANAGE)
@require_POST
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    org = selectors.quota_member(scope_for(request))
    key = selectors.get_key(org, pk)
    services.revoke_virtual_key(key=key, actor=acting_user(request))
    messages.success(request, _("Key %(name)s revoked; it stops working at once.") % {"name": key.name})
    return redirect("quota:keys")


def _member_filter(request: HttpRequest, org: Organisation) -> tuple[UsageFilterForm, selectors.UsageFilter]:
    keys = [(k.pk, f"{k.name} ({k.prefix}…)") for k in selectors.keys_of(org)]
    form = UsageFilterForm(
        request.GET or None,
        models=selectors.models_used([org.pk]),
        tags=selectors.tags_of([org.pk]),
        keys=keys,
    )
    return form, form.usage_filter() if request.GET else selectors.UsageFilter.default()


def _usage_context(
    request: HttpRequest, qs: Any, f: selectors.UsageFilter, form: UsageFilterForm
) -> dict[str, Any]:
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return {
        "form": form,
        "filter": f,
        "page": page,
        "totals": selectors.usage_totals(qs),
        "by_model": selectors.usage_by_model(qs),
        "chart": selectors.daily_chart(qs, f),
        "query": request.GET.urlencode(),
    }


@capability_required(Capability.LEDGER_VIEW)
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    org = selectors.quota_member(scope_for(request))
    form, f = _member_filter(request, org)
    qs = selectors.usage_records([org.pk], f)
    context = _usage_context(request, qs, f, form)
    context.update(org=org, is_operator=False, export_view="quota:usage_export")
    return render(request, "gateway/usage.html", context, status=200 if not form.errors else 400)


@capability_required(Capability.LEDGER_VIEW)
@require_GET
def usage_export(request: HttpRequest, fmt: str) -> HttpResponse:
    org = selectors.quota_member(scope_for(request))
    _form, f = _member_filter(request, org)
    return _export(selectors.usage_records([org.pk], f), fmt=fmt, with_member=False, f=f)


# --------------------------------------------------------------------------------------------- exports


def _export_rows(qs: Any, *, with_member: bool) -> Iterable[list[Any]]:
    tz = timezone.get_current_timezone()
    header = [
        _("Started"),
        _("Request"),
        *([_("Member")] if with_member else []),
        _("Key"),
        _("Tag"),
        _("Model"),
        _("Channel"),
        _("Status"),
        _("Outcome"),
        _("Token counts"),
        _("Prompt tokens"),
        _("Cached prompt tokens"),
        _("Completion tokens"),
        _("Cost (CNY)"),
        _("Charged (CNY)"),
        _("Latency (ms)"),
    ]
    yield header
    for r in qs[:EXPORT_LIMIT].iterator(chunk_size=2000):
        latency = int((r.finished_at - r.started_at).total_seconds() * 1000) if r.finished_at else None
        yield [
            r.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            r.request_id,
            *([r.organisation.name] if with_member else []),
            f"{r.virtual_key.name} ({r.virtual_key.prefix}…)",
            r.tag,
            r.model,
            r.channel.name if r.channel else "",
            r.get_status_display(),
            r.get_outcome_display() if r.outcome else "",
            r.get_usage_source_display() if r.usage_source else "",
            r.prompt_tokens,
            r.cached_tokens,
            r.completion_tokens,
            r.cost,
            r.charged,
            latency,
        ]


def _csv_safe(value: Any) -> Any:
    """Defuse spreadsheet formulas in free text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _export(qs: Any, *, fmt: str, with_member: bool, f: selectors.UsageFilter) -> HttpResponse:
    name = f"usage-{f.start:%Y%m%d}-{f.end:%Y%m%d}"
    rows = _export_rows(qs, with_member=with_member)
    if fmt == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        response.write("\ufeff")  # so spreadsheet programs read the Chinese names
        writer = csv.writer(response)
        for row in rows:
            writer.writerow([_csv_safe(v) for v in row])
        return response
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(_("Usage"))
        for row in rows:
            sheet.append([_csv_safe(v) if isinstance(v, str) else v for v in row])
        buffer = io.BytesIO()
        book.save(buffer)
        response = HttpResponse(
            buffer.getvalue(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
        return response
    raise NotFound()


# --------------------------------------------------------------------------------------------- statements


@capability_required()
@require_GET
def statement_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The issued PDF, for the member it is about or the operator that issued it."""
    scope = scope_for(request)
    org = scope.organisation
    statement = ConsumptionStatement.objects.filter(pk=pk).first()
    if org is None or statement is None or not statement.pdf:
        raise NotFound()
    if org.pk not in {statement.organisation_id, statement.operator_id}:
        raise NotFound()
    try:
        handle = statement.pdf.open("rb")
    except OSError:
        raise NotFound() from None
    response: Any = FileResponse(
        handle,
        content_type="application/pdf",
        filename=f"consumption-statement-{statement.code}.pdf",
        as_attachment=False,
    )
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def statement_lookup(request: HttpRequest) -> HttpResponse:
    if "code" not in request.GET:
        return render(request, "gateway/statement_lookup.html", {"form": StatementLookupForm()})
    form = StatementLookupForm(request.GET)
    if not form.is_valid():
        return render(request, "gateway/statement_lookup.html", {"form": form}, status=400)
    return redirect("quota:statement_verify", form.cleaned_data["code"].strip()[:32] or "-")


@require_GET
def statement_verify(request: HttpRequest, code: str) -> HttpResponse:
    from communities.selectors import normalise_code

    statement = selectors.statement_by_code(code)
    state = "unknown" if statement is None else "revoked" if statement.revoked_at else "valid"
    return render(
        request,
        "gateway/statement_verify.html",
        {
            "state": state,
            "code": normalise_code(code) or code[:32],
            "statement": statement,
            "facts": statement.facts if statement else {},
            "form": StatementLookupForm(),
        },
        status=404 if statement is None else 200,
    )


# --------------------------------------------------------------------------------------------- operator


def _grant_context(operator: Organisation, scope: Scope, form: GrantForm) -> dict[str, Any]:
    return {
        "operator": operator,
        "pool": account_for(owner=operator, purpose=Purpose.FUNDING_POOL),
        "members": selectors.member_quotas(scope.member_organisations()),
        "form": form,
    }


@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def operator_home(request: HttpRequest) -> HttpResponse:
    """Grant quotas from the funding pool; every member's balance and this month's usage."""
    scope = scope_for(request)
    operator = selectors.operator_of(scope)
    members = scope.member_organisations()
    if request.method != "POST":
        initial = {"member": request.GET.get("member")} if request.GET.get("member") else None
        form = GrantForm(members=members, initial=initial)
        return render(request, "gateway/operator.html", _grant_context(operator, scope, form))
    form = GrantForm(request.POST, members=members)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.grant_quota(
                operator=operator,
                member=data["member"],
                amount=data["amount"],
                idempotency_key=f"console:{operator.pk}:{data['request_token']}",
                actor=acting_user(request),
                memo=data["memo"],
            )
        except DomainError as exc:
            _form_error(form, exc)
            return render(
                request,
                "gateway/operator.html",
                _grant_context(operator, scope, form),
                status=_status_of(exc),
            )
        messages.success(
            request,
            _("Granted ¥%(amount)s to %(member)s.")
            % {"amount": data["amount"], "member": data["member"].name},
        )
        return redirect("quota:operator")
    return render(request, "gateway/operator.html", _grant_context(operator, scope, form), status=400)


def _operator_filter(
    request: HttpRequest, scope: Scope
) -> tuple[UsageFilterForm, selectors.UsageFilter, Any]:
    member_ids = scope.member_organisations().values_list("pk", flat=True)
    members = [(o.pk, o.name) for o in scope.member_organisations().order_by("name")]
    form = UsageFilterForm(
        request.GET or None,
        models=selectors.models_used(member_ids),
        tags=selectors.tags_of(member_ids),
        members=members,
    )
    return form, form.usage_filter() if request.GET else selectors.UsageFilter.default(), member_ids


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def operator_usage(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    operator = selectors.operator_of(scope)
    form, f, member_ids = _operator_filter(request, scope)
    qs = selectors.usage_records(member_ids, f)
    context = _usage_context(request, qs, f, form)
    context.update(org=operator, is_operator=True, export_view="quota:operator_usage_export")
    return render(request, "gateway/usage.html", context, status=200 if not form.errors else 400)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def operator_usage_export(request: HttpRequest, fmt: str) -> HttpResponse:
    scope = scope_for(request)
    selectors.operator_of(scope)
    _form, f, member_ids = _operator_filter(request, scope)
    return _export(selectors.usage_records(member_ids, f), fmt=fmt, with_member=True, f=f)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def daily(request: HttpRequest) -> HttpResponse:
    """The daily aggregate table (rolled up per day, member, model and channel)."""
    scope = scope_for(request)
    operator = selectors.operator_of(scope)
    form, f, member_ids = _operator_filter(request, scope)
    rows = selectors.daily_aggregates(member_ids, f)
    page = Paginator(rows, 100).get_page(request.GET.get("page"))
    return render(request, "gateway/daily.html", {"org": operator, "form": form, "page": page, "filter": f})


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def rollup(request: HttpRequest) -> HttpResponse:
    """Run the daily roll-up again for the last days (idempotent), in the background."""
    from gateway.tasks import roll_up_recent_usage

    selectors.operator_of(scope_for(request))
    days = 7
    roll_up_recent_usage.enqueue(days=days)
    messages.success(
        request, _("The daily totals of the last %(n)d days are being recomputed.") % {"n": days}
    )
    return redirect("quota:daily")


def _statements_context(operator: Organisation, scope: Scope, form: StatementIssueForm) -> dict[str, Any]:
    return {
        "operator": operator,
        "form": form,
        "statements": selectors.statements_of_operator(operator)[:200],
        "revoke_form": RevokeForm(),
    }


def _finished_months() -> list[dt.date]:
    return selectors.month_choices(13)[1:]


@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def statements(request: HttpRequest) -> HttpResponse:
    """Issue monthly consumption statements (PDF, subsidy evidence) to members."""
    scope = scope_for(request)
    operator = selectors.operator_of(scope)
    members = scope.member_organisations()
    if request.method != "POST":
        form = StatementIssueForm(members=members, months=_finished_months())
        return render(request, "gateway/statements.html", _statements_context(operator, scope, form))
    form = StatementIssueForm(request.POST, members=members, months=_finished_months())
    if form.is_valid():
        try:
            statement = services.issue_consumption_statement(
                operator=operator,
                member=form.cleaned_data["member"],
                month=form.cleaned_data["month"],
                actor=acting_user(request),
            )
        except DomainError as exc:
            _form_error(form, exc)
            return render(
                request,
                "gateway/statements.html",
                _statements_context(operator, scope, form),
                status=_status_of(exc),
            )
        messages.success(request, _("Statement %(code)s issued.") % {"code": statement.code})
        return redirect("quota:statements")
    return render(request, "gateway/statements.html", _statements_context(operator, scope, form), status=400)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def statement_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    operator = selectors.operator_of(scope_for(request))
    statement = selectors.statements_of_operator(operator).filter(pk=pk).first()
    if statement is None:
        raise NotFound()
    form = RevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a reason for revoking the statement."))
        return redirect("quota:statements")
    try:
        services.revoke_consumption_statement(
            statement=statement, reason=form.cleaned_data["reason"], actor=acting_user(request)
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("quota:statements")
    messages.success(request, _("Statement %(code)s revoked.") % {"code": statement.code})
    return redirect("quota:statements")


def _invoices_context(operator: Organisation, form: InvoiceForm) -> dict[str, Any]:
    invoices = list(selectors.invoices_of_operator(operator)[:100])
    return {
        "operator": operator,
        "form": form,
        "reconciliations": [selectors.invoice_reconciliation(i) for i in invoices],
    }


@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def invoices(request: HttpRequest) -> HttpResponse:
    """Unified invoicing: record a compute provider's monthly invoice, reconciled against the usage its
    channels served to your members."""
    operator = selectors.operator_of(scope_for(request))
    providers = selectors.compute_providers()
    months = selectors.month_choices(13)
    if request.method != "POST":
        form = InvoiceForm(providers=providers, months=months)
        return render(request, "gateway/invoices.html", _invoices_context(operator, form))
    form = InvoiceForm(request.POST, providers=providers, months=months)
    if form.is_valid():
        data = form.cleaned_data
        try:
            invoice = services.record_provider_invoice(
                operator=operator,
                provider=data["provider"],
                month=data["month"],
                number=data["number"],
                issued_on=data["issued_on"],
                amount=data["amount"],
                tax_amount=data["tax_amount"],
                note=data["note"],
                actor=acting_user(request),
            )
        except DomainError as exc:
            _form_error(form, exc)
            return render(
                request, "gateway/invoices.html", _invoices_context(operator, form), status=_status_of(exc)
            )
        messages.success(request, _("Invoice %(number)s recorded.") % {"number": invoice.number})
        return redirect("quota:invoice_detail", invoice.pk)
    return render(request, "gateway/invoices.html", _invoices_context(operator, form), status=400)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    operator = selectors.operator_of(scope_for(request))
    invoice = selectors.get_invoice(operator, pk)
    return render(
        request,
        "gateway/invoice_detail.html",
        {"operator": operator, "r": selectors.invoice_reconciliation(invoice)},
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def prices(request: HttpRequest) -> HttpResponse:
    """Prices per model (CNY per 1M tokens) with effective dates and where each figure comes from."""
    selectors.operator_of(scope_for(request))
    form = PriceForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            effective = data["effective_from"]
            try:
                price = services.set_model_price(
                    model=data["model"],
                    input_per_million=data["input_per_million"],
                    cached_input_per_million=data["cached_input_per_million"],
                    output_per_million=data["output_per_million"],
                    effective_from=effective,
                    kind=data["kind"],
                    source=data["source"],
                    source_date=data["source_date"],
                    actor=acting_user(request),
                )
            except DomainError as exc:
                _form_error(form, exc)
                status = _status_of(exc)
            else:
                messages.success(request, _("Price of %(model)s saved.") % {"model": price.model})
                return redirect("quota:prices")
        else:
            status = 400
    return render(
        request,
        "gateway/prices.html",
        {
            "form": form,
            "current": sorted(selectors.current_prices(), key=lambda p: p.model),
            "history": selectors.price_history()[:300],
            "served": selectors.served_models(),
            "now": timezone.now(),
        },
        status=status,
    )


# --------------------------------------------------------------------------------------------- channels


def _channel_initial(channel: Channel) -> dict[str, Any]:
    models = list(channel.models.all())
    return {
        "name": channel.name,
        "provider": channel.provider,
        "base_url": channel.base_url,
        "models": format_model_mapping({m.public_name: m.upstream_name for m in models}),
        "max_output_tokens": max((m.max_output_tokens for m in models), default=4096),
        "priority": channel.priority,
        "weight": channel.weight,
        "connect_timeout": channel.connect_timeout,
        "read_timeout": channel.read_timeout,
        "is_enabled": channel.is_enabled,
    }


def _channels_context(scope: Scope, owner: Organisation, form: ChannelForm) -> dict[str, Any]:
    return {
        "owner": owner,
        "form": form,
        "channels": selectors.channels_of(owner),
        "provider_channels": selectors.provider_channels() if scope.is_operator else None,
        "now": timezone.now(),
    }


@capability_required()
@require_http_methods(["GET", "POST"])
def channels(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    owner = selectors.channel_manager(scope)
    if request.method != "POST":
        return render(request, "gateway/channels.html", _channels_context(scope, owner, ChannelForm()))
    form = ChannelForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            channel = services.create_channel(
                owner=owner,
                name=data["name"],
                base_url=data["base_url"],
                api_key=data["api_key"],
                models=data["models"],
                provider=data["provider"],
                priority=data["priority"],
                weight=data["weight"],
                connect_timeout=data["connect_timeout"],
                read_timeout=data["read_timeout"],
                max_output_tokens=data["max_output_tokens"],
                actor=acting_user(request),
            )
        except DomainError as exc:
            _form_error(form, exc)
            return render(
                request,
                "gateway/channels.html",
                _channels_context(scope, owner, form),
                status=_status_of(exc),
            )
        messages.success(request, _("Channel %(name)s added.") % {"name": channel.name})
        return redirect("quota:channels")
    return render(request, "gateway/channels.html", _channels_context(scope, owner, form), status=400)


@capability_required()
@require_http_methods(["GET", "POST"])
def channel_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    channel = selectors.get_channel(scope, pk)
    status = 200
    if request.method == "POST":
        form = ChannelForm(request.POST, creating=False)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.update_channel(
                    channel=channel,
                    actor=acting_user(request),
                    name=data["name"],
                    base_url=data["base_url"],
                    provider=data["provider"],
                    priority=data["priority"],
                    weight=data["weight"],
                    connect_timeout=data["connect_timeout"],
                    read_timeout=data["read_timeout"],
                    is_enabled=data["is_enabled"],
                    models=data["models"],
                    max_output_tokens=data["max_output_tokens"],
                    api_key=data["api_key"],
                )
            except DomainError as exc:
                _form_error(form, exc)
                status = _status_of(exc)
            else:
                messages.success(request, _("Channel %(name)s saved.") % {"name": data["name"]})
                return redirect("quota:channel_detail", channel.pk)
        else:
            status = 400
    else:
        form = ChannelForm(initial=_channel_initial(channel), creating=False)
    return render(
        request,
        "gateway/channel_detail.html",
        {"channel": channel, "form": form, "now": timezone.now()},
        status=status,
    )


@capability_required()
@require_POST
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send one tiny request straight to the channel (not metered) and show the answer (htmx partial)."""
    scope = scope_for(request)
    channel = selectors.get_channel(scope, pk)
    model = channel.models.filter(is_enabled=True).order_by("public_name").first()
    if model is None:
        result = upstream.Probe(False, None, 0, "", _("The channel serves no model."))
    else:
        result = async_to_sync(upstream.probe)(
            base_url=channel.base_url,
            api_key=decrypt_api_key(channel.api_key_encrypted),
            upstream_model=model.upstream_name,
            connect_timeout=channel.connect_timeout,
        )
        if result.ok:
            services.record_channel_success(channel_id=channel.pk)
    if request.headers.get("HX-Request"):
        return render(request, "gateway/_channel_test.html", {"result": result, "channel": channel})
    if result.ok:
        messages.success(request, _("The channel answered in %(ms)d ms.") % {"ms": result.latency_ms})
    else:
        messages.error(
            request, _("The channel test failed: %(message)s") % {"message": result.message or result.status}
        )
    return redirect("quota:channel_detail", channel.pk)


@capability_required()
@require_POST
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    channel = selectors.get_channel(scope, pk)
    name = channel.name
    try:
        services.delete_channel(channel=channel, actor=acting_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("quota:channel_detail", pk)
    messages.success(request, _("Channel %(name)s removed.") % {"name": name})
    return redirect("quota:channels")
