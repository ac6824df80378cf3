"""Writes of the service desk. Typed keyword-only functions in ``transaction.atomic``, each with an audit record.

Tickets: a member of a community opens a ticket; its community operator routes it to a provider whose type fits
the category (``PROVIDER_SUBKINDS``); the provider answers, may ask the member for information, and resolves it;
the member closes it with a satisfaction rating (or reopens it). ``TICKET_TRANSITIONS`` lists every legal change
of state. SLA targets (first response, resolution) come from ``SLA_HOURS`` when the ticket opens; the first
message of the provider or the operator is the first response; lateness is recorded when it happens and by
``flag_sla_breaches`` for tickets still waiting.

Free legal service: a legal ticket may use one of the member's free consultations (``LegalServiceQuota``). The
draw is a guarded ``UPDATE … SET used = used + 1 WHERE used < granted AND <valid today>`` whose row count says
whether it succeeded, so parallel tickets can never use more than was granted. A ticket cancelled before a
provider took it gives its consultation back (guarded the same way).

Licence cases: a member opens a case for a licence of the catalogue; the checklist is copied into the case;
member and operator upload documents and tick items, link the operator's site statement, submit it when every
required item is satisfied; the operator records the authority's decision. ``CASE_TRANSITIONS`` lists the
legal changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import record_audit
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from organisations.capabilities import OrgKind, OrgSubkind
from servicedesk.licences import licence as catalogue_licence
from servicedesk.models import (
    CaseItem,
    CaseStatus,
    Category,
    LegalServiceQuota,
    LicenceCase,
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketStatus,
)

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

    from accounts.models import User
    from communities.models import SiteStatement
    from organisations.models import Organisation

T = TicketStatus
S = CaseStatus

# Government-affairs agencies have no organisation type of their own yet (organisations.capabilities); until
# they do, law firms and accounting firms (which handle registrations and filings) take those tickets.
GOVERNMENT_AFFAIRS = "government_affairs"
PROVIDER_SUBKINDS: dict[str, set[str]] = {
    Category.LEGAL: {OrgSubkind.LAW_FIRM},
    Category.FINANCE: {OrgSubkind.ACCOUNTING},
    Category.GOVERNMENT: {GOVERNMENT_AFFAIRS, OrgSubkind.LAW_FIRM, OrgSubkind.ACCOUNTING},
    Category.LICENCE: {GOVERNMENT_AFFAIRS, OrgSubkind.LAW_FIRM, OrgSubkind.ACCOUNTING},
    Category.INSURANCE: {OrgSubkind.INSURER},
    Category.FINANCING: {OrgSubkind.BANK},
    Category.COPYRIGHT: {OrgSubkind.COPYRIGHT_AGENCY, OrgSubkind.LAW_FIRM},
}

# (first response, resolution) in hours, calendar time.
SLA_HOURS: dict[str, tuple[int, int]] = {
    Category.LEGAL: (24, 5 * 24),
    Category.FINANCE: (24, 5 * 24),
    Category.GOVERNMENT: (48, 10 * 24),
    Category.LICENCE: (48, 20 * 24),
    Category.INSURANCE: (24, 7 * 24),
    Category.FINANCING: (48, 10 * 24),
    Category.COPYRIGHT: (24, 7 * 24),
}

TICKET_TRANSITIONS: dict[str, set[str]] = {
    T.NEW: {T.ROUTED, T.CANCELLED},
    T.ROUTED: {T.ROUTED, T.NEW, T.IN_PROGRESS, T.CANCELLED},  # re-route, declined, accepted, cancelled
    T.IN_PROGRESS: {T.WAITING_MEMBER, T.RESOLVED},
    T.WAITING_MEMBER: {T.IN_PROGRESS, T.RESOLVED},
    T.RESOLVED: {T.CLOSED, T.IN_PROGRESS},  # confirmed (rated) or reopened
    T.CLOSED: set(),
    T.CANCELLED: set(),
}

CASE_TRANSITIONS: dict[str, set[str]] = {
    S.PREPARING: {S.SUBMITTED, S.WITHDRAWN},
    S.SUBMITTED: {S.APPROVED, S.REJECTED, S.WITHDRAWN},
    S.REJECTED: {S.PREPARING},
    S.APPROVED: set(),
    S.WITHDRAWN: set(),
}

DEFAULT_FREE_CONSULTATIONS = 6
FREE_PERIOD_DAYS = 365
SUBJECT_MAX = 200
TEXT_MAX = 20_000


# -- helpers ----------------------------------------------------------------------------------------------------
def _check(table: dict[str, set[str]], labels: Any, current: str, target: str) -> None:
    if target not in table.get(current, set()):
        raise InvalidTransition(
            _("Cannot change from “%(current)s” to “%(target)s”.")
            % {"current": labels(current).label, "target": labels(target).label}
        )


def _text(value: Any, *, field: str, max_length: int, required: bool = True) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise DomainError(_("%(field)s is required.") % {"field": field})
    if len(text) > max_length:
        raise DomainError(
            _("%(field)s is too long (at most %(max)d characters).") % {"field": field, "max": max_length}
        )
    return text


def _audit(
    action: str,
    *,
    actor: User | None,
    organisation: Organisation | None,
    target: Any,
    message: str,
    params: dict[str, Any],
    changes: dict[str, Any] | None = None,
) -> None:
    record_audit(
        action=f"servicedesk.{action}",
        actor=actor,
        organisation=organisation,
        target=target,
        message=message,
        params=params,
        changes=changes,
    )


def operator_of(organisation: Organisation) -> Organisation | None:
    """The operator of the organisation's home community (who routes its tickets and helps with licences)."""
    community = organisation.home_community
    return community.operator if community is not None else None


