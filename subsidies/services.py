"""Writes of the subsidy middle layer: expenses and their review, consent, claim batches and the distribution
of received funds. Every function is one transaction that appends an audit record.

State machines (one place each, below): ``EXPENSE_TRANSITIONS`` and ``BATCH_TRANSITIONS``. An illegal change
raises ``InvalidTransition``. Repeating a step that already happened (submitting a submitted batch, recording
the same funds again, distributing a distributed batch) has no further effect and returns the batch: each
state-changing step locks the batch row first, so two concurrent calls are serialised and the second one sees
the first one's result.

Money: received funds enter through ``external`` into the operator's subsidy pool
(``org-N-subsidy-pool``); distribution is **one** balanced ledger posting from the pool into each member's
``available`` account (money) or ``quota`` account (token quota, the gateway's account), with idempotency
keys derived from the batch id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import audit_summary, record_audit
from core.errors import Conflict, DomainError, InvalidTransition, NotPermitted
from ledger.models import Account, Purpose
from ledger.money import format_cny
from ledger.services import account_for, open_account, post_transaction, transfer
from organisations.capabilities import OrgKind
from organisations.models import Organisation
from subsidies import catalog
from subsidies.engine import Period, Role, distribute
from subsidies.engine.schema import Policy
from subsidies.facts import build_facts, expenses_used, facts_snapshot, month_end
from subsidies.models import (
    MEMBER_CATEGORIES,
    OPERATOR_CATEGORIES,
    BatchKind,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Consent,
    DocumentKind,
    EvidenceDocument,
    Expense,
    ExpenseCategory,
    ExpenseSource,
    ExpenseStatus,
    Payout,
)
from subsidies.validation import (
    check_evidence_file,
    clean_amount,
    clean_invoice,
    clean_seller_uscc,
)

if TYPE_CHECKING:
    from accounts.models import User

ZERO = Decimal("0.00")
EARLIEST = dt.date(2000, 1, 1)

# --------------------------------------------------------------------------------------------- state machines

EXPENSE_TRANSITIONS: dict[str, set[str]] = {
    ExpenseStatus.SUBMITTED: {ExpenseStatus.APPROVED, ExpenseStatus.REJECTED},
    ExpenseStatus.APPROVED: set(),
    ExpenseStatus.REJECTED: set(),
}

BATCH_TRANSITIONS: dict[str, set[str]] = {
    BatchStatus.DRAFT: {BatchStatus.SUBMITTED, BatchStatus.CANCELLED},
    BatchStatus.SUBMITTED: {BatchStatus.UNDER_REVIEW, BatchStatus.REJECTED},
    BatchStatus.UNDER_REVIEW: {BatchStatus.APPROVED, BatchStatus.REJECTED},
    BatchStatus.APPROVED: {BatchStatus.FUNDS_RECEIVED},
    BatchStatus.FUNDS_RECEIVED: {BatchStatus.DISTRIBUTED},
    BatchStatus.DISTRIBUTED: set(),
    BatchStatus.REJECTED: set(),
    BatchStatus.CANCELLED: set(),
}

# The order of the steps, to recognise "already done" (a repeated call) apart from "not allowed".
_BATCH_ORDER: list[str] = [
    BatchStatus.DRAFT,
    BatchStatus.SUBMITTED,
    BatchStatus.UNDER_REVIEW,
    BatchStatus.APPROVED,
    BatchStatus.FUNDS_RECEIVED,
    BatchStatus.DISTRIBUTED,
]


def _check_transition(table: dict[str, set[str]], current: str, target: str, labels: Any) -> None:
    if target not in table.get(current, set()):
        raise InvalidTransition(
            _("This step is not possible: the status is “%(current)s”, it cannot become “%(target)s”.")
            % {"current": labels(current).label, "target": labels(target).label}
        )


def _already_past(current: str, target: str) -> bool:
    """The batch has already reached ``target`` (or a later step of the normal path)."""
    if current not in _BATCH_ORDER or target not in _BATCH_ORDER:
        return False
    return _BATCH_ORDER.index(current) >= _BATCH_ORDER.index(target)


# --------------------------------------------------------------------------------------------- expenses


def _field_error(field: str, exc: ValidationError) -> ValidationError:
    return ValidationError({field: exc.messages})


def _require_expense_owner(organisation: Organisation) -> None:
    if organisation.kind not in (OrgKind.OPC, OrgKind.OPERATOR):
        raise NotPermitted(_("Expenses are recorded by one-person companies and community operators."))


def allowed_document_kinds(organisation: Organisation) -> list[DocumentKind]:
    if organisation.kind == OrgKind.OPERATOR:
        return [DocumentKind.OPERATION_REPORT]
    return [k for k in DocumentKind if k != DocumentKind.OPERATION_REPORT]


def allowed_categories(organisation: Organisation) -> list[ExpenseCategory]:
    return list(OPERATOR_CATEGORIES if organisation.kind == OrgKind.OPERATOR else MEMBER_CATEGORIES)


def _clean_text(value: str, max_length: int) -> str:
    return " ".join((value or "").split())[:max_length]


@transaction.atomic
def record_expense(
    *,
    organisation: Organisation,
    actor: User,
    category: str,
    amount: Decimal | str,
    spent_on: dt.date,
    seller_name: str,
    seller_uscc: str,
    invoice_number: str,
    invoice_code: str = "",
    description: str = "",
    evidence: UploadedFile | None = None,
    trip_from: str = "",
    trip_to: str = "",
    train_number: str = "",
) -> Expense:
    """Record an expense with its invoice. Bad input raises ``ValidationError`` keyed by field, nothing saved.

    Duplicates: an invoice this organisation already holds (pending or approved) is refused (``Conflict``);
    one that *another* member holds is recorded but flagged (``duplicate_of``) — it cannot be approved while
    the other one stands, and the operator sees why. A community operator's own expenses (operation, rent,
    events) are declared, not reviewed by itself: they are recorded as approved, and the authority reviews
    them with the claim.
    """
    _require_expense_owner(organisation)
    errors: dict[str, list[str]] = {}
    if category not in {c.value for c in allowed_categories(organisation)}:
        errors["category"] = [_("Choose one of the listed categories.")]
    try:
        value = clean_amount(amount)
    except ValidationError as exc:
        errors["amount"] = exc.messages
    today = timezone.localdate()
    if not isinstance(spent_on, dt.date) or spent_on > today or spent_on < EARLIEST:
        errors["spent_on"] = [_("Give the invoice date; it cannot lie in the future.")]
    try:
        code, number, key = clean_invoice(invoice_code, invoice_number)
    except ValidationError as exc:
        errors["invoice_number"] = exc.messages
    try:
        uscc = clean_seller_uscc(seller_uscc)
    except ValidationError as exc:
        errors["seller_uscc"] = exc.messages
    seller = _clean_text(seller_name, 120)
    if not seller:
        errors["seller_name"] = [_("Enter the seller's name as printed on the invoice.")]
    if category == ExpenseCategory.TRAIN_TICKET and not (trip_from.strip() and trip_to.strip()):
        errors["trip_from"] = [_("A train ticket needs the stations it runs between.")]
    sha = ""
    if evidence is not None:
        try:
            _kind, sha = check_evidence_file(evidence)
        except ValidationError as exc:
            errors["evidence"] = exc.messages
    if errors:
        raise ValidationError(errors)

    mine = (
        Expense.objects.filter(
            organisation=organisation,
            invoice_key=key,
            status__in=[ExpenseStatus.SUBMITTED, ExpenseStatus.APPROVED],
        )
        .order_by("pk")
        .first()
    )
    if mine is not None:
        raise Conflict(
            _("You already recorded this invoice (%(invoice)s) on %(date)s; an invoice is claimed only once.")
            % {"invoice": mine.invoice_display, "date": timezone.localdate(mine.created_at).isoformat()}
        )
    other = (
        Expense.objects.filter(invoice_key=key, status__in=[ExpenseStatus.SUBMITTED, ExpenseStatus.APPROVED])
        .exclude(organisation=organisation)
        .order_by("pk")
        .first()
    )
    own = organisation.kind == OrgKind.OPERATOR
    if own and other is not None:
        raise Conflict(
            _("This invoice (%(invoice)s) is already recorded on the platform by another organisation.")
            % {"invoice": f"{code} {number}".strip()}
        )
    now = timezone.now()
    expense = Expense(
        organisation=organisation,
        category=category,
        source=ExpenseSource.MANUAL,
        status=ExpenseStatus.APPROVED if own else ExpenseStatus.SUBMITTED,
        amount=value,
        spent_on=spent_on,
        description=_clean_text(description, 200),
        seller_name=seller,
        seller_uscc=uscc,
        invoice_code=code,
        invoice_number=number,
        invoice_key=key,
        trip_from=_clean_text(trip_from, 40),
        trip_to=_clean_text(trip_to, 40),
        train_number=_clean_text(train_number, 12).upper(),
        duplicate_of=other,
        created_by=actor,
        created_at=now,
        reviewed_at=now if own else None,
        review_note=gettext_noop("Declared by the operator; reviewed by the authority with the claim.")
        if own
        else "",
    )
    if evidence is not None:
        expense.evidence_sha256 = sha
        expense.evidence_name = (evidence.name or "invoice")[-200:]
        expense.evidence.save(f"invoice-{sha[:16]}-{(evidence.name or 'file')[-60:]}", evidence, save=False)
    try:
        with transaction.atomic():
            expense.save()
    except IntegrityError:
        raise Conflict(
            _("This invoice (%(invoice)s) was recorded at the same moment by someone else; reload and check.")
            % {"invoice": f"{code} {number}".strip()}
        ) from None
    record_audit(
        action="subsidies.expense_recorded",
        actor=actor,
        organisation=organisation,
        target=expense,
        summary=audit_summary(
            gettext_noop("Recorded expense %(category)s %(amount)s, invoice %(invoice)s"),
            {"category": category, "amount": format_cny(value), "invoice": f"{code} {number}".strip()},
        ),
        changes={
            "category": category,
            "amount": value,
            "spent_on": spent_on,
            "invoice_key": key,
            "seller_uscc": uscc,
            "evidence_sha256": sha,
            "duplicate_of": other.pk if other else None,
        },
    )
    return expense


@transaction.atomic
def attach_evidence(*, expense: Expense, evidence: UploadedFile, actor: User) -> Expense:
    """Add or replace the invoice file of an expense that is still awaiting review."""
    locked = Expense.objects.select_for_update().get(pk=expense.pk)
    if locked.status != ExpenseStatus.SUBMITTED:
        raise InvalidTransition(_("The invoice file can only be changed while the expense awaits review."))
    try:
        _kind, sha = check_evidence_file(evidence)
    except ValidationError as exc:
        raise _field_error("evidence", exc) from None
    locked.evidence_sha256 = sha
    locked.evidence_name = (evidence.name or "invoice")[-200:]
    locked.evidence.save(f"invoice-{sha[:16]}-{(evidence.name or 'file')[-60:]}", evidence, save=False)
    locked.save(update_fields=["evidence", "evidence_sha256", "evidence_name"])
    record_audit(
        action="subsidies.expense_evidence",
        actor=actor,
        organisation=locked.organisation,
        target=locked,
        summary=audit_summary(
            gettext_noop("Attached the invoice file to expense #%(id)s"), {"id": locked.pk}
        ),
        changes={"evidence_sha256": sha},
    )
    return locked


def _managing_operator(organisation: Organisation) -> int | None:
    community = organisation.home_community
    return community.operator_id if community is not None else None


@transaction.atomic
def approve_expense(*, expense: Expense, operator: Organisation, actor: User) -> Expense:
    """The member's operator approves: the invoice file is there, and no other record of the same invoice
    stands (the ``subsidy_invoice_approved_once`` constraint refuses a concurrent second approval too)."""
    locked = (
        Expense.objects.select_for_update(of=("self",))
        .select_related("organisation__home_community")
        .get(pk=expense.pk)
    )
    if _managing_operator(locked.organisation) != operator.pk:
        raise NotPermitted(_("Only the member's community operator reviews its expenses."))
    _check_transition(EXPENSE_TRANSITIONS, locked.status, ExpenseStatus.APPROVED, ExpenseStatus)
    if locked.source == ExpenseSource.MANUAL and not locked.evidence:
        raise DomainError(_("The invoice file is missing; the member must upload it before approval."))
    if locked.invoice_key:
        holder = (
            Expense.objects.filter(invoice_key=locked.invoice_key)
            .exclude(pk=locked.pk)
            .filter(Q(status=ExpenseStatus.APPROVED) | Q(status=ExpenseStatus.SUBMITTED, pk__lt=locked.pk))
            .order_by("pk")
            .first()
        )
        if holder is not None:
            raise Conflict(
                _(
                    "The same invoice (%(invoice)s) is already recorded by another expense on the platform "
                    "(%(status)s since %(date)s): reject this one as a duplicate, or the other must be "
                    "rejected first."
                )
                % {
                    "invoice": locked.invoice_display,
                    "status": holder.get_status_display(),
                    "date": timezone.localdate(holder.created_at).isoformat(),
                }
            )
    locked.status = ExpenseStatus.APPROVED
    locked.reviewed_by = actor
    locked.reviewed_at = timezone.now()
    locked.review_note = ""
    try:
        with transaction.atomic():
            locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    except IntegrityError:
        raise Conflict(
            _("The same invoice was approved for another expense at the same moment; this one stays pending.")
        ) from None
    record_audit(
        action="subsidies.expense_approved",
        actor=actor,
        organisation=locked.organisation,
        target=locked,
        summary=audit_summary(
            gettext_noop("Approved expense #%(id)s (%(amount)s)"),
            {"id": locked.pk, "amount": format_cny(locked.amount)},
        ),
        changes={"status": [ExpenseStatus.SUBMITTED, ExpenseStatus.APPROVED]},
    )
    return locked


@transaction.atomic
def reject_expense(*, expense: Expense, operator: Organisation, actor: User, reason: str) -> Expense:
    reason = _clean_text(reason, 300)
    if not reason:
        raise ValidationError({"reason": [_("Give the reason for the rejection; the member sees it.")]})
    locked = (
        Expense.objects.select_for_update(of=("self",))
        .select_related("organisation__home_community")
        .get(pk=expense.pk)
    )
    if _managing_operator(locked.organisation) != operator.pk:
        raise NotPermitted(_("Only the member's community operator reviews its expenses."))
    _check_transition(EXPENSE_TRANSITIONS, locked.status, ExpenseStatus.REJECTED, ExpenseStatus)
    locked.status = ExpenseStatus.REJECTED
    locked.reviewed_by = actor
    locked.reviewed_at = timezone.now()
    locked.review_note = reason
    locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    record_audit(
        action="subsidies.expense_rejected",
        actor=actor,
        organisation=locked.organisation,
        target=locked,
        summary=audit_summary(
            gettext_noop("Rejected expense #%(id)s: %(reason)s"), {"id": locked.pk, "reason": reason}
        ),
        changes={"status": [ExpenseStatus.SUBMITTED, ExpenseStatus.REJECTED], "reason": reason},
    )
    return locked


def _closed_months(start: dt.date, end: dt.date, today: dt.date) -> list[dt.date]:
    """First days of the months from ``start`` to ``end`` that are over (before the current month)."""
    months = []
    current = dt.date(start.year, start.month, 1)
    this_month = dt.date(today.year, today.month, 1)
    while current <= end and current < this_month:
        months.append(current)
        current = (current + dt.timedelta(days=32)).replace(day=1)
    return months


@transaction.atomic
def import_gateway_usage(
    *, organisations: Iterable[Organisation], start: dt.date, end: dt.date, actor: User | None = None
) -> list[Expense]:
    """Turn each member's settled gateway usage of every *closed* month between ``start`` and ``end`` into one
    approved expense (API and token fees, metered on the platform: the gateway statement is the evidence, no
    invoice needed where a policy accepts metered spend). A month already imported is left as it is."""
    from django.db.models import Sum
    from django.db.models.functions import TruncMonth

    from gateway.models import UsageRecord, UsageStatus

    orgs = {o.pk: o for o in organisations}
    months = _closed_months(start, end, timezone.localdate())
    if not orgs or not months:
        return []
    tz = timezone.get_current_timezone()
    first, last = months[0], month_end(months[-1])
    existing = set(
        Expense.objects.filter(
            organisation_id__in=orgs, source=ExpenseSource.GATEWAY, month__in=months
        ).values_list("organisation_id", "month")
    )
    rows = (
        UsageRecord.objects.filter(
            organisation_id__in=orgs,
            status=UsageStatus.SETTLED,
            started_at__gte=dt.datetime.combine(first, dt.time.min, tzinfo=tz),
            started_at__lt=dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
        )
        .annotate(month=TruncMonth("started_at", tzinfo=tz))
        .values("organisation_id", "month")
        .annotate(total=Sum("charged"))
        .order_by("organisation_id", "month")
    )
    created = []
    for row in rows:
        month = row["month"].date() if isinstance(row["month"], dt.datetime) else row["month"]
        total = row["total"] or ZERO
        if total <= 0 or (row["organisation_id"], month) in existing:
            continue
        org = orgs[row["organisation_id"]]
        expense = Expense(
            organisation=org,
            category=ExpenseCategory.TOKEN_API,
            source=ExpenseSource.GATEWAY,
            status=ExpenseStatus.APPROVED,
            amount=total,
            spent_on=month_end(month),
            month=month,
            description=f"OPC Hub 词元网关计量 {month:%Y-%m}",
            seller_name="OPC Hub 词元网关",
            reviewed_at=timezone.now(),
            review_note=gettext_noop("Metered by the platform's token gateway."),
        )
        try:
            with transaction.atomic():
                expense.save()
        except IntegrityError:  # imported concurrently
            continue
        created.append(expense)
        record_audit(
            action="subsidies.gateway_usage_imported",
            actor=actor,
            organisation=org,
            target=expense,
            summary=audit_summary(
                gettext_noop("Imported gateway usage of %(month)s: %(amount)s"),
                {"month": f"{month:%Y-%m}", "amount": format_cny(total)},
            ),
            changes={"month": month, "amount": total},
        )
    return created


def import_all_gateway_usage(*, year: int | None = None) -> list[Expense]:
    """``import_gateway_usage`` for every organisation that used the gateway in ``year`` (default: this year)."""
    from gateway.models import UsageRecord

    year = year or timezone.localdate().year
    users = UsageRecord.objects.filter(started_at__year=year).values("organisation_id").distinct()
    return import_gateway_usage(
        organisations=Organisation.objects.filter(pk__in=users, kind__in=[OrgKind.OPC, OrgKind.OPERATOR]),
        start=dt.date(year, 1, 1),
        end=dt.date(year, 12, 31),
    )


# --------------------------------------------------------------------------------------------- documents

DOCUMENT_TRANSITIONS = EXPENSE_TRANSITIONS


@transaction.atomic
def upload_document(
    *, organisation: Organisation, actor: User, kind: str, title: str, file: UploadedFile
) -> EvidenceDocument:
    """A contract, report or proof the policies ask for (``DocumentKind``). Approved documents count as evidence
    held on the platform. An operator's own documents are declared (the authority reviews them with the claim)."""
    _require_expense_owner(organisation)
    errors: dict[str, list[str]] = {}
    if kind not in {k.value for k in allowed_document_kinds(organisation)}:
        errors["kind"] = [_("Choose one of the listed kinds.")]
    title = _clean_text(title, 200)
    if not title:
        errors["title"] = [_("Give the document a title, e.g. the contract's name and date.")]
    try:
        _kind, sha = check_evidence_file(file)
    except ValidationError as exc:
        errors["file"] = exc.messages
    if errors:
        raise ValidationError(errors)
    own = organisation.kind == OrgKind.OPERATOR
    now = timezone.now()
    document = EvidenceDocument(
        organisation=organisation,
        kind=kind,
        title=title,
        file_name=(file.name or "document")[-200:],
        sha256=sha,
        status=ExpenseStatus.APPROVED if own else ExpenseStatus.SUBMITTED,
        created_by=actor,
        created_at=now,
        reviewed_at=now if own else None,
        review_note=gettext_noop("Declared by the operator; reviewed by the authority with the claim.")
        if own
        else "",
    )
    document.file.save(f"document-{sha[:16]}-{(file.name or 'file')[-60:]}", file, save=False)
    document.save()
    record_audit(
        action="subsidies.document_uploaded",
        actor=actor,
        organisation=organisation,
        target=document,
        summary=audit_summary(
            gettext_noop("Uploaded evidence %(kind)s: %(title)s"), {"kind": kind, "title": title}
        ),
        changes={"kind": kind, "title": title, "sha256": sha},
    )
    return document


