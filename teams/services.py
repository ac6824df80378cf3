"""Writes of teams and subcontracting.

Team bids: a project manager (an OPC organisation — a PM company registers as one, since only OPCs bid)
forms a team for an open tender, usually from a proposal of ``teams.selectors.propose_for_order``; members are
invited and accept or decline; the PM sets the revenue split (a share per member per team milestone, adding
up to each milestone's amount); every member signs the current split (any change of the split or the team
makes earlier signatures stale); then the PM submits the team bid, which is an ordinary marketplace ``Bid`` of
the PM at the sum of the milestones. The client awards it with ``award_team`` choosing the contract form (lead
contractor or consortium); the contract's milestones are the team's milestones. Whenever a contract milestone
is released, ``marketplace.services._release`` asks ``release_splits`` for the members' parts and pays them
in the same ledger posting as the release (escrow → each member's available account, the platform fee shared
pro rata), so a split release is exactly as idempotent as the release itself.

Subcontracts: the OPC holding an active contract (where the client has not forbidden it) posts part of the
work tied to one of its milestones, with acceptance criteria from ``DELIVERABLE_TEMPLATES``; an invited OPC
or one of the same community takes it, delivers, and the upstream accepts against the checklist (every
criterion ticked) or asks for a revision. An accepted subcontract is paid from the upstream's share of the
milestone's escrow in the release posting; when that milestone was already released it is paid from the
upstream's available account at once (guarded: it cannot overdraw).

Every function runs in one transaction, appends an audit record, and raises a ``DomainError`` with a
translated message (nothing changed) on refusal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from audit.services import record_audit
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from ledger import services as ledger
from ledger.models import Purpose
from ledger.money import format_cny, to_fen
from marketplace import services as mkt
from marketplace.models import (
    Bid,
    Contract,
    ContractStatus,
    Milestone,
    MilestoneStatus,
    Order,
    OrderMode,
    OrderStatus,
)
from organisations.capabilities import OrgKind
from organisations.models import Organisation, Skill
from teams.models import (
    ContractForm,
    DeliverableType,
    MemberStatus,
    Subcontract,
    SubcontractStatus,
    SubcontractVisibility,
    SubMilestone,
    SubMilestoneStatus,
    Team,
    TeamMember,
    TeamMilestone,
    TeamPayout,
    TeamShare,
    TeamStatus,
)

if TYPE_CHECKING:
    from accounts.models import User

T, MS, SC = TeamStatus, MemberStatus, SubcontractStatus
ZERO = Decimal("0.00")
MAX_MEMBERS = 30

TEAM_TRANSITIONS: dict[str, set[str]] = {
    T.FORMING: {T.SUBMITTED, T.WITHDRAWN},
    T.SUBMITTED: {T.AWARDED, T.NOT_SELECTED, T.WITHDRAWN},
    T.AWARDED: set(),
    T.NOT_SELECTED: set(),
    T.WITHDRAWN: set(),
}
MEMBER_TRANSITIONS: dict[str, set[str]] = {
    MS.PROPOSED: {MS.INVITED, MS.REMOVED},
    MS.INVITED: {MS.ACCEPTED, MS.DECLINED, MS.REMOVED},
    MS.ACCEPTED: {MS.REMOVED},
    MS.DECLINED: {MS.INVITED, MS.REMOVED},
    MS.REMOVED: {MS.INVITED},
}
SUBCONTRACT_TRANSITIONS: dict[str, set[str]] = {
    SC.OPEN: {SC.AWARDED, SC.CANCELLED},
    SC.AWARDED: {SC.DELIVERED, SC.CANCELLED},
    SC.DELIVERED: {SC.ACCEPTED, SC.PAID, SC.REVISION},
    SC.REVISION: {SC.DELIVERED, SC.CANCELLED},
    SC.ACCEPTED: {SC.PAID},
    SC.PAID: set(),
    SC.CANCELLED: set(),
}
LIVE_MEMBER = (MS.PROPOSED, MS.INVITED, MS.ACCEPTED)
LIVE_SUBCONTRACT = (SC.OPEN, SC.AWARDED, SC.DELIVERED, SC.REVISION, SC.ACCEPTED)
UNSETTLED_MILESTONE = (
    MilestoneStatus.PENDING,
    MilestoneStatus.FUNDED,
    MilestoneStatus.DELIVERED,
    MilestoneStatus.REVISION_REQUESTED,
)

# Standard acceptance criteria per deliverable type: criterion key → (label, default value). Every subcontract
# also carries its deadline as the last criterion.
CRITERIA_LABELS: dict[str, Any] = {
    "resolution": gettext_lazy("Resolution"),
    "duration": gettext_lazy("Duration"),
    "format": gettext_lazy("File format"),
    "revision_rounds": gettext_lazy("Revision rounds included"),
    "deadline": gettext_lazy("Delivered by the deadline"),
}
DELIVERABLE_TEMPLATES: dict[str, dict[str, str]] = {
    DeliverableType.VIDEO: {
        "resolution": "1920×1080",
        "duration": "60 s",
        "format": "MP4 (H.264)",
        "revision_rounds": "2",
    },
    DeliverableType.IMAGE: {
        "resolution": "3000×3000 px",
        "format": "PNG + layered PSD",
        "revision_rounds": "2",
    },
    DeliverableType.AUDIO: {"duration": "60 s", "format": "WAV 48 kHz", "revision_rounds": "2"},
    DeliverableType.SCRIPT: {"duration": "3 min reading", "format": "DOCX", "revision_rounds": "1"},
    DeliverableType.SOFTWARE: {"format": "Git repository with README", "revision_rounds": "1"},
}


@dataclass(frozen=True)
class MemberSpec:
    opc: Organisation
    role: Skill | None = None
    quote: Decimal | None = None
    role_label: str = ""


@dataclass(frozen=True)
class TeamMilestoneSpec:
    title: str
    amount: Decimal | str | int
    due_date: dt.date


# ------------------------------------------------------------------------------------------ helpers


def _check(table: dict[str, set[str]], current: str, target: str, what: str) -> None:
    mkt.check_transition(table, current, target, what=what)


def _set_status(
    model: type[Any], obj: Any, target: str, table: dict[str, set[str]], what: str, **extra: Any
) -> None:
    current = obj.status
    _check(table, current, target, what)
    values = {"status": target, **extra}
    if model.objects.filter(pk=obj.pk, status=current).update(**values) != 1:
        raise Conflict()
    for name, value in values.items():
        setattr(obj, name, value)


def _audit(
    action: str,
    actor: User | None,
    org: Organisation | None,
    target: Any,
    message: str,
    params: dict[str, Any],
    **changes: Any,
) -> None:
    record_audit(
        action=f"teams.{action}",
        actor=actor,
        organisation=org,
        target=target,
        message=message,
        params=params,
        changes=changes,
    )


def team_link(team: Team) -> str:
    return reverse("teams:team_detail", args=[team.pk])


def subcontract_link(sub: Subcontract) -> str:
    return reverse("teams:subcontract_detail", args=[sub.pk])


def _lock_team(team: Team) -> tuple[Order, Team]:
    """Lock the team's order (the marketplace's lock order starts there), then the team."""
    order_id = Team.objects.filter(pk=team.pk).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFound()
    order = mkt._lock_order(order_id)
    return order, Team.objects.select_for_update(of=("self",)).select_related("pm", "order").get(pk=team.pk)


def _require_pm(team: Team, pm: Organisation) -> None:
    mkt._require_party(pm, team.pm_id, _("Only the team's project manager can do this."))


def _require_forming(team: Team) -> None:
    if team.status != T.FORMING:
        raise InvalidTransition(_("The team bid was already submitted; the team can no longer change."))


def _stale_signatures(team: Team) -> None:
    """Any change of the team or the split needs every member to sign again."""
    Team.objects.filter(pk=team.pk).update(split_version=team.split_version + 1)
    team.split_version += 1


def _opc(org: Organisation, message: str) -> None:
    if org is None or org.kind != OrgKind.OPC:
        raise NotPermitted(message)


# ------------------------------------------------------------------------------------------ teams


@transaction.atomic
def create_team(
    *,
    order: Order,
    pm: Organisation,
    actor: User | None,
    name: str,
    members: Sequence[MemberSpec],
    milestones: Sequence[TeamMilestoneSpec],
    timeline_days: int = 30,
    plan: str = "",
    proposal: Mapping[str, Any] | None = None,
) -> Team:
    """The PM forms a team for an open tender it may bid on: itself (accepted) plus ``members`` (proposed,
    not yet invited) and the bid's milestones."""
    order = mkt._lock_order(order.pk)
    _opc(pm, _("Only an OPC (or a project-manager company registered as one) can lead a team bid."))
    mkt._require_opc_may_take_part(order, pm)
    if order.mode != OrderMode.TENDER or order.status != OrderStatus.OPEN:
        raise InvalidTransition(_("Teams can bid only on open tenders."))
    if Bid.objects.filter(order=order, opc=pm).exists():
        raise Conflict(_("You have already bid on this order."))
    name = mkt._text(name, field=_("Team name"), max_length=120, required=True)
    plan = mkt._text(plan, field=_("Plan"), max_length=20000)
    if (
        isinstance(timeline_days, bool)
        or not isinstance(timeline_days, int)
        or not 1 <= timeline_days <= 3650
    ):
        raise DomainError(_("The timeline must be between 1 and 3650 days."))
    if len(members) > MAX_MEMBERS:
        raise DomainError(_("A team can have at most %(max)d members.") % {"max": MAX_MEMBERS})
    clean = _clean_milestones(milestones)
    try:
        with transaction.atomic():
            team = Team.objects.create(
                order=order,
                pm=pm,
                name=name,
                timeline_days=timeline_days,
                plan=plan,
                proposal=dict(proposal or {}),
                created_by=actor,
            )
    except IntegrityError:
        raise Conflict(_("You already lead a team for this order.")) from None
    TeamMilestone.objects.bulk_create(
        [
            TeamMilestone(team=team, position=n, title=s.title, amount=Decimal(s.amount), due_date=s.due_date)
            for n, s in enumerate(clean, start=1)
        ]
    )
    TeamMember.objects.create(
        team=team, opc=pm, role_label=_("Project manager"), status=MS.ACCEPTED, responded_at=timezone.now()
    )
    seen = {pm.pk}
    for spec in members:
        if spec.opc.pk in seen:
            continue
        _add_member(team, spec)
        seen.add(spec.opc.pk)
    _audit(
        "team_created",
        actor,
        pm,
        team,
        gettext_noop("Team %(team)s formed for order %(title)s"),
        {"team": team.name, "title": order.title},
        members=sorted(seen),
    )
    return team


