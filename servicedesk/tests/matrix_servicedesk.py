"""Permission-matrix rows for the service desk and licence assistance (see ``tests/test_permission_matrix.py``).

Objects (``o.extra``): a legal ticket the OPC opened with its free quota and a file attached (waiting for
routing by the OPC's operator); a broadcast-licence case of the OPC with one document uploaded. The shared
world's OPC has a site statement (``o.statement_id``). Operators and other organisations have no home community,
so opening a ticket or a case answers 400 for them (allowed through, refused by the rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from servicedesk import services
from servicedesk.models import CaseItem, LicenceCase, Ticket


@dataclass
class DeskObjects:
    ticket: Ticket
    attachment_id: int
    case: LicenceCase
    item: CaseItem


def setup(o: Any) -> DeskObjects:
    w = o.world
    ticket = services.open_ticket(
        requester=w.opc,
        actor=w.opc_user,
        category="legal",
        subject="投资协议审查",
        description="请律师审查知识产权条款。",
        use_free_quota=True,
        uploads=[SimpleUploadedFile("协议.txt", "第一条".encode())],
    )
    case = services.open_case(organisation=w.opc, actor=w.opc_user, licence_code="radio_tv_production")
    item = case.items.get(code="business_licence")
    services.update_case_item(
        item=item, organisation=w.opc, actor=w.opc_user, upload=SimpleUploadedFile("执照.pdf", b"%PDF-1.4")
    )
    return DeskObjects(ticket=ticket, attachment_id=ticket.attachments.get().pk, case=case, item=item)


def _ticket(o: Any) -> dict[str, int]:
    return {"pk": o.extra.ticket.pk}


def _case(o: Any) -> dict[str, int]:
    return {"pk": o.extra.case.pk}


TICKET = {"category": "legal", "subject": "合同咨询", "description": "请帮忙看合同。"}

#   name: (method, kwargs(o) -> dict, data(o) -> dict, "anon opc operator other_operator other_opc authority client")
PAGES: dict[str, tuple[str, Any, Any, str]] = {
    "servicedesk:desk": ("GET", None, None, "L A A A A A A"),
    "servicedesk:ticket_new": ("GET", None, None, "L A A A A A A"),
    "servicedesk:ticket_detail": ("GET", _ticket, None, "L A A N N N N"),
    "servicedesk:ticket_message": ("POST", _ticket, lambda o: {"body": "补充材料"}, "L A A N N N N"),
    "servicedesk:ticket_route": (
        "POST",
        _ticket,
        lambda o: {"provider": o.world.provider.pk},
        "L F A N F F F",
    ),
    "servicedesk:ticket_action": ("POST", _ticket, lambda o: {"action": "cancel"}, "L A A N N N N"),
    # the member rates (here: refused as not resolved yet, 409); the operator may not rate (403)
    "servicedesk:ticket_rate": ("POST", _ticket, lambda o: {"rating": "5"}, "L A F N N N N"),
    "servicedesk:ticket_attachment": ("GET", lambda o: {"pk": o.extra.attachment_id}, None, "L A A N N N N"),
    "servicedesk:quota_grant": (
        "POST",
        lambda o: {"org_pk": o.world.opc.pk},
        lambda o: {"consultations": "8"},
        "L F A N F F F",
    ),
    "servicedesk:licences": ("GET", None, None, "L A A A A A A"),
    "servicedesk:case_new": ("POST", None, lambda o: {"licence": "icp_filing"}, "L A A A A A A"),
    "servicedesk:case_detail": ("GET", _case, None, "L A A N N N N"),
    "servicedesk:case_statement": ("POST", _case, lambda o: {"statement": o.statement_id}, "L A A N N N N"),
    "servicedesk:case_transition": ("POST", _case, lambda o: {"target": "withdrawn"}, "L A A N N N N"),
    "servicedesk:case_item": (
        "POST",
        lambda o: {"pk": o.extra.item.pk},
        lambda o: {"done": "on"},
        "L A A N N N N",
    ),
    "servicedesk:case_document": ("GET", lambda o: {"pk": o.extra.item.pk}, None, "L A A N N N N"),
}

D = "/api/servicedesk"


def _tid(o: Any) -> dict[str, int]:
    return {"ticket_id": o.extra.ticket.pk}


def _cid(o: Any) -> dict[str, int]:
    return {"case_id": o.extra.case.pk}


#   (method, path): (path params(o) -> dict, json body(o) -> dict | None, "anon opc operator …")
API: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("GET", f"{D}/tickets"): (None, None, "L A A A A A A"),
    ("POST", f"{D}/tickets"): (None, lambda o: TICKET, "L A A A A A A"),
    ("GET", f"{D}/tickets/{{ticket_id}}"): (_tid, None, "L A A N N N N"),
    ("POST", f"{D}/tickets/{{ticket_id}}/messages"): (_tid, lambda o: {"body": "补充"}, "L A A N N N N"),
    ("POST", f"{D}/tickets/{{ticket_id}}/route"): (
        _tid,
        lambda o: {"provider_id": o.world.provider.pk},
        "L F A N F F F",
    ),
    ("POST", f"{D}/tickets/{{ticket_id}}/actions"): (_tid, lambda o: {"action": "cancel"}, "L A A N N N N"),
    ("POST", f"{D}/tickets/{{ticket_id}}/rating"): (_tid, lambda o: {"rating": 5}, "L A F N N N N"),
    # without ?category= every caller gets a 422 (allowed through, refused by the schema)
    ("GET", f"{D}/providers"): (None, None, "L A A A A A A"),
    # only the OPC has a quota (its ticket used it)
    ("GET", f"{D}/quota"): (None, None, "L A N N N N N"),
    ("PUT", f"{D}/quotas/{{organisation_id}}"): (
        lambda o: {"organisation_id": o.world.opc.pk},
        lambda o: {"consultations": 8},
        "L F A N F F F",
    ),
    ("GET", f"{D}/licences"): (None, None, "L A A A A A A"),
    ("GET", f"{D}/cases"): (None, None, "L A A A A A A"),
    ("POST", f"{D}/cases"): (None, lambda o: {"licence": "icp_filing"}, "L A A A A A A"),
    ("GET", f"{D}/cases/{{case_id}}"): (_cid, None, "L A A N N N N"),
    ("POST", f"{D}/cases/{{case_id}}/items/{{code}}"): (
        lambda o: {"case_id": o.extra.case.pk, "code": "articles"},
        lambda o: {"done": True},
        "L A A N N N N",
    ),
    ("POST", f"{D}/cases/{{case_id}}/statement"): (
        _cid,
        lambda o: {"statement_id": o.statement_id},
        "L A A N N N N",
    ),
    ("POST", f"{D}/cases/{{case_id}}/status"): (_cid, lambda o: {"target": "withdrawn"}, "L A A N N N N"),
}
