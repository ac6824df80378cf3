"""Background jobs of the service desk: thin callers of ``servicedesk.services``."""

from __future__ import annotations

from django_tasks import task

from servicedesk import services


@task()
def flag_sla_breaches() -> int:
    """Record lateness of waiting tickets (schedule hourly, e.g. ``manage.py flag_sla_breaches`` from cron)."""
    return services.flag_sla_breaches()
