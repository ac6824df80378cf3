"""Background jobs of the subsidy layer: thin callers of ``subsidies.services``."""

from __future__ import annotations

from django_tasks import task

from subsidies import services


@task()
def import_gateway_usage(year: int | None = None) -> int:
    """Schedule monthly (or from cron: ``manage.py import_gateway_usage``)."""
    return len(services.import_all_gateway_usage(year=year))
