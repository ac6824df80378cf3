"""How money from outside reaches the platform: the payment-provider interface.

A client funding a milestone (or a contest reward) pays through a ``PaymentProvider``. The provider only
*collects* the money; what the platform then does with it is real double-entry bookkeeping in
``marketplace.services`` (external → client available → escrow), posted with idempotency keys derived from
the caller's key.

The only implementation here is ``FakePaymentProvider``: a stand-in that "collects" instantly and always
succeeds. It exists so the marketplace can run end to end in development, demos and tests; a real provider
(a bank transfer / WeChat Pay / Alipay integration) implements the same protocol and is selected with the
``MARKETPLACE_PAYMENT_PROVIDER`` setting (dotted path; default: the fake one).

Contract for implementations: ``collect`` must be idempotent per ``idempotency_key`` (the same key returns
the same receipt and never charges twice), and must raise ``PaymentFailed`` when nothing was collected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError

if TYPE_CHECKING:
    from organisations.models import Organisation

DEFAULT_PROVIDER = "marketplace.payments.FakePaymentProvider"


class PaymentFailed(DomainError):
    status_code = 402
    default_message = _("The payment could not be collected.")


@dataclass(frozen=True)
class PaymentReceipt:
    provider: str
    provider_reference: str  # the provider's id of the payment
    amount: Decimal
    reference: str  # ours, e.g. "milestone:12"
    idempotency_key: str
    collected_at: dt.datetime


@runtime_checkable
class PaymentProvider(Protocol):
    name: str

    def collect(
        self, *, payer: Organisation, amount: Decimal, reference: str, idempotency_key: str
    ) -> PaymentReceipt:
        """Collect ``amount`` from ``payer``; idempotent per ``idempotency_key``."""
        ...


class FakePaymentProvider:
    """NOT A REAL PAYMENT PROVIDER. Pretends every collection succeeds at once, for development, demos and
    tests. The receipt's reference is derived from the idempotency key, so a retry returns the same receipt.
    Replace it in production with a bank / WeChat Pay integration implementing ``PaymentProvider``."""

    name = "fake"

    def collect(
        self, *, payer: Organisation, amount: Decimal, reference: str, idempotency_key: str
    ) -> PaymentReceipt:
        if amount <= 0:
            raise PaymentFailed(_("A payment amount must be positive."))
        digest = hashlib.sha256(f"{payer.pk}:{idempotency_key}".encode()).hexdigest()[:20]
        return PaymentReceipt(
            provider=self.name,
            provider_reference=f"fake-{digest}",
            amount=amount,
            reference=reference,
            idempotency_key=idempotency_key,
            collected_at=timezone.now(),
        )


def get_payment_provider() -> PaymentProvider:
    """The provider named by ``settings.MARKETPLACE_PAYMENT_PROVIDER`` (default ``FakePaymentProvider``)."""
    path = getattr(settings, "MARKETPLACE_PAYMENT_PROVIDER", DEFAULT_PROVIDER)
    provider: PaymentProvider = import_string(path)()
    return provider
