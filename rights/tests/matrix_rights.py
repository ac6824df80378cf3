"""Permission-matrix rows for the copyright registry (see ``tests/test_permission_matrix.py``).

Objects (``o.extra``): a work the OPC registered (an image; fingerprinted and chained, its certificate PDF is
rendered on first download), a check the OPC ran with two copies of it (two matches), a copyright agency
(not one of the matrix roles) and a case the OPC opened on the first match. OPCs register and check; other
kinds of organisation get 403 on those pages; another tenant's objects are 404. Verification is public.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.testing import make_org, make_user
from organisations.capabilities import OrgKind, OrgSubkind
from rights import services, synthetic
from rights.tests.helpers import register, upload


@dataclass
class RightsObjects:
    work_id: int
    code: str
    scan_id: int
    match_id: int
    free_match_id: int
    case_id: int
    agency_id: int


def setup(o: Any) -> RightsObjects:
    w = o.world
    data = synthetic.image_bytes(321, width=240, height=180)
    work = register(w.opc, w.opc_user, data, name="poster.png", title="海报")
    copy = synthetic.transform_image(data, synthetic.mirror)
    scan = services.submit_scan(
        organisation=w.opc, actor=w.opc_user, uploads=[upload(data, "a.png"), upload(copy, "b.jpg")]
    )
    matches = []
    for suspect in scan.suspects.order_by("id"):
        matches.append(services.check_suspect(suspect_id=suspect.pk).matches.get())
    agency = make_org(
        OrgKind.PROVIDER, "浙东版权代理中心", make_user("matrix-agency"), subkind=OrgSubkind.COPYRIGHT_AGENCY
    )
    case = services.open_case(
        match=matches[0], organisation=w.opc, actor=w.opc_user, agency=agency, agency_share="30"
    )
    return RightsObjects(work.pk, work.code, scan.pk, matches[0].pk, matches[1].pk, case.pk, agency.pk)


def _x(o: Any) -> RightsObjects:
    extra: RightsObjects = o.extra
    return extra


PAGES: dict[str, tuple[str, Any, Any, str]] = {
    "rights:home": ("GET", None, None, "L A A A A A A"),
    "rights:works": ("GET", None, None, "L A F F A F F"),
    "rights:work_register": ("GET", None, None, "L A F F A F F"),
    "rights:work_detail": ("GET", lambda o: {"pk": _x(o).work_id}, None, "L A N N N N N"),
    "rights:certificate_pdf": ("GET", lambda o: {"pk": _x(o).work_id}, None, "L A N N N N N"),
    "rights:verify_lookup": ("GET", None, None, "A A A A A A A"),
    "rights:verify": ("GET", lambda o: {"code": _x(o).code}, None, "A A A A A A A"),
    "rights:chain": ("GET", None, None, "A A A A A A A"),
    # public; without a file the form is refused with 400
    "rights:verify_file": ("POST", lambda o: {"code": _x(o).code}, None, "A A A A A A A"),
    "rights:scans": ("GET", None, None, "L A F F A F F"),
    "rights:scan_detail": ("GET", lambda o: {"pk": _x(o).scan_id}, None, "L A N N N N N"),
    "rights:evidence": ("GET", lambda o: {"pk": _x(o).match_id}, None, "L A N N N N N"),
    "rights:evidence_pdf": ("GET", lambda o: {"pk": _x(o).match_id}, None, "L A N N N N N"),
    "rights:case_open": (
        "POST",
        lambda o: {"pk": _x(o).free_match_id},
        lambda o: {"agency": _x(o).agency_id, "agency_share": "30"},
        "L A N N N N N",
    ),
    "rights:cases": ("GET", None, None, "L A F F A F F"),
    "rights:case_detail": ("GET", lambda o: {"pk": _x(o).case_id}, None, "L A N N N N N"),
    "rights:case_status": (
        "POST",
        lambda o: {"pk": _x(o).case_id},
        lambda o: {"status": "withdrawn"},
        "L A N N N N N",
    ),
    "rights:case_note": (
        "POST",
        lambda o: {"pk": _x(o).case_id},
        lambda o: {"text": "进展"},
        "L A N N N N N",
    ),
    # the holder sees the case but only the agency records money it received
    "rights:case_compensation": (
        "POST",
        lambda o: {"pk": _x(o).case_id},
        lambda o: {"amount": "100.00", "payer": "某公司", "idempotency_key": "matrix"},
        "L F N N N N N",
    ),
}

API: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("GET", "/api/rights/verify/{code}"): (lambda o: {"code": _x(o).code}, None, "A A A A A A A"),
    ("GET", "/api/rights/chain"): (None, None, "A A A A A A A"),
    ("GET", "/api/rights/works"): (None, None, "L A F F A F F"),
    # multipart: permission is checked before the (here missing) upload is read → 400 for OPCs
    ("POST", "/api/rights/works"): (None, None, "L A F F A F F"),
    ("GET", "/api/rights/works/{work_id}"): (lambda o: {"work_id": _x(o).work_id}, None, "L A N N N N N"),
    ("GET", "/api/rights/scans"): (None, None, "L A F F A F F"),
    ("POST", "/api/rights/scans"): (None, None, "L A F F A F F"),
    ("GET", "/api/rights/scans/{scan_id}"): (lambda o: {"scan_id": _x(o).scan_id}, None, "L A N N N N N"),
    ("GET", "/api/rights/matches/{match_id}"): (
        lambda o: {"match_id": _x(o).match_id},
        None,
        "L A N N N N N",
    ),
    ("POST", "/api/rights/matches/{match_id}/case"): (
        lambda o: {"match_id": _x(o).free_match_id},
        lambda o: {"agency_id": _x(o).agency_id, "agency_share": "25"},
        "L A N N N N N",
    ),
    ("GET", "/api/rights/cases"): (None, None, "L A F F A F F"),
    ("GET", "/api/rights/cases/{case_id}"): (lambda o: {"case_id": _x(o).case_id}, None, "L A N N N N N"),
    ("POST", "/api/rights/cases/{case_id}/status"): (
        lambda o: {"case_id": _x(o).case_id},
        lambda o: {"status": "withdrawn"},
        "L A N N N N N",
    ),
    ("POST", "/api/rights/cases/{case_id}/notes"): (
        lambda o: {"case_id": _x(o).case_id},
        lambda o: {"text": "进展"},
        "L A N N N N N",
    ),
    ("POST", "/api/rights/cases/{case_id}/compensation"): (
        lambda o: {"case_id": _x(o).case_id},
        lambda o: {"amount": "100.00", "payer": "某公司", "idempotency_key": "matrix"},
        "L F N N N N N",
    ),
}
