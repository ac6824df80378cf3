"""Trust pages: message threads, reviews, an organisation's trust profile, the price hint (htmx), reports and
the operator's report queue, the OPC's credit profile and its public verification.

Views are thin: objects come from ``trust.selectors`` with the caller's scope (foreign → 404), writes go through
``trust.services``; a refused rule comes back as a form error or message with its 4xx status."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError, NotFound, NotPermitted
from core.http import acting_user, redirect_back
from marketplace.models import ContractStatus, Order
from organisations.access import Scope, capability_required, scope_for
from organisations.capabilities import Capability, OrgKind
from organisations.models import Organisation
from trust import selectors, services
from trust.forms import (
    CodeLookupForm,
    CreditExportForm,
    DecideReportForm,
    MessageForm,
    ReportForm,
    ReviewForm,
    ThreadStartForm,
)
from trust.models import ReportStatus, ReportTarget, ReviewDirection
from trust.pdf import credit_verification_url


def _org(scope: Scope) -> Organisation:
    org = scope.organisation
    if org is None:  # pragma: no cover - capability_required guarantees an organisation
        raise NotFound()
    return org


def _opc(scope: Scope) -> Organisation:
    org = _org(scope)
    if org.kind != OrgKind.OPC:
        raise NotPermitted(_("Only one-person companies (OPCs) have a credit profile."))
    return org


def _operator(scope: Scope) -> Organisation:
    org = _org(scope)
    if org.kind != OrgKind.OPERATOR:
        raise NotPermitted()
    return org


# -- messages ------------------------------------------------------------------------------------------------------
@capability_required()
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    page = Paginator(selectors.threads_for(scope), 30).get_page(request.GET.get("page"))
    return render(request, "trust/inbox.html", {"page": page, "org": _org(scope)})


@capability_required()
@require_POST
def thread_start(request: HttpRequest) -> HttpResponse:
    """Open (or find) the thread about an order with one OPC, or the thread of a contract, and go there."""
    scope = scope_for(request)
    org = _org(scope)
    form = ThreadStartForm(request.POST)
    if not form.is_valid():
        raise DomainError(_("Choose the order or contract to write about."))
    data = form.cleaned_data
    if data.get("contract"):
        contract = selectors.get_contract_for_party(org, data["contract"])
        thread = services.open_contract_thread(
            contract=contract, organisation=org, actor=acting_user(request)
        )
    else:
        order = Order.objects.filter(pk=data["order"]).first()
        if order is None:
            raise NotFound()
        opc = None
        if data.get("opc"):
            opc = Organisation.objects.filter(pk=data["opc"], kind=OrgKind.OPC).first()
            if opc is None:
                raise NotFound()
        thread = services.open_thread(order=order, organisation=org, actor=acting_user(request), opc=opc)
    return redirect("trust:thread_detail", thread.pk)


def _thread_context(
    request: HttpRequest, access: selectors.ThreadAccess, form: MessageForm
) -> dict[str, Any]:
    thread = access.thread
    org = _org(scope_for(request))
    other = None
    if access.as_party is not None:
        other = thread.opc if access.as_party.pk == thread.client_id else thread.client
    return {
        "thread": thread,
        "thread_messages": selectors.messages_of(thread),
        "form": form,
        "can_post": access.can_post,
        "org": org,
        "other": other,
        "reading_as_operator": access.as_party is None,
    }


@capability_required()
@require_http_methods(["GET", "POST"])
def thread_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    access = selectors.get_thread_for(scope, pk)
    form = MessageForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if not access.can_post:
            raise NotPermitted(_("Operators can read threads for mediation but not write in them."))
        if form.is_valid():
            try:
                message = services.post_message(
                    thread=access.thread,
                    sender=_org(scope),
                    actor=acting_user(request),
                    body=form.cleaned_data.get("body") or "",
                    attachments=form.cleaned_data.get("attachments") or [],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                if message.flagged:
                    messages.warning(
                        request,
                        _(
                            "Your message was sent but flagged: it seems to ask for payment outside the "
                            "platform. Payments outside OPC Hub's escrow are not protected."
                        ),
                    )
                url = reverse("trust:thread_detail", args=[access.thread.pk])
                return redirect(f"{url}#message-{message.pk}")
        else:
            status = 400
    return render(request, "trust/thread.html", _thread_context(request, access, form), status=status)


@capability_required()
@require_GET
def attachment(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.get_attachment_for(scope_for(request), pk)
    try:
        handle = item.file.open("rb")
    except OSError:
        raise NotFound() from None
    response: Any = FileResponse(
        handle, content_type="application/octet-stream", filename=item.name, as_attachment=True
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# -- reviews and trust profiles ---------------------------------------------------------------------------------------
def _review_context(org: Organisation, contract: Any, form: ReviewForm) -> dict[str, Any]:
    reviews = selectors.reviews_of_contract(contract)
    mine_dir = (
        ReviewDirection.CLIENT_TO_OPC if org.pk == contract.client_id else ReviewDirection.OPC_TO_CLIENT
    )
    theirs_dir = (
        ReviewDirection.OPC_TO_CLIENT
        if mine_dir == ReviewDirection.CLIENT_TO_OPC
        else ReviewDirection.CLIENT_TO_OPC
    )
    return {
        "contract": contract,
        "form": form,
        "mine": reviews[mine_dir],
        "theirs": reviews[theirs_dir],
        "subject": contract.opc if mine_dir == ReviewDirection.CLIENT_TO_OPC else contract.client,
        "completed": contract.status == ContractStatus.COMPLETED,
    }


@capability_required()
@require_http_methods(["GET", "POST"])
def review(request: HttpRequest, pk: int) -> HttpResponse:
    org = _org(scope_for(request))
    contract = selectors.get_contract_for_party(org, pk)
    form = ReviewForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.submit_review(
                    contract=contract,
                    author=org,
                    actor=acting_user(request),
                    rating=form.cleaned_data["rating"],
                    text=form.cleaned_data.get("text") or "",
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("Thank you; your review is published."))
                return redirect_back(request, "trust:review", contract.pk)
        else:
            status = 400
    return render(request, "trust/review.html", _review_context(org, contract, form), status=status)


@capability_required()
@require_GET
def organisation(request: HttpRequest, pk: int) -> HttpResponse:
    """An OPC's reputation or a client's payment reliability, with the reviews it received."""
    target = (
        Organisation.objects.filter(pk=pk, kind__in=[OrgKind.OPC, OrgKind.CLIENT])
        .select_related("home_community")
        .first()
    )
    if target is None:
        raise NotFound()
    page = Paginator(selectors.reviews_received(target), 20).get_page(request.GET.get("page"))
    return render(
        request,
        "trust/organisation.html",
        {
            "target": target,
            "reputation": selectors.reputation_of(target) if target.kind == OrgKind.OPC else None,
            "reliability": selectors.payment_reliability_of(target)
            if target.kind == OrgKind.CLIENT
            else None,
            "page": page,
            "org": _org(scope_for(request)),
        },
    )


# -- price reference (htmx) -------------------------------------------------------------------------------------------
@capability_required()
@require_GET
def price_hint(request: HttpRequest) -> HttpResponse:
    """The posting form's price hint for the chosen category (and budget), swapped in by htmx."""
    hint = selectors.price_hint(
        request.GET.get("category", "")[:40],
        request.GET.get("budget_min", "")[:20],
        request.GET.get("budget_max", "")[:20],
    )
    return render(request, "trust/_post_price_hint.html", {"hint": hint, "form": None})