def _clean_milestones(milestones: Sequence[TeamMilestoneSpec]) -> list[TeamMilestoneSpec]:
    if not milestones:
        raise DomainError(_("A team bid needs at least one milestone."))
    if len(milestones) > mkt.MAX_MILESTONES:
        raise DomainError(_("A contract can have at most %(max)d milestones.") % {"max": mkt.MAX_MILESTONES})
    return [
        TeamMilestoneSpec(
            title=mkt._text(m.title, field=_("Milestone title"), max_length=200, required=True),
            amount=mkt._money(m.amount, field=_("Milestone amount")),
            due_date=mkt._date(m.due_date, field=_("Due date")),
        )
        for m in milestones
    ]


def _add_member(team: Team, spec: MemberSpec) -> TeamMember:
    _opc(spec.opc, _("Only OPCs can join a team."))
    if spec.opc.pk == team.order.client_id:
        raise DomainError(_("The client cannot be a member of a team bidding on its own order."))
    quote = None if spec.quote is None else to_fen(spec.quote)
    member, created = TeamMember.objects.get_or_create(
        team=team,
        opc=spec.opc,
        defaults={"role": spec.role, "quote": quote, "role_label": (spec.role_label or "")[:120]},
    )
    if not created:
        if member.status in LIVE_MEMBER:
            raise Conflict(_("%(opc)s is already in the team.") % {"opc": spec.opc.name})
        member.status, member.role, member.quote = MS.PROPOSED, spec.role, quote
        member.save(update_fields=["status", "role", "quote"])
    return member


