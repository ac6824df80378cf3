"""Writes of the trust context: reviews, message threads, reports, credit-profile consents and exports.

Views and API handlers are thin callers: they take the acting organisation from the caller's ``Scope``, find
the objects through ``trust.selectors`` (foreign → 404) and pass them in. These functions check the party and
the state, change the data and append an audit record in the same transaction; a refusal raises a
``core.errors.DomainError`` with a translated message and nothing changes. Notifications go through
``marketplace.services.notify`` (in-app, and e-mail after commit).

Decisions recorded here:
- a review is written once per side per contract, only by the contract's client or OPC, only once the
  contract is completed; it cannot be edited (the reviewed party may answer in the contract's thread);
- each OPC talks to an order's client in its own thread (bidders never see each other's messages); an OPC may
  open one when it bid on the order, was invited or offered it directly, or holds its contract; the operator
  of either party's community may read threads (mediation) but not write in them;
- a message asking to pay or deal outside the platform is delivered but flagged (``trust.offplatform``): the
  recipient is warned and the operator lists it;
- a report goes to the operator of the reported organisation's community, else of the reporter's, else of
  the order's community; one open report per reporter and target; the operator dismisses it or records the
  action taken, always with a note;
- a credit profile is exported only under a recorded, unrevoked consent of the OPC (who, when, with whom, for
  what); each export freezes its figures, gets a verification code and a PDF with its SHA-256. Revoking the
  consent stops new exports; the public verification page then says so and no longer shows the figures.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import record_audit
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from marketplace.models import Contract, ContractStatus, Order
from marketplace.services import notify
from organisations.capabilities import OrgKind
from organisations.models import Organisation
from trust import selectors
from trust.models import (
    MAX_MESSAGE_TEXT,
    MAX_REPORT_TEXT,
    MAX_REVIEW_TEXT,
    CreditConsent,
    CreditExport,
    Message,
    MessageAttachment,
    Report,
    ReportReason,
    ReportStatus,
    ReportTarget,
    Review,
    ReviewDirection,
    Thread,
)
from trust.offplatform import find_offplatform_requests

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

    from accounts.models import User

MAX_ATTACHMENTS = 5

REPORT_TRANSITIONS: dict[str, set[str]] = {
    ReportStatus.OPEN: {ReportStatus.DISMISSED, ReportStatus.ACTIONED},
    ReportStatus.DISMISSED: set(),
    ReportStatus.ACTIONED: set(),
}


def _text(value: Any, *, field: str, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(_("%(field)s must be text.") % {"field": field})
    value = value.strip()
    if required and not value:
        raise DomainError(_("%(field)s is required.") % {"field": field})
    if len(value) > max_length:
        raise DomainError(
            _("%(field)s is too long (at most %(max)d characters).") % {"field": field, "max": max_length}
        )
    return value


def _audit(
    *,
    action: str,
    actor: User | None,
    organisation: Organisation | None,
    target: Any,
    message: str,
    params: dict[str, Any],
    changes: dict[str, Any] | None = None,
) -> None:
    record_audit(
        action=f"trust.{action}",
        actor=actor,
        organisation=organisation,
        target=target,
        message=message,
        params=params,
        changes=changes,
    )


def _user(actor: User | None) -> User | None:
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def thread_link(thread: Thread) -> str:
    return reverse("trust:thread_detail", args=[thread.pk])


# ---------------------------------------------------------------------------------------------- reviews


@transaction.atomic
def submit_review(
    *, contract: Contract, author: Organisation, actor: User | None, rating: Any, text: str = ""
) -> Review:
    """The client reviews the OPC or the OPC the client, once, after the contract is completed."""
    locked = (
        Contract.objects.select_for_update().select_related("client", "opc", "order").filter(pk=contract.pk)
    )
    contract = locked.first()  # type: ignore[assignment]
    if contract is None:
        raise NotFound()
    if author is None or author.pk not in (contract.client_id, contract.opc_id):
        raise NotPermitted(_("Only the client and the OPC of this contract can review it."))
    if contract.status != ContractStatus.COMPLETED:
        raise InvalidTransition(_("Reviews can be written once the contract is completed."))
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise DomainError(_("Choose a rating from 1 to 5 stars."))
    text = _text(text, field=_("Review"), max_length=MAX_REVIEW_TEXT)
    if author.pk == contract.client_id:
        direction, subject = ReviewDirection.CLIENT_TO_OPC, contract.opc
    else:
        direction, subject = ReviewDirection.OPC_TO_CLIENT, contract.client
    if Review.objects.filter(contract=contract, author=author).exists():
        raise Conflict(_("You have already reviewed this contract."))
    try:
        with transaction.atomic():
            review = Review.objects.create(
                contract=contract,
                author=author,
                subject=subject,
                direction=direction,
                rating=rating,
                text=text,
                author_user=_user(actor),
            )
    except IntegrityError:
        raise Conflict(_("You have already reviewed this contract.")) from None
    _audit(
        action="review_written",
        actor=actor,
        organisation=author,
        target=review,
        message=gettext_noop("%(author)s reviewed %(subject)s: %(rating)d/5"),
        params={"author": author.name, "subject": subject.name, "rating": rating},
        changes={"contract": contract.pk, "rating": rating, "direction": direction},
    )
    notify(
        recipient=subject,
        kind="review_received",
        message=gettext_noop("%(author)s reviewed your work on “%(title)s”: %(rating)d/5."),
        params={"author": author.name, "title": contract.order.title, "rating": rating},
        link=reverse("trust:organisation", args=[subject.pk]),
    )
    return review


# ---------------------------------------------------------------------------------------------- threads


def _attach_contract(thread: Thread) -> Thread:
    """Link the thread to the order's contract once its OPC holds it (idempotent)."""
    if thread.contract_id is None:
        contract = Contract.objects.filter(order_id=thread.order_id, opc_id=thread.opc_id).first()
        if contract is not None:
            Thread.objects.filter(pk=thread.pk, contract__isnull=True).update(contract=contract)
            thread.contract = contract
    return thread


