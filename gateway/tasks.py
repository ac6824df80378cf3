"""Background jobs of the gateway: thin callers of ``gateway.services`` (schedule them, e.g. from cron:
``manage.py gateway_maintenance``)."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from gateway import services


@task()
def roll_up_usage(day: str) -> int:
    """Roll up one day (ISO date) into the daily aggregate table; idempotent."""
    return services.roll_up_usage(day=dt.date.fromisoformat(day))


@task()
def roll_up_recent_usage(days: int = 2) -> int:
    """Roll up today and the days before (late settlements land within a day); idempotent."""
    return services.roll_up_recent(days=days)


@task()
def post_usage() -> str:
    """Post every member's settled usage to the ledger (whole fen) and release abandoned holds."""
    posted = services.post_all_usage()
    released = services.release_abandoned()
    return f"posted={posted} released={released}"
