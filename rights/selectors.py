"""Reads of the copyright registry, shared by pages and the API. Tenancy: every ``*_for`` selector takes the
caller's organisation and returns only what it may see; ``get_*`` helpers raise ``NotFound`` outside it.

- works: their holder;
- scans and their suspected copies: the organisation that submitted them;
- matches: the submitter of the scan, the holder of the matched work, and the agency of a case on it;
- cases: the holder and the agency.
The public sees certificates by verification code and the chain (``certificate_by_code``, ``chain_page``).
"""

from __future__ import annotations

import hashlib
from typing import IO, Any

from django.db.models import Count, Prefetch, Q, QuerySet

from core.errors import NotFound
from core.http import parse_id
from organisations.capabilities import OrgKind, OrgSubkind
from organisations.models import Organisation
from rights.models import Case, ChainEntry, Match, Scan, Suspect, Work, WorkStatus


def _pk(raw: Any) -> int:
    value = parse_id(raw)
    if value is None:
        raise NotFound()
    return value


def works_for(org: Organisation) -> QuerySet[Work]:
    return (
        Work.objects.filter(holder=org)
        .select_related("chain_entry")
        .annotate(match_count=Count("matches", distinct=True))
        .order_by("-submitted_at", "-id")
    )


def get_work_for(org: Organisation, pk: Any) -> Work:
    work = Work.objects.filter(holder=org, pk=_pk(pk)).select_related("chain_entry", "holder").first()
    if work is None:
        raise NotFound()
    return work


def scans_for(org: Organisation) -> QuerySet[Scan]:
    return (
        Scan.objects.filter(organisation=org)
        .select_related("submitted_by")
        .annotate(
            suspect_count=Count("suspects", distinct=True),
            match_count=Count("suspects__matches", distinct=True),
        )
        .order_by("-created_at", "-id")
    )


def get_scan_for(org: Organisation, pk: Any) -> Scan:
    scan = (
        Scan.objects.filter(organisation=org, pk=_pk(pk))
        .prefetch_related(
            Prefetch(
                "suspects",
                queryset=Suspect.objects.prefetch_related(
                    Prefetch(
                        "matches",
                        queryset=Match.objects.select_related("work", "work__chain_entry", "case"),
                    )
                ),
            )
        )
        .first()
    )
    if scan is None:
        raise NotFound()
    return scan


def _visible_matches_q(org: Organisation) -> Q:
    return Q(suspect__scan__organisation=org) | Q(work__holder=org) | Q(case__agency=org)


def matches_for(org: Organisation) -> QuerySet[Match]:
    return (
        Match.objects.filter(pk__in=Match.objects.filter(_visible_matches_q(org)).values("pk"))
        .select_related("work", "work__chain_entry", "suspect", "suspect__scan", "case")
        .order_by("-created_at", "-id")
    )


def matches_on_works_of(org: Organisation) -> QuerySet[Match]:
    """Copies of the organisation's works found by anyone (alerts for the rights holder)."""
    return matches_for(org).filter(work__holder=org)


def get_match_for(org: Organisation, pk: Any) -> Match:
    match = (
        Match.objects.filter(pk=_pk(pk))
        .filter(pk__in=Match.objects.filter(_visible_matches_q(org)).values("pk"))
        .select_related(
            "work", "work__chain_entry", "work__holder", "suspect", "suspect__scan__organisation", "case"
        )
        .first()
    )
    if match is None:
        raise NotFound()
    return match


def cases_for(org: Organisation) -> QuerySet[Case]:
    return (
        Case.objects.filter(Q(holder=org) | Q(agency=org))
        .select_related("work", "holder", "agency")
        .order_by("-updated_at", "-id")
    )


def get_case_for(org: Organisation, pk: Any) -> Case:
    case = (
        Case.objects.filter(Q(holder=org) | Q(agency=org), pk=_pk(pk))
        .select_related("work", "work__chain_entry", "holder", "agency", "match__suspect", "escrow_account")
        .prefetch_related("notes__author", "notes__organisation", "compensations")
        .first()
    )
    if case is None:
        raise NotFound()
    return case


def copyright_agencies() -> QuerySet[Organisation]:
    return Organisation.objects.filter(kind=OrgKind.PROVIDER, subkind=OrgSubkind.COPYRIGHT_AGENCY).order_by(
        "name", "pk"
    )


def normalise_code(raw: Any) -> str:
    """A verification code as typed: case, spaces and dashes don't matter. '' when it cannot be a code."""
    if not isinstance(raw, str):
        return ""
    code = raw.strip().upper().replace(" ", "").replace("-", "")
    if not 4 <= len(code) <= 16 or not code.isascii() or not code.isalnum():
        return ""
    return code


def certificate_by_code(raw: Any) -> Work | None:
    code = normalise_code(raw)
    if not code:
        return None
    return (
        Work.objects.filter(code=code, status=WorkStatus.REGISTERED)
        .select_related("chain_entry", "holder")
        .first()
    )


def file_sha256(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    handle.seek(0)
    for chunk in iter(lambda: handle.read(1024 * 1024), b""):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


def compare_with_registration(work: Work, handle: IO[bytes]) -> tuple[str, str]:
    """What a file someone holds is to this registration, by SHA-256: ``("work", digest)`` for exactly the
    registered file, ``("certificate", digest)`` for the certificate PDF issued for it, else ``("none",
    digest)``. Reads the file, stores nothing."""
    digest = file_sha256(handle)
    if digest == work.sha256:
        return "work", digest
    if work.certificate_sha256 and digest == work.certificate_sha256:
        return "certificate", digest
    return "none", digest


def chain_entries() -> QuerySet[ChainEntry]:
    return ChainEntry.objects.select_related("work").order_by("-sequence")


def registry_totals() -> dict[str, int]:
    return {
        "works": Work.objects.filter(status=WorkStatus.REGISTERED).count(),
        "entries": ChainEntry.objects.count(),
    }