def _member_operator(organisation: Organisation) -> Organisation:
    operator = operator_of(organisation)
    if operator is None:
        raise DomainError(
            _("The service desk is for members of a community. Join a community first (My organisation).")
        )
    return operator


def _check_upload(upload: UploadedFile) -> str:
    from core.uploads import check_size

    try:
        check_size(upload)
    except ValidationError as exc:
        raise DomainError(" ".join(exc.messages)) from None
    name = (upload.name or "").rsplit("/", 1)[-1]
    return _text(name, field=_("File name"), max_length=200)


def _lock_ticket(ticket: Ticket) -> Ticket:
    locked = Ticket.objects.select_for_update().filter(pk=ticket.pk).first()
    if locked is None:
        raise NotFound()
    return locked


def _set_ticket_status(
    ticket: Ticket, target: str, *, actor: User | None, organisation: Organisation, note: str = ""
) -> None:
    previous = ticket.status
    _check(TICKET_TRANSITIONS, TicketStatus, previous, target)
    ticket.status = target
    ticket.updated_at = timezone.now()
    _audit(
        "ticket_status_changed",
        actor=actor,
        organisation=organisation,
        target=ticket,
        message=gettext_noop("Ticket #%(id)s: %(previous)s → %(target)s"),
        params={"id": ticket.pk, "previous": previous, "target": target},
        changes={"status": [previous, target], **({"note": note} if note else {})},
    )


# -- free legal service quota -------------------------------------------------------------------------------------
def ensure_legal_quota(organisation: Organisation) -> LegalServiceQuota:
    """The member's quota, created with the first-year default on first use: ``DEFAULT_FREE_CONSULTATIONS``
    consultations valid for a year from the day the organisation joined the platform."""
    quota = LegalServiceQuota.objects.filter(organisation=organisation).first()
    if quota is not None:
        return quota
    start = timezone.localdate(organisation.created_at)
    try:
        with transaction.atomic():
            return LegalServiceQuota.objects.create(
                organisation=organisation,
                granted=DEFAULT_FREE_CONSULTATIONS,
                starts_on=start,
                ends_on=start + dt.timedelta(days=FREE_PERIOD_DAYS - 1),
                granted_by=operator_of(organisation),
            )
    except IntegrityError:  # created by a parallel request a moment ago
        return LegalServiceQuota.objects.get(organisation=organisation)


def _draw_free_consultation(organisation: Organisation) -> None:
    quota = ensure_legal_quota(organisation)
    today = timezone.localdate()
    taken = LegalServiceQuota.objects.filter(
        pk=quota.pk, used__lt=F("granted"), starts_on__lte=today, ends_on__gte=today
    ).update(used=F("used") + 1)
    if taken != 1:
        quota.refresh_from_db()
        if not quota.valid_on(today):
            raise Conflict(
                _("Your free legal service ran from %(start)s to %(end)s; this legal ticket cannot use it.")
                % {"start": quota.starts_on.isoformat(), "end": quota.ends_on.isoformat()}
            )
        raise Conflict(
            _("Your %(n)d free legal consultations are used up. Open the ticket without the free service.")
            % {"n": quota.granted}
        )


