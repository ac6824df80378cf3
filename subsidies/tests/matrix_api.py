"""Permission-matrix rows for the subsidies API (see tests/test_permission_matrix.py); the same objects and
the same rules as the pages (``matrix_pages``)."""

from __future__ import annotations

from typing import Any

from subsidies.tests.helpers import HAISHU, SELLER, matrix_setup


def setup(o: Any) -> Any:
    return matrix_setup(o)


def _expense(o: Any) -> dict[str, int]:
    return {"expense_id": o.extra.expense.pk}


def _document(o: Any) -> dict[str, int]:
    return {"document_id": o.extra.document.pk}


def _batch(o: Any) -> dict[str, int]:
    return {"batch_id": o.extra.batch.pk}


_policy = {"policy_id": HAISHU}
_NEW_EXPENSE = {
    "category": "compute.inference",
    "amount": "880.00",
    "spent_on": "2026-03-02",
    "seller_name": "宁波算力服务有限公司",
    "seller_uscc": SELLER,
    "invoice_number": "25332000009999999999",
}

#   (method, path): (path params(o), json body(o), "anon opc operator other_operator other_opc authority client")
API: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("GET", "/api/subsidies/policies"): (None, None, "A A A A A A A"),
    ("GET", "/api/subsidies/policies/{policy_id}"): (lambda o: _policy, None, "A A A A A A A"),
    ("GET", "/api/subsidies/expenses"): (None, None, "L A A A A F F"),
    ("POST", "/api/subsidies/expenses"): (None, lambda o: _NEW_EXPENSE, "L A A A A F F"),
    ("GET", "/api/subsidies/expenses/{expense_id}"): (_expense, None, "L A A N N N N"),
    ("POST", "/api/subsidies/expenses/{expense_id}/evidence"): (_expense, None, "L A N N N F F"),
    ("GET", "/api/subsidies/review"): (None, None, "L F A A F F F"),
    ("POST", "/api/subsidies/expenses/{expense_id}/approve"): (_expense, None, "L F A N F F F"),
    ("POST", "/api/subsidies/expenses/{expense_id}/reject"): (
        _expense,
        lambda o: {"reason": "发票不清晰"},
        "L F A N F F F",
    ),
    ("GET", "/api/subsidies/documents"): (None, None, "L A A A A F F"),
    ("POST", "/api/subsidies/documents"): (None, None, "L A A A A F F"),
    ("GET", "/api/subsidies/review/documents"): (None, None, "L F A A F F F"),
    ("POST", "/api/subsidies/documents/{document_id}/approve"): (_document, None, "L F A N F F F"),
    ("POST", "/api/subsidies/documents/{document_id}/reject"): (
        _document,
        lambda o: {"reason": "合同不完整"},
        "L F A N F F F",
    ),
    ("GET", "/api/subsidies/eligibility"): (None, None, "L A A A A F F"),
    ("GET", "/api/subsidies/eligibility/{policy_id}"): (lambda o: _policy, None, "L A A A A F F"),
    ("GET", "/api/subsidies/members/{organisation_id}/eligibility/{policy_id}"): (
        lambda o: {"organisation_id": o.world.opc.pk, "policy_id": HAISHU},
        None,
        "L F A N F F F",
    ),
    ("GET", "/api/subsidies/consents"): (None, None, "L A F F A F F"),
    ("PUT", "/api/subsidies/consents/{policy_id}"): (
        lambda o: _policy,
        lambda o: {"payout": "cash"},
        "L A F F A F F",
    ),
    ("DELETE", "/api/subsidies/consents/{policy_id}"): (lambda o: _policy, None, "L A F F A F F"),
    ("GET", "/api/subsidies/shares"): (None, None, "L A A A A F F"),
    ("GET", "/api/subsidies/batches"): (None, None, "L F A A F A F"),
    ("POST", "/api/subsidies/batches"): (
        None,
        lambda o: {"policy_id": HAISHU, "period": "2026-Q2"},
        "L F A A F F F",
    ),
    ("GET", "/api/subsidies/batches/{batch_id}"): (_batch, None, "L F A N F A F"),
    ("POST", "/api/subsidies/batches/{batch_id}/submit"): (_batch, None, "L F A N F F F"),
    ("POST", "/api/subsidies/batches/{batch_id}/review"): (
        _batch,
        lambda o: {"reference": "受理号1"},
        "L F A N F F F",
    ),
    ("POST", "/api/subsidies/batches/{batch_id}/approve"): (
        _batch,
        lambda o: {"amount": "10.00"},
        "L F A N F F F",
    ),
    ("POST", "/api/subsidies/batches/{batch_id}/reject"): (
        _batch,
        lambda o: {"reason": "材料不全"},
        "L F A N F F F",
    ),
    ("POST", "/api/subsidies/batches/{batch_id}/cancel"): (_batch, None, "L F A N F F F"),
    ("POST", "/api/subsidies/batches/{batch_id}/funds"): (
        _batch,
        lambda o: {"amount": "10.00"},
        "L F A N F F F",
    ),
    ("POST", "/api/subsidies/batches/{batch_id}/distribute"): (_batch, None, "L F A N F F F"),
    ("GET", "/api/subsidies/reports"): (None, None, "L F A A F A F"),
}
