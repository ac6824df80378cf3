"""Ledger test fixtures on top of the shared test world (``core.testing``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from core.testing import World, world  # noqa: F401
from ledger import services
from ledger.models import Account, Purpose


@dataclass
class Books:
    world: World
    bank: Account  # platform "external": money entering/leaving the platform; may go negative
    fees: Account  # platform fees
    client: Account  # the client's available funds
    escrow: Account  # the client's escrow
    opc: Account  # the OPC's available funds
    other_opc: Account  # an OPC of another community (another tenant)


def fund(account: Account, amount: str, *, source: Account, key: str) -> None:
    services.transfer(
        idempotency_key=key, source=source, destination=account, amount=Decimal(amount), kind="test.fund"
    )


@pytest.fixture
def books(world: World) -> Books:  # noqa: F811
    return Books(
        world=world,
        bank=services.account_for(owner=None, purpose=Purpose.EXTERNAL),
        fees=services.account_for(owner=None, purpose=Purpose.FEES),
        client=services.account_for(owner=world.client, purpose=Purpose.AVAILABLE),
        escrow=services.account_for(owner=world.client, purpose=Purpose.ESCROW),
        opc=services.account_for(owner=world.opc, purpose=Purpose.AVAILABLE),
        other_opc=services.account_for(owner=world.other_opc, purpose=Purpose.AVAILABLE),
    )