@transaction.atomic
def add_member(*, team: Team, pm: Organisation, actor: User | None, spec: MemberSpec) -> TeamMember:
    _order, team = _lock_team(team)
    _require_pm(team, pm)
    _require_forming(team)
    if team.members.filter(status__in=LIVE_MEMBER).count() >= MAX_MEMBERS:
        raise DomainError(_("A team can have at most %(max)d members.") % {"max": MAX_MEMBERS})
    member = _add_member(team, spec)
    _stale_signatures(team)
    _audit(
        "member_added",
        actor,
        pm,
        team,
        gettext_noop("%(opc)s added to team %(team)s"),
        {"opc": spec.opc.name, "team": team.name},
    )
    return member


@transaction.atomic
def remove_member(*, member: TeamMember, pm: Organisation, actor: User | None) -> TeamMember:
    _order, team = _lock_team(member.team)
    _require_pm(team, pm)
    _require_forming(team)
    member = TeamMember.objects.select_for_update(of=("self",)).select_related("opc").get(pk=member.pk)
    if member.opc_id == team.pm_id:
        raise DomainError(_("The project manager cannot leave its own team."))
    _set_status(TeamMember, member, MS.REMOVED, MEMBER_TRANSITIONS, _("The membership"))
    TeamShare.objects.filter(member=member).delete()
    _stale_signatures(team)
    _audit(
        "member_removed",
        actor,
        pm,
        team,
        gettext_noop("%(opc)s removed from team %(team)s"),
        {"opc": member.opc.name, "team": team.name},
    )
    return member


@transaction.atomic
def invite_members(*, team: Team, pm: Organisation, actor: User | None) -> int:
    """Invite every proposed (and re-invite every declined) member; returns how many were invited."""
    _order, team = _lock_team(team)
    _require_pm(team, pm)
    _require_forming(team)
    invited = 0
    for member in (
        team.members.select_for_update(of=("self",))
        .filter(status__in=(MS.PROPOSED, MS.DECLINED))
        .select_related("opc")
    ):
        _set_status(TeamMember, member, MS.INVITED, MEMBER_TRANSITIONS, _("The membership"))
        mkt.notify(
            recipient=member.opc,
            kind="team_invitation",
            message=gettext_noop("%(pm)s invites you to the team “%(team)s” for “%(title)s”."),
            params={"pm": pm.name, "team": team.name, "title": team.order.title},
            link=team_link(team),
        )
        invited += 1
    if invited:
        _audit(
            "members_invited",
            actor,
            pm,
            team,
            gettext_noop("%(count)d members invited to team %(team)s"),
            {"count": invited, "team": team.name},
        )
    return invited


