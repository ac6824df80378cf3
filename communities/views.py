"""Community pages: the public directory and statement verification, the operator's management pages and the
authorities' oversight page. Views are thin: objects come from the caller's ``Scope`` (foreign → 404), writes
go through ``communities.services`` and a refused rule comes back as a form error with a 4xx status."""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, When
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from communities import selectors
from communities.forms import (
    AssignForm,
    CommunityForm,
    EndResidencyForm,
    IssueStatementForm,
    NetworkForm,
    RevokeStatementForm,
    StatementLookupForm,
    WorkstationBatchForm,
    WorkstationStatusForm,
)
from communities.models import Community, Residency, SiteStatement, Workstation
from communities.services import (
    add_workstations,
    assign_workstation,
    create_community,
    create_network,
    end_residency,
    issue_site_statement,
    residency_is_current,
    revoke_site_statement,
    set_workstation_status,
    update_community,
)
from core.errors import DomainError, NotFound
from core.http import acting_user
from organisations.access import Scope, capability_required, scope_for
from organisations.capabilities import Capability, OrgKind
from organisations.models import Organisation, Skill


def _operator(scope: Scope) -> Organisation:
    """The caller's active organisation (an operator on the operator pages)."""
    org = scope.organisation
    if org is None:  # pragma: no cover - capability_required guarantees an organisation
        raise NotFound()
    return org


def _form_error(form: Any, exc: DomainError) -> None:
    form.add_error(None, exc.message)


# -- public ------------------------------------------------------------------------------------------------------
@require_GET
def directory(request: HttpRequest) -> HttpResponse:
    city = request.GET.get("city", "")[:40]
    sector = request.GET.get("sector", "")[:40]
    text = request.GET.get("q", "")[:60]
    qs = selectors.public_communities(city=city, sector=sector, text=text)
    page = Paginator(qs, 24).get_page(request.GET.get("page"))
    return render(
        request,
        "communities/directory.html",
        {
            "page": page,
            "cities": selectors.public_cities(),
            "sectors": Skill.objects.all(),
            "city": city,
            "sector": sector,
            "q": text,
            "summary": selectors.public_directory_summary(),
        },
    )


@require_GET
def public_detail(request: HttpRequest, pk: int) -> HttpResponse:
    community = selectors.public_community(pk)
    if community is None:
        raise NotFound()
    return render(
        request,
        "communities/public_detail.html",
        {
            "community": community,
            "zones": selectors.zone_summary(community),
            "is_manager": pk in scope_for(request).managed_community_ids,
        },
    )


@require_GET
def statement_lookup(request: HttpRequest) -> HttpResponse:
    if "code" not in request.GET:
        return render(request, "communities/statement_lookup.html", {"form": StatementLookupForm()})
    form = StatementLookupForm(request.GET)
    if not form.is_valid():
        return render(request, "communities/statement_lookup.html", {"form": form}, status=400)
    return redirect("communities:statement_verify", form.cleaned_data["code"])


@require_GET
def statement_verify(request: HttpRequest, code: str) -> HttpResponse:
    statement = selectors.statement_by_code(code)
    if statement is None:
        state = "unknown"
    elif statement.revoked_at is not None:
        state = "revoked"
    else:
        state = "valid"
    return render(
        request,
        "communities/statement_verify.html",
        {
            "state": state,
            "code": selectors.normalise_code(code) or code[:32],
            "statement": statement,
            "facts": statement.facts if statement else {},
            "residency_ended_on": statement.residency.end_date if statement else None,
            "form": StatementLookupForm(),
        },
        status=404 if statement is None else 200,
    )


