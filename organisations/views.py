from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import DomainError, NotFound
from core.http import acting_user, redirect_back
from organisations.access import capability_required, scope_for
from organisations.capabilities import Capability, OrgKind
from organisations.forms import OPCProfileForm, OrganisationForm, PortfolioItemForm, RejectForm
from organisations.models import OPCProfile, PortfolioItem, VerificationStatus
from organisations.selectors import (
    members_for_operator,
    organisation_for_viewer,
    public_opc_directory,
    skills,
)
from organisations.services import (
    add_portfolio_item,
    reject_organisation,
    remove_portfolio_item,
    submit_for_verification,
    update_opc_profile,
    update_organisation,
    verify_organisation,
)


def organisation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    org = organisation_for_viewer(scope, pk)
    if org is None:
        raise NotFound()
    can_verify = scope.has(Capability.MEMBERS_VERIFY) and org.pk in scope.managed_member_ids()
    context = {
        "org": org,
        "profile": getattr(org, "opc_profile", None) if org.kind == OrgKind.OPC else None,
        "is_own": scope.organisation is not None and scope.organisation.pk == org.pk,
        "can_verify": can_verify,
        "reject_form": RejectForm(),
    }
    return render(request, "organisations/detail.html", context)


@capability_required(Capability.ORG_MANAGE)
@require_http_methods(["GET", "POST"])
def organisation_edit(request: HttpRequest) -> HttpResponse:
    org = scope_for(request).organisation
    assert org is not None
    form = OrganisationForm(request.POST or None, instance=org)
    if request.method == "POST" and form.is_valid():
        values = {k: form.cleaned_data[k] for k in form.Meta.fields}
        org.refresh_from_db()  # the form mutated the instance; the service compares against stored values
        try:
            update_organisation(
                organisation=org,
                actor=acting_user(request),
                values=values,
                uscc=form.cleaned_data["uscc_input"],
                legal_rep_id=form.cleaned_data["legal_rep_id"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Saved."))
            return redirect("organisations:detail", org.pk)
    return render(request, "organisations/edit.html", {"form": form, "org": org})


@capability_required(Capability.ORG_MANAGE)
@require_POST
def request_verification(request: HttpRequest) -> HttpResponse:
    org = scope_for(request).organisation
    assert org is not None
    try:
        submit_for_verification(organisation=org, actor=acting_user(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Sent to your community operator for verification."))
    return redirect("organisations:detail", org.pk)


def _own_profile(request: HttpRequest) -> OPCProfile:
    org = scope_for(request).organisation
    if org is None or org.kind != OrgKind.OPC:
        raise NotFound()
    return OPCProfile.objects.get(organisation=org)


@capability_required(Capability.ORG_MANAGE)
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest) -> HttpResponse:
    profile = _own_profile(request)
    form = OPCProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        profile.refresh_from_db()
        try:
            update_opc_profile(
                profile=profile,
                actor=acting_user(request),
                founder_name=data["founder_name"],
                headcount=data["headcount"],
                skills=list(data["skills"]),
                tags=data["tags_text"],
                capacity=data["capacity"],
                rate_min=data["rate_min"],
                rate_max=data["rate_max"],
                talent_level=data["talent_level"] or "",
                founded_on=data["founded_on"],
                listed_publicly=data["listed_publicly"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Profile saved."))
            return redirect("organisations:detail", profile.organisation_id)
    return render(
        request,
        "organisations/profile_edit.html",
        {"form": form, "profile": profile, "portfolio_form": PortfolioItemForm()},
    )


@capability_required(Capability.ORG_MANAGE)
@require_POST
def portfolio_add(request: HttpRequest) -> HttpResponse:
    profile = _own_profile(request)
    form = PortfolioItemForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            add_portfolio_item(
                profile=profile,
                actor=acting_user(request),
                title=data["title"],
                description=data["description"],
                link=data["link"],
                year=data["year"],
                image=data["image"] or "",
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Portfolio item added."))
            return redirect("organisations:profile_edit")
    return render(
        request,
        "organisations/profile_edit.html",
        {"form": OPCProfileForm(instance=profile), "profile": profile, "portfolio_form": form},
        status=400,
    )


@capability_required(Capability.ORG_MANAGE)
@require_POST
def portfolio_remove(request: HttpRequest, pk: int) -> HttpResponse:
    profile = _own_profile(request)
    item = PortfolioItem.objects.filter(profile=profile, pk=pk).first()
    if item is None:
        raise NotFound()
    remove_portfolio_item(item=item, actor=acting_user(request))
    messages.success(request, _("Portfolio item removed."))
    return redirect("organisations:profile_edit")


@capability_required(Capability.MEMBERS_VERIFY)
def members(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request)
    status = request.GET.get("status", "")
    kind = request.GET.get("kind", "")
    if status not in {"", "pending", *VerificationStatus.values}:
        status = ""
    if kind not in {"", *OrgKind.values}:
        kind = ""
    qs = members_for_operator(scope, status=status, kind=kind, text=request.GET.get("q", "")[:60])
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "organisations/members.html",
        {
            "page": page,
            "status": status,
            "kind": kind,
            "q": request.GET.get("q", ""),
            "kinds": OrgKind.choices,
            "statuses": VerificationStatus.choices,
        },
    )


@capability_required(Capability.MEMBERS_VERIFY)
@require_POST
def member_verify(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    org = scope.get_member_organisation(pk)
    try:
        verify_organisation(organisation=org, actor=acting_user(request), operator=scope.organisation)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(name)s is verified.") % {"name": org.name})
    return redirect_back(request, "organisations:members")


@capability_required(Capability.MEMBERS_VERIFY)
@require_POST
def member_reject(request: HttpRequest, pk: int) -> HttpResponse:
    scope = scope_for(request)
    org = scope.get_member_organisation(pk)
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the member a reason for the rejection."))
        return redirect("organisations:detail", org.pk)
    try:
        reject_organisation(
            organisation=org,
            actor=acting_user(request),
            operator=scope.organisation,  # type: ignore[arg-type]
            reason=form.cleaned_data["reason"],
        )
    except (DomainError, ValidationError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    else:
        messages.success(
            request, _("%(name)s was rejected; the member sees your reason.") % {"name": org.name}
        )
    return redirect("organisations:detail", org.pk)


def opc_directory(request: HttpRequest) -> HttpResponse:
    skill = request.GET.get("skill", "")[:40]
    page = Paginator(public_opc_directory(skill=skill, text=request.GET.get("q", "")[:60]), 30).get_page(
        request.GET.get("page")
    )
    return render(request, "organisations/directory.html", {"page": page, "skills": skills(), "skill": skill})