def _return_free_consultation(ticket: Ticket) -> None:
    if not ticket.uses_free_quota or ticket.quota_returned:
        return
    returned = LegalServiceQuota.objects.filter(organisation_id=ticket.requester_id, used__gt=0).update(
        used=F("used") - 1
    )
    ticket.quota_returned = returned == 1


@transaction.atomic
def grant_legal_quota(
    *,
    operator: Organisation,
    organisation: Organisation,
    actor: User | None,
    consultations: int,
    starts_on: dt.date | None = None,
) -> LegalServiceQuota:
    """The operator sets how many free consultations a member of its communities has in its first year."""
    home_operator = operator_of(organisation)
    if home_operator is None or home_operator.pk != operator.pk:
        raise NotPermitted(_("Only the operator of the member's community can grant its free legal service."))
    if not 0 <= int(consultations) <= 1000:
        raise DomainError(_("Enter between 0 and 1000 consultations."))
    quota = ensure_legal_quota(organisation)
    quota = LegalServiceQuota.objects.select_for_update().get(pk=quota.pk)
    if consultations < quota.used:
        raise Conflict(
            _("%(used)d consultations are already used; the quota cannot be lower.") % {"used": quota.used}
        )
    before = {"granted": quota.granted, "starts_on": quota.starts_on.isoformat()}
    quota.granted = int(consultations)
    if starts_on is not None:
        quota.starts_on = starts_on
        quota.ends_on = starts_on + dt.timedelta(days=FREE_PERIOD_DAYS - 1)
    quota.granted_by = operator
    quota.save(update_fields=["granted", "starts_on", "ends_on", "granted_by"])
    _audit(
        "legal_quota_granted",
        actor=actor,
        organisation=operator,
        target=quota,
        message=gettext_noop("Free legal service of %(member)s set to %(n)s consultations"),
        params={"member": organisation.name, "n": quota.granted},
        changes={"before": before, "granted": quota.granted, "starts_on": quota.starts_on.isoformat()},
    )
    return quota


# -- tickets -----------------------------------------------------------------------------------------------------
def _attach(
    ticket: Ticket, uploads: Sequence[UploadedFile], *, actor: User | None, message: TicketMessage | None
) -> list[TicketAttachment]:
    out = []
    for upload in uploads:
        name = _check_upload(upload)
        out.append(
            TicketAttachment.objects.create(
                ticket=ticket,
                message=message,
                file=upload,
                name=name,
                size=upload.size or 0,
                uploaded_by=actor if actor is not None and actor.is_authenticated else None,
            )
        )
    return out


@transaction.atomic
def open_ticket(
    *,
    requester: Organisation,
    actor: User | None,
    category: str,
    subject: str,
    description: str,
    use_free_quota: bool = False,
    uploads: Sequence[UploadedFile] = (),
) -> Ticket:
    """A member's request to the service desk. A legal ticket may use one free consultation."""
    if category not in Category.values:
        raise DomainError(_("Choose a category."))
    operator = _member_operator(requester)
    subject = _text(subject, field=_("Subject"), max_length=SUBJECT_MAX)
    description = _text(description, field=_("Description"), max_length=TEXT_MAX)
    if use_free_quota and category != Category.LEGAL:
        raise DomainError(_("The free legal service covers legal tickets only."))
    if use_free_quota:
        _draw_free_consultation(requester)
    now = timezone.now()
    first, resolution = SLA_HOURS[category]
    ticket = Ticket.objects.create(
        requester=requester,
        operator=operator,
        created_by=actor if actor is not None and actor.is_authenticated else None,
        category=category,
        subject=subject,
        description=description,
        uses_free_quota=use_free_quota,
        first_response_due=now + dt.timedelta(hours=first),
        resolution_due=now + dt.timedelta(hours=resolution),
        created_at=now,
        updated_at=now,
    )
    _attach(ticket, uploads, actor=actor, message=None)
    _audit(
        "ticket_opened",
        actor=actor,
        organisation=requester,
        target=ticket,
        message=gettext_noop("Service ticket #%(id)s opened (%(category)s): %(subject)s"),
        params={"id": ticket.pk, "category": category, "subject": subject},
        changes={"uses_free_quota": use_free_quota},
    )
    return ticket


def suitable_provider(category: str, provider: Organisation) -> bool:
    return provider.kind == OrgKind.PROVIDER and provider.subkind in PROVIDER_SUBKINDS.get(category, set())