@transaction.atomic
def respond_invitation(
    *, member: TeamMember, opc: Organisation, actor: User | None, accept: bool
) -> TeamMember:
    _order, team = _lock_team(member.team)
    member = TeamMember.objects.select_for_update().get(pk=member.pk)
    mkt._require_party(opc, member.opc_id, _("Only the invited OPC can answer this invitation."))
    _require_forming(team)
    target = MS.ACCEPTED if accept else MS.DECLINED
    _set_status(
        TeamMember, member, target, MEMBER_TRANSITIONS, _("The invitation"), responded_at=timezone.now()
    )
    if not accept:
        TeamShare.objects.filter(member=member).delete()
        _stale_signatures(team)
    mkt.notify(
        recipient=team.pm,
        kind="team_answer",
        message=gettext_noop("%(opc)s accepted your team invitation for “%(team)s”.")
        if accept
        else gettext_noop("%(opc)s declined your team invitation for “%(team)s”."),
        params={"opc": opc.name, "team": team.name},
        link=team_link(team),
    )
    _audit(
        "invitation_answered",
        actor,
        opc,
        team,
        gettext_noop("%(opc)s answered the invitation to %(team)s: %(answer)s"),
        {"opc": opc.name, "team": team.name, "answer": target},
        status=target,
    )
    return member


@transaction.atomic
def set_split(
    *, team: Team, pm: Organisation, actor: User | None, shares: Mapping[tuple[int, int], Decimal | str | int]
) -> Team:
    """Set the revenue split: ``shares[(member_id, team_milestone_id)]`` in CNY. Every live member appears,
    each milestone's shares add up to its amount. Earlier signatures become stale."""
    _order, team = _lock_team(team)
    _require_pm(team, pm)
    _require_forming(team)
    members = {m.pk: m for m in team.members.filter(status__in=LIVE_MEMBER).select_related("opc")}
    milestones = {m.pk: m for m in team.milestones.all()}
    clean: dict[tuple[int, int], Decimal] = {}
    for (member_id, milestone_id), raw in shares.items():
        if member_id not in members or milestone_id not in milestones:
            raise DomainError(_("A share names a member or milestone that is not part of this team."))
        clean[(member_id, milestone_id)] = mkt._money(raw, field=_("Share"), allow_zero=True)
    for milestone in milestones.values():
        total = sum((v for (_m, ms), v in clean.items() if ms == milestone.pk), ZERO)
        if total != milestone.amount:
            raise DomainError(
                _("The shares of “%(title)s” add up to %(total)s but the milestone is %(amount)s.")
                % {
                    "title": milestone.title,
                    "total": format_cny(total),
                    "amount": format_cny(milestone.amount),
                }
            )
    TeamShare.objects.filter(member__team=team).delete()
    TeamShare.objects.bulk_create(
        [TeamShare(member_id=mid, milestone_id=msid, amount=v) for (mid, msid), v in clean.items() if v > 0]
    )
    _stale_signatures(team)
    _audit(
        "split_set",
        actor,
        pm,
        team,
        gettext_noop("Revenue split of team %(team)s set (version %(version)d)"),
        {"team": team.name, "version": team.split_version},
        shares={f"{mid}:{msid}": v for (mid, msid), v in clean.items()},
    )
    for member in members.values():
        if member.opc_id != pm.pk and member.status == MS.ACCEPTED:
            mkt.notify(
                recipient=member.opc,
                kind="team_split",
                message=gettext_noop("Please review and sign the revenue split of “%(team)s”."),
                params={"team": team.name},
                link=team_link(team),
            )
    return team


@transaction.atomic
def sign_split(*, member: TeamMember, opc: Organisation, actor: User | None, version: int) -> TeamMember:
    """A member signs off the split it saw (``version``); a split changed since then must be read again."""
    _order, team = _lock_team(member.team)
    member = TeamMember.objects.select_for_update().get(pk=member.pk)
    mkt._require_party(opc, member.opc_id, _("Only the member itself can sign its share."))
    _require_forming(team)
    if member.status != MS.ACCEPTED:
        raise InvalidTransition(_("Accept the invitation before signing the split."))
    if version != team.split_version:
        raise Conflict(_("The split changed since you opened it; please review it again."))
    if not TeamShare.objects.filter(member__team=team).exists():
        raise InvalidTransition(_("The project manager has not set the split yet."))
    member.signed_version, member.signed_at = version, timezone.now()
    member.save(update_fields=["signed_version", "signed_at"])
    _audit(
        "split_signed",
        actor,
        opc,
        team,
        gettext_noop("%(opc)s signed the split of %(team)s (version %(version)d)"),
        {"opc": opc.name, "team": team.name, "version": version},
    )
    return member


def blockers(team: Team) -> list[str]:
    """What still stands between the team and submitting its bid (translated sentences; empty: ready)."""
    found: list[str] = []
    live = list(team.members.filter(status__in=LIVE_MEMBER).select_related("opc"))
    if len(live) < 2:
        found.append(_("A team needs at least one member besides the project manager."))
    for m in live:
        if m.status != MS.ACCEPTED:
            found.append(_("%(opc)s has not accepted the invitation.") % {"opc": m.opc.name})
        elif m.opc_id != team.pm_id and m.signed_version != team.split_version:
            found.append(_("%(opc)s has not signed the current split.") % {"opc": m.opc.name})
    if not TeamShare.objects.filter(member__team=team).exists():
        found.append(_("The revenue split is not set."))
    return found