@transaction.atomic
def open_thread(
    *, order: Order, organisation: Organisation, actor: User | None, opc: Organisation | None = None
) -> Thread:
    """The thread between the order's client and one OPC (created on first use). The client names the OPC
    (a bidder, an invited or named OPC, the contracted one); an OPC opens its own thread."""
    if organisation is None:
        raise NotFound()
    order = Order.objects.select_related("client").get(pk=order.pk)
    if organisation.pk == order.client_id:
        if opc is None:
            raise DomainError(_("Choose the OPC you want to write to."))
        partner = opc
    elif organisation.kind == OrgKind.OPC and selectors.opc_may_message(order, organisation):
        partner = organisation
    else:
        raise NotFound()
    if not selectors.opc_may_message(order, partner):
        raise DomainError(
            _("You can write to OPCs that bid on this order, were invited to it or hold its contract.")
        )
    thread = Thread.objects.filter(order=order, opc=partner).first()
    if thread is None:
        try:
            with transaction.atomic():
                thread = Thread.objects.create(order=order, client=order.client, opc=partner)
        except IntegrityError:
            thread = Thread.objects.get(order=order, opc=partner)
        else:
            _audit(
                action="thread_opened",
                actor=actor,
                organisation=organisation,
                target=thread,
                message=gettext_noop("Message thread about %(title)s opened between %(client)s and %(opc)s"),
                params={"title": order.title, "client": order.client.name, "opc": partner.name},
            )
    return _attach_contract(thread)


def open_contract_thread(*, contract: Contract, organisation: Organisation, actor: User | None) -> Thread:
    """The contract's thread: the client and the contracted OPC's thread about the contract's order."""
    if organisation is None or organisation.pk not in (contract.client_id, contract.opc_id):
        raise NotFound()
    return open_thread(
        order=contract.order,
        organisation=organisation,
        actor=actor,
        opc=contract.opc if organisation.pk == contract.client_id else None,
    )