@transaction.atomic
def route_ticket(
    *, ticket: Ticket, operator: Organisation, actor: User | None, provider: Organisation
) -> Ticket:
    """The operator sends a ticket to a provider (again, before the provider accepted it, to re-route)."""
    ticket = _lock_ticket(ticket)
    if ticket.operator_id != operator.pk:
        raise NotPermitted(_("Only the member's community operator routes this ticket."))
    if not suitable_provider(ticket.category, provider):
        raise DomainError(
            _("%(provider)s does not provide %(category)s services.")
            % {"provider": provider.name, "category": Category(ticket.category).label}
        )
    _set_ticket_status(ticket, T.ROUTED, actor=actor, organisation=operator)
    ticket.provider = provider
    ticket.save(update_fields=["status", "provider", "updated_at"])
    _audit(
        "ticket_routed",
        actor=actor,
        organisation=operator,
        target=ticket,
        message=gettext_noop("Ticket #%(id)s routed to %(provider)s"),
        params={"id": ticket.pk, "provider": provider.name},
        changes={"provider": provider.pk},
    )
    return ticket


def _role(ticket: Ticket, organisation: Organisation) -> str:
    if organisation.pk == ticket.requester_id:
        return "member"
    if organisation.pk == ticket.operator_id:
        return "operator"
    if ticket.provider_id is not None and organisation.pk == ticket.provider_id:
        return "provider"
    raise NotPermitted()


def _first_response(ticket: Ticket, now: dt.datetime) -> None:
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        ticket.first_response_breached = now > ticket.first_response_due


@transaction.atomic
def post_message(
    *,
    ticket: Ticket,
    organisation: Organisation,
    actor: User | None,
    body: str,
    uploads: Sequence[UploadedFile] = (),
) -> TicketMessage:
    """A message on the ticket from the member, its operator or the assigned provider. The provider's or the
    operator's first message is the first response; a provider writing on a routed ticket accepts it; the
    member answering a question puts the ticket back in progress."""
    ticket = _lock_ticket(ticket)
    role = _role(ticket, organisation)
    if ticket.status in (T.CLOSED, T.CANCELLED):
        raise InvalidTransition(_("This ticket is closed; open a new one."))
    body = _text(body, field=_("Message"), max_length=TEXT_MAX)
    now = timezone.now()
    message = TicketMessage.objects.create(
        ticket=ticket,
        author_organisation=organisation,
        author=actor if actor is not None and actor.is_authenticated else None,
        body=body,
        created_at=now,
    )
    _attach(ticket, uploads, actor=actor, message=message)
    if role != "member":
        _first_response(ticket, now)
    if role == "provider" and ticket.status == T.ROUTED:
        _set_ticket_status(ticket, T.IN_PROGRESS, actor=actor, organisation=organisation)
    if role == "member" and ticket.status == T.WAITING_MEMBER:
        _set_ticket_status(ticket, T.IN_PROGRESS, actor=actor, organisation=organisation)
    ticket.updated_at = now
    ticket.save()
    _audit(
        "ticket_message",
        actor=actor,
        organisation=organisation,
        target=ticket,
        message=gettext_noop("Message on ticket #%(id)s"),
        params={"id": ticket.pk},
        changes={"message": message.pk, "attachments": len(uploads)},
    )
    return message


# action → (roles allowed, target status)
TICKET_ACTIONS: dict[str, tuple[set[str], str]] = {
    "accept": ({"provider"}, T.IN_PROGRESS),
    "decline": ({"provider"}, T.NEW),
    "ask_member": ({"provider"}, T.WAITING_MEMBER),
    "resolve": ({"provider", "operator"}, T.RESOLVED),
    "reopen": ({"member"}, T.IN_PROGRESS),
    "close": ({"member", "operator"}, T.CLOSED),
    "cancel": ({"member", "operator"}, T.CANCELLED),
}