# -- reports -----------------------------------------------------------------------------------------------------------
@capability_required()
@require_http_methods(["GET", "POST"])
def report_new(request: HttpRequest) -> HttpResponse:
    org = _org(scope_for(request))
    source = request.POST if request.method == "POST" else request.GET
    kind = source.get("kind", "")
    target_id = source.get("target", "")
    reported, objects = selectors.report_target_for(org, kind, target_id)
    form = ReportForm(
        request.POST or None,
        initial={
            "kind": kind,
            "target": target_id,
            "reason": "off_platform" if kind == ReportTarget.MESSAGE else "fraud",
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.file_report(
                    reporter=org,
                    actor=acting_user(request),
                    target_kind=kind,
                    reported=reported,
                    reason=form.cleaned_data["reason"],
                    details=form.cleaned_data["details"],
                    **objects,
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("Thank you. The community operator will review your report."))
                return redirect("trust:my_reports")
        else:
            status = 400
    return render(
        request,
        "trust/report_form.html",
        {"form": form, "reported": reported, "kind": kind, "objects": objects},
        status=status,
    )


@capability_required()
@require_GET
def my_reports(request: HttpRequest) -> HttpResponse:
    org = _org(scope_for(request))
    page = Paginator(selectors.reports_by(org), 30).get_page(request.GET.get("page"))
    return render(request, "trust/my_reports.html", {"page": page})


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def report_queue(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    operator = _operator(scope)
    status = request.GET.get("status", ReportStatus.OPEN)
    if status not in ReportStatus.values and status != "all":
        status = ReportStatus.OPEN
    qs = selectors.reports_for_operator(operator, status="" if status == "all" else status)
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    return render(
        request,
        "trust/report_queue.html",
        {
            "page": page,
            "status": status,
            "statuses": [("all", _("All")), *ReportStatus.choices],
            "flagged": selectors.flagged_messages_for(scope)[:50],
            "open_count": selectors.open_report_count(operator),
        },
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    operator = _operator(scope_for(request))
    report = selectors.get_report_for_operator(operator, pk)
    form = DecideReportForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.decide_report(
                    report=report,
                    operator=operator,
                    actor=acting_user(request),
                    outcome=form.cleaned_data["outcome"],
                    note=form.cleaned_data["note"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("Decision recorded; the reporter has been told."))
                return redirect("trust:report_queue")
        else:
            status = 400
    return render(request, "trust/report_detail.html", {"report": report, "form": form}, status=status)


# -- credit profile -------------------------------------------------------------------------------------------------
def _credit_context(opc: Organisation, form: CreditExportForm) -> dict[str, Any]:
    return {
        "opc": opc,
        "form": form,
        "consents": selectors.consents_of(opc),
        "figures": selectors.credit_figures(opc),
    }


@capability_required(Capability.ORG_MANAGE)
@require_http_methods(["GET", "POST"])
def credit_list(request: HttpRequest) -> HttpResponse:
    opc = _opc(scope_for(request))
    form = CreditExportForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                export = services.create_credit_export(
                    opc=opc,
                    actor=acting_user(request),
                    recipient=form.cleaned_data["recipient"],
                    purpose=form.cleaned_data["purpose"],
                    consent_given=form.cleaned_data["consent"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(
                    request,
                    _("Credit profile %(code)s exported. Download the PDF or JSON below.")
                    % {"code": export.code},
                )
                return redirect(reverse("trust:credit_list") + f"#export-{export.pk}")
        else:
            status = 400
    return render(request, "trust/credit_list.html", _credit_context(opc, form), status=status)


@capability_required(Capability.ORG_MANAGE)
@require_POST
def credit_export(request: HttpRequest, pk: int) -> HttpResponse:
    """A new export under an existing, unrevoked consent (fresh figures, new code)."""
    opc = _opc(scope_for(request))
    consent = selectors.get_consent_for(opc, pk)
    try:
        export = services.export_credit_profile(consent=consent, opc=opc, actor=acting_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        return render(
            request,
            "trust/credit_list.html",
            _credit_context(opc, CreditExportForm()),
            status=exc.status_code,
        )
    messages.success(request, _("Credit profile %(code)s exported.") % {"code": export.code})
    return redirect(reverse("trust:credit_list") + f"#export-{export.pk}")


@capability_required(Capability.ORG_MANAGE)
@require_POST
def credit_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    opc = _opc(scope_for(request))
    consent = selectors.get_consent_for(opc, pk)
    try:
        services.revoke_credit_consent(consent=consent, opc=opc, actor=acting_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        return render(
            request,
            "trust/credit_list.html",
            _credit_context(opc, CreditExportForm()),
            status=exc.status_code,
        )
    messages.success(
        request,
        _("Consent revoked. Its exports now show as revoked on the verification page."),
    )
    return redirect("trust:credit_list")


@capability_required(Capability.ORG_MANAGE)
@require_GET
def credit_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    export = selectors.get_export_for(_opc(scope_for(request)), pk)
    if not export.pdf:
        raise NotFound()
    try:
        handle = export.pdf.open("rb")
    except OSError:
        raise NotFound() from None
    response: Any = FileResponse(
        handle,
        content_type="application/pdf",
        filename=f"credit-profile-{export.code}.pdf",
        as_attachment=False,
    )
    response["Cache-Control"] = "private, no-store"
    return response


@capability_required(Capability.ORG_MANAGE)
@require_GET
def credit_json(request: HttpRequest, pk: int) -> HttpResponse:
    export = selectors.get_export_for(_opc(scope_for(request)), pk)
    body = {
        "code": export.code,
        "verify_url": credit_verification_url(export.code),
        "pdf_sha256": export.pdf_sha256,
        **export.facts,
    }
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="credit-profile-{export.code}.json"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def credit_lookup(request: HttpRequest) -> HttpResponse:
    if "code" not in request.GET:
        return render(request, "trust/credit_lookup.html", {"form": CodeLookupForm()})
    form = CodeLookupForm(request.GET)
    if not form.is_valid():
        return render(request, "trust/credit_lookup.html", {"form": form}, status=400)
    return redirect("trust:credit_verify", form.cleaned_data["code"])


@require_GET
def credit_verify(request: HttpRequest, code: str) -> HttpResponse:
    export = selectors.export_by_code(code)
    if export is None:
        state = "unknown"
    elif export.consent.revoked_at is not None:
        state = "revoked"
    else:
        state = "valid"
    return render(
        request,
        "trust/credit_verify.html",
        {
            "state": state,
            "code": selectors.normalise_code(code) or code[:32],
            "export": export,
            "facts": export.facts if export is not None and state == "valid" else {},
            "form": CodeLookupForm(),
        },
        status=404 if export is None else 200,
    )
