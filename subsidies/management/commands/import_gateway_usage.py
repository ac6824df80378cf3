"""``manage.py import_gateway_usage [--year 2026]``: one metered token-fee expense per member and closed month
(schedule it monthly, e.g. from cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from subsidies import services


class Command(BaseCommand):
    help = "Import the members' gateway usage of closed months as metered API/token-fee expenses."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--year", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        created = services.import_all_gateway_usage(year=options["year"])
        self.stdout.write(f"import_gateway_usage: {len(created)} monthly statement(s) imported")