@transaction.atomic
def act_on_ticket(
    *, ticket: Ticket, organisation: Organisation, actor: User | None, action: str, note: str = ""
) -> Ticket:
    """Accept / decline (provider), ask the member (provider), resolve (provider or operator), reopen (member),
    close (member or operator, after resolution), cancel (member or operator, before a provider took it)."""
    if action not in TICKET_ACTIONS:
        raise DomainError(_("Unknown action."))
    ticket = _lock_ticket(ticket)
    role = _role(ticket, organisation)
    roles, target = TICKET_ACTIONS[action]
    if role not in roles:
        raise NotPermitted()
    if action == "reopen" and ticket.status != T.RESOLVED:
        raise InvalidTransition(_("Only a resolved ticket can be reopened."))
    if action == "accept" and ticket.status != T.ROUTED:
        raise InvalidTransition(_("Only a ticket routed to you can be accepted."))
    note = _text(note, field=_("Note"), max_length=2000, required=action in ("decline", "ask_member"))
    now = timezone.now()
    _set_ticket_status(ticket, target, actor=actor, organisation=organisation, note=note)
    if action == "decline":
        ticket.provider = None
    if action == "resolve":
        ticket.resolved_at = now
        ticket.resolution_breached = now > ticket.resolution_due
    if action == "reopen":
        ticket.resolved_at = None
    if action == "close":
        ticket.closed_at = now
    if action == "cancel":
        ticket.closed_at = now
        _return_free_consultation(ticket)
    if note:
        TicketMessage.objects.create(
            ticket=ticket,
            author_organisation=organisation,
            author=actor if actor is not None and actor.is_authenticated else None,
            body=note,
            created_at=now,
        )
        if role != "member":
            _first_response(ticket, now)
    ticket.save()
    return ticket


@transaction.atomic
def rate_ticket(
    *, ticket: Ticket, organisation: Organisation, actor: User | None, rating: int, comment: str = ""
) -> Ticket:
    """The member's satisfaction (1–5) once the ticket is resolved; rating a resolved ticket closes it."""
    ticket = _lock_ticket(ticket)
    if _role(ticket, organisation) != "member":
        raise NotPermitted(_("Only the member who opened the ticket rates it."))
    if ticket.status not in (T.RESOLVED, T.CLOSED) or ticket.resolved_at is None:
        raise InvalidTransition(_("A ticket can be rated once it is resolved."))
    if ticket.rating is not None:
        raise Conflict(_("This ticket has already been rated."))
    if not 1 <= int(rating) <= 5:
        raise DomainError(_("Give a rating from 1 to 5."))
    ticket.rating = int(rating)
    ticket.rating_comment = _text(comment, field=_("Comment"), max_length=500, required=False)
    if ticket.status == T.RESOLVED:
        _set_ticket_status(ticket, T.CLOSED, actor=actor, organisation=organisation)
        ticket.closed_at = timezone.now()
    ticket.save()
    _audit(
        "ticket_rated",
        actor=actor,
        organisation=organisation,
        target=ticket,
        message=gettext_noop("Ticket #%(id)s rated %(rating)s/5"),
        params={"id": ticket.pk, "rating": ticket.rating},
    )
    return ticket


def flag_sla_breaches(now: dt.datetime | None = None) -> int:
    """Record lateness of tickets still waiting for a first response or a resolution (run periodically; the
    pages also show lateness live). Returns how many flags were set."""
    now = now or timezone.now()
    waiting = Ticket.objects.filter(status__in=[T.NEW, T.ROUTED, T.IN_PROGRESS, T.WAITING_MEMBER])
    first = waiting.filter(
        first_response_at__isnull=True, first_response_due__lt=now, first_response_breached=False
    ).update(first_response_breached=True)
    resolution = waiting.filter(resolution_due__lt=now, resolution_breached=False).update(
        resolution_breached=True
    )
    return first + resolution


# -- licence cases ------------------------------------------------------------------------------------------------
def _case_role(case: LicenceCase, organisation: Organisation) -> str:
    if organisation.pk == case.organisation_id:
        return "member"
    if organisation.pk == case.operator_id:
        return "operator"
    raise NotPermitted()


def _lock_case(case: LicenceCase) -> LicenceCase:
    locked = LicenceCase.objects.select_for_update().filter(pk=case.pk).first()
    if locked is None:
        raise NotFound()
    return locked


