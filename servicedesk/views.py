"""Pages of the service desk and licence assistance. Thin: forms check shapes, selectors decide what the caller
sees (404 otherwise), services decide what it may do (403 / 409 / 400 with a message)."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError, NotFound, NotPermitted
from core.http import acting_user
from organisations.access import Scope, capability_required, scope_for
from organisations.capabilities import Capability
from servicedesk import selectors, services
from servicedesk.forms import (
    ActionForm,
    CaseForm,
    CaseItemForm,
    CaseTransitionForm,
    MessageForm,
    QuotaForm,
    RatingForm,
    TicketForm,
)
from servicedesk.licences import catalogue
from servicedesk.models import CaseStatus, Category, TicketStatus


def _org(scope: Scope) -> Any:
    if scope.organisation is None:
        raise NotFound()
    return scope.organisation


def _form_errors(form: Any) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


# -- desk ---------------------------------------------------------------------------------------------------------
@capability_required()
@require_GET
def desk(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    org = _org(scope)
    tickets = selectors.tickets_for(scope)
    status = request.GET.get("status", "")
    if status in TicketStatus.values:
        tickets = tickets.filter(status=status)
    return render(
        request,
        "servicedesk/desk.html",
        {
            "mine": tickets.filter(requester=org)[:100],
            "queue": tickets.filter(operator=org)[:200] if scope.is_operator else [],
            "assigned": tickets.filter(provider=org)[:200],
            "quota": selectors.legal_quota(org),
            "is_member": services.operator_of(org) is not None,
            "members": selectors.member_quotas(scope) if scope.is_operator else [],
            "quota_form": QuotaForm(),
            "statuses": TicketStatus.choices,
            "status": status,
            "now": timezone.now(),
        },
    )


# -- tickets ------------------------------------------------------------------------------------------------------
@capability_required()
@require_http_methods(["GET", "POST"])
def ticket_new(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    org = _org(scope)
    initial = {"category": request.GET.get("category", Category.LEGAL)}
    form = TicketForm(request.POST or None, request.FILES or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = services.open_ticket(
                    requester=org,
                    actor=acting_user(request),
                    category=data["category"],
                    subject=data["subject"],
                    description=data["description"],
                    use_free_quota=data["use_free_quota"],
                    uploads=[data["attachment"]] if data.get("attachment") else [],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Ticket #%(id)s opened.") % {"id": ticket.pk})
                return redirect("servicedesk:ticket_detail", ticket.pk)
        status = 400
    return render(
        request,
        "servicedesk/ticket_new.html",
        {
            "form": form,
            "quota": selectors.legal_quota(org),
            "is_member": services.operator_of(org) is not None,
        },
        status=status,
    )


def _ticket_context(scope: Scope, ticket: Any, **extra: Any) -> dict[str, Any]:
    role = selectors.role_in(scope, ticket)
    context = {
        "ticket": ticket,
        "role": role,
        "message_form": MessageForm(),
        "action_form": ActionForm(),
        "rating_form": RatingForm(),
        "providers": selectors.providers_for(ticket.category) if role == "operator" else [],
        "now": timezone.now(),
    }
    context.update(extra)
    return context


@capability_required()
@require_GET
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    ticket = selectors.get_ticket(scope, pk)
    return render(request, "servicedesk/ticket_detail.html", _ticket_context(scope, ticket))


def _refused(
    request: HttpRequest, scope: Scope, pk: int, error: DomainError | str, **forms: Any
) -> HttpResponse:
    ticket = selectors.get_ticket(scope, pk)
    message = error.message if isinstance(error, DomainError) else error
    status = error.status_code if isinstance(error, DomainError) else 400
    return render(
        request,
        "servicedesk/ticket_detail.html",
        _ticket_context(scope, ticket, error=message, **forms),
        status=status,
    )


@capability_required()
@require_POST
def ticket_message(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    ticket = selectors.get_ticket(scope, pk)
    form = MessageForm(request.POST, request.FILES)
    if not form.is_valid():
        return _refused(request, scope, pk, _form_errors(form), message_form=form)
    try:
        services.post_message(
            ticket=ticket,
            organisation=_org(scope),
            actor=acting_user(request),
            body=form.cleaned_data["body"],
            uploads=[form.cleaned_data["attachment"]] if form.cleaned_data.get("attachment") else [],
        )
    except (NotPermitted, NotFound):
        raise
    except DomainError as exc:
        return _refused(request, scope, pk, exc, message_form=form)
    return redirect("servicedesk:ticket_detail", pk)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def ticket_route(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    ticket = selectors.get_ticket(scope, pk)
    provider = selectors.get_provider(request.POST.get("provider"))
    try:
        services.route_ticket(
            ticket=ticket, operator=_org(scope), actor=acting_user(request), provider=provider
        )
    except (NotPermitted, NotFound):
        raise
    except DomainError as exc:
        return _refused(request, scope, pk, exc)
    messages.success(request, _("Ticket routed to %(provider)s.") % {"provider": provider.name})
    return redirect("servicedesk:ticket_detail", pk)


@capability_required()
@require_POST
def ticket_action(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    ticket = selectors.get_ticket(scope, pk)
    form = ActionForm(request.POST)
    if not form.is_valid():
        return _refused(request, scope, pk, _form_errors(form), action_form=form)
    try:
        services.act_on_ticket(
            ticket=ticket,
            organisation=_org(scope),
            actor=acting_user(request),
            action=form.cleaned_data["action"],
            note=form.cleaned_data["note"],
        )
    except (NotPermitted, NotFound):
        raise
    except DomainError as exc:
        return _refused(request, scope, pk, exc, action_form=form)
    return redirect("servicedesk:ticket_detail", pk)


@capability_required()
@require_POST
def ticket_rate(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    ticket = selectors.get_ticket(scope, pk)
    form = RatingForm(request.POST)
    if not form.is_valid():
        return _refused(request, scope, pk, _form_errors(form), rating_form=form)
    try:
        services.rate_ticket(
            ticket=ticket,
            organisation=_org(scope),
            actor=acting_user(request),
            rating=form.cleaned_data["rating"],
            comment=form.cleaned_data["comment"],
        )
    except (NotPermitted, NotFound):
        raise
    except DomainError as exc:
        return _refused(request, scope, pk, exc, rating_form=form)
    messages.success(request, _("Thank you for your rating."))
    return redirect("servicedesk:ticket_detail", pk)


@capability_required()
@require_GET
def ticket_attachment(request: HttpRequest, pk: int) -> HttpResponse:
    attachment = selectors.get_ticket_attachment(scope_for(request), pk)
    try:
        handle = attachment.file.open("rb")
    except (OSError, ValueError):
        raise NotFound() from None
    return cast(HttpResponse, FileResponse(handle, as_attachment=True, filename=attachment.name))


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def quota_grant(request: HttpRequest, org_pk: int) -> HttpResponse:
    scope = scope_for(request)
    member = scope.get_member_organisation(org_pk)
    form = QuotaForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect("servicedesk:desk")
    try:
        services.grant_legal_quota(
            operator=_org(scope),
            organisation=member,
            actor=acting_user(request),
            consultations=form.cleaned_data["consultations"],
            starts_on=form.cleaned_data["starts_on"],
        )
    except (NotPermitted, NotFound):
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Free legal service of %(member)s updated.") % {"member": member.name})
    return redirect("servicedesk:desk")


# -- licence assistance ---------------------------------------------------------------------------------------------
@capability_required()
@require_GET
def licences(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    org = _org(scope)
    return render(
        request,
        "servicedesk/licences.html",
        {
            "catalogue": list(catalogue().values()),
            "cases": selectors.cases_for(scope)[:200],
            "is_member": services.operator_of(org) is not None,
        },
    )


@capability_required()
@require_POST
def case_new(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    form = CaseForm(request.POST)
    if not form.is_valid():
        raise DomainError(_form_errors(form))
    case = services.open_case(
        organisation=_org(scope),
        actor=acting_user(request),
        licence_code=form.cleaned_data["licence"],
        note=form.cleaned_data["note"],
    )
    messages.success(request, _("Licence case #%(id)s opened.") % {"id": case.pk})
    return redirect("servicedesk:case_detail", case.pk)


def _case_context(scope: Scope, case: Any, **extra: Any) -> dict[str, Any]:
    items = list(case.items.all())
    context = {
        "case": case,
        "role": selectors.case_role(scope, case),
        "items": items,
        "done": sum(1 for i in items if i.satisfied),
        "missing": [i for i in items if i.required and not i.satisfied],
        "statements": selectors.statements_for_case(case),
        "transitions": sorted(services.CASE_TRANSITIONS.get(case.status, set())),
        "statuses": dict(CaseStatus.choices),
    }
    context.update(extra)
    return context


@capability_required()
@require_GET
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    case = selectors.get_case(scope, pk)
    return render(request, "servicedesk/case_detail.html", _case_context(scope, case))


def _case_refused(request: HttpRequest, scope: Scope, pk: int, error: DomainError) -> HttpResponse:
    case = selectors.get_case(scope, pk)
    return render(
        request,
        "servicedesk/case_detail.html",
        _case_context(scope, case, error=error.message),
        status=error.status_code,
    )


@capability_required()
@require_POST
def case_item(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    item = selectors.get_case_item(scope, pk)
    form = CaseItemForm(request.POST, request.FILES)
    if not form.is_valid():
        return _case_refused(request, scope, item.case_id, DomainError(_form_errors(form)))
    upload = form.cleaned_data.get("document")
    try:
        services.update_case_item(
            item=item,
            organisation=_org(scope),
            actor=acting_user(request),
            done=form.cleaned_data["done"] if upload is None else None,
            upload=upload,
        )
    except (NotPermitted, NotFound):
        raise
    except DomainError as exc:
        return _case_refused(request, scope, item.case_id, exc)
    return redirect("servicedesk:case_detail", item.case_id)


@capability_required()
@require_POST
def case_statement(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    case = selectors.get_case(scope, pk)
    raw = request.POST.get("statement", "")
    statement = selectors.get_statement_for_case(case, raw) if raw else None
    try:
        services.link_site_statement(
            case=case, organisation=_org(scope), actor=acting_user(request), statement=statement
        )
    except (NotPermitted, NotFound):
        raise
    except DomainError as exc:
        return _case_refused(request, scope, pk, exc)
    return redirect("servicedesk:case_detail", pk)


@capability_required()
@require_POST
def case_transition(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    case = selectors.get_case(scope, pk)
    form = CaseTransitionForm(request.POST)
    if not form.is_valid():
        return _case_refused(request, scope, pk, DomainError(_form_errors(form)))
    try:
        services.transition_case(
            case=case,
            organisation=_org(scope),
            actor=acting_user(request),
            target=form.cleaned_data["target"],
            reference=form.cleaned_data["reference"],
            note=form.cleaned_data["note"],
        )
    except (NotPermitted, NotFound):
        raise
    except DomainError as exc:
        return _case_refused(request, scope, pk, exc)
    return redirect("servicedesk:case_detail", pk)


@capability_required()
@require_GET
def case_document(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.get_case_item(scope_for(request), pk)
    if not item.document:
        raise NotFound()
    try:
        handle = item.document.open("rb")
    except (OSError, ValueError):
        raise NotFound() from None
    return cast(
        HttpResponse, FileResponse(handle, as_attachment=True, filename=item.document_name or item.code)
    )
