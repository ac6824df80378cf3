"""``manage.py ledger_check``: verify the ledger's invariants; exit status 1 when one fails.

Checks: all entries sum to zero; every transaction has at least two entries summing to zero; every cached
balance equals the sum of its account's entries; no guarded account is negative.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ledger import selectors


class Command(BaseCommand):
    help = "Verify that the ledger balances and that cached balances match the entries."

    def handle(self, *args: Any, **options: Any) -> None:
        problems: list[str] = []
        total = selectors.ledger_total()
        if total != 0:
            problems.append(f"entries sum to {total}, not 0")
        balances = selectors.total_of_balances()
        if balances != 0:
            problems.append(f"cached balances sum to {balances}, not 0")
        if ids := selectors.unbalanced_transaction_ids():
            problems.append(f"unbalanced transactions: {_ids(ids)}")
        if ids := selectors.accounts_with_inconsistent_balance():
            problems.append(f"accounts whose cached balance differs from their entries: {_ids(ids)}")
        if ids := selectors.overdrawn_account_ids():
            problems.append(f"guarded accounts below zero: {_ids(ids)}")
        if problems:
            for problem in problems:
                self.stderr.write(f"ledger_check: {problem}")
            raise CommandError("ledger_check: the ledger is NOT consistent")
        self.stdout.write(self.style.SUCCESS("ledger_check: ledger balanced, cached balances consistent"))


def _ids(ids: list[int], limit: int = 20) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f" … ({len(ids)} in all)" if len(ids) > limit else "")
