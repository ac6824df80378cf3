"""Background jobs of dispatch: thin callers of ``dispatch.services`` (schedule both periodically, e.g.
hourly from cron; the operator can also enqueue a batch on demand)."""

from __future__ import annotations

from django_tasks import task

from dispatch import services


@task()
def run_batch_dispatch(response_hours: float = 48) -> int:
    """One scheduled batch dispatch; returns the run's id."""
    return services.run_batch_dispatch(response_hours=response_hours).pk


@task()
def expire_offers() -> int:
    """Expire overdue offers and re-dispatch their orders; returns how many expired."""
    return services.expire_offers()
