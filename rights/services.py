"""Writes of the copyright registry: registering works, appending them to the chain, issuing certificates,
checking suspected copies, and infringement cases with their compensation.

Who may do what (checked here, raising ``NotPermitted``):
- one-person companies (OPCs) register works; the holder is the OPC that registers;
- OPCs and copyright agencies (providers of subkind ``copyright_agency``) submit suspected copies;
- the holder of a matched work opens a case and hands it to a copyright agency at an agreed share;
- the agency accepts or declines, enforces, records compensation and closes; the holder may withdraw.

Media work (decoding, fingerprinting, matching) runs in tasks (``rights.tasks``), enqueued after commit; with
the immediate backend (tests, ``OPCHUB_TASKS=immediate``) it runs inline when the transaction commits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.services import audit_summary, record_audit
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, NotPermitted
from ledger import services as ledger
from ledger.errors import LedgerError
from ledger.models import Purpose
from ledger.money import exact_fen, to_fen
from organisations.capabilities import Capability, OrgKind, OrgSubkind
from organisations.models import Organisation
from rights import chain, matching, media, registry_index
from rights.fingerprints import (
    FrameHash,
    MediaError,
    hashes_digest,
    image_fingerprint,
    image_query_hash,
    video_fingerprint,
)
from rights.models import (
    GENESIS_HASH,
    Case,
    CaseNote,
    CaseStatus,
    ChainEntry,
    ChainHead,
    Compensation,
    Frame,
    Match,
    MediaKind,
    Scan,
    Suspect,
    SuspectStatus,
    Work,
    WorkCategory,
    WorkStatus,
)

if TYPE_CHECKING:
    from accounts.models import User

MAX_BATCH = 20


# -- who may ---------------------------------------------------------------------------------------------------
def is_copyright_agency(org: Organisation | None) -> bool:
    return org is not None and org.kind == OrgKind.PROVIDER and org.subkind == OrgSubkind.COPYRIGHT_AGENCY


def can_register(org: Organisation | None) -> bool:
    return org is not None and org.kind == OrgKind.OPC


def can_scan(org: Organisation | None) -> bool:
    return can_register(org) or is_copyright_agency(org)


def can_oversee(scope: Any) -> bool:
    """Operators (their communities' members) and authorities (their city) read the registry's figures on the
    oversight dashboard; they neither register nor check copies."""
    return bool(
        (scope.is_operator and scope.has(Capability.COMMUNITY_MANAGE))
        or (scope.is_authority and scope.has(Capability.OVERSIGHT_VIEW))
    )


def require_registrant(org: Organisation | None) -> Organisation:
    if org is None or not can_register(org):
        raise NotPermitted(_("Only one-person companies (OPCs) register works in the copyright registry."))
    return org


def require_scanner(org: Organisation | None) -> Organisation:
    if org is None or not can_scan(org):
        raise NotPermitted(_("Only OPC members and copyright agencies submit suspected copies."))
    return org


def require_case_party(org: Organisation | None) -> Organisation:
    if org is None or not can_scan(org):
        raise NotPermitted(_("Infringement cases are handled by rights holders and copyright agencies."))
    return org


# -- input checks --------------------------------------------------------------------------------------------------
def _text(value: Any, *, field: str, max_length: int, required: bool = True) -> str:
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


def _date(value: Any, *, field: str, required: bool = True) -> dt.date | None:
    if value is None and not required:
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise DomainError(_("%(field)s must be a date.") % {"field": field})
    if not dt.date(1900, 1, 1) <= value <= timezone.localdate():
        raise DomainError(_("%(field)s cannot be in the future.") % {"field": field})
    return value


def _inspected(upload: Any, inspected: media.Inspected | None) -> media.Inspected:
    if inspected is not None:
        return inspected
    try:
        return media.inspect(upload)
    except ValidationError as exc:
        raise DomainError(" ".join(str(m) for m in exc.messages)) from None


def _safe_name(name: str) -> str:
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1].strip() or "upload"
    return base[-150:]


@contextlib.contextmanager
def _local(field: FieldFile) -> Iterator[Any]:
    """A stored file as a local path (file-system storage) or an open file object (any other storage)."""
    try:
        path = field.path
    except NotImplementedError:
        with field.open("rb") as handle:
            yield handle
        return
    yield path


# -- registration --------------------------------------------------------------------------------------------------
def register_work(
    *,
    holder: Organisation,
    actor: User,
    upload: Any,
    title: str,
    category: str,
    authors: str,
    created_on: dt.date,
    purpose: str,
    process: str,
    ai_tools: str,
    originality: str,
    prompts: str = "",
    first_published_on: dt.date | None = None,
    published_where: str = "",
    inspected: media.Inspected | None = None,
) -> Work:
    """Store the file and the creation statement; fingerprinting and the chain entry follow in a task."""
    require_registrant(holder)
    values = {
        "title": _text(title, field=_("Title"), max_length=120),
        "authors": _text(authors, field=_("Authors"), max_length=300),
        "purpose": _text(purpose, field=_("Purpose of creation"), max_length=2000),
        "process": _text(process, field=_("Creation process"), max_length=5000),
        "ai_tools": _text(ai_tools, field=_("AI tools used"), max_length=300),
        "prompts": _text(prompts, field=_("Prompts used"), max_length=10000, required=False),
        "originality": _text(originality, field=_("Originality statement"), max_length=3000),
        "published_where": _text(
            published_where, field=_("First published at"), max_length=200, required=False
        ),
    }
    if category not in WorkCategory.values:
        raise DomainError(_("Choose a category."))
    created = _date(created_on, field=_("Creation date"))
    published = _date(first_published_on, field=_("First publication date"), required=False)
    assert created is not None  # required
    if published is not None and published < created:
        raise DomainError(_("A work cannot be published before it was created."))
    facts = _inspected(upload, inspected)
    with transaction.atomic():
        duplicate = Work.objects.filter(
            sha256=facts.sha256, status__in=[WorkStatus.PROCESSING, WorkStatus.REGISTERED]
        ).first()
        if duplicate is not None:
            if duplicate.holder_id == holder.pk:
                raise Conflict(
                    _("You have already registered this exact file (“%(title)s”).")
                    % {"title": duplicate.title}
                )
            raise Conflict(_("This exact file is already registered by another rights holder."))
        work = Work(
            holder=holder,
            registered_by=actor,
            category=category,
            media_kind=facts.media_kind,
            holder_name=holder.name,
            holder_uscc=holder.uscc or "",
            created_on=created,
            first_published_on=published,
            original_name=_safe_name(getattr(upload, "name", "")),
            file_size=facts.size,
            file_format=facts.file_format,
            sha256=facts.sha256,
            width=facts.width,
            height=facts.height,
            duration_ms=facts.duration_ms,
            **values,
        )
        while Work.objects.filter(code=work.code).exists():  # pragma: no cover - 60 random bits
            work.code = Work._meta.get_field("code").get_default()
        upload.seek(0)
        work.file.save(work.original_name, upload, save=False)
        work.save()
        record_audit(
            action="rights.work_submitted",
            actor=actor,
            organisation=holder,
            target=work,
            summary=audit_summary(
                gettext_noop("Work “%(title)s” submitted for registration"), {"title": work.title}
            ),
            changes={"sha256": work.sha256, "media_kind": work.media_kind, "category": work.category},
        )
        transaction.on_commit(lambda: _enqueue_work(work.pk))
    return work


def _enqueue_work(work_id: int) -> None:
    from rights.tasks import process_work_task

    process_work_task.enqueue(work_id)


def fingerprint_file(source: Any, media_kind: str) -> tuple[list[FrameHash], dict[str, Any]]:
    """The registry's fingerprints of a file and what was learnt while decoding it."""
    if media_kind == MediaKind.IMAGE:
        image = image_fingerprint(source)
        return image.frames, {"sampled": 1, "kept": 1 if image.quality else 0, "duration_ms": None}
    video = video_fingerprint(source)
    return video.frames, {"sampled": video.sampled, "kept": video.kept, "duration_ms": video.duration_ms}


def process_work(*, work_id: int, certificate: bool = True) -> Work:
    """Fingerprint a submitted work, append it to the chain and issue its certificate. Does nothing to a work
    that is no longer processing (a retried task)."""
    work = Work.objects.filter(pk=work_id).first()
    if work is None:
        raise NotFound()
    if work.status != WorkStatus.PROCESSING:
        return work
    try:
        with _local(work.file) as source:
            frames, info = fingerprint_file(source, work.media_kind)
    except (MediaError, OSError) as exc:
        message = media.media_error_message(exc) if isinstance(exc, MediaError) else media.damaged_message()
        return fail_work(work_id=work.pk, reason=message)
    if not frames:
        return fail_work(
            work_id=work.pk,
            reason=_(
                "No frame of this file has enough detail to be fingerprinted (it is blank or nearly so)."
            ),
        )
    work = append_to_chain(work_id=work.pk, frames=frames, info=info)
    if certificate and work.status == WorkStatus.REGISTERED:
        work = issue_certificate(work=work)
    return work


@transaction.atomic
def fail_work(*, work_id: int, reason: str) -> Work:
    work = Work.objects.select_for_update().get(pk=work_id)
    if work.status != WorkStatus.PROCESSING:
        return work
    work.status = WorkStatus.FAILED
    work.failure_reason = reason[:300]
    work.save(update_fields=["status", "failure_reason"])
    record_audit(
        action="rights.work_failed",
        actor=None,
        organisation=work.holder,
        target=work,
        summary=audit_summary(
            gettext_noop("Work “%(title)s” could not be registered"), {"title": work.title}
        ),
        changes={"reason": work.failure_reason},
    )
    return work


def _chain_head() -> ChainHead:
    """The chain head, locked for this transaction. The row exists from the migration on; ``get_or_create``
    only covers a database where it was removed (its unique pk still serialises creators)."""
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        try:
            with transaction.atomic():
                ChainHead.objects.create(pk=1, sequence=0, head_hash=GENESIS_HASH)
        except IntegrityError:
            pass
        head = ChainHead.objects.select_for_update().get(pk=1)
    return head


@transaction.atomic
def append_to_chain(*, work_id: int, frames: list[FrameHash], info: dict[str, Any]) -> Work:
    """Store the fingerprints and append the work to the chain, under the chain-head lock: concurrent
    registrations take consecutive sequence numbers, each committing to the entry before it."""
    head = _chain_head()
    work = Work.objects.select_for_update().select_related("holder").get(pk=work_id)
    if work.status != WorkStatus.PROCESSING:
        return work
    if Work.objects.filter(sha256=work.sha256, status=WorkStatus.REGISTERED).exclude(pk=work.pk).exists():
        work.status = WorkStatus.FAILED
        work.failure_reason = _("This exact file is already registered.")
        work.save(update_fields=["status", "failure_reason"])
        return work
    Frame.objects.bulk_create(
        [
            Frame(work=work, position_ms=f.position_ms, transform=f.transform, quality=f.quality, hash=f.hash)
            for f in frames
        ],
        batch_size=2000,
    )
    now = timezone.now()
    work.fingerprint_digest = hashes_digest(frames)
    work.frames_sampled = info["sampled"]
    work.frames_kept = info["kept"]
    if info.get("duration_ms"):
        work.duration_ms = info["duration_ms"]
    work.status = WorkStatus.REGISTERED
    work.registered_at = now
    work.save(
        update_fields=[
            "fingerprint_digest",
            "frames_sampled",
            "frames_kept",
            "duration_ms",
            "status",
            "registered_at",
        ]
    )
    sequence = head.sequence + 1
    metadata = chain.metadata_digest(work)
    entry_hash = chain.entry_hash(
        sequence=sequence,
        previous_hash=head.head_hash,
        content_sha256=work.sha256,
        metadata=metadata,
        recorded_at=now,
    )
    ChainEntry.objects.create(
        sequence=sequence,
        work=work,
        previous_hash=head.head_hash,
        content_sha256=work.sha256,
        metadata_digest=metadata,
        entry_hash=entry_hash,
        recorded_at=now,
    )
    head.sequence = sequence
    head.head_hash = entry_hash
    head.updated_at = now
    head.save(update_fields=["sequence", "head_hash", "updated_at"])
    record_audit(
        action="rights.work_registered",
        actor=None,
        organisation=work.holder,
        target=work,
        summary=audit_summary(
            gettext_noop("Work “%(title)s” registered as chain entry %(sequence)s"),
            {"title": work.title, "sequence": sequence},
        ),
        changes={"sequence": sequence, "entry_hash": entry_hash, "frames": len(frames)},
    )
    return work


def issue_certificate(*, work: Work) -> Work:
    """Render the certificate PDF of a registered work and store it with its SHA-256 (idempotent)."""
    from rights.pdf import render_certificate_pdf

    work = Work.objects.select_related("chain_entry", "holder").get(pk=work.pk)
    if work.status != WorkStatus.REGISTERED:
        raise InvalidTransition(_("Only registered works have a certificate."))
    if work.certificate_pdf:
        return work
    pdf = render_certificate_pdf(work)
    with transaction.atomic():
        locked = Work.objects.select_for_update().get(pk=work.pk)
        if locked.certificate_pdf:
            return locked
        locked.certificate_sha256 = chain.sha256_hex(pdf)
        locked.certificate_pdf.save(f"certificate-{work.code}.pdf", ContentFile(pdf), save=False)
        locked.save(update_fields=["certificate_pdf", "certificate_sha256"])
        record_audit(
            action="rights.certificate_issued",
            actor=None,
            organisation=work.holder,
            target=locked,
            summary=audit_summary(gettext_noop("Certificate %(code)s issued"), {"code": work.code}),
            changes={"certificate_sha256": locked.certificate_sha256},
        )
    return locked


# -- detection ------------------------------------------------------------------------------------------------------
def submit_scan(
    *,
    organisation: Organisation,
    actor: User,
    uploads: list[Any],
    note: str = "",
    inspected: list[media.Inspected] | None = None,
) -> Scan:
    """Keep the suspected copies as evidence and queue each for matching against the whole registry."""
    require_scanner(organisation)
    note = _text(note, field=_("Where the copies were found"), max_length=300, required=False)
    if not uploads:
        raise DomainError(_("Choose at least one file."))
    if len(uploads) > MAX_BATCH:
        raise DomainError(_("At most %(max)d files at a time.") % {"max": MAX_BATCH})
    facts = inspected or [_inspected(upload, None) for upload in uploads]
    with transaction.atomic():
        scan = Scan.objects.create(organisation=organisation, submitted_by=actor, note=note)
        suspects = []
        for upload, fact in zip(uploads, facts, strict=True):
            suspect = Suspect(
                scan=scan,
                original_name=_safe_name(getattr(upload, "name", "")),
                file_size=fact.size,
                file_format=fact.file_format,
                media_kind=fact.media_kind,
                sha256=fact.sha256,
                duration_ms=fact.duration_ms,
            )
            upload.seek(0)
            suspect.file.save(suspect.original_name, upload, save=False)
            suspect.save()
            suspects.append(suspect.pk)
        record_audit(
            action="rights.scan_submitted",
            actor=actor,
            organisation=organisation,
            target=scan,
            summary=audit_summary(
                gettext_noop("%(count)s suspected copies submitted for checking"), {"count": len(suspects)}
            ),
            changes={"suspects": suspects, "note": note},
        )
        transaction.on_commit(lambda: _enqueue_suspects(suspects))
    return scan


def _enqueue_suspects(ids: list[int]) -> None:
    from rights.tasks import check_suspect_task

    for pk in ids:
        check_suspect_task.enqueue(pk)


def query_fingerprint(source: Any, media_kind: str) -> tuple[matching.Query, dict[str, Any]]:
    """What a suspected copy is searched with: an image's own hash, or a video's frames twice a second."""
    if media_kind == MediaKind.IMAGE:
        digest, quality = image_query_hash(source)
        return matching.query_for_image(digest, quality), {"kept": 1, "duration_ms": None}
    video = video_fingerprint(source, query=True)
    return matching.query_for_video(video.frames), {"kept": video.kept, "duration_ms": video.duration_ms}


def find_in_registry(source: Any, media_kind: str) -> tuple[list[matching.Candidate], dict[str, Any]]:
    """Fingerprint a suspected copy and search the whole registry. Returns the candidates (best first) and
    facts about the query (frames kept, duration, milliseconds spent)."""
    started = time.perf_counter()
    query, info = query_fingerprint(source, media_kind)
    candidates = matching.match(registry_index.current(), query)
    info["query_ms"] = round((time.perf_counter() - started) * 1000)
    return candidates, info


def check_suspect(*, suspect_id: int) -> Suspect:
    """Match one suspected copy against the registry and store what was found (once)."""
    suspect = Suspect.objects.filter(pk=suspect_id).select_related("scan").first()
    if suspect is None:
        raise NotFound()
    if suspect.status != SuspectStatus.PENDING:
        return suspect
    try:
        with _local(suspect.file) as source:
            candidates, info = find_in_registry(source, suspect.media_kind)
    except (MediaError, OSError) as exc:
        reason = media.media_error_message(exc) if isinstance(exc, MediaError) else media.damaged_message()
        with transaction.atomic():
            locked = Suspect.objects.select_for_update().get(pk=suspect.pk)
            if locked.status == SuspectStatus.PENDING:
                locked.status = SuspectStatus.FAILED
                locked.failure_reason = reason[:300]
                locked.checked_at = timezone.now()
                locked.save(update_fields=["status", "failure_reason", "checked_at"])
        return locked
    with transaction.atomic():
        locked = Suspect.objects.select_for_update().select_related("scan").get(pk=suspect.pk)
        if locked.status != SuspectStatus.PENDING:
            return locked
        registered = set(
            Work.objects.filter(
                pk__in=[c.work_id for c in candidates], status=WorkStatus.REGISTERED
            ).values_list("pk", flat=True)
        )
        Match.objects.bulk_create(
            [
                Match(
                    suspect=locked,
                    work_id=c.work_id,
                    votes=c.votes,
                    min_distance=c.min_distance,
                    mean_distance=Decimal(str(round(c.mean_distance, 1))),
                    mirrored=c.mirrored,
                    segments=[s.as_dict() for s in c.segments],
                )
                for c in candidates
                if c.work_id in registered
            ]
        )
        locked.status = SuspectStatus.DONE
        locked.frames_kept = info["kept"]
        locked.duration_ms = info["duration_ms"] or locked.duration_ms
        locked.query_ms = info["query_ms"]
        locked.checked_at = timezone.now()
        locked.save(update_fields=["status", "frames_kept", "duration_ms", "query_ms", "checked_at"])
        found = [c.work_id for c in candidates if c.work_id in registered]
        record_audit(
            action="rights.suspect_checked",
            actor=None,
            organisation=locked.scan.organisation,
            target=locked,
            summary=audit_summary(
                gettext_noop("%(name)s checked: %(count)s registered works found"),
                {"name": locked.original_name, "count": len(found)},
            ),
            changes={"works": found},
        )
    return locked


# -- cases ------------------------------------------------------------------------------------------------------------
CASE_TRANSITIONS: dict[str, set[str]] = {
    CaseStatus.OPEN: {CaseStatus.ACCEPTED, CaseStatus.DECLINED, CaseStatus.WITHDRAWN},
    CaseStatus.ACCEPTED: {CaseStatus.ENFORCING, CaseStatus.SETTLED, CaseStatus.CLOSED, CaseStatus.WITHDRAWN},
    CaseStatus.ENFORCING: {CaseStatus.SETTLED, CaseStatus.CLOSED, CaseStatus.WITHDRAWN},
    CaseStatus.SETTLED: {CaseStatus.CLOSED},
    CaseStatus.CLOSED: set(),
    CaseStatus.DECLINED: set(),
    CaseStatus.WITHDRAWN: set(),
}
# Which party makes each change ("settled" happens only by recording compensation).
AGENCY_MOVES = {CaseStatus.ACCEPTED, CaseStatus.DECLINED, CaseStatus.ENFORCING, CaseStatus.CLOSED}
HOLDER_MOVES = {CaseStatus.WITHDRAWN}
COMPENSATION_STATES = {CaseStatus.ACCEPTED, CaseStatus.ENFORCING, CaseStatus.SETTLED}
TERMINAL = {CaseStatus.CLOSED, CaseStatus.DECLINED, CaseStatus.WITHDRAWN}


def allowed_moves(case: Case, organisation: Organisation | None) -> list[str]:
    """The status changes this organisation may make now (for the buttons on the case page)."""
    if organisation is None:
        return []
    moves = CASE_TRANSITIONS.get(case.status, set())
    mine = (
        AGENCY_MOVES
        if organisation.pk == case.agency_id
        else HOLDER_MOVES
        if organisation.pk == case.holder_id
        else set()
    )
    return [s for s in CaseStatus.values if s in moves and s in mine]


def _share(value: Any) -> Decimal:
    try:
        share = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise DomainError(_("The agency share must be a percentage between 0 and 100.")) from None
    if not Decimal("0") <= share <= Decimal("100"):
        raise DomainError(_("The agency share must be a percentage between 0 and 100."))
    return share


def open_case(
    *,
    match: Match,
    organisation: Organisation,
    actor: User,
    agency: Organisation,
    agency_share: Decimal | str,
    infringer: str = "",
    infringing_url: str = "",
    note: str = "",
) -> Case:
    """The holder of the matched work hands the match to a copyright agency at an agreed share."""
    share = _share(agency_share)
    infringer = _text(infringer, field=_("Suspected infringer"), max_length=200, required=False)
    infringing_url = _text(
        infringing_url, field=_("Where the copy is published"), max_length=500, required=False
    )
    if infringing_url and not infringing_url.startswith(("http://", "https://")):
        raise DomainError(_("Give the address of the copy as a web link (http:// or https://)."))
    note = _text(note, field=_("Note"), max_length=5000, required=False)
    if not is_copyright_agency(agency):
        raise DomainError(_("Cases are handed to a copyright agency."))
    with transaction.atomic():
        locked = Match.objects.select_for_update().select_related("work").get(pk=match.pk)
        if locked.work.holder_id != organisation.pk:
            raise NotPermitted(_("Only the holder of the registered work opens a case for it."))
        if locked.work.status != WorkStatus.REGISTERED:
            raise InvalidTransition(_("The work is not registered."))
        if Case.objects.filter(match=locked).exists():
            raise Conflict(_("A case is already open for this match."))
        case = Case.objects.create(
            match=locked,
            work=locked.work,
            holder=organisation,
            agency=agency,
            opened_by=actor,
            agency_share=share,
            infringer=infringer,
            infringing_url=infringing_url,
        )
        if note:
            CaseNote.objects.create(case=case, organisation=organisation, author=actor, text=note)
        for org in (organisation, agency):
            record_audit(
                action="rights.case_opened",
                actor=actor,
                organisation=org,
                target=case,
                summary=audit_summary(
                    gettext_noop("Infringement case #%(case)s for “%(title)s” handed to %(agency)s"),
                    {"case": case.pk, "title": locked.work.title, "agency": agency.name},
                ),
                changes={"match": locked.pk, "agency": agency.pk, "agency_share": share},
            )
    return case


def _locked_case(case: Case) -> Case:
    return (
        Case.objects.select_for_update(of=("self",))
        .select_related("work", "holder", "agency")
        .get(pk=case.pk)
    )


def change_case_status(
    *, case: Case, organisation: Organisation, actor: User, status: str, outcome: str = ""
) -> Case:
    if status not in CaseStatus.values:
        raise DomainError(_("Unknown status."))
    outcome = _text(outcome, field=_("Outcome"), max_length=5000, required=False)
    with transaction.atomic():
        locked = _locked_case(case)
        if organisation.pk not in (locked.agency_id, locked.holder_id):
            raise NotFound()
        if status == CaseStatus.SETTLED:
            raise InvalidTransition(_("A case is settled by recording the compensation received."))
        if status not in CASE_TRANSITIONS[locked.status]:
            raise InvalidTransition(
                _("A case that is “%(current)s” cannot become “%(new)s”.")
                % {"current": locked.get_status_display(), "new": CaseStatus(status).label}
            )
        movers = AGENCY_MOVES if organisation.pk == locked.agency_id else HOLDER_MOVES
        if status not in movers:
            raise NotPermitted(
                _("Only the agency can make this change.")
                if status in AGENCY_MOVES
                else _("Only the rights holder can withdraw a case.")
            )
        if status == CaseStatus.CLOSED and not (outcome or locked.outcome):
            raise DomainError(_("Describe the outcome before closing the case."))
        previous = locked.status
        locked.status = status
        if outcome:
            locked.outcome = outcome
        now = timezone.now()
        locked.updated_at = now
        if status in TERMINAL:
            locked.closed_at = now
        locked.save(update_fields=["status", "outcome", "updated_at", "closed_at"])
        record_audit(
            action="rights.case_status",
            actor=actor,
            organisation=organisation,
            target=locked,
            summary=audit_summary(
                gettext_noop("Case #%(case)s: %(old)s → %(new)s"),
                {"case": locked.pk, "old": previous, "new": status},
            ),
            changes={"status": [previous, status], "outcome": outcome},
        )
    return locked


def add_case_note(*, case: Case, organisation: Organisation, actor: User, text: str) -> CaseNote:
    text = _text(text, field=_("Note"), max_length=5000)
    with transaction.atomic():
        locked = _locked_case(case)
        if organisation.pk not in (locked.agency_id, locked.holder_id):
            raise NotFound()
        note = CaseNote.objects.create(case=locked, organisation=organisation, author=actor, text=text)
        locked.updated_at = timezone.now()
        locked.save(update_fields=["updated_at"])
        record_audit(
            action="rights.case_note",
            actor=actor,
            organisation=organisation,
            target=locked,
            summary=audit_summary(gettext_noop("Note added to case #%(case)s"), {"case": locked.pk}),
            changes={"note": note.pk},
        )
    return note


def split_compensation(amount: Decimal, agency_share: Decimal) -> tuple[Decimal, Decimal]:
    """(agency, creator): the agency's share rounded half-up to the fen, the creator gets the rest, so the two
    always add up to the amount exactly."""
    agency = to_fen(amount * agency_share / Decimal("100"))
    return agency, amount - agency


def record_compensation(
    *,
    case: Case,
    organisation: Organisation,
    actor: User,
    amount: Decimal | str,
    payer: str,
    idempotency_key: str,
) -> Compensation:
    """The agency received ``amount`` from the infringer: external → case escrow (the agency's) → agency and
    creator by the agreed share, in one database transaction. The same ``idempotency_key`` records it once;
    reusing it for a different amount is a conflict."""
    try:
        value = exact_fen(amount)
    except LedgerError as exc:
        raise DomainError(exc.message) from None
    if value <= 0:
        raise DomainError(_("The amount must be positive."))
    payer = _text(payer, field=_("Paid by"), max_length=200)
    key = _text(idempotency_key, field=_("Idempotency key"), max_length=100)
    with transaction.atomic():
        locked = _locked_case(case)
        if organisation.pk not in (locked.agency_id, locked.holder_id):
            raise NotFound()
        if organisation.pk != locked.agency_id:
            raise NotPermitted(_("Only the agency records compensation it received."))
        existing = Compensation.objects.filter(case=locked, idempotency_key=key).first()
        if existing is not None:
            if existing.amount != value or existing.payer != payer:
                raise Conflict(_("This payment was already recorded with a different amount or payer."))
            return existing
        if locked.status not in COMPENSATION_STATES:
            raise InvalidTransition(
                _(
                    "Compensation can be recorded once the agency has accepted the case and until it is closed."
                )
            )
        agency_amount, creator_amount = split_compensation(value, locked.agency_share)
        compensation = Compensation.objects.create(
            case=locked,
            amount=value,
            agency_amount=agency_amount,
            creator_amount=creator_amount,
            payer=payer,
            idempotency_key=key,
            recorded_by=actor,
        )
        if locked.escrow_account_id is None:
            locked.escrow_account = ledger.open_account(
                owner=locked.agency,
                purpose=Purpose.ESCROW,
                code=f"rights-case-{locked.pk}-escrow",
                name=_("Case #%(case)s compensation") % {"case": locked.pk},
                actor=actor,
            )
        escrow = locked.escrow_account
        assert escrow is not None
        reference = f"rights-case:{locked.pk}"
        ledger.transfer(
            idempotency_key=f"rights:case-{locked.pk}:{key}:in",
            source=ledger.account_for(owner=None, purpose=Purpose.EXTERNAL),
            destination=escrow,
            amount=value,
            kind="rights.compensation_in",
            memo=payer,
            reference=reference,
            actor=actor,
        )
        legs = [(escrow, -value)]
        if agency_amount:
            legs.append((ledger.account_for(owner=locked.agency, purpose=Purpose.AVAILABLE), agency_amount))
        if creator_amount:
            legs.append((ledger.account_for(owner=locked.holder, purpose=Purpose.AVAILABLE), creator_amount))
        ledger.post_transaction(
            idempotency_key=f"rights:case-{locked.pk}:{key}:split",
            entries=legs,
            kind="rights.compensation_split",
            reference=reference,
            actor=actor,
        )
        previous = locked.status
        locked.compensation_total += value
        locked.status = CaseStatus.SETTLED
        locked.updated_at = timezone.now()
        locked.save(update_fields=["compensation_total", "status", "updated_at", "escrow_account"])
        for org in (locked.agency, locked.holder):
            record_audit(
                action="rights.compensation_recorded",
                actor=actor,
                organisation=org,
                target=locked,
                summary=audit_summary(
                    gettext_noop(
                        "Case #%(case)s: compensation ¥%(amount)s split (agency ¥%(agency)s, creator ¥%(creator)s)"
                    ),
                    {"case": locked.pk, "amount": value, "agency": agency_amount, "creator": creator_amount},
                ),
                changes={
                    "compensation": compensation.pk,
                    "amount": value,
                    "agency_amount": agency_amount,
                    "creator_amount": creator_amount,
                    "status": [previous, locked.status],
                },
            )
    return compensation
