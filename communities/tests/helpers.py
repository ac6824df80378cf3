"""Small helpers on top of the shared test world (core.testing)."""

from __future__ import annotations

import datetime as dt
import io

from communities.models import Residency, SiteStatement
from communities.services import assign_workstation, issue_site_statement
from core.testing import World
from organisations.models import Organisation, VerificationStatus

START = dt.date(2026, 1, 5)


def verify(org: Organisation) -> Organisation:
    org.verification_status = VerificationStatus.VERIFIED
    org.save(update_fields=["verification_status"])
    return org


def assigned(world: World, *, index: int = 0, start: dt.date = START) -> Residency:
    """The world's OPC, verified, on workstation ``index`` of the operator's community."""
    verify(world.opc)
    return assign_workstation(
        workstation=world.workstations[index],
        organisation=world.opc,
        start_date=start,
        actor=world.operator_user,
    )


def issued(world: World, residency: Residency | None = None) -> SiteStatement:
    residency = residency or assigned(world)
    return issue_site_statement(
        residency=residency, purpose="办理《广播电视节目制作经营许可证》", actor=world.operator_user
    )


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() or "" for page in reader.pages)
