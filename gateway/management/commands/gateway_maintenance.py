"""``manage.py gateway_maintenance``: post settled usage to the ledger, release holds of requests a dead
gateway process left behind, and roll up the last days' usage (schedule it, e.g. hourly from cron; the
ASGI server does the first two by itself while it runs)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from gateway import services


class Command(BaseCommand):
    help = "Post gateway usage to the ledger, release abandoned holds, roll up recent days (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=2, help="days to roll up, today included")

    def handle(self, *args: Any, **options: Any) -> None:
        posted = services.post_all_usage()
        released = services.release_abandoned()
        rows = services.roll_up_recent(days=options["days"])
        self.stdout.write(f"posted ¥{posted} · released {released} abandoned · {rows} daily rows")
