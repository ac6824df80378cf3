"""Subsidy pages: the public policy catalogue and package verification; members' eligibility ("why ¥X"),
consent, expenses and commute trips; the operator's review queue, member eligibility and claim batches; the
authorities' reports. Views are thin: objects come from ``subsidies.selectors`` through the caller's
``Scope`` (foreign → 404), writes go through ``subsidies.services``; a refused rule comes back as a form
error or message with a 4xx status."""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError, NotFound, NotPermitted
from core.http import acting_user, redirect_back
from organisations.access import Scope, capability_required, scope_for
from organisations.capabilities import Capability, OrgKind
from organisations.models import Organisation
from subsidies import catalog, selectors, services
from subsidies.engine import Period
from subsidies.engine.schema import Policy
from subsidies.forms import (
    ApproveForm,
    CommuteForm,
    ConsentForm,
    DocumentForm,
    EvidenceForm,
    ExpenseFilterForm,
    ExpenseForm,
    FundsForm,
    OpenBatchForm,
    ReasonForm,
    ReferenceForm,
)
from subsidies.models import BatchStatus, ClaimBatch, Expense, ExpenseCategory, ExpenseStatus

EXPENSE_KINDS = (OrgKind.OPC, OrgKind.OPERATOR)


def _org(scope: Scope, *kinds: str) -> Organisation:
    """The caller's organisation, which must be of one of ``kinds`` (403 otherwise)."""
    org = scope.organisation
    if org is None or (kinds and org.kind not in kinds):
        raise NotPermitted()
    return org


