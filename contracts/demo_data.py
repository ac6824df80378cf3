"""Demo data of contract review (``make demo``), from the seeds: an "investment" of ¥10M that was really a
permanent buy-out of a director's personal IP and future output. The director's one-person company
(十万光年工作室, opc@demo.cn) uploads the agreement and gets the report: the buy-out of future works and of the
copyright at the top, with the fairer clauses. A second, English services agreement of another OPC shows the
CUAD categories.

Goes through ``contracts.services`` (audit trail included). Runs once per database inside
``core.demo.load_demo``; does nothing when the demo review exists.
"""

from __future__ import annotations

import random
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from contracts import services
from contracts.models import Review
from organisations.models import Membership, Organisation

AGREEMENT = Path(__file__).parent / "data" / "demo_investment_agreement.txt"
TITLE = "投资合作协议（甬江星辰 → 十万光年）"

ENGLISH = """SERVICES AGREEMENT
1. Services. The Contractor shall produce six AI-generated product videos for the Company's overseas shops.
2. Fees. The total fees are USD 18,000, payable within 30 days of acceptance of each video.
3. Ownership. Contractor hereby assigns to Company all right, title and interest in the Deliverables, including all future works created during the Term.
4. Exclusivity. During the Term, Contractor shall work exclusively for the Company.
5. Liability. Contractor shall indemnify Company against any and all losses arising from the Services.
6. Termination. The Company may terminate this Agreement at any time for convenience.
7. Renewal. This Agreement shall automatically renew for successive one-year terms.
8. Governing law. Disputes shall be finally resolved by arbitration administered by the SIAC in Singapore.
"""


def _organisation_of(email: str) -> tuple[User, Organisation] | None:
    membership = Membership.objects.select_related("user", "organisation").filter(user__email=email).first()
    if membership is None:
        return None
    return membership.user, membership.organisation


def load(rng: random.Random) -> None:
    if Review.objects.filter(title=TITLE).exists():
        return
    found = _organisation_of("opc@demo.cn")
    if found is None:
        return
    user, opc = found
    services.review_upload(
        organisation=opc,
        actor=user,
        upload=SimpleUploadedFile("投资合作协议.txt", AGREEMENT.read_bytes(), content_type="text/plain"),
        title=TITLE,
    )
    other = _organisation_of("opc02@demo.cn")
    if other is not None:
        services.review_text(
            organisation=other[1], actor=other[0], text=ENGLISH, title="Overseas video services agreement"
        )