def _check_upload(upload: UploadedFile) -> str:
    from core.uploads import check_size

    try:
        check_size(upload)
    except ValidationError as exc:
        raise DomainError(" ".join(exc.messages)) from None
    name = (upload.name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return _text(name, field=_("File name"), max_length=200, required=True)


@transaction.atomic
def post_message(
    *,
    thread: Thread,
    sender: Organisation,
    actor: User | None,
    body: str,
    attachments: Sequence[UploadedFile] = (),
) -> Message:
    """A participant writes in the thread (text and/or up to ``MAX_ATTACHMENTS`` files). The other side is
    notified; a request to pay outside the platform is flagged and the warning goes with the notification."""
    thread = Thread.objects.select_for_update().select_related("order", "client", "opc").get(pk=thread.pk)
    if sender is None or sender.pk not in thread.participant_ids():
        raise NotPermitted(_("Only the client and the OPC of this thread can write in it."))
    body = _text(body, field=_("Message"), max_length=MAX_MESSAGE_TEXT)
    files = list(attachments)
    if len(files) > MAX_ATTACHMENTS:
        raise DomainError(_("Attach at most %(max)d files to one message.") % {"max": MAX_ATTACHMENTS})
    if not body and not files:
        raise DomainError(_("Write a message or attach a file."))
    names = [_check_upload(f) for f in files]
    terms = find_offplatform_requests(body)
    now = timezone.now()
    message = Message.objects.create(
        thread=thread,
        sender=sender,
        sender_user=_user(actor),
        body=body,
        flagged=bool(terms),
        flag_terms=terms,
        created_at=now,
    )
    for upload, name in zip(files, names, strict=True):
        MessageAttachment.objects.create(message=message, file=upload, name=name, size=upload.size or 0)
    Thread.objects.filter(pk=thread.pk).update(last_message_at=now)
    _audit(
        action="message_posted",
        actor=actor,
        organisation=sender,
        target=message,
        message=gettext_noop("Message in the thread about %(title)s")
        if not terms
        else gettext_noop("Flagged message (off-platform payment request) in the thread about %(title)s"),
        params={"title": thread.order.title},
        changes={"thread": thread.pk, "attachments": len(files), "flag_terms": terms},
    )
    recipient = thread.opc if sender.pk == thread.client_id else thread.client
    if terms:
        notify(
            recipient=recipient,
            kind="message_flagged",
            message=gettext_noop(
                "%(sender)s wrote about “%(title)s”. Warning: the message asks to pay or deal outside the "
                "platform. Never pay outside OPC Hub's escrow."
            ),
            params={"sender": sender.name, "title": thread.order.title},
            link=thread_link(thread),
        )
    else:
        notify(
            recipient=recipient,
            kind="message",
            message=gettext_noop("%(sender)s wrote to you about “%(title)s”."),
            params={"sender": sender.name, "title": thread.order.title},
            link=thread_link(thread),
        )
    return message


# ---------------------------------------------------------------------------------------------- reports


def reviewing_operator(
    *, reported: Organisation, reporter: Organisation, order: Order | None = None
) -> Organisation | None:
    """The operator of the reported organisation's community, else the reporter's, else the order's."""
    for community in (
        reported.home_community,
        reporter.home_community,
        order.community if order is not None else None,
    ):
        if community is not None:
            return community.operator
    return None


@transaction.atomic
def file_report(
    *,
    reporter: Organisation,
    actor: User | None,
    target_kind: str,
    reported: Organisation,
    reason: str,
    details: str,
    order: Order | None = None,
    contract: Contract | None = None,
    message: Message | None = None,
) -> Report:
    """Report an order, contract, message or organisation (found by ``selectors.report_target_for``, which
    checks that the reporter may see it) to the reviewing operator."""
    if reporter is None:
        raise NotPermitted()
    if target_kind not in ReportTarget.values:
        raise DomainError(_("Choose what the report is about."))
    if reason not in ReportReason.values:
        raise DomainError(_("Choose a reason for the report."))
    details = _text(details, field=_("Details"), max_length=MAX_REPORT_TEXT, required=True)
    if reported.pk == reporter.pk:
        raise DomainError(_("You cannot report your own organisation."))
    target_id = {
        ReportTarget.ORDER: order.pk if order else None,
        ReportTarget.CONTRACT: contract.pk if contract else None,
        ReportTarget.MESSAGE: message.pk if message else None,
        ReportTarget.ORGANISATION: reported.pk,
    }[ReportTarget(target_kind)]
    if target_id is None:
        raise DomainError(_("Choose what the report is about."))
    key = f"{target_kind}:{target_id}"
    if Report.objects.filter(reporter=reporter, target_key=key, status=ReportStatus.OPEN).exists():
        raise Conflict(_("You have already reported this; the operator is reviewing it."))
    operator = reviewing_operator(reported=reported, reporter=reporter, order=order)
    try:
        with transaction.atomic():
            report = Report.objects.create(
                reporter=reporter,
                reporter_user=_user(actor),
                target_kind=target_kind,
                target_key=key,
                reported_organisation=reported,
                order=order,
                contract=contract,
                message=message,
                reason=reason,
                details=details,
                operator=operator,
            )
    except IntegrityError:
        raise Conflict(_("You have already reported this; the operator is reviewing it.")) from None
    _audit(
        action="report_filed",
        actor=actor,
        organisation=reporter,
        target=report,
        message=gettext_noop("%(reporter)s reported %(reported)s (%(reason)s)"),
        params={"reporter": reporter.name, "reported": reported.name, "reason": reason},
        changes={"target": key, "operator": operator},
    )
    if operator is not None:
        notify(
            recipient=operator,
            kind="report_filed",
            message=gettext_noop("New report about %(reported)s to review."),
            params={"reported": reported.name},
            link=reverse("trust:report_detail", args=[report.pk]),
        )
    return report


@transaction.atomic
def decide_report(
    *, report: Report, operator: Organisation, actor: User | None, outcome: str, note: str
) -> Report:
    """The reviewing operator dismisses the report or records the action taken, with a note."""
    report = (
        Report.objects.select_for_update()
        .select_related("reporter", "reported_organisation")
        .get(pk=report.pk)
    )
    if operator is None or operator.kind != OrgKind.OPERATOR or report.operator_id != operator.pk:
        raise NotPermitted(_("Only the reviewing operator can decide this report."))
    if outcome not in (ReportStatus.DISMISSED, ReportStatus.ACTIONED):
        raise DomainError(_("Choose “dismiss” or “action taken”."))
    note = _text(note, field=_("Note"), max_length=MAX_REPORT_TEXT, required=True)
    if outcome not in REPORT_TRANSITIONS.get(report.status, set()):
        raise InvalidTransition(_("This report has already been decided."))
    now = timezone.now()
    updated = Report.objects.filter(pk=report.pk, status=ReportStatus.OPEN).update(
        status=outcome, decision_note=note, decided_by=_user(actor), decided_at=now
    )
    if updated != 1:
        raise Conflict()
    previous = report.status
    report.refresh_from_db()
    _audit(
        action="report_decided",
        actor=actor,
        organisation=operator,
        target=report,
        message=gettext_noop("Report about %(reported)s: %(outcome)s"),
        params={"reported": report.reported_organisation.name, "outcome": outcome},
        changes={"status": [previous, outcome], "note": note},
    )
    notify(
        recipient=report.reporter,
        kind="report_decided",
        message=gettext_noop("Your report about %(reported)s was reviewed: %(outcome)s."),
        params={
            "reported": report.reported_organisation.name,
            "outcome": gettext_noop("dismissed")
            if outcome == ReportStatus.DISMISSED
            else gettext_noop("action taken"),
        },
        link=reverse("trust:my_reports"),
    )
    return report


# ---------------------------------------------------------------------------------------------- credit profile


def _require_opc(opc: Organisation) -> None:
    if opc is None or opc.kind != OrgKind.OPC:
        raise NotPermitted(_("Only one-person companies (OPCs) have a credit profile."))


@transaction.atomic
def grant_credit_consent(*, opc: Organisation, actor: User, recipient: str, purpose: str) -> CreditConsent:
    """Record the OPC's consent to share its credit profile with ``recipient`` (e.g. a bank) for
    ``purpose``: who agreed and when."""
    _require_opc(opc)
    if _user(actor) is None:
        raise NotPermitted()
    recipient = _text(recipient, field=_("Shared with"), max_length=200, required=True)
    purpose = _text(purpose, field=_("Purpose"), max_length=300, required=True)
    consent = CreditConsent.objects.create(opc=opc, granted_by=actor, recipient=recipient, purpose=purpose)
    _audit(
        action="credit_consent_granted",
        actor=actor,
        organisation=opc,
        target=consent,
        message=gettext_noop("%(opc)s consented to share its credit profile with %(recipient)s"),
        params={"opc": opc.name, "recipient": recipient},
        changes={"recipient": recipient, "purpose": purpose},
    )
    return consent


@transaction.atomic
def revoke_credit_consent(*, consent: CreditConsent, opc: Organisation, actor: User) -> CreditConsent:
    consent = CreditConsent.objects.select_for_update().get(pk=consent.pk)
    if opc is None or consent.opc_id != opc.pk:
        raise NotFound()
    if consent.revoked_at is not None:
        raise InvalidTransition(_("This consent has already been revoked."))
    now = timezone.now()
    updated = CreditConsent.objects.filter(pk=consent.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=_user(actor)
    )
    if updated != 1:
        raise Conflict()
    consent.refresh_from_db()
    _audit(
        action="credit_consent_revoked",
        actor=actor,
        organisation=opc,
        target=consent,
        message=gettext_noop("%(opc)s revoked its consent to share its credit profile with %(recipient)s"),
        params={"opc": opc.name, "recipient": consent.recipient},
        changes={"revoked_at": [None, now]},
    )
    return consent


@transaction.atomic
def export_credit_profile(*, consent: CreditConsent, opc: Organisation, actor: User) -> CreditExport:
    """Freeze the OPC's figures under an active consent, render the PDF (with the verification code and QR)
    and store it with its SHA-256."""
    from trust.pdf import render_credit_pdf

    _require_opc(opc)
    consent = CreditConsent.objects.select_for_update().get(pk=consent.pk)
    if consent.opc_id != opc.pk:
        raise NotFound()
    if consent.revoked_at is not None:
        raise InvalidTransition(_("This consent was revoked; record a new consent to export again."))
    opc = Organisation.objects.select_related("home_community__operator").get(pk=opc.pk)
    figures = selectors.credit_figures(opc)
    export = CreditExport(consent=consent, opc=opc, created_by=actor, created_at=figures.as_of)
    while CreditExport.objects.filter(code=export.code).exists():  # pragma: no cover - 60 random bits
        export.code = CreditExport._meta.get_field("code").get_default()
    export.facts = {
        **figures.as_json(),
        "consent": {
            "recipient": consent.recipient,
            "purpose": consent.purpose,
            "granted_at": consent.granted_at.isoformat(),
            "granted_by": actor.display_name,
        },
    }
    pdf_bytes = render_credit_pdf(export)
    export.pdf_sha256 = hashlib.sha256(pdf_bytes).hexdigest()
    # The file is written before the row commits; a rollback leaves an unreferenced file with a random name
    # behind (harmless: nothing points to it or serves it).
    export.pdf.save(f"credit-profile-{export.code}.pdf", ContentFile(pdf_bytes), save=False)
    export.save()
    _audit(
        action="credit_profile_exported",
        actor=actor,
        organisation=opc,
        target=export,
        message=gettext_noop("Credit profile %(code)s exported for %(recipient)s"),
        params={"code": export.code, "recipient": consent.recipient},
        changes={"consent": consent.pk, "pdf_sha256": export.pdf_sha256, "totals": figures.totals},
    )
    return export


def create_credit_export(
    *, opc: Organisation, actor: User, recipient: str, purpose: str, consent_given: bool
) -> CreditExport:
    """Record the consent (the OPC ticked the consent box) and export under it, in one transaction."""
    if consent_given is not True:
        raise DomainError(_("Confirm that you consent to share these figures."))
    with transaction.atomic():
        consent = grant_credit_consent(opc=opc, actor=actor, recipient=recipient, purpose=purpose)
        return export_credit_profile(consent=consent, opc=opc, actor=actor)