def _apply_errors(form: Any, exc: Exception) -> None:
    """Put a service's error on the form: field errors where the form has the field, the rest on top."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    elif isinstance(exc, ValidationError):
        form.add_error(None, exc.messages)
    elif isinstance(exc, DomainError):
        form.add_error(None, exc.message)


def _status(exc: Exception) -> int:
    return exc.status_code if isinstance(exc, DomainError) else 400


def _period(request: HttpRequest) -> tuple[Period, str]:
    """The period asked for (``?period=2026-Q1``); a bad value falls back to this year with a message."""
    raw = request.GET.get("period", "")[:20]
    try:
        period = catalog.parse_period(raw)
    except DomainError as exc:
        messages.error(request, exc.message)
        period = catalog.parse_period("")
    return period, str(period)


def _download(file: Any, content_type: str, filename: str) -> HttpResponse:
    if not file:
        raise NotFound()
    try:
        handle = file.open("rb")
    except OSError:
        raise NotFound() from None
    response: Any = FileResponse(handle, content_type=content_type, filename=filename, as_attachment=False)
    response["Cache-Control"] = "private, no-store"
    return response


# -- public ------------------------------------------------------------------------------------------------------
@require_GET
def policies(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "subsidies/policies.html",
        {"policies": [(p, catalog.instrument_label(p)) for p in catalog.policies()]},
    )


@require_GET
def policy_detail(request: HttpRequest, policy_id: str) -> HttpResponse:
    policy = catalog.get_policy(policy_id)
    return render(
        request,
        "subsidies/policy_detail.html",
        {
            "policy": policy,
            "instrument": catalog.instrument_label(policy),
            "operator_applies": catalog.operator_applies(policy),
            "company_applies": catalog.company_applies(policy),
        },
    )


@require_GET
def package_verify(request: HttpRequest, code: str) -> HttpResponse:
    """Public check of an application package: reference code → policy, applicant, period, amount, status
    and the SHA-256 of the files (no member details)."""
    batch = selectors.batch_by_code(code)
    return render(
        request,
        "subsidies/package_verify.html",
        {"batch": batch, "code": code[:32]},
        status=200 if batch is not None else 404,
    )


# -- members -----------------------------------------------------------------------------------------------------
@capability_required()
@require_GET
def my(request: HttpRequest) -> HttpResponse:
    """Every policy for the caller's company in a period: what it qualifies for with expected amounts, what
    is missing for the others, its consents and the shares it received."""
    scope = scope_for(request)
    org = _org(scope, *EXPENSE_KINDS)
    period, label = _period(request)
    rows, _bundle = selectors.eligibility_for([org], period)
    mine = rows.get(org.pk, [])
    return render(
        request,
        "subsidies/my.html",
        {
            "org": org,
            "period": period,
            "period_label": label,
            "periods": catalog.period_choices(),
            "qualifies": [r for r in mine if r.qualifies],
            "almost": [r for r in mine if r.result.eligible and not r.qualifies],
            "not_yet": [r for r in mine if not r.result.eligible and r.in_region],
            "elsewhere": [r for r in mine if not r.result.eligible and not r.in_region],
            "shares": selectors.member_shares(org)[:50],
            "consents": selectors.active_consents(org),
        },
    )


def _why_context(
    request: HttpRequest, org: Organisation, policy: Policy, period: Period, *, operator_view: bool
) -> dict[str, Any]:
    row = selectors.eligibility_one(org, policy, period)
    return {
        "org": org,
        "policy": policy,
        "instrument": catalog.instrument_label(policy),
        "row": row,
        "result": row.result,
        "period": period,
        "period_label": str(period),
        "periods": catalog.period_choices(),
        "operator_view": operator_view,
        "as_operator": selectors.as_operator(row, org, period) if row.operator_applies else None,
        "consent_form": ConsentForm(
            policy=policy, initial={"payout": row.consent.payout} if row.consent else None
        ),
        "can_consent": not operator_view and row.needs_consent and org.kind == OrgKind.OPC,
    }


@capability_required()
@require_GET
def my_policy(request: HttpRequest, policy_id: str) -> HttpResponse:
    """为什么是 ¥X: each condition with the fact it used, each parameter with its value, date and source."""
    scope = scope_for(request)
    org = _org(scope, *EXPENSE_KINDS)
    policy = catalog.get_policy(policy_id)
    period, _label = _period(request)
    return render(
        request, "subsidies/why.html", _why_context(request, org, policy, period, operator_view=False)
    )


def _consent_action(request: HttpRequest, policy_id: str, give: bool) -> HttpResponse:
    scope = scope_for(request)
    org = _org(scope, OrgKind.OPC)
    policy = catalog.get_policy(policy_id)
    period, _label = _period(request)
    form = ConsentForm(request.POST or None, policy=policy)
    try:
        if give:
            if not form.is_valid():
                raise ValidationError(
                    form.errors.as_data().get("payout", [_("Choose how to take the share.")])
                )
            services.give_consent(
                organisation=org,
                policy=policy,
                payout=form.cleaned_data["payout"],
                actor=acting_user(request),
            )
            messages.success(request, _("Consent recorded: your operator may claim this subsidy for you."))
        else:
            services.revoke_consent(organisation=org, policy=policy, actor=acting_user(request))
            messages.success(request, _("Consent withdrawn: later claims leave you out."))
    except (DomainError, ValidationError) as exc:
        context = _why_context(request, org, policy, period, operator_view=False)
        _apply_errors(form, exc)
        context["consent_form"] = form
        return render(request, "subsidies/why.html", context, status=_status(exc))
    return redirect(reverse("subsidies:my_policy", args=[policy.id]) + f"?period={period}")


@capability_required(Capability.ORG_MANAGE)
@require_POST
def consent(request: HttpRequest, policy_id: str) -> HttpResponse:
    return _consent_action(request, policy_id, give=True)


@capability_required(Capability.ORG_MANAGE)
@require_POST
def consent_revoke(request: HttpRequest, policy_id: str) -> HttpResponse:
    return _consent_action(request, policy_id, give=False)


@capability_required()
@require_GET
def my_share(request: HttpRequest, pk: int) -> HttpResponse:
    """The member's share of a batch with the reason: its amount's trace and how the funds were split."""
    line = selectors.member_line(scope_for(request), pk)
    batch = line.batch
    return render(
        request,
        "subsidies/share.html",
        {"line": line, "batch": batch, "distribution": _distribution_text(batch, line)},
    )


def _distribution_text(batch: ClaimBatch, line: Any) -> dict[str, Any]:
    return {
        "received": batch.received_amount,
        "claimed": batch.claimed_amount,
        "eligible": line.eligible_amount,
        "share": line.share,
        "ratio": (batch.received_amount / batch.claimed_amount * 100).quantize(1)
        if batch.received_amount and batch.claimed_amount
        else None,
    }


def _expenses_context(
    request: HttpRequest, org: Organisation, form: Any | None = None, *, commute: bool = False
) -> dict[str, Any]:
    categories = services.allowed_categories(org)
    filters = ExpenseFilterForm(request.GET or None)
    status = filters.cleaned_data["status"] if filters.is_valid() else ""
    qs = selectors.filter_expenses(selectors.expenses_of(org), status=status)
    if commute:
        qs = qs.filter(category=ExpenseCategory.TRAIN_TICKET)
    return {
        "org": org,
        "form": form or (CommuteForm() if commute else ExpenseForm(categories=categories)),
        "filters": filters,
        "page": Paginator(qs, 25).get_page(request.GET.get("page")),
        "own_declaration": org.kind == OrgKind.OPERATOR,
    }


@capability_required()
@require_http_methods(["GET", "POST"])
def expenses(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    org = _org(scope, *EXPENSE_KINDS)
    if request.method == "GET":
        return render(request, "subsidies/expenses.html", _expenses_context(request, org))
    scope.require(Capability.ORG_MANAGE)
    form = ExpenseForm(request.POST, request.FILES, categories=services.allowed_categories(org))
    if form.is_valid():
        data = form.cleaned_data
        try:
            expense = services.record_expense(organisation=org, actor=acting_user(request), **data)
        except (DomainError, ValidationError) as exc:
            _apply_errors(form, exc)
            status = _status(exc)
        else:
            _recorded_message(request, expense)
            return redirect("subsidies:expenses")
    else:
        status = 400
    return render(request, "subsidies/expenses.html", _expenses_context(request, org, form), status=status)


def _recorded_message(request: HttpRequest, expense: Expense) -> None:
    if expense.duplicate_of_id:
        messages.warning(
            request,
            _(
                "Recorded, but flagged: another member already recorded the same invoice. The operator will "
                "review it as a possible duplicate; an invoice is subsidised only once."
            ),
        )
    elif expense.status == ExpenseStatus.APPROVED:
        messages.success(request, _("Expense recorded."))
    else:
        messages.success(request, _("Expense recorded; your community operator reviews it."))


@capability_required()
@require_http_methods(["GET", "POST"])
def commute(request: HttpRequest) -> HttpResponse:
    """Weekend trips with their train-ticket invoices (通勤券): reimbursed within the policy's caps through the
    operator's claims; the month's reimbursable amount is shown as the engine computes it."""
    scope = scope_for(request)
    org = _org(scope, OrgKind.OPC)
    form = None
    status = 200
    if request.method == "POST":
        scope.require(Capability.ORG_MANAGE)
        form = CommuteForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                expense = services.record_expense(
                    organisation=org,
                    actor=acting_user(request),
                    category=ExpenseCategory.TRAIN_TICKET,
                    description=_("Weekend trip"),
                    **data,
                )
            except (DomainError, ValidationError) as exc:
                _apply_errors(form, exc)
                status = _status(exc)
            else:
                _recorded_message(request, expense)
                if expense.spent_on.weekday() < 5:
                    messages.warning(
                        request, _("This trip was on a weekday: the commute voucher covers weekends only.")
                    )
                return redirect("subsidies:commute")
        else:
            status = 400
    context = _expenses_context(request, org, form, commute=True)
    policy = catalog.get_policy("yongjia-commute-voucher")
    today = timezone.localdate()
    months = [Period.month(today.year, m) for m in range(today.month, 0, -1)][:6]
    monthly = []
    for month in months:
        row = selectors.eligibility_one(org, policy, month)
        monthly.append((month, row))
    context.update({"policy": policy, "monthly": monthly})
    return render(request, "subsidies/commute.html", context, status=status)


@capability_required()
@require_GET
def expense_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    expense = selectors.expense_for(scope, pk)
    return render(request, "subsidies/expense_detail.html", _expense_context(scope, expense))


def _expense_context(scope: Scope, expense: Expense, **forms: Any) -> dict[str, Any]:
    own = scope.organisation is not None and expense.organisation_id == scope.organisation.pk
    reviewer = expense.organisation_id in scope.managed_member_ids() and scope.has(Capability.MEMBERS_VERIFY)
    context = {
        "expense": expense,
        "own": own,
        "reviewer": reviewer,
        "evidence_form": EvidenceForm(),
        "reject_form": ReasonForm(),
    }
    context.update(forms)
    return context


@capability_required(Capability.ORG_MANAGE)
@require_POST
def expense_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    expense = selectors.expense_for(scope, pk)
    if scope.organisation is None or expense.organisation_id != scope.organisation.pk:
        raise NotFound()
    form = EvidenceForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.attach_evidence(
                expense=expense, evidence=form.cleaned_data["evidence"], actor=acting_user(request)
            )
        except (DomainError, ValidationError) as exc:
            _apply_errors(form, exc)
            return render(
                request,
                "subsidies/expense_detail.html",
                _expense_context(scope, expense, evidence_form=form),
                status=_status(exc),
            )
        messages.success(request, _("Invoice file attached."))
        return redirect("subsidies:expense_detail", expense.pk)
    return render(
        request,
        "subsidies/expense_detail.html",
        _expense_context(scope, expense, evidence_form=form),
        status=400,
    )


@capability_required()
@require_GET
def expense_file(request: HttpRequest, pk: int) -> HttpResponse:
    expense = selectors.expense_for(scope_for(request), pk)
    name = expense.evidence_name or f"invoice-{expense.pk}"
    kind = "application/pdf" if name.lower().endswith(".pdf") else "application/octet-stream"
    return _download(expense.evidence, kind, name)


@capability_required()
@require_http_methods(["GET", "POST"])
def documents(request: HttpRequest) -> HttpResponse:
    """Contracts, reports and proofs the policies ask for: once approved by the operator, a claim that needed
    them becomes 免申即享."""
    scope = scope_for(request)
    org = _org(scope, *EXPENSE_KINDS)
    kinds = services.allowed_document_kinds(org)
    form = DocumentForm(kinds=kinds)
    status = 200
    if request.method == "POST":
        scope.require(Capability.ORG_MANAGE)
        form = DocumentForm(request.POST, request.FILES, kinds=kinds)
        if form.is_valid():
            try:
                services.upload_document(organisation=org, actor=acting_user(request), **form.cleaned_data)
            except (DomainError, ValidationError) as exc:
                _apply_errors(form, exc)
                status = _status(exc)
            else:
                messages.success(request, _("Document uploaded; your community operator reviews it."))
                return redirect("subsidies:documents")
        else:
            status = 400
    return render(
        request,
        "subsidies/documents.html",
        {"org": org, "form": form, "documents": selectors.documents_of(org)[:200]},
        status=status,
    )


@capability_required()
@require_GET
def document_file(request: HttpRequest, pk: int) -> HttpResponse:
    document = selectors.document_for(scope_for(request), pk)
    name = document.file_name or f"document-{document.pk}"
    kind = "application/pdf" if name.lower().endswith(".pdf") else "application/octet-stream"
    return _download(document.file, kind, name)


def _document_action(request: HttpRequest, pk: int, approve: bool) -> HttpResponse:
    scope = scope_for(request)
    operator = _org(scope, OrgKind.OPERATOR)
    document = selectors.document_for(scope, pk, reviewer=True)
    try:
        if approve:
            services.approve_document(document=document, operator=operator, actor=acting_user(request))
        else:
            services.reject_document(
                document=document,
                operator=operator,
                actor=acting_user(request),
                reason=request.POST.get("reason", "")[:300],
            )
    except (DomainError, ValidationError) as exc:
        messages.error(request, exc.message if isinstance(exc, DomainError) else " ".join(exc.messages))
        return render(request, "subsidies/review.html", _review_context(request, scope), status=_status(exc))
    messages.success(request, _("Document reviewed."))
    return redirect_back(request, "subsidies:review")


@capability_required(Capability.MEMBERS_VERIFY)
@require_POST
def document_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _document_action(request, pk, approve=True)


@capability_required(Capability.MEMBERS_VERIFY)
@require_POST
def document_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _document_action(request, pk, approve=False)


# -- operator: review --------------------------------------------------------------------------------------------
def _review_context(request: HttpRequest, scope: Scope, **extra: Any) -> dict[str, Any]:
    status = request.GET.get("status", ExpenseStatus.SUBMITTED)
    if status not in ExpenseStatus.values:
        status = ExpenseStatus.SUBMITTED
    qs = selectors.review_queue(scope, status=status)
    context = {
        "page": Paginator(qs, 30).get_page(request.GET.get("page")),
        "documents": selectors.document_queue(scope)[:100],
        "status": status,
        "statuses": ExpenseStatus.choices,
        "reject_form": ReasonForm(),
        "period_start": f"{timezone.localdate().year}-01-01",
    }
    context.update(extra)
    return context


@capability_required(Capability.MEMBERS_VERIFY)
@require_GET
def review(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    _org(scope, OrgKind.OPERATOR)
    return render(request, "subsidies/review.html", _review_context(request, scope))


def _review_action(
    request: HttpRequest, pk: int, action: Callable[..., Expense], **kwargs: Any
) -> HttpResponse:
    scope = scope_for(request)
    operator = _org(scope, OrgKind.OPERATOR)
    expense = selectors.expense_for(scope, pk, reviewer=True)
    try:
        done = action(expense=expense, operator=operator, actor=acting_user(request), **kwargs)
    except (DomainError, ValidationError) as exc:
        message = exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
        messages.error(request, message)
        return render(request, "subsidies/review.html", _review_context(request, scope), status=_status(exc))
    if done.status == ExpenseStatus.APPROVED:
        messages.success(request, _("Expense of %(org)s approved.") % {"org": done.organisation.name})
    else:
        messages.success(request, _("Expense of %(org)s rejected.") % {"org": done.organisation.name})
    return redirect_back(request, "subsidies:review")


@capability_required(Capability.MEMBERS_VERIFY)
@require_POST
def expense_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _review_action(request, pk, services.approve_expense)


@capability_required(Capability.MEMBERS_VERIFY)
@require_POST
def expense_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _review_action(request, pk, services.reject_expense, reason=request.POST.get("reason", "")[:300])


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def import_usage(request: HttpRequest) -> HttpResponse:
    """Import the members' gateway usage of this year's closed months as metered token-fee expenses."""
    scope = scope_for(request)
    _org(scope, OrgKind.OPERATOR)
    today = timezone.localdate()
    created = services.import_gateway_usage(
        organisations=scope.member_organisations(),
        start=today.replace(month=1, day=1),
        end=today,
        actor=acting_user(request),
    )
    messages.success(request, _("%(count)d monthly gateway statements imported.") % {"count": len(created)})
    return redirect("subsidies:review")


# -- operator: members' eligibility ------------------------------------------------------------------------------
@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def members(request: HttpRequest) -> HttpResponse:
    """Members × the policies the operator can claim for: amounts, consent, what is missing."""
    scope = scope_for(request)
    _org(scope, OrgKind.OPERATOR)
    period, label = _period(request)
    chosen = [p for p in catalog.policies() if catalog.operator_applies(p) and not catalog.own_claim(p)]
    orgs = list(scope.member_organisations().filter(kind=OrgKind.OPC).order_by("name")[:200])
    rows, _bundle = selectors.eligibility_for(orgs, period, policies=chosen)
    table = [(org, rows.get(org.pk, [])) for org in orgs]
    return render(
        request,
        "subsidies/members.html",
        {
            "policies": chosen,
            "table": table,
            "period": period,
            "period_label": label,
            "periods": catalog.period_choices(),
        },
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def member_policy(request: HttpRequest, org_pk: int, policy_id: str) -> HttpResponse:
    scope = scope_for(request)
    org = scope.get_member_organisation(org_pk)
    policy = catalog.get_policy(policy_id)
    period, _label = _period(request)
    return render(
        request, "subsidies/why.html", _why_context(request, org, policy, period, operator_view=True)
    )


# -- operator: batches -------------------------------------------------------------------------------------------
@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def batches(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    operator = _org(scope, OrgKind.OPERATOR)
    form = OpenBatchForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                batch = services.open_batch(
                    operator=operator,
                    policy=catalog.get_policy(data["policy"]),
                    period=catalog.parse_period(data["period"]),
                    kind=data["kind"],
                    actor=acting_user(request),
                )
            except (DomainError, ValidationError) as exc:
                _apply_errors(form, exc)
                status = _status(exc)
            else:
                messages.success(
                    request, _("Draft batch opened: check the members and amounts, then submit.")
                )
                return redirect("subsidies:batch_detail", batch.pk)
        else:
            status = 400
    qs = selectors.batches_for(scope).filter(operator=operator)
    return render(
        request,
        "subsidies/batches.html",
        {"page": Paginator(qs, 25).get_page(request.GET.get("page")), "form": form},
        status=status,
    )


def _batch_context(scope: Scope, batch: ClaimBatch, **forms: Any) -> dict[str, Any]:
    context = {
        "batch": batch,
        "lines": selectors.batch_lines(batch),
        "audit": selectors.batch_audit(batch),
        "review_form": ReferenceForm(),
        "approve_form": ApproveForm(initial={"amount": batch.claimed_amount}),
        "reject_form": ReasonForm(),
        "funds_form": FundsForm(
            initial={"amount": batch.approved_amount, "received_on": timezone.localdate().isoformat()}
        ),
        "manage": True,
        "verify_url": reverse("subsidies:package_verify", args=[batch.code]),
        "S": BatchStatus,
    }
    context.update(forms)
    return context


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    batch = selectors.batch_for(scope, pk, manage=True)
    return render(request, "subsidies/batch_detail.html", _batch_context(scope, batch))


def _batch_action(
    request: HttpRequest,
    pk: int,
    run: Callable[[ClaimBatch, Any], Any],
    form_name: str = "",
    form: Any = None,
    done: str = "",
) -> HttpResponse:
    scope = scope_for(request)
    batch = selectors.batch_for(scope, pk, manage=True)
    try:
        if form is not None and not form.is_valid():
            raise ValidationError(_("Check the highlighted fields."))
        run(batch, acting_user(request))
    except (DomainError, ValidationError) as exc:
        forms = {}
        if form is not None:
            _apply_errors(form, exc)
            forms[form_name] = form
        else:
            messages.error(request, exc.message if isinstance(exc, DomainError) else " ".join(exc.messages))
        batch.refresh_from_db()
        return render(
            request, "subsidies/batch_detail.html", _batch_context(scope, batch, **forms), status=_status(exc)
        )
    if done:
        messages.success(request, done)
    return redirect("subsidies:batch_detail", batch.pk)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def batch_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    return _batch_action(
        request, pk, lambda b, u: services.refresh_batch(batch=b, actor=u), done=_("Amounts recomputed.")
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def batch_submit(request: HttpRequest, pk: int) -> HttpResponse:
    return _batch_action(
        request,
        pk,
        lambda b, u: services.submit_batch(batch=b, actor=u),
        done=_("Batch submitted; the application package is ready."),
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def batch_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _batch_action(
        request, pk, lambda b, u: services.cancel_batch(batch=b, actor=u), done=_("Batch cancelled.")
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def batch_review(request: HttpRequest, pk: int) -> HttpResponse:
    form = ReferenceForm(request.POST)
    return _batch_action(
        request,
        pk,
        lambda b, u: services.start_review(batch=b, actor=u, reference=form.cleaned_data["reference"]),
        "review_form",
        form,
        _("Recorded: the authority is reviewing the claim."),
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def batch_approve(request: HttpRequest, pk: int) -> HttpResponse:
    form = ApproveForm(request.POST)
    return _batch_action(
        request,
        pk,
        lambda b, u: services.approve_batch(
            batch=b, actor=u, amount=form.cleaned_data["amount"], reference=form.cleaned_data["reference"]
        ),
        "approve_form",
        form,
        _("Approval recorded."),
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def batch_reject(request: HttpRequest, pk: int) -> HttpResponse:
    form = ReasonForm(request.POST)
    return _batch_action(
        request,
        pk,
        lambda b, u: services.reject_batch(batch=b, actor=u, reason=form.cleaned_data["reason"]),
        "reject_form",
        form,
        _("Refusal recorded; the members may be claimed again."),
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def batch_funds(request: HttpRequest, pk: int) -> HttpResponse:
    form = FundsForm(request.POST)
    return _batch_action(
        request,
        pk,
        lambda b, u: services.record_funds(
            batch=b, actor=u, amount=form.cleaned_data["amount"], received_on=form.cleaned_data["received_on"]
        ),
        "funds_form",
        form,
        _("Funds recorded in the subsidy pool."),
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def batch_distribute(request: HttpRequest, pk: int) -> HttpResponse:
    return _batch_action(
        request,
        pk,
        lambda b, u: services.distribute_batch(batch=b, actor=u),
        done=_("Funds distributed to the members."),
    )


def _report_batch(request: HttpRequest, pk: int) -> ClaimBatch:
    """A batch for its operator or an overseeing authority (404 for anybody else)."""
    scope = scope_for(request)
    if not (scope.has(Capability.COMMUNITY_MANAGE) or scope.has(Capability.OVERSIGHT_VIEW)):
        raise NotPermitted()
    return selectors.batch_for(scope, pk)


@capability_required()
@require_GET
def batch_package(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    batch = _report_batch(request, pk)
    if kind == "pdf":
        return _download(batch.package_pdf, "application/pdf", f"claim-{batch.code}.pdf")
    if kind == "xlsx":
        return _download(
            batch.package_xlsx,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"claim-{batch.code}.xlsx",
        )
    if kind == "csv":
        if batch.status == BatchStatus.DRAFT:
            raise NotFound()
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="evidence-{batch.code}.csv"'
        response.write("\ufeff")
        columns = [
            "no",
            "member",
            "member_uscc",
            "category",
            "date",
            "amount",
            "invoice_code",
            "invoice_number",
            "seller",
            "seller_uscc",
            "source",
            "file",
            "sha256",
            "reviewed_at",
        ]
        writer = csv.writer(response)
        writer.writerow(columns)
        for row in batch.evidence_index:
            writer.writerow([row.get(c, "") for c in columns])
        return response
    raise NotFound()


# -- authorities -------------------------------------------------------------------------------------------------
def _oversight_scope(request: HttpRequest) -> Scope:
    scope = scope_for(request)
    if not (
        scope.has(Capability.OVERSIGHT_VIEW) or (scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE))
    ):
        raise NotPermitted()
    return scope


@capability_required()
@require_GET
def oversight(request: HttpRequest) -> HttpResponse:
    """Payout-cycle figures and subsidies by policy, community and category; every batch's audit report."""
    scope = _oversight_scope(request)
    qs = selectors.batches_for(scope).exclude(status=BatchStatus.DRAFT)
    return render(
        request,
        "subsidies/oversight.html",
        {"report": selectors.report(qs), "page": Paginator(qs, 25).get_page(request.GET.get("page"))},
    )