def _review_document(
    *, document: EvidenceDocument, operator: Organisation, actor: User, target: str, reason: str = ""
) -> EvidenceDocument:
    locked = (
        EvidenceDocument.objects.select_for_update(of=("self",))
        .select_related("organisation__home_community")
        .get(pk=document.pk)
    )
    if _managing_operator(locked.organisation) != operator.pk:
        raise NotPermitted(_("Only the member's community operator reviews its documents."))
    _check_transition(DOCUMENT_TRANSITIONS, locked.status, target, ExpenseStatus)
    locked.status = target
    locked.reviewed_by = actor
    locked.reviewed_at = timezone.now()
    locked.review_note = reason
    locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    record_audit(
        action=f"subsidies.document_{target}",
        actor=actor,
        organisation=locked.organisation,
        target=locked,
        summary=audit_summary(
            gettext_noop("Reviewed evidence #%(id)s: %(status)s %(reason)s"),
            {"id": locked.pk, "status": target, "reason": reason},
        ),
        changes={"status": [ExpenseStatus.SUBMITTED, target], "reason": reason},
    )
    return locked


@transaction.atomic
def approve_document(*, document: EvidenceDocument, operator: Organisation, actor: User) -> EvidenceDocument:
    return _review_document(document=document, operator=operator, actor=actor, target=ExpenseStatus.APPROVED)


