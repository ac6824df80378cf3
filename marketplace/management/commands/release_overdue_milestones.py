"""``manage.py release_overdue_milestones``: release delivered milestones left unanswered too long."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from marketplace import services


class Command(BaseCommand):
    help = "Release escrow for delivered milestones the client did not answer within the auto-release period."

    def handle(self, *args: Any, **options: Any) -> None:
        count = services.release_overdue_milestones()
        self.stdout.write(f"release_overdue_milestones: {count} milestone(s) released")
