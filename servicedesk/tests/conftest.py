"""Service desk test helpers on top of the shared world (``core.testing``)."""

from __future__ import annotations

from typing import Any

from django.test import Client

from core.testing import World
from servicedesk import services
from servicedesk.models import Ticket


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def legal_ticket(world: World, *, free: bool = True, subject: str = "合同审查") -> Ticket:
    return services.open_ticket(
        requester=world.opc,
        actor=world.opc_user,
        category="legal",
        subject=subject,
        description="投资方要求买断我全部作品的著作权，请律师看看。",
        use_free_quota=free,
    )