@transaction.atomic
def submit_team_bid(*, team: Team, pm: Organisation, actor: User | None) -> Bid:
    """Submit the team bid as the PM's marketplace bid at the sum of the team milestones."""
    _order, team = _lock_team(team)
    _require_pm(team, pm)
    _check(TEAM_TRANSITIONS, team.status, T.SUBMITTED, _("The team"))
    missing = blockers(team)
    if missing:
        raise InvalidTransition(" ".join(missing))
    price = sum((m.amount for m in team.milestones.all()), ZERO)
    bid = mkt.submit_bid(
        order=team.order, opc=pm, actor=actor, price=price, timeline_days=team.timeline_days, plan=team.plan
    )
    _set_status(Team, team, T.SUBMITTED, TEAM_TRANSITIONS, _("The team"), bid=bid)
    _audit(
        "team_bid_submitted",
        actor,
        pm,
        team,
        gettext_noop("Team %(team)s bid %(price)s"),
        {"team": team.name, "price": format_cny(price)},
        bid=bid.pk,
    )
    return bid


@transaction.atomic
def award_team(*, team: Team, client: Organisation, actor: User | None, contract_form: str) -> Contract:
    """The client awards the team's bid and chooses the contract form; the contract's milestones are the
    team's; the other teams on the order are told they were not selected."""
    if contract_form not in ContractForm.values:
        raise DomainError(_("Choose lead contractor or consortium."))
    order, team = _lock_team(team)
    mkt._require_party(client, order.client_id, _("Only the client can award this order."))
    if team.bid is None:
        raise InvalidTransition(_("This team has not submitted a bid."))
    _check(TEAM_TRANSITIONS, team.status, T.AWARDED, _("The team"))
    specs = [mkt.MilestoneSpec(m.title, m.amount, m.due_date) for m in team.milestones.all()]
    contract = mkt.award_bid(order=order, bid=team.bid, client=client, actor=actor, milestones=specs)
    _set_status(Team, team, T.AWARDED, TEAM_TRANSITIONS, _("The team"), contract_form=contract_form)
    for other in Team.objects.filter(order=order, status=T.SUBMITTED).exclude(pk=team.pk):
        _set_status(Team, other, T.NOT_SELECTED, TEAM_TRANSITIONS, _("The team"))
    for member in team.members.filter(status=MS.ACCEPTED).exclude(opc=team.pm).select_related("opc"):
        mkt.notify(
            recipient=member.opc,
            kind="team_awarded",
            message=gettext_noop("Your team “%(team)s” won “%(title)s”."),
            params={"team": team.name, "title": order.title},
            link=team_link(team),
        )
    _audit(
        "team_awarded",
        actor,
        client,
        team,
        gettext_noop("Team %(team)s awarded as %(form)s"),
        {"team": team.name, "form": contract_form},
        contract=contract.pk,
    )
    return contract


@transaction.atomic
def withdraw_team(*, team: Team, pm: Organisation, actor: User | None) -> Team:
    _order, team = _lock_team(team)
    _require_pm(team, pm)
    if team.bid is not None and team.status == T.SUBMITTED:
        mkt.withdraw_bid(bid=team.bid, opc=pm, actor=actor)
    _set_status(Team, team, T.WITHDRAWN, TEAM_TRANSITIONS, _("The team"))
    _audit("team_withdrawn", actor, pm, team, gettext_noop("Team %(team)s withdrawn"), {"team": team.name})
    return team


@transaction.atomic
def add_sub_milestone(
    *,
    team: Team,
    pm: Organisation,
    actor: User | None,
    member: TeamMember,
    milestone: TeamMilestone,
    title: str,
    due_date: dt.date,
) -> SubMilestone:
    _order, team = _lock_team(team)
    _require_pm(team, pm)
    member = TeamMember.objects.select_related("opc").get(pk=member.pk)
    if member.team_id != team.pk or milestone.team_id != team.pk or member.status != MS.ACCEPTED:
        raise NotFound()
    if team.status in (T.WITHDRAWN, T.NOT_SELECTED):
        raise InvalidTransition(_("This team is closed."))
    sub = SubMilestone.objects.create(
        team=team,
        milestone=milestone,
        member=member,
        title=mkt._text(title, field=_("Title"), max_length=200, required=True),
        due_date=mkt._date(due_date, field=_("Due date")),
    )
    _audit(
        "sub_milestone_added",
        actor,
        pm,
        team,
        gettext_noop("Sub-milestone %(title)s for %(opc)s"),
        {"title": sub.title, "opc": member.opc.name},
    )
    return sub


@transaction.atomic
def complete_sub_milestone(*, sub: SubMilestone, opc: Organisation, actor: User | None) -> SubMilestone:
    sub = SubMilestone.objects.select_for_update(of=("self",)).select_related("member", "team").get(pk=sub.pk)
    mkt._require_party(
        opc, sub.member.opc_id, _("Only the member responsible can tick off this sub-milestone.")
    )
    if sub.status == SubMilestoneStatus.DONE:
        return sub
    SubMilestone.objects.filter(pk=sub.pk).update(status=SubMilestoneStatus.DONE, done_at=timezone.now())
    sub.refresh_from_db()
    _audit(
        "sub_milestone_done",
        actor,
        opc,
        sub.team,
        gettext_noop("Sub-milestone %(title)s done"),
        {"title": sub.title},
    )
    return sub


