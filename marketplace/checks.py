"""System checks: ``manage.py check --deploy`` warns when the stand-in payment provider is configured."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

from marketplace.payments import DEFAULT_PROVIDER


@register(Tags.security, deploy=True)
def fake_payment_provider_in_production(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if getattr(settings, "MARKETPLACE_PAYMENT_PROVIDER", DEFAULT_PROVIDER) == DEFAULT_PROVIDER:
        return [
            Warning(
                "The marketplace uses FakePaymentProvider, which collects no real money.",
                hint="Set MARKETPLACE_PAYMENT_PROVIDER to a real PaymentProvider implementation.",
                id="marketplace.W001",
            )
        ]
    return []