@transaction.atomic
def reject_document(
    *, document: EvidenceDocument, operator: Organisation, actor: User, reason: str
) -> EvidenceDocument:
    reason = _clean_text(reason, 300)
    if not reason:
        raise ValidationError({"reason": [_("Give the reason for the rejection; the member sees it.")]})
    return _review_document(
        document=document, operator=operator, actor=actor, target=ExpenseStatus.REJECTED, reason=reason
    )


# --------------------------------------------------------------------------------------------- consent


def _check_member_policy(organisation: Organisation, policy: Policy) -> None:
    if not catalog.operator_applies(policy) or catalog.own_claim(policy):
        raise DomainError(
            _("The operator does not apply for “%(policy)s” on members' behalf; apply yourself.")
            % {"policy": policy.title}
        )
    if organisation.kind != OrgKind.OPC:
        raise NotPermitted(_("Consent is given by member companies (OPCs)."))
    if organisation.home_community_id is None:
        raise DomainError(_("Join a community first: its operator is the one who applies on your behalf."))


@transaction.atomic
def give_consent(*, organisation: Organisation, policy: Policy, payout: str, actor: User) -> Consent:
    """Record that the operator may apply for ``policy`` on the member's behalf and how the member wants its
    share. Changing the payout replaces the active consent (the old one is kept as revoked)."""
    _check_member_policy(organisation, policy)
    allowed = {b.value for b in policy.application.payouts} & {Payout.CASH.value, Payout.QUOTA.value}
    if payout not in allowed:
        raise ValidationError({"payout": [_("This policy does not pay out that way.")]})
    current = (
        Consent.objects.select_for_update()
        .filter(organisation=organisation, policy_id=policy.id, revoked_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if current is not None:
        if current.payout == payout:
            return current
        current.revoked_at = now
        current.revoked_by = actor
        current.save(update_fields=["revoked_at", "revoked_by"])
    try:
        with transaction.atomic():
            consent = Consent.objects.create(
                organisation=organisation, policy_id=policy.id, payout=payout, given_by=actor, given_at=now
            )
    except IntegrityError:
        raise Conflict() from None
    record_audit(
        action="subsidies.consent_given",
        actor=actor,
        organisation=organisation,
        target=consent,
        summary=audit_summary(
            gettext_noop("Consented to claims for %(policy)s (paid as %(payout)s)"),
            {"policy": policy.id, "payout": payout},
        ),
        changes={"policy": policy.id, "payout": payout},
    )
    return consent


@transaction.atomic
def revoke_consent(*, organisation: Organisation, policy: Policy, actor: User) -> Consent | None:
    """Withdraw consent: later batches leave the member out (a batch already submitted is not changed)."""
    current = (
        Consent.objects.select_for_update()
        .filter(organisation=organisation, policy_id=policy.id, revoked_at__isnull=True)
        .first()
    )
    if current is None:
        return None
    current.revoked_at = timezone.now()
    current.revoked_by = actor
    current.save(update_fields=["revoked_at", "revoked_by"])
    record_audit(
        action="subsidies.consent_revoked",
        actor=actor,
        organisation=organisation,
        target=current,
        summary=audit_summary(gettext_noop("Withdrew consent for %(policy)s"), {"policy": policy.id}),
        changes={"policy": policy.id},
    )
    return current


# --------------------------------------------------------------------------------------------- batches


def subsidy_pool(operator: Organisation) -> Account:
    """The operator's account for received subsidy funds awaiting distribution."""
    return open_account(
        owner=operator,
        purpose=Purpose.FUNDING_POOL,
        code=f"org-{operator.pk}-subsidy-pool",
        name=f"{operator.name} · 补贴资金（待分配）",
    )


def subsidy_inflow() -> Account:
    """Where government subsidy funds enter the platform (an ``external`` account)."""
    return open_account(
        owner=None, purpose=Purpose.EXTERNAL, code="external-subsidy-funds", name="政府补贴资金拨付（外部）"
    )


def _check_batch_policy(operator: Organisation, policy: Policy, kind: str) -> None:
    if operator.kind != OrgKind.OPERATOR:
        raise NotPermitted(_("Only a community operator opens claim batches."))
    if not catalog.operator_applies(policy):
        raise DomainError(
            _("“%(policy)s” must be applied for by the company itself; the operator cannot apply for it.")
            % {"policy": policy.title}
        )
    if not catalog.paid_in_ledger(policy):
        raise DomainError(
            _("“%(policy)s” is a benefit in kind or a service; there are no funds to claim and distribute.")
            % {"policy": policy.title}
        )
    if kind == BatchKind.OWN and not catalog.own_claim(policy):
        raise DomainError(_("This policy does not subsidise the operating organisation itself."))
    if kind == BatchKind.MEMBERS and catalog.own_claim(policy):
        raise DomainError(_("This policy subsidises the operating organisation itself: open an own claim."))


def _members_for(batch: ClaimBatch, policy: Policy) -> tuple[list[Organisation], dict[int, Consent]]:
    """Candidates: members with active consent (own claim: the operator), minus those already in another
    active batch of the same policy whose period overlaps."""
    if batch.kind == BatchKind.OWN:
        candidates = [batch.operator]
        consents: dict[int, Consent] = {}
    else:
        consents = {
            c.organisation_id: c
            for c in Consent.objects.filter(
                policy_id=policy.id,
                revoked_at__isnull=True,
                organisation__home_community__operator=batch.operator,
            )
        }
        candidates = list(
            Organisation.objects.filter(pk__in=consents, kind=OrgKind.OPC).order_by("name", "pk")
        )
    taken = set(
        ClaimLine.objects.filter(
            policy_id=policy.id,
            active=True,
            organisation_id__in=[o.pk for o in candidates],
            period_start__lte=batch.period_end,
            period_end__gte=batch.period_start,
        )
        .exclude(batch=batch)
        .values_list("organisation_id", flat=True)
    )
    return [o for o in candidates if o.pk not in taken], consents


def _compute_lines(batch: ClaimBatch, policy: Policy) -> list[ClaimLine]:
    """(Re)compute a draft batch's lines from the platform's current facts."""
    period = Period(batch.period_start, batch.period_end, batch.period_label)
    members, consents = _members_for(batch, policy)
    bundle = build_facts(members, period=period, exclude_batch_id=batch.pk)
    plan = catalog.plan(policy)
    batch.lines.all().delete()
    lines = []
    for org in members:
        facts = bundle.facts.get(org.pk)
        if facts is None:
            continue
        result = plan.evaluate(facts, period, applicant=Role.OPERATOR)
        if not result.eligible or result.amount <= 0:
            continue
        consent = consents.get(org.pk)
        payout = Payout.CASH
        if batch.kind == BatchKind.MEMBERS:
            options = [b.value for b in policy.application.payouts]
            payout = Payout(consent.payout) if consent and consent.payout in options else Payout(options[0])
        used = expenses_used(policy, period, bundle.expenses.get(org.pk, []))
        lines.append(
            ClaimLine(
                batch=batch,
                organisation=org,
                policy_id=policy.id,
                period_start=batch.period_start,
                period_end=batch.period_end,
                consent=consent,
                payout=payout,
                eligible_amount=result.amount,
                mode=result.mode.value,
                missing_evidence=list(result.missing_evidence),
                trace=trace_json(result.trace),
                facts=facts_snapshot(facts),
                stacking_group=policy.stacking.group if policy.stacking else "",
                invoice_allocations={k: str(v) for k, v in result.invoice_allocations.items()},
                expense_ids=[e.pk for e in used],
            )
        )
    try:
        with transaction.atomic():
            ClaimLine.objects.bulk_create(lines)
    except IntegrityError:
        raise Conflict(
            _("Another batch claimed some of these members at the same moment; reload and try again.")
        ) from None
    batch.claimed_amount = sum((line.eligible_amount for line in lines), ZERO)
    batch.policy_version = policy.version
    batch.policy_title = policy.title
    batch.save(update_fields=["claimed_amount", "policy_version", "policy_title"])
    return lines


def trace_json(trace: Iterable[Any]) -> list[dict[str, Any]]:
    return [
        {
            "kind": step.kind,
            "text": step.text,
            "ok": step.ok,
            "value": step.value,
            "source": step.source,
            "effective_from": str(step.effective_from) if step.effective_from else None,
        }
        for step in trace
    ]


@transaction.atomic
def open_batch(
    *, operator: Organisation, policy: Policy, period: Period, actor: User, kind: str = BatchKind.MEMBERS
) -> ClaimBatch:
    """Open a draft batch for ``policy`` and ``period``: every member with consent that the engine finds
    eligible (applying as the operator), with its amount and trace. Nothing is created when nobody is."""
    if kind not in BatchKind.values:
        raise ValidationError({"kind": [_("Choose what the batch claims for.")]})
    _check_batch_policy(operator, policy, kind)
    window = period.intersect(policy.effective_from, policy.effective_to)
    if window is None:
        raise DomainError(_("The policy is not in force in %(period)s.") % {"period": str(period)})
    batch = ClaimBatch.objects.create(
        operator=operator,
        kind=kind,
        policy_id=policy.id,
        policy_version=policy.version,
        policy_title=policy.title,
        period_label=str(period),
        period_start=period.start,
        period_end=period.end,
        created_by=actor,
    )
    lines = _compute_lines(batch, policy)
    if not lines:
        if kind == BatchKind.OWN:
            message = _("The operating organisation is not eligible for this policy in %(period)s.")
        else:
            message = _(
                "No member is eligible in %(period)s with consent and without an overlapping claim already."
            )
        raise DomainError(message % {"period": str(period)})
    record_audit(
        action="subsidies.batch_opened",
        actor=actor,
        organisation=operator,
        target=batch,
        summary=audit_summary(
            gettext_noop(
                "Opened claim batch %(code)s for %(policy)s %(period)s: %(count)s members, %(amount)s"
            ),
            {
                "code": batch.code,
                "policy": policy.id,
                "period": str(period),
                "count": len(lines),
                "amount": format_cny(batch.claimed_amount),
            },
        ),
        changes={"policy": policy.id, "version": policy.version, "period": str(period), "kind": kind},
    )
    return batch


def _locked(batch: ClaimBatch) -> ClaimBatch:
    return ClaimBatch.objects.select_for_update(of=("self",)).select_related("operator").get(pk=batch.pk)


def _batch_audit(batch: ClaimBatch, actor: User | None, action: str, message: str, **changes: Any) -> None:
    record_audit(
        action=f"subsidies.batch_{action}",
        actor=actor,
        organisation=batch.operator,
        target=batch,
        summary=audit_summary(message, {"code": batch.code, **{k: str(v) for k, v in changes.items()}}),
        changes=changes,
    )


@transaction.atomic
def refresh_batch(*, batch: ClaimBatch, actor: User) -> ClaimBatch:
    """Recompute a draft from the current facts (newly approved expenses, consents)."""
    locked = _locked(batch)
    if locked.status != BatchStatus.DRAFT:
        raise InvalidTransition(_("Only a draft batch can be recomputed."))
    lines = _compute_lines(locked, catalog.get_policy(locked.policy_id))
    _batch_audit(
        locked,
        actor,
        "refreshed",
        gettext_noop("Recomputed claim batch %(code)s: %(count)s members, %(amount)s"),
        count=len(lines),
        amount=format_cny(locked.claimed_amount),
    )
    return locked


@transaction.atomic
def submit_batch(*, batch: ClaimBatch, actor: User) -> ClaimBatch:
    """Freeze the draft and generate the application package (PDF summary, XLSX detail, evidence index).

    Idempotent: submitting a batch that was already submitted changes nothing and returns it."""
    from subsidies.package import build_package

    locked = _locked(batch)
    if locked.submitted_at is not None and _already_past(locked.status, BatchStatus.SUBMITTED):
        return locked
    _check_transition(BATCH_TRANSITIONS, locked.status, BatchStatus.SUBMITTED, BatchStatus)
    policy = catalog.get_policy(locked.policy_id)
    members = [line.organisation for line in locked.lines.select_related("organisation")]
    import_gateway_usage(organisations=members, start=locked.period_start, end=locked.period_end, actor=actor)
    lines = _compute_lines(locked, policy)
    if not lines or locked.claimed_amount <= 0:
        raise DomainError(_("Nobody in this batch is eligible any more; cancel it instead."))
    locked.status = BatchStatus.SUBMITTED
    locked.submitted_at = timezone.now()
    package = build_package(locked, policy)
    locked.evidence_index = package.evidence_index
    locked.pdf_sha256 = hashlib.sha256(package.pdf).hexdigest()
    locked.xlsx_sha256 = hashlib.sha256(package.xlsx).hexdigest()
    locked.package_pdf.save(f"claim-{locked.code}.pdf", ContentFile(package.pdf), save=False)
    locked.package_xlsx.save(f"claim-{locked.code}.xlsx", ContentFile(package.xlsx), save=False)
    locked.save()
    _batch_audit(
        locked,
        actor,
        "submitted",
        gettext_noop("Submitted claim batch %(code)s: %(amount)s"),
        amount=format_cny(locked.claimed_amount),
        pdf_sha256=locked.pdf_sha256,
        xlsx_sha256=locked.xlsx_sha256,
    )
    return locked


@transaction.atomic
def start_review(*, batch: ClaimBatch, actor: User, reference: str = "") -> ClaimBatch:
    """The authority acknowledged the application and is reviewing it (recorded by the operator)."""
    locked = _locked(batch)
    if locked.review_started_at is not None and _already_past(locked.status, BatchStatus.UNDER_REVIEW):
        return locked
    _check_transition(BATCH_TRANSITIONS, locked.status, BatchStatus.UNDER_REVIEW, BatchStatus)
    locked.status = BatchStatus.UNDER_REVIEW
    locked.review_started_at = timezone.now()
    if reference.strip():
        locked.authority_reference = _clean_text(reference, 120)
    locked.save(update_fields=["status", "review_started_at", "authority_reference"])
    _batch_audit(
        locked,
        actor,
        "under_review",
        gettext_noop("Claim batch %(code)s is under review (%(reference)s)"),
        reference=locked.authority_reference or "—",
    )
    return locked


@transaction.atomic
def approve_batch(
    *, batch: ClaimBatch, actor: User, amount: Decimal | str, reference: str = ""
) -> ClaimBatch:
    """The authority approved the claim, possibly for less than was claimed."""
    locked = _locked(batch)
    _check_transition(BATCH_TRANSITIONS, locked.status, BatchStatus.APPROVED, BatchStatus)
    try:
        value = clean_amount(amount)
    except ValidationError as exc:
        raise _field_error("amount", exc) from None
    if value > locked.claimed_amount:
        raise ValidationError(
            {
                "amount": [
                    _("The approved amount cannot exceed the claimed %(claimed)s.")
                    % {"claimed": format_cny(locked.claimed_amount)}
                ]
            }
        )
    locked.status = BatchStatus.APPROVED
    locked.approved_at = timezone.now()
    locked.approved_amount = value
    if reference.strip():
        locked.authority_reference = _clean_text(reference, 120)
    locked.save(update_fields=["status", "approved_at", "approved_amount", "authority_reference"])
    _batch_audit(
        locked,
        actor,
        "approved",
        gettext_noop("Claim batch %(code)s approved for %(amount)s of %(claimed)s"),
        amount=format_cny(value),
        claimed=format_cny(locked.claimed_amount),
    )
    return locked


def _deactivate_lines(batch: ClaimBatch) -> None:
    batch.lines.update(active=False)


@transaction.atomic
def reject_batch(*, batch: ClaimBatch, actor: User, reason: str) -> ClaimBatch:
    """The authority refused the claim; its members may be claimed again in a new batch."""
    reason = _clean_text(reason, 300)
    if not reason:
        raise ValidationError({"reason": [_("Give the authority's reason.")]})
    locked = _locked(batch)
    _check_transition(BATCH_TRANSITIONS, locked.status, BatchStatus.REJECTED, BatchStatus)
    locked.status = BatchStatus.REJECTED
    locked.closed_at = timezone.now()
    locked.note = reason
    locked.save(update_fields=["status", "closed_at", "note"])
    _deactivate_lines(locked)
    _batch_audit(
        locked, actor, "rejected", gettext_noop("Claim batch %(code)s refused: %(reason)s"), reason=reason
    )
    return locked


@transaction.atomic
def cancel_batch(*, batch: ClaimBatch, actor: User) -> ClaimBatch:
    locked = _locked(batch)
    if locked.status == BatchStatus.CANCELLED:
        return locked
    _check_transition(BATCH_TRANSITIONS, locked.status, BatchStatus.CANCELLED, BatchStatus)
    locked.status = BatchStatus.CANCELLED
    locked.closed_at = timezone.now()
    locked.save(update_fields=["status", "closed_at"])
    _deactivate_lines(locked)
    _batch_audit(locked, actor, "cancelled", gettext_noop("Claim batch %(code)s cancelled"))
    return locked


@transaction.atomic
def record_funds(
    *, batch: ClaimBatch, actor: User, amount: Decimal | str, received_on: dt.date | None = None
) -> ClaimBatch:
    """The approved funds arrived: ``external → operator subsidy pool`` in the ledger (idempotency key from the
    batch id). Recording the same amount again is a no-op; another amount is refused."""
    try:
        value = clean_amount(amount)
    except ValidationError as exc:
        raise _field_error("amount", exc) from None
    locked = _locked(batch)
    if locked.funds_received_at is not None and _already_past(locked.status, BatchStatus.FUNDS_RECEIVED):
        if locked.received_amount == value:
            return locked
        raise InvalidTransition(
            _("Funds of %(amount)s were already recorded for this batch.")
            % {"amount": format_cny(locked.received_amount or ZERO)}
        )
    _check_transition(BATCH_TRANSITIONS, locked.status, BatchStatus.FUNDS_RECEIVED, BatchStatus)
    assert locked.approved_amount is not None
    if value > locked.approved_amount:
        raise ValidationError(
            {
                "amount": [
                    _("More than the approved %(approved)s cannot be recorded.")
                    % {"approved": format_cny(locked.approved_amount)}
                ]
            }
        )
    today = timezone.localdate()
    received_on = received_on or today
    submitted_on = timezone.localdate(locked.submitted_at) if locked.submitted_at else today
    if received_on > today or received_on < submitted_on:
        raise ValidationError({"received_on": [_("The funds arrived between the submission and today.")]})
    txn = transfer(
        idempotency_key=f"subsidies:funds:{locked.pk}",
        source=subsidy_inflow(),
        destination=subsidy_pool(locked.operator),
        amount=value,
        kind="subsidy.funds_received",
        memo=f"补贴资金到账：{locked.policy_title} {locked.period_label}（{locked.code}）",
        reference=f"subsidy-batch:{locked.pk}",
        actor=actor,
    )
    locked.status = BatchStatus.FUNDS_RECEIVED
    locked.received_amount = value
    locked.funds_received_at = timezone.now()
    locked.funds_received_on = received_on
    locked.funds_transaction = txn
    locked.save(
        update_fields=[
            "status",
            "received_amount",
            "funds_received_at",
            "funds_received_on",
            "funds_transaction",
        ]
    )
    _batch_audit(
        locked,
        actor,
        "funds_received",
        gettext_noop("Funds of %(amount)s received for claim batch %(code)s"),
        amount=format_cny(value),
        received_on=received_on,
    )
    return locked


@transaction.atomic
def distribute_batch(*, batch: ClaimBatch, actor: User) -> ClaimBatch:
    """Split the received funds pro rata to the members' eligible amounts (each capped at its own amount),
    largest remainder to the fen — the shares add up to the received sum exactly — and pay them in one ledger
    posting: money into ``available``, token quota into the gateway ``quota`` account, as each member chose.
    An own claim pays the operator's ``available`` account. Distributing again has no further effect."""
    from gateway.services import quota_account

    locked = _locked(batch)
    if locked.distributed_at is not None and locked.status == BatchStatus.DISTRIBUTED:
        return locked
    _check_transition(BATCH_TRANSITIONS, locked.status, BatchStatus.DISTRIBUTED, BatchStatus)
    received = locked.received_amount
    assert received is not None
    lines = list(locked.lines.select_related("organisation").order_by("pk"))
    weights = {line.pk: line.eligible_amount for line in lines}
    caps: dict[int, Decimal | None] = {line.pk: line.eligible_amount for line in lines}
    result = distribute(received, weights, caps)
    if result.undistributed:
        raise DomainError(_("The received funds exceed what the members may receive; check the amounts."))
    pool = subsidy_pool(locked.operator)
    entries: list[tuple[Account, Decimal]] = [(pool, -received)]
    now = timezone.now()
    detail = {line.pk: line for line in lines}
    for share_line in result.lines:
        line = detail[share_line.member]
        line.share = share_line.share
        line.capped = share_line.capped
        line.rounded_up = share_line.rounded_up
        line.paid_at = now
        if share_line.share <= 0:
            continue
        if locked.kind == BatchKind.OWN:
            account = account_for(owner=line.organisation, purpose=Purpose.AVAILABLE)
        elif line.payout == Payout.QUOTA:
            account = quota_account(line.organisation)
        else:
            account = account_for(owner=line.organisation, purpose=Purpose.AVAILABLE)
        entries.append((account, share_line.share))
    txn = post_transaction(
        idempotency_key=f"subsidies:distribute:{locked.pk}",
        entries=entries,
        kind="subsidy.distributed",
        memo=f"补贴分配：{locked.policy_title} {locked.period_label}（{locked.code}）",
        reference=f"subsidy-batch:{locked.pk}",
        actor=actor,
    )
    ClaimLine.objects.bulk_update(lines, ["share", "capped", "rounded_up", "paid_at"])
    locked.status = BatchStatus.DISTRIBUTED
    locked.distributed_at = now
    locked.distributed_amount = result.distributed
    locked.distribution_transaction = txn
    locked.save(update_fields=["status", "distributed_at", "distributed_amount", "distribution_transaction"])
    _batch_audit(
        locked,
        actor,
        "distributed",
        gettext_noop("Distributed %(amount)s of claim batch %(code)s to %(count)s members"),
        amount=format_cny(result.distributed),
        count=sum(1 for line in lines if line.share),
    )
    return locked
