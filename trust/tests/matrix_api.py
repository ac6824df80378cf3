"""Permission-matrix rows for the trust API (see ``tests/test_permission_matrix.py``); the objects are those
of ``trust.tests.matrix_pages``."""

from __future__ import annotations

from typing import Any

from trust.tests.matrix_pages import TrustObjects
from trust.tests.matrix_pages import setup as setup

T = "/api/trust"


def _x(o: Any) -> TrustObjects:
    return o.extra  # type: ignore[no-any-return]


API: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("GET", f"{T}/contracts/{{contract_id}}/reviews"): (
        lambda o: {"contract_id": _x(o).contract.pk},
        None,
        "L A N N N N A",
    ),
    ("POST", f"{T}/contracts/{{contract_id}}/reviews"): (
        lambda o: {"contract_id": _x(o).contract.pk},
        lambda o: {"rating": 5, "text": "矩阵"},
        "L A N N N N A",
    ),
    ("GET", f"{T}/organisations/{{org_id}}/reviews"): (
        lambda o: {"org_id": o.world.opc.pk},
        None,
        "L A A A A A A",
    ),
    ("GET", f"{T}/reputation"): (None, None, "L A A A A A A"),
    ("GET", f"{T}/payment-reliability/{{client_id}}"): (
        lambda o: {"client_id": o.world.client.pk},
        None,
        "L A A A A A A",
    ),
    ("GET", f"{T}/price-reference"): (None, None, "L A A A A A A"),
    ("GET", f"{T}/threads"): (None, None, "L A A A A A A"),
    ("POST", f"{T}/threads"): (None, lambda o: {"contract_id": _x(o).contract.pk}, "L A N N N N A"),
    ("GET", f"{T}/threads/{{thread_id}}/messages"): (
        lambda o: {"thread_id": _x(o).thread.pk},
        None,
        "L A A N N N A",
    ),
    ("POST", f"{T}/threads/{{thread_id}}/messages"): (
        lambda o: {"thread_id": _x(o).thread.pk},
        lambda o: {"body": "矩阵消息"},
        "L A F N N N A",
    ),
    ("GET", f"{T}/flagged-messages"): (None, None, "L F A A F F F"),
    ("POST", f"{T}/reports"): (
        None,
        lambda o: {
            "target_kind": "organisation",
            "target_id": o.world.client.pk,
            "reason": "spam",
            "details": "x",
        },
        "L A A A A A A",
    ),
    ("GET", f"{T}/reports/mine"): (None, None, "L A A A A A A"),
    ("GET", f"{T}/reports"): (None, None, "L F A A F F F"),
    ("POST", f"{T}/reports/{{report_id}}/decide"): (
        lambda o: {"report_id": _x(o).report.pk},
        lambda o: {"outcome": "dismissed", "note": "矩阵"},
        "L F A N F F F",
    ),
    ("GET", f"{T}/credit/exports"): (None, None, "L A F F A F F"),
    ("POST", f"{T}/credit/exports"): (
        None,
        lambda o: {"recipient": "银行", "purpose": "贷款", "consent": True},
        "L A F F A F F",
    ),
    ("GET", f"{T}/credit/exports/{{export_id}}"): (
        lambda o: {"export_id": _x(o).export.pk},
        None,
        "L A F F N F F",
    ),
    ("POST", f"{T}/credit/consents/{{consent_id}}/exports"): (
        lambda o: {"consent_id": _x(o).consent.pk},
        None,
        "L A F F N F F",
    ),
    ("POST", f"{T}/credit/consents/{{consent_id}}/revoke"): (
        lambda o: {"consent_id": _x(o).consent.pk},
        None,
        "L A F F N F F",
    ),
    ("GET", f"{T}/credit/verify/{{code}}"): (
        lambda o: {"code": _x(o).export.code},
        None,
        "A A A A A A A",
    ),
}
