"""Team and subcontract pages. Thin: objects through ``teams.selectors`` for the caller's organisation
(another tenant's → 404), writes through ``teams.services``; a refusal shows the message and nothing changes."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError, NotPermitted
from core.http import acting_user, parse_id
from marketplace import selectors as mkt_selectors
from marketplace.models import Milestone
from organisations.access import capability_required, scope_for
from organisations.capabilities import OrgKind
from organisations.models import Organisation, Skill
from teams import selectors, services
from teams.models import ContractForm, DeliverableType, MemberStatus, SubcontractVisibility


def _org(request: HttpRequest) -> Organisation:
    org = scope_for(request).organisation
    if org is None:  # pragma: no cover - guarded by capability_required
        raise NotPermitted()
    return org


def _opc(request: HttpRequest) -> Organisation:
    org = _org(request)
    if org.kind != OrgKind.OPC:
        raise NotPermitted(_("Only OPCs can do this."))
    return org


def _refuse(request: HttpRequest, exc: DomainError, to: str, *args: Any) -> HttpResponse:
    messages.error(request, exc.message)
    return redirect(to, *args)


@capability_required()
@require_GET
def my_teams(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    scope = scope_for(request)
    if org.kind == OrgKind.OPC:
        teams, subs = selectors.teams_of(org), selectors.subcontracts_for(org)
    elif scope.is_operator:
        ids = scope.managed_community_ids
        teams, subs = selectors.teams_overseen(ids), selectors.subcontracts_overseen(ids)
    else:
        raise NotPermitted(_("Teams and subcontracts are for OPCs and community operators."))
    return render(
        request, "teams/my_teams.html", {"teams": teams[:100], "subcontracts": subs[:100], "org": org}
    )


@capability_required()
@require_http_methods(["GET", "POST"])
def propose(request: HttpRequest, pk: int) -> HttpResponse:
    """The PM asks for a team proposal for an order it may bid on, and forms the team from it."""
    org = _opc(request)
    order = mkt_selectors.get_order_for_opc(org, pk)
    skills = list(order.required_skills.all()) or [order.category]
    source = request.POST if request.method == "POST" else request.GET
    roles: dict[int, int] = {}
    for s in skills:
        raw = source.get(f"seats_{s.pk}", "1")
        roles[s.pk] = int(raw) if raw.isdigit() and int(raw) <= 20 else 1
    explained = selectors.propose_for_order(order, roles, pm=org)
    if request.method == "POST":
        if not explained.feasible:
            messages.error(request, " ".join(explained.problems))
            return redirect("teams:propose", order.pk)
        try:
            price = Decimal(request.POST.get("price") or "0")
        except InvalidOperation:
            price = Decimal("0")
        total = price if price > 0 else sum((s["quote"] for s in explained.seats), Decimal("0"))
        try:
            team = services.create_team(
                order=order,
                pm=org,
                actor=acting_user(request),
                name=request.POST.get("name") or _("Team for %(title)s") % {"title": order.title},
                members=[
                    services.MemberSpec(s["opc"], s["skill"], s["quote"])
                    for s in explained.seats
                    if s["opc"].pk != org.pk
                ],
                milestones=[
                    services.TeamMilestoneSpec(order.title, total.quantize(Decimal("0.01")), order.deadline)
                ],
                proposal={
                    "method": explained.proposal.method,
                    "cost": explained.proposal.cost,
                    "seconds": explained.proposal.seconds,
                },
            )
        except DomainError as exc:
            return _refuse(request, exc, "teams:propose", order.pk)
        messages.success(request, _("Team formed. Invite the members and set the split."))
        return redirect("teams:team_detail", team.pk)
    return render(
        request,
        "teams/propose.html",
        {"order": order, "skills": [(s, roles[s.pk]) for s in skills], "explained": explained},
    )


def _team_context(request: HttpRequest, pk: Any) -> dict[str, Any]:
    org = _org(request)
    team, role = selectors.get_team_for(org, pk)
    members = list(team.members.exclude(status=MemberStatus.REMOVED).select_related("opc", "role"))
    milestones = list(team.milestones.all())
    shares = {(s.member_id, s.milestone_id): s.amount for m in members for s in m.shares.all()}
    rows = [(m, [(ms, shares.get((m.pk, ms.pk), Decimal("0.00"))) for ms in milestones]) for m in members]
    me = next((m for m in members if m.opc_id == org.pk), None)
    return {
        "team": team,
        "role": role,
        "org": org,
        "rows": rows,
        "milestones": milestones,
        "me": me,
        "blockers": services.blockers(team) if role == "pm" else [],
        "forms": ContractForm.choices,
        "sub_milestones": list(team.sub_milestones.select_related("member__opc", "milestone")),
        "payouts": list(team.payouts.select_related("member__opc", "milestone")),
        "opcs": Organisation.objects.filter(kind=OrgKind.OPC).exclude(pk=org.pk).order_by("name")[:200]
        if role == "pm" and team.status == "forming"
        else [],
        "skills": list(team.order.required_skills.all()) or [team.order.category],
    }


@capability_required()
@require_GET
def team_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "teams/team_detail.html", _team_context(request, pk))


def _team_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    org = _org(request)
    team, _role = selectors.get_team_for(org, pk)
    actor = acting_user(request)
    try:
        if action == "invite":
            services.invite_members(team=team, pm=org, actor=actor)
            done = _("Invitations sent.")
        elif action == "split":
            data: dict[tuple[int, int], str] = {}
            for key, value in request.POST.items():
                if key.startswith("share_"):
                    parts = key.split("_")
                    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                        data[(int(parts[1]), int(parts[2]))] = str(value).strip() or "0"
            services.set_split(team=team, pm=org, actor=actor, shares=data)
            done = _("Split saved. Every member now signs it.")
        elif action in ("accept", "decline", "sign"):
            member = team.members.filter(opc=org).first()
            if member is None:
                raise NotPermitted()
            if action == "sign":
                version = parse_id(request.POST.get("version")) or 0
                services.sign_split(member=member, opc=org, actor=actor, version=version)
                done = _("You signed the split.")
            else:
                services.respond_invitation(member=member, opc=org, actor=actor, accept=action == "accept")
                done = _("Answer recorded.")
        elif action == "submit":
            services.submit_team_bid(team=team, pm=org, actor=actor)
            done = _("The team bid was submitted.")
        elif action == "award":
            services.award_team(
                team=team, client=org, actor=actor, contract_form=request.POST.get("contract_form", "")
            )
            done = _("The team was awarded the order.")
        elif action == "withdraw":
            services.withdraw_team(team=team, pm=org, actor=actor)
            done = _("The team was withdrawn.")
        elif action == "sub_milestone":
            member_obj = team.members.filter(pk=parse_id(request.POST.get("member")) or 0).first()
            milestone = team.milestones.filter(pk=parse_id(request.POST.get("milestone")) or 0).first()
            if member_obj is None or milestone is None:
                raise DomainError(_("Choose a member and a milestone."))
            try:
                due = dt.date.fromisoformat(request.POST.get("due_date", ""))
            except ValueError:
                raise DomainError(_("Enter a valid due date.")) from None
            services.add_sub_milestone(
                team=team,
                pm=org,
                actor=actor,
                member=member_obj,
                milestone=milestone,
                title=request.POST.get("title", ""),
                due_date=due,
            )
            done = _("Sub-milestone added.")
        elif action == "member_add":
            opc = Organisation.objects.filter(
                pk=parse_id(request.POST.get("opc")) or 0, kind=OrgKind.OPC
            ).first()
            if opc is None:
                raise DomainError(_("Choose an OPC."))
            role = Skill.objects.filter(pk=parse_id(request.POST.get("role")) or 0).first()
            services.add_member(team=team, pm=org, actor=actor, spec=services.MemberSpec(opc, role))
            done = _("Member added; invite them when the team is complete.")
        elif action == "member_remove":
            removed = team.members.filter(pk=parse_id(request.POST.get("member")) or 0).first()
            if removed is None:
                raise DomainError(_("Choose a member."))
            services.remove_member(member=removed, pm=org, actor=actor)
            done = _("Member removed.")
        else:  # sub_done
            sub = team.sub_milestones.filter(pk=parse_id(request.POST.get("sub")) or 0).first()
            if sub is None:
                raise DomainError(_("Choose a sub-milestone."))
            services.complete_sub_milestone(sub=sub, opc=org, actor=actor)
            done = _("Sub-milestone done.")
    except DomainError as exc:
        messages.error(request, exc.message)
        return render(request, "teams/team_detail.html", _team_context(request, pk), status=exc.status_code)
    messages.success(request, done)
    return redirect("teams:team_detail", team.pk)


def _make_action(action: str) -> Any:
    @capability_required()
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        return _team_action(request, pk, action)

    view.__name__ = f"team_{action}"
    return view


team_invite = _make_action("invite")
team_split = _make_action("split")
team_accept = _make_action("accept")
team_decline = _make_action("decline")
team_sign = _make_action("sign")
team_submit = _make_action("submit")
team_award = _make_action("award")
team_withdraw = _make_action("withdraw")
team_sub_milestone = _make_action("sub_milestone")
team_sub_done = _make_action("sub_done")
team_member_add = _make_action("member_add")
team_member_remove = _make_action("member_remove")


# ------------------------------------------------------------------------------------------ subcontracts


@capability_required()
@require_http_methods(["GET", "POST"])
def subcontract_post(request: HttpRequest, pk: int) -> HttpResponse:
    org = _opc(request)
    contract = selectors.get_contract_for_party(org, pk)
    if contract.opc_id != org.pk:
        raise NotPermitted(_("Only the contracted OPC can subcontract its work."))
    if not contract.subcontracting_allowed:
        raise NotPermitted(_("The client has forbidden subcontracting on this contract."))
    kind = request.POST.get("deliverable_type") or request.GET.get("type") or DeliverableType.VIDEO
    template = services.DELIVERABLE_TEMPLATES.get(kind, services.DELIVERABLE_TEMPLATES[DeliverableType.VIDEO])
    context = {
        "contract": contract,
        "milestones": selectors.open_milestones(contract),
        "types": DeliverableType.choices,
        "kind": kind,
        "template": [(k, services.CRITERIA_LABELS[k], v) for k, v in template.items()],
        "visibilities": SubcontractVisibility.choices,
        "opcs": Organisation.objects.filter(kind=OrgKind.OPC).exclude(pk=org.pk).order_by("name")[:200],
    }
    if request.method == "POST":
        try:
            milestone = Milestone.objects.filter(
                pk=parse_id(request.POST.get("milestone")) or 0, contract=contract
            ).first()
            if milestone is None:
                raise DomainError(_("Choose the milestone that pays for this work."))
            try:
                deadline = dt.date.fromisoformat(request.POST.get("deadline", ""))
            except ValueError:
                raise DomainError(_("Enter a valid deadline.")) from None
            invited = list(
                Organisation.objects.filter(
                    pk__in=[parse_id(v) for v in request.POST.getlist("invited") if parse_id(v)]
                )
            )
            sub = services.post_subcontract(
                contract=contract,
                upstream=org,
                actor=acting_user(request),
                milestone=milestone,
                title=request.POST.get("title", ""),
                description=request.POST.get("description", ""),
                deliverable_type=kind,
                price=request.POST.get("price", "").strip(),
                deadline=deadline,
                criteria={k: request.POST.get(f"criterion_{k}", "") for k in template},
                visibility=request.POST.get("visibility", ""),
                invited=invited,
            )
        except DomainError as exc:
            messages.error(request, exc.message)
            return render(request, "teams/subcontract_post.html", context, status=exc.status_code)
        messages.success(request, _("Subcontract posted."))
        return redirect("teams:subcontract_detail", sub.pk)
    return render(request, "teams/subcontract_post.html", context)


def _sub_context(request: HttpRequest, pk: Any) -> dict[str, Any]:
    org = _org(request)
    sub, role = selectors.get_subcontract_for(org, pk)
    criteria = [
        (
            c["key"],
            services.CRITERIA_LABELS.get(c["key"], c["key"]),
            c["value"] or sub.deadline,
            sub.checklist.get(c["key"]),
        )
        for c in sub.criteria
    ]
    return {"sub": sub, "role": role, "criteria": criteria, "key": uuid.uuid4().hex}


@capability_required()
@require_GET
def subcontract_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "teams/subcontract_detail.html", _sub_context(request, pk))


def _sub_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    org = _org(request)
    sub, _role = selectors.get_subcontract_for(org, pk)
    actor = acting_user(request)
    try:
        if action == "take":
            services.take_subcontract(sub=sub, opc=org, actor=actor)
            done = _("You took the subcontract.")
        elif action == "deliver":
            services.deliver_subcontract(sub=sub, opc=org, actor=actor, note=request.POST.get("note", ""))
            done = _("Delivered to the upstream OPC.")
        elif action == "review":
            passed = {c["key"]: request.POST.get(f"ok_{c['key']}") == "on" for c in sub.criteria}
            sub = services.review_subcontract(
                sub=sub,
                upstream=org,
                actor=actor,
                passed=passed,
                idempotency_key=request.POST.get("idempotency_key", ""),
            )
            done = (
                _("Accepted against the checklist.")
                if sub.status in ("accepted", "paid")
                else _("Revision requested.")
            )
        else:
            services.cancel_subcontract(sub=sub, upstream=org, actor=actor)
            done = _("Subcontract cancelled.")
    except DomainError as exc:
        messages.error(request, exc.message)
        return render(
            request, "teams/subcontract_detail.html", _sub_context(request, pk), status=exc.status_code
        )
    messages.success(request, done)
    return redirect("teams:subcontract_detail", sub.pk)


def _make_sub_action(action: str) -> Any:
    @capability_required()
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        return _sub_action(request, pk, action)

    view.__name__ = f"subcontract_{action}"
    return view


subcontract_take = _make_sub_action("take")
subcontract_deliver = _make_sub_action("deliver")
subcontract_review = _make_sub_action("review")
subcontract_cancel = _make_sub_action("cancel")


@capability_required()
@require_POST
def contract_subcontracting(request: HttpRequest, pk: int) -> HttpResponse:
    org = _org(request)
    contract = selectors.get_contract_for_party(org, pk)
    try:
        services.set_subcontracting(
            contract=contract,
            client=org,
            actor=acting_user(request),
            allowed=request.POST.get("allowed") == "1",
        )
        messages.success(request, _("Saved."))
    except NotPermitted:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("marketplace:contract_detail", contract.pk)