# ------------------------------------------------------------------------------------------ release splits


def release_splits(
    *, contract: Contract, milestone: Milestone, amount: Decimal, fee: Decimal, subcontracts: bool = True
) -> list[tuple[Organisation, Decimal]]:
    """Called by ``marketplace.services._release`` (under the order and milestone locks, inside the release
    transaction) for every release: the parts of ``amount`` (the released escrow, fee included) that go to
    team members other than the contracted PM and to subcontractors whose accepted work this milestone pays.
    Member parts carry their pro-rata part of ``fee``; the contracted OPC keeps the rest. Records
    ``TeamPayout`` rows and marks subcontracts paid in the same transaction.

    Also called by ``marketplace.services.decide_dispute`` with the OPC's decided part (no fee) and
    ``subcontracts=False``: members get their shares of what the mediator awarded; accepted subcontracts of a
    disputed milestone are not paid automatically."""
    splits: list[tuple[Organisation, Decimal]] = []
    team = Team.objects.filter(bid_id=contract.bid_id, status=T.AWARDED).first() if contract.bid_id else None
    pm_net = amount - fee
    if team is not None and amount > 0:
        tm = team.milestones.filter(position=milestone.position).first()
        shares = list(TeamShare.objects.filter(milestone=tm).select_related("member__opc")) if tm else []
        total = sum((s.amount for s in shares), ZERO)
        cumulative, done_part, done_fee = ZERO, ZERO, ZERO
        for share in shares:
            # cumulative rounding: the parts (and fee parts) add up exactly to ``amount`` (and ``fee``)
            cumulative += share.amount
            part = to_fen(amount * cumulative / total) - done_part
            part_fee = to_fen(fee * cumulative / total) - done_fee
            done_part, done_fee = done_part + part, done_fee + part_fee
            net = part - part_fee
            if share.member.opc_id != contract.opc_id:
                if net > 0:
                    splits.append((share.member.opc, net))
                pm_net -= net
            TeamPayout.objects.create(
                team=team, member=share.member, milestone=milestone, share=part, fee=part_fee, net=net
            )
    for sub in (
        []
        if not subcontracts
        else Subcontract.objects.select_for_update(of=("self",))
        .filter(milestone=milestone, status=SC.ACCEPTED)
        .select_related("subcontractor")
    ):
        assert sub.subcontractor is not None
        if sub.price > pm_net:
            raise Conflict(_("The subcontracts exceed the contractor's share of this milestone."))
        splits.append((sub.subcontractor, sub.price))
        pm_net -= sub.price
        _set_status(
            Subcontract,
            sub,
            SC.PAID,
            SUBCONTRACT_TRANSITIONS,
            _("The subcontract"),
            paid_amount=sub.price,
            paid_at=timezone.now(),
        )
        _audit(
            "subcontract_paid",
            None,
            sub.upstream,
            sub,
            gettext_noop("Subcontract %(title)s paid %(price)s with the milestone release"),
            {"title": sub.title, "price": format_cny(sub.price)},
        )
    if pm_net < 0:
        raise Conflict(_("The split exceeds the released amount."))
    return splits


# ------------------------------------------------------------------------------------------ subcontracts