@transaction.atomic
def open_case(
    *, organisation: Organisation, actor: User | None, licence_code: str, note: str = ""
) -> LicenceCase:
    """A member starts an application for a licence of the catalogue; the checklist is copied into the case."""
    operator = _member_operator(organisation)
    entry = catalogue_licence(licence_code)
    if LicenceCase.objects.filter(
        organisation=organisation, licence_code=entry.code, status__in=[S.PREPARING, S.SUBMITTED]
    ).exists():
        raise Conflict(_("You already have an open case for this licence."))
    case = LicenceCase.objects.create(
        organisation=organisation,
        operator=operator,
        licence_code=entry.code,
        licence_name=entry.name,
        note=_text(note, field=_("Note"), max_length=TEXT_MAX, required=False),
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    CaseItem.objects.bulk_create(
        CaseItem(
            case=case,
            position=i,
            code=item.code,
            title=item.title,
            note=item.note,
            required=item.required,
            site_statement=item.site_statement,
        )
        for i, item in enumerate(entry.items, start=1)
    )
    _audit(
        "case_opened",
        actor=actor,
        organisation=organisation,
        target=case,
        message=gettext_noop("Licence case #%(id)s opened: %(licence)s"),
        params={"id": case.pk, "licence": entry.name["zh"]},
    )
    return case


@transaction.atomic
def update_case_item(
    *,
    item: CaseItem,
    organisation: Organisation,
    actor: User | None,
    done: bool | None = None,
    upload: UploadedFile | None = None,
) -> CaseItem:
    """Tick or untick a checklist item, or attach its document (which ticks it)."""
    case = _lock_case(item.case)
    _case_role(case, organisation)
    if case.status != S.PREPARING:
        raise InvalidTransition(_("Materials can be changed only while the case is being prepared."))
    item = CaseItem.objects.select_for_update().get(pk=item.pk)
    changes: dict[str, Any] = {}
    if upload is not None:
        name = _check_upload(upload)
        item.document.save(f"case-{case.pk}-{item.code}-{name}", upload, save=False)
        item.document_name = name
        item.done = True
        changes["document"] = name
    if done is not None:
        item.done = bool(done)
    changes["done"] = item.done
    item.updated_by = actor if actor is not None and actor.is_authenticated else None
    item.updated_at = timezone.now()
    item.save()
    _audit(
        "case_item_updated",
        actor=actor,
        organisation=organisation,
        target=case,
        message=gettext_noop("Licence case #%(id)s: %(item)s updated"),
        params={"id": case.pk, "item": item.title.get("zh", item.code)},
        changes=changes,
    )
    return item


@transaction.atomic
def link_site_statement(
    *, case: LicenceCase, organisation: Organisation, actor: User | None, statement: SiteStatement | None
) -> LicenceCase:
    """Attach (or detach, with None) one of the member's site statements; it satisfies the checklist items
    about the premises."""
    case = _lock_case(case)
    _case_role(case, organisation)
    if case.status != S.PREPARING:
        raise InvalidTransition(_("Materials can be changed only while the case is being prepared."))
    if statement is not None:
        if statement.residency.organisation_id != case.organisation_id:
            raise NotFound()
        if statement.revoked_at is not None:
            raise DomainError(_("This site statement has been revoked; ask the operator for a new one."))
    case.site_statement = statement
    case.save(update_fields=["site_statement"])
    _audit(
        "case_statement_linked",
        actor=actor,
        organisation=organisation,
        target=case,
        message=gettext_noop("Licence case #%(id)s: site statement %(code)s"),
        params={"id": case.pk, "code": statement.code if statement is not None else "—"},
    )
    return case


def missing_items(case: LicenceCase) -> list[CaseItem]:
    return [item for item in case.items.all() if item.required and not item.satisfied]


@transaction.atomic
def transition_case(
    *,
    case: LicenceCase,
    organisation: Organisation,
    actor: User | None,
    target: str,
    reference: str = "",
    note: str = "",
) -> LicenceCase:
    """submit (member or operator, checklist complete) · withdraw (member or operator) · approve / reject (the
    operator records the authority's decision) · back to preparing after a rejection."""
    case = _lock_case(case)
    role = _case_role(case, organisation)
    if target not in CaseStatus.values:
        raise DomainError(_("Unknown status."))
    _check(CASE_TRANSITIONS, CaseStatus, case.status, target)
    if target in (S.APPROVED, S.REJECTED) and role != "operator":
        raise NotPermitted(_("The operator records the authority's decision."))
    now = timezone.now()
    if target == S.SUBMITTED:
        missing = missing_items(case)
        if missing:
            raise InvalidTransition(
                _("The checklist is not complete: %(items)s.")
                % {"items": "、".join(item.title.get("zh", item.code) for item in missing)}
            )
        case.submitted_at = now
        case.reference = _text(reference, field=_("Reference"), max_length=80, required=False)
    if target in (S.APPROVED, S.REJECTED):
        case.decided_at = now
        case.decision_note = _text(note, field=_("Note"), max_length=500, required=target == S.REJECTED)
        if reference:
            case.reference = _text(reference, field=_("Reference"), max_length=80, required=False)
    previous = case.status
    case.status = target
    case.save()
    _audit(
        "case_status_changed",
        actor=actor,
        organisation=organisation,
        target=case,
        message=gettext_noop("Licence case #%(id)s: %(previous)s → %(target)s"),
        params={"id": case.pk, "previous": previous, "target": target},
        changes={"status": [previous, target]},
    )
    return case