# -- operator: communities -----------------------------------------------------------------------------------------
@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def manage_list(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    operator = _operator(scope)
    form = CommunityForm(request.POST or None, operator=operator)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                community = create_community(
                    operator=operator,
                    actor=acting_user(request),
                    network=data["network"],
                    sectors=list(data["sectors"]),
                    **form.values(),
                )
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Community %(name)s created.") % {"name": community.name})
                return redirect("communities:manage_detail", community.pk)
        status = 400
    return render(request, "communities/manage_list.html", _list_context(scope, form=form), status=status)


def _list_context(scope: Scope, **forms: Any) -> dict[str, Any]:
    managed = scope.managed_communities()
    context = {
        "communities": selectors.communities_with_occupancy(managed).order_by("name"),
        "totals": selectors.occupancy_totals(managed),
        "networks": _operator(scope).community_networks.order_by("name"),
        "form": CommunityForm(operator=_operator(scope)),
        "network_form": NetworkForm(),
    }
    context.update(forms)
    return context


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def network_create(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    form = NetworkForm(request.POST)
    if form.is_valid():
        try:
            network = create_network(
                operator=_operator(scope),
                actor=acting_user(request),
                **form.cleaned_data,
            )
        except DomainError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("Network %(name)s created.") % {"name": network.name})
            return redirect("communities:manage_list")
    return render(
        request, "communities/manage_list.html", _list_context(scope, network_form=form), status=400
    )


def _detail_context(request: HttpRequest, community: Community, **forms: Any) -> dict[str, Any]:
    scope = scope_for(request)
    context: dict[str, Any] = {
        "community": selectors.communities_with_occupancy(Community.objects.filter(pk=community.pk)).get(),
        "workstations": selectors.workstations_of(community),
        "residencies": selectors.residencies_of(community, current_only=True),
        "past_residencies": selectors.residencies_of(community).filter(end_date__isnull=False)[:50],
        "statements": selectors.statements_of(community)[:100],
        "batch_form": WorkstationBatchForm(),
        "status_form": WorkstationStatusForm(),
        "end_form": EndResidencyForm(),
        "statement_form": IssueStatementForm(),
        "revoke_form": RevokeStatementForm(),
        "can_issue": scope.has(Capability.STATEMENTS_ISSUE),
        "zones": selectors.zone_summary(community),
    }
    context.update(forms)
    return context


@capability_required(Capability.COMMUNITY_MANAGE)
@require_GET
def manage_detail(request: HttpRequest, pk: int) -> HttpResponse:
    community = scope_for(request).get_managed_community(pk)
    return render(request, "communities/manage_detail.html", _detail_context(request, community))


@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def manage_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    community = scope.get_managed_community(pk)
    form = CommunityForm(request.POST or None, instance=community, operator=_operator(scope))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            community.refresh_from_db()  # the form mutated the instance; the service diffs stored values
            try:
                update_community(
                    community=community,
                    actor=acting_user(request),
                    values=form.values(),
                    network=data["network"],
                    sectors=list(data["sectors"]),
                )
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("communities:manage_detail", community.pk)
        status = 400
    return render(
        request, "communities/manage_edit.html", {"form": form, "community": community}, status=status
    )


# -- operator: workstations -----------------------------------------------------------------------------------------
@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def workstations_add(request: HttpRequest, pk: int) -> HttpResponse:
    community = scope_for(request).get_managed_community(pk)
    form = WorkstationBatchForm(request.POST)
    ok = False
    if form.is_valid():
        data = form.cleaned_data
        try:
            created = add_workstations(
                community=community,
                actor=acting_user(request),
                zone=data["zone"],
                prefix=data["prefix"],
                first=data["first"],
                last=data["last"],
                width=data["width"],
            )
        except DomainError as exc:
            _form_error(form, exc)
        else:
            ok = True
            message = ngettext(
                "%(count)d workstation added.", "%(count)d workstations added.", len(created)
            ) % {"count": len(created)}
    if request.htmx:  # type: ignore[attr-defined]
        context = _detail_context(request, community, batch_form=WorkstationBatchForm() if ok else form)
        if ok:
            context["batch_message"] = message
        return render(request, "communities/_workstations.html", context, status=200 if ok else 400)
    if ok:
        messages.success(request, message)
        return redirect(reverse("communities:manage_detail", args=[community.pk]) + "#workstations")
    return render(
        request,
        "communities/manage_detail.html",
        _detail_context(request, community, batch_form=form),
        status=400,
    )


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def workstation_status(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    workstation: Workstation = selectors.managed_object(scope, Workstation, pk, "community")
    form = WorkstationStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid status."))
        return _back_to_detail(request, workstation.community_id, status=400)
    try:
        set_workstation_status(
            workstation=workstation,
            status=form.cleaned_data["status"],
            actor=acting_user(request),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return _back_to_detail(request, workstation.community_id, status=exc.status_code)
    messages.success(request, _("Workstation %(code)s updated.") % {"code": workstation.code})
    return redirect(reverse("communities:manage_detail", args=[workstation.community_id]) + "#workstations")


def _back_to_detail(request: HttpRequest, community_id: int, *, status: int) -> HttpResponse:
    """Re-render the management page with a 4xx status (the error is in the messages or the form)."""
    community = Community.objects.get(pk=community_id)
    return render(
        request, "communities/manage_detail.html", _detail_context(request, community), status=status
    )


# -- operator: residencies --------------------------------------------------------------------------------------------
@capability_required(Capability.COMMUNITY_MANAGE)
@require_http_methods(["GET", "POST"])
def assign_for(request: HttpRequest, org_pk: int) -> HttpResponse:
    scope = scope_for(request)
    org = scope.get_member_organisation(org_pk)
    # The member's own community first, then the operator's other communities.
    workstations = selectors.available_workstations(scope.managed_communities()).order_by(
        Case(When(community_id=org.home_community_id, then=0), default=1), "community__name", "zone", "code"
    )
    form = AssignForm(request.POST or None, workstations=workstations)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                residency = assign_workstation(
                    workstation=data["workstation"],
                    organisation=org,
                    start_date=data["start_date"],
                    monthly_rent=data["monthly_rent"],
                    actor=acting_user(request),
                )
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(
                    request,
                    _("%(org)s now has workstation %(code)s.")
                    % {"org": org.name, "code": residency.workstation.code},
                )
                return redirect("communities:manage_detail", residency.workstation.community_id)
        status = 400
    current = selectors.open_residencies().filter(organisation=org).select_related("workstation__community")
    return render(
        request,
        "communities/assign.html",
        {
            "org": org,
            "form": form,
            "is_opc": org.kind == OrgKind.OPC,
            "current": current,
            "has_workstations": workstations.exists(),
        },
        status=status,
    )


def _detail_action(
    request: HttpRequest,
    community: Community,
    form: Any,
    action: Callable[[dict[str, Any]], Any],
    *,
    success: Callable[[Any, dict[str, Any]], str],
    invalid: str,
    anchor: str,
) -> HttpResponse:
    """Run one form-backed action of the community page: on success redirect back to ``anchor`` with a
    message; on bad input or a refused rule re-render the page with the error and change nothing."""
    if not form.is_valid():
        messages.error(request, invalid)
        return render(
            request, "communities/manage_detail.html", _detail_context(request, community), status=400
        )
    try:
        result = action(form.cleaned_data)
    except DomainError as exc:
        messages.error(request, exc.message)
        return render(
            request,
            "communities/manage_detail.html",
            _detail_context(request, community),
            status=exc.status_code,
        )
    messages.success(request, success(result, form.cleaned_data))
    return redirect(reverse("communities:manage_detail", args=[community.pk]) + anchor)


@capability_required(Capability.COMMUNITY_MANAGE)
@require_POST
def residency_end(request: HttpRequest, pk: int) -> HttpResponse:
    residency: Residency = selectors.managed_object(
        scope_for(request), Residency, pk, "workstation__community"
    )
    return _detail_action(
        request,
        residency.workstation.community,
        EndResidencyForm(request.POST),
        lambda data: end_residency(
            residency=residency, end_date=data["end_date"], actor=acting_user(request)
        ),
        success=lambda _r, data: _("The residency ends on %(date)s.") % {"date": data["end_date"]},
        invalid=_("Enter the last day of the residency as a date."),
        anchor="#residencies",
    )


# -- operator: site statements ------------------------------------------------------------------------------------------
@capability_required(Capability.STATEMENTS_ISSUE)
@require_POST
def statement_issue(request: HttpRequest, pk: int) -> HttpResponse:
    residency: Residency = selectors.managed_object(
        scope_for(request), Residency, pk, "workstation__community"
    )
    return _detail_action(
        request,
        residency.workstation.community,
        IssueStatementForm(request.POST),
        lambda data: issue_site_statement(
            residency=residency, purpose=data["purpose"], actor=acting_user(request)
        ),
        success=lambda statement, _d: (
            _("Site statement %(code)s issued. Download the PDF below.") % {"code": statement.code}
        ),
        invalid=_("Say what the statement is for (e.g. the licence being applied for)."),
        anchor="#statements",
    )


@capability_required(Capability.STATEMENTS_ISSUE)
@require_POST
def statement_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    statement: SiteStatement = selectors.managed_object(
        scope_for(request), SiteStatement, pk, "residency__workstation__community"
    )
    return _detail_action(
        request,
        statement.residency.workstation.community,
        RevokeStatementForm(request.POST),
        lambda data: revoke_site_statement(
            statement=statement, reason=data["reason"], actor=acting_user(request)
        ),
        success=lambda _r, _d: _("Statement %(code)s revoked.") % {"code": statement.code},
        invalid=_("Give a reason for revoking the statement."),
        anchor="#statements",
    )


@capability_required()
@require_GET
def statement_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The issued PDF, for the operator that issued it or the resident company it is about."""
    scope = scope_for(request)
    statement = (
        SiteStatement.objects.select_related("residency__workstation__community").filter(pk=pk).first()
    )
    if statement is None or not statement.pdf:
        raise NotFound()
    is_resident = (
        scope.organisation is not None and statement.residency.organisation_id == scope.organisation.pk
    )
    is_issuer = statement.residency.workstation.community_id in scope.managed_community_ids
    if not (is_resident or is_issuer):
        raise NotFound()
    try:
        handle = statement.pdf.open("rb")
    except OSError:
        raise NotFound() from None
    response: Any = FileResponse(
        handle,
        content_type="application/pdf",
        filename=f"site-statement-{statement.code}.pdf",
        as_attachment=False,
    )
    response["Cache-Control"] = "private, no-store"
    return response


# -- OPC: my workstation -------------------------------------------------------------------------------------------------
@capability_required()
@require_GET
def my_workstation(request: HttpRequest) -> HttpResponse:
    """The active organisation's workstations and site statements (only OPCs have any)."""
    org = _operator(scope_for(request))
    is_opc = org.kind == OrgKind.OPC
    residencies = list(selectors.residencies_of_organisation(org.pk)) if is_opc else []
    for residency in residencies:
        residency.current = residency_is_current(residency)  # type: ignore[attr-defined]
    return render(
        request, "communities/my_workstation.html", {"org": org, "is_opc": is_opc, "residencies": residencies}
    )


# -- authorities: oversight -----------------------------------------------------------------------------------------------
def _oversight_data(scope: Scope) -> dict[str, Any]:
    overseen = scope.overseen_communities()
    return {
        "totals": selectors.occupancy_totals(overseen),
        "statement_totals": selectors.statement_totals(overseen),
        "communities": selectors.communities_with_occupancy(overseen).order_by("city", "district", "name"),
        "districts": selectors.district_aggregates(overseen),
    }


@capability_required(Capability.OVERSIGHT_VIEW)
@require_GET
def oversight(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    context = _oversight_data(scope)
    context["area"] = (scope.organisation.city if scope.organisation else "") or _("all cities")
    return render(request, "communities/oversight.html", context)


@capability_required(Capability.OVERSIGHT_VIEW)
@require_GET
def oversight_csv(request: HttpRequest) -> HttpResponse:
    """The per-community table as CSV (UTF-8 with BOM so spreadsheet programs read the Chinese names)."""
    data = _oversight_data(scope_for(request))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="community-occupancy.csv"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(
        [
            _("Community"),
            _("City"),
            _("District"),
            _("Land use"),
            _("Workstations"),
            _("Occupied"),
            _("Residents"),
        ]
    )
    for c in data["communities"]:
        writer.writerow(
            [
                _csv_safe(c.name),
                _csv_safe(c.city),
                _csv_safe(c.district),
                c.get_land_use_display(),
                c.workstation_count,
                c.occupied_count,
                c.resident_count,
            ]
        )
    return response


def _csv_safe(value: str) -> str:
    """Defuse spreadsheet formulas in free text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
