"""``manage.py flag_sla_breaches``: record late first responses and resolutions of waiting tickets."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from servicedesk import services


class Command(BaseCommand):
    help = "Flag service tickets whose first response or resolution is overdue (schedule it, e.g. hourly)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = services.flag_sla_breaches()
        self.stdout.write(f"flag_sla_breaches: {count} flag(s) set")