@capability_required()
@require_GET
def oversight_csv(request: HttpRequest) -> HttpResponse:
    scope = _oversight_scope(request)
    qs = selectors.batches_for(scope).exclude(status=BatchStatus.DRAFT)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="subsidy-batches.csv"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(
        [
            "code",
            "operator",
            "policy",
            "period",
            "status",
            "claimed",
            "approved",
            "received",
            "distributed",
            "submitted_at",
            "funds_received_on",
            "payout_days",
        ]
    )
    for b in qs:
        writer.writerow(
            [
                b.code,
                b.operator.name,
                b.policy_id,
                b.period_label,
                b.status,
                b.claimed_amount,
                b.approved_amount or "",
                b.received_amount or "",
                b.distributed_amount or "",
                b.submitted_at.isoformat() if b.submitted_at else "",
                b.funds_received_on or "",
                b.payout_days if b.payout_days is not None else "",
            ]
        )
    return response


@capability_required()
@require_GET
def batch_report(request: HttpRequest, pk: int) -> HttpResponse:
    """A batch's audit report: timeline, members and amounts with their traces, ledger postings, audit trail."""
    batch = _report_batch(request, pk)
    if batch.status == BatchStatus.DRAFT and not scope_for(request).is_operator:
        raise NotFound()
    return render(
        request,
        "subsidies/batch_report.html",
        {
            "batch": batch,
            "lines": selectors.batch_lines(batch),
            "audit": selectors.batch_audit(batch),
            "verify_url": reverse("subsidies:package_verify", args=[batch.code]),
        },
    )
