"""Permission-matrix rows for the subsidy pages (see tests/test_permission_matrix.py).

The OPC owns a pending expense and a claim line; its operator reviews and runs the batch; the other operator
and the other community's OPC see none of it (404); the authority of the same city reads the reports and the
batch's audit report; clients have no subsidy pages (403)."""

from __future__ import annotations

from typing import Any

from subsidies.tests.helpers import HAISHU, matrix_setup, pdf_file


def setup(o: Any) -> Any:
    return matrix_setup(o)


def _expense(o: Any) -> dict[str, int]:
    return {"pk": o.extra.expense.pk}


def _batch(o: Any) -> dict[str, int]:
    return {"pk": o.extra.batch.pk}


_policy = {"policy_id": HAISHU}

#   name: (method, kwargs(o), data(o), "anon opc operator other_operator other_opc authority client")
PAGES: dict[str, tuple[str, Any, Any, str]] = {
    "subsidies:policies": ("GET", None, None, "A A A A A A A"),
    "subsidies:policy_detail": ("GET", lambda o: _policy, None, "A A A A A A A"),
    "subsidies:package_verify": ("GET", lambda o: {"code": o.extra.batch.code}, None, "A A A A A A A"),
    "subsidies:my": ("GET", None, None, "L A A A A F F"),
    "subsidies:my_policy": ("GET", lambda o: _policy, None, "L A A A A F F"),
    "subsidies:consent": ("POST", lambda o: _policy, lambda o: {"payout": "cash"}, "L A F F A F F"),
    "subsidies:consent_revoke": ("POST", lambda o: _policy, None, "L A F F A F F"),
    "subsidies:my_share": ("GET", lambda o: {"pk": o.extra.line.pk}, None, "L A N N N N N"),
    "subsidies:expenses": ("GET", None, None, "L A A A A F F"),
    "subsidies:expense_detail": ("GET", _expense, None, "L A A N N N N"),
    "subsidies:expense_evidence": ("POST", _expense, lambda o: {"evidence": pdf_file()}, "L A N N N N N"),
    "subsidies:expense_file": ("GET", _expense, None, "L A A N N N N"),
    "subsidies:commute": ("GET", None, None, "L A F F A F F"),
    "subsidies:documents": ("GET", None, None, "L A A A A F F"),
    "subsidies:document_file": ("GET", lambda o: {"pk": o.extra.document.pk}, None, "L A A N N N N"),
    "subsidies:document_approve": ("POST", lambda o: {"pk": o.extra.document.pk}, None, "L F A N F F F"),
    "subsidies:document_reject": (
        "POST",
        lambda o: {"pk": o.extra.document.pk},
        lambda o: {"reason": "合同不完整"},
        "L F A N F F F",
    ),
    "subsidies:review": ("GET", None, None, "L F A A F F F"),
    "subsidies:expense_approve": ("POST", _expense, None, "L F A N F F F"),
    "subsidies:expense_reject": ("POST", _expense, lambda o: {"reason": "发票不清晰"}, "L F A N F F F"),
    "subsidies:import_usage": ("POST", None, None, "L F A A F F F"),
    "subsidies:members": ("GET", None, None, "L F A A F F F"),
    "subsidies:member_policy": (
        "GET",
        lambda o: {"org_pk": o.world.opc.pk, "policy_id": HAISHU},
        None,
        "L F A N F F F",
    ),
    "subsidies:batches": ("GET", None, None, "L F A A F F F"),
    "subsidies:batch_detail": ("GET", _batch, None, "L F A N F F F"),
    "subsidies:batch_refresh": ("POST", _batch, None, "L F A N F F F"),
    "subsidies:batch_submit": ("POST", _batch, None, "L F A N F F F"),
    "subsidies:batch_cancel": ("POST", _batch, None, "L F A N F F F"),
    "subsidies:batch_review": ("POST", _batch, lambda o: {"reference": "海人社〔2026〕1号"}, "L F A N F F F"),
    "subsidies:batch_approve": ("POST", _batch, lambda o: {"amount": "10.00"}, "L F A N F F F"),
    "subsidies:batch_reject": ("POST", _batch, lambda o: {"reason": "材料不全"}, "L F A N F F F"),
    "subsidies:batch_funds": (
        "POST",
        _batch,
        lambda o: {"amount": "10.00", "received_on": "2026-11-01"},
        "L F A N F F F",
    ),
    "subsidies:batch_distribute": ("POST", _batch, None, "L F A N F F F"),
    "subsidies:batch_package": (
        "GET",
        lambda o: {"pk": o.extra.batch.pk, "kind": "pdf"},
        None,
        "L F A N F A F",
    ),
    "subsidies:oversight": ("GET", None, None, "L F A A F A F"),
    "subsidies:oversight_csv": ("GET", None, None, "L F A A F A F"),
    "subsidies:batch_report": ("GET", _batch, None, "L F A N F A F"),
}