def criteria_for(deliverable_type: str, values: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The standard checklist of a deliverable type, with the poster's values (the template's by default)."""
    template = DELIVERABLE_TEMPLATES.get(deliverable_type)
    if template is None:
        raise DomainError(_("Choose a deliverable type."))
    values = values or {}
    out = []
    for key, default in template.items():
        value = mkt._text(
            values.get(key, default) or default,
            field=str(CRITERIA_LABELS[key]),
            max_length=200,
            required=True,
        )
        out.append({"key": key, "value": value})
    out.append({"key": "deadline", "value": ""})
    return out


def _upstream_room(contract: Contract, milestone: Milestone) -> Decimal:
    """What the contracted OPC keeps of ``milestone`` after the fee, its team members and its subcontracts."""
    fee = mkt.platform_fee(milestone.amount)
    room = milestone.amount - fee
    team = Team.objects.filter(bid_id=contract.bid_id, status=T.AWARDED).first() if contract.bid_id else None
    if team is not None:
        tm = team.milestones.filter(position=milestone.position).first()
        others = TeamShare.objects.filter(milestone=tm).exclude(member__opc_id=contract.opc_id)
        room -= sum((s.amount for s in others), ZERO)
    taken = Subcontract.objects.filter(milestone=milestone, status__in=LIVE_SUBCONTRACT)
    room -= sum((s.price for s in taken), ZERO)
    return room


@transaction.atomic
def post_subcontract(
    *,
    contract: Contract,
    upstream: Organisation,
    actor: User | None,
    milestone: Milestone,
    title: str,
    deliverable_type: str,
    price: Decimal | str | int,
    deadline: dt.date,
    description: str = "",
    criteria: Mapping[str, str] | None = None,
    visibility: str = SubcontractVisibility.INVITED,
    invited: Sequence[Organisation] = (),
) -> Subcontract:
    order = mkt._lock_order(contract.order_id)
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    mkt._require_party(upstream, contract.opc_id, _("Only the contracted OPC can subcontract its work."))
    if contract.status != ContractStatus.ACTIVE:
        raise InvalidTransition(_("The contract is no longer active."))
    if not contract.subcontracting_allowed:
        raise NotPermitted(_("The client has forbidden subcontracting on this contract."))
    milestone = Milestone.objects.select_for_update().get(pk=milestone.pk)
    if milestone.contract_id != contract.pk:
        raise NotFound()
    if milestone.status not in UNSETTLED_MILESTONE:
        raise InvalidTransition(_("Subcontract only work of a milestone that is not yet settled."))
    amount = mkt._money(price, field=_("Price"))
    room = _upstream_room(contract, milestone)
    if amount > room:
        raise DomainError(
            _(
                "The price exceeds your share of this milestone: at most %(room)s is left after the fee, team shares and other subcontracts."
            )
            % {"room": format_cny(max(room, ZERO))}
        )
    deadline = mkt._date(deadline, field=_("Deadline"))
    if deadline < timezone.localdate():
        raise DomainError(_("The deadline is in the past."))
    if visibility not in SubcontractVisibility.values:
        raise DomainError(_("Choose who may see the subcontract."))
    invitees = [o for o in invited if o.kind == OrgKind.OPC and o.pk != upstream.pk]
    if visibility == SubcontractVisibility.INVITED and not invitees:
        raise DomainError(_("Invite at least one OPC, or show the subcontract to your community."))
    if visibility == SubcontractVisibility.COMMUNITY and upstream.home_community_id is None:
        raise DomainError(_("You belong to no community; invite OPCs instead."))
    sub = Subcontract.objects.create(
        contract=contract,
        milestone=milestone,
        upstream=upstream,
        title=mkt._text(title, field=_("Title"), max_length=200, required=True),
        description=mkt._text(description, field=_("Description"), max_length=20000),
        deliverable_type=deliverable_type,
        criteria=criteria_for(deliverable_type, criteria),
        price=amount,
        deadline=deadline,
        visibility=visibility,
        community_id=upstream.home_community_id if visibility == SubcontractVisibility.COMMUNITY else None,
    )
    if invitees:
        sub.invited.set(invitees)
        for opc in invitees:
            mkt.notify(
                recipient=opc,
                kind="subcontract_invitation",
                message=gettext_noop("%(opc)s offers you a subcontract “%(title)s” for %(price)s."),
                params={"opc": upstream.name, "title": sub.title, "price": format_cny(amount)},
                link=subcontract_link(sub),
            )
    _audit(
        "subcontract_posted",
        actor,
        upstream,
        sub,
        gettext_noop("Subcontract %(title)s posted for %(price)s (order %(order)s)"),
        {"title": sub.title, "price": format_cny(amount), "order": order.title},
        price=amount,
    )
    return sub


def may_see_subcontract(sub: Subcontract, opc: Organisation) -> bool:
    if opc.pk in (sub.upstream_id, sub.subcontractor_id):
        return True
    if opc.kind != OrgKind.OPC:
        return False
    if sub.visibility == SubcontractVisibility.COMMUNITY:
        return sub.community_id is not None and opc.home_community_id == sub.community_id
    return sub.invited.filter(pk=opc.pk).exists()


def _lock_sub(sub: Subcontract) -> Subcontract:
    order_id = Subcontract.objects.filter(pk=sub.pk).values_list("contract__order_id", flat=True).first()
    if order_id is None:
        raise NotFound()
    mkt._lock_order(order_id)
    return (
        Subcontract.objects.select_for_update(of=("self",))
        .select_related("upstream", "subcontractor", "milestone", "contract")
        .get(pk=sub.pk)
    )


@transaction.atomic
def take_subcontract(*, sub: Subcontract, opc: Organisation, actor: User | None) -> Subcontract:
    sub = _lock_sub(sub)
    if opc.pk == sub.upstream_id:
        raise DomainError(_("You cannot take your own subcontract."))
    if not may_see_subcontract(sub, opc):
        raise NotFound()
    _set_status(
        Subcontract, sub, SC.AWARDED, SUBCONTRACT_TRANSITIONS, _("The subcontract"), subcontractor=opc
    )
    mkt.notify(
        recipient=sub.upstream,
        kind="subcontract_taken",
        message=gettext_noop("%(opc)s took your subcontract “%(title)s”."),
        params={"opc": opc.name, "title": sub.title},
        link=subcontract_link(sub),
    )
    _audit(
        "subcontract_taken",
        actor,
        opc,
        sub,
        gettext_noop("Subcontract %(title)s taken by %(opc)s"),
        {"title": sub.title, "opc": opc.name},
    )
    return sub


@transaction.atomic
def deliver_subcontract(*, sub: Subcontract, opc: Organisation, actor: User | None, note: str) -> Subcontract:
    sub = _lock_sub(sub)
    mkt._require_party(opc, sub.subcontractor_id, _("Only the subcontractor can deliver."))
    note = mkt._text(note, field=_("Delivery note"), max_length=20000, required=True)
    _set_status(
        Subcontract,
        sub,
        SC.DELIVERED,
        SUBCONTRACT_TRANSITIONS,
        _("The subcontract"),
        delivery_note=note,
        delivered_at=timezone.now(),
    )
    mkt.notify(
        recipient=sub.upstream,
        kind="subcontract_delivered",
        message=gettext_noop("“%(title)s” was delivered; check it against the checklist."),
        params={"title": sub.title},
        link=subcontract_link(sub),
    )
    _audit(
        "subcontract_delivered",
        actor,
        opc,
        sub,
        gettext_noop("Subcontract %(title)s delivered"),
        {"title": sub.title},
    )
    return sub


@transaction.atomic
def review_subcontract(
    *,
    sub: Subcontract,
    upstream: Organisation,
    actor: User | None,
    passed: Mapping[str, bool],
    idempotency_key: str,
) -> Subcontract:
    """The upstream checks the delivery against the checklist: every criterion passed → accepted (paid with
    the milestone's release, or at once from the upstream's available account when that milestone was
    already released); otherwise → revision requested (the failed criteria are recorded)."""
    sub = _lock_sub(sub)
    mkt._require_party(upstream, sub.upstream_id, _("Only the upstream OPC can accept this work."))
    key = mkt._key(idempotency_key)
    checklist = {c["key"]: bool(passed.get(c["key"], False)) for c in sub.criteria}
    if sub.status in (SC.ACCEPTED, SC.PAID) and sub.checklist.get("_key") == key:
        return sub
    if all(checklist.values()):
        _set_status(
            Subcontract,
            sub,
            SC.ACCEPTED,
            SUBCONTRACT_TRANSITIONS,
            _("The subcontract"),
            checklist={**checklist, "_key": key},
            accepted_at=timezone.now(),
        )
        assert sub.subcontractor is not None
        if sub.milestone.status not in UNSETTLED_MILESTONE:
            ledger.transfer(
                idempotency_key=f"teams:subcontract-{sub.pk}:pay:{key}",
                source=ledger.account_for(owner=upstream, purpose=Purpose.AVAILABLE),
                destination=ledger.account_for(owner=sub.subcontractor, purpose=Purpose.AVAILABLE),
                amount=sub.price,
                kind="teams.subcontract_payment",
                reference=f"subcontract:{sub.pk}",
                actor=actor,
            )
            _set_status(
                Subcontract,
                sub,
                SC.PAID,
                SUBCONTRACT_TRANSITIONS,
                _("The subcontract"),
                paid_amount=sub.price,
                paid_at=timezone.now(),
            )
        message = gettext_noop("“%(title)s” was accepted against the checklist.")
    else:
        failed = [k for k, ok in checklist.items() if not ok]
        _set_status(
            Subcontract,
            sub,
            SC.REVISION,
            SUBCONTRACT_TRANSITIONS,
            _("The subcontract"),
            checklist=checklist,
            revision_rounds_used=sub.revision_rounds_used + 1,
        )
        message = gettext_noop("A revision of “%(title)s” is requested: some criteria were not met.")
        _audit(
            "subcontract_revision",
            actor,
            upstream,
            sub,
            gettext_noop("Revision of subcontract %(title)s requested"),
            {"title": sub.title},
            failed=failed,
        )
    if sub.subcontractor is not None:
        mkt.notify(
            recipient=sub.subcontractor,
            kind="subcontract_reviewed",
            message=message,
            params={"title": sub.title},
            link=subcontract_link(sub),
        )
    if sub.status in (SC.ACCEPTED, SC.PAID):
        _audit(
            "subcontract_accepted",
            actor,
            upstream,
            sub,
            gettext_noop("Subcontract %(title)s accepted"),
            {"title": sub.title},
            status=sub.status,
        )
    return sub


@transaction.atomic
def cancel_subcontract(*, sub: Subcontract, upstream: Organisation, actor: User | None) -> Subcontract:
    sub = _lock_sub(sub)
    mkt._require_party(upstream, sub.upstream_id, _("Only the upstream OPC can cancel this subcontract."))
    _set_status(Subcontract, sub, SC.CANCELLED, SUBCONTRACT_TRANSITIONS, _("The subcontract"))
    _audit(
        "subcontract_cancelled",
        actor,
        upstream,
        sub,
        gettext_noop("Subcontract %(title)s cancelled"),
        {"title": sub.title},
    )
    return sub


@transaction.atomic
def set_subcontracting(
    *, contract: Contract, client: Organisation, actor: User | None, allowed: bool
) -> Contract:
    """The client allows or forbids subcontracting on its contract (forbidding needs no live subcontract)."""
    mkt._lock_order(contract.order_id)
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    mkt._require_party(client, contract.client_id, _("Only the client can decide this."))
    if not allowed and Subcontract.objects.filter(contract=contract, status__in=LIVE_SUBCONTRACT).exists():
        raise Conflict(_("Part of the work is already subcontracted; cancel those subcontracts first."))
    Contract.objects.filter(pk=contract.pk).update(subcontracting_allowed=allowed)
    contract.subcontracting_allowed = allowed
    _audit(
        "subcontracting_set",
        actor,
        client,
        contract,
        gettext_noop("Subcontracting on %(contract)s: %(allowed)s"),
        {"contract": str(contract), "allowed": allowed},
        allowed=allowed,
    )
    return contract
