"""Property-based tests: random sequences of postings (some of which must be refused) keep the ledger sound.

A simple model (a dict of expected balances and the postings made under each idempotency key) predicts the
outcome of every posting; after each sequence the database must agree with the model and every invariant
must hold: every transaction balances, all balances sum to zero, cached == derived, no guarded account < 0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from core.testing import make_org, make_user
from ledger import selectors, services
from ledger.errors import IdempotencyConflict, InsufficientFunds, SubFenAmount, UnbalancedTransaction
from ledger.models import Account, Purpose, Transaction
from organisations.capabilities import OrgKind

FEN = Decimal("0.01")

operations = st.lists(
    st.tuples(
        st.sampled_from(["transfer", "transfer", "split", "unbalanced", "subfen"]),
        st.integers(0, 5),  # source account index
        st.integers(0, 5),  # destination account index
        st.integers(1, 50_000),  # amount in fen
        st.integers(0, 12),  # idempotency key: a small range, so keys get reused (replays and conflicts)
    ),
    min_size=1,
    max_size=30,
)


class LedgerPropertyTests(TestCase):
    accounts: ClassVar[list[Account]]

    @classmethod
    def setUpTestData(cls) -> None:
        opc = make_org(OrgKind.OPC, "属性测试工作室", make_user("prop-opc"))
        client = make_org(OrgKind.CLIENT, "属性测试客户", make_user("prop-client"), subkind="enterprise")
        cls.accounts = [
            services.account_for(owner=None, purpose=Purpose.EXTERNAL),  # may go negative
            services.open_account(
                owner=client, purpose=Purpose.AVAILABLE, code="credit", allow_negative=True
            ),
            services.account_for(owner=client, purpose=Purpose.AVAILABLE),  # guarded from here on
            services.account_for(owner=client, purpose=Purpose.ESCROW),
            services.account_for(owner=opc, purpose=Purpose.AVAILABLE),
            services.account_for(owner=None, purpose=Purpose.FEES),
        ]

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(operations)
    def test_random_postings_keep_the_ledger_sound(self, ops: list[tuple[str, int, int, int, int]]) -> None:
        accounts = [Account.objects.get(pk=a.pk) for a in self.accounts]
        expected = {a.pk: Decimal("0.00") for a in accounts}
        used: dict[str, tuple[tuple[int, Decimal], ...]] = {}  # key → normalised entries of its posting

        for op, src, dst, fen, key_no in ops:
            key = f"k{key_no}"
            amount = Decimal(fen) * FEN
            source, destination = accounts[src], accounts[dst]
            if op == "transfer":
                entries = [(source, -amount), (destination, amount)]
            elif op == "split":  # one payer, two payees (possibly the payer itself: entries are netted)
                other = accounts[(dst + 1) % len(accounts)]
                half = (amount / 2).quantize(FEN)
                entries = [(source, -amount), (destination, half), (other, amount - half)]
                entries = [(a, x) for a, x in entries if x != 0]
            elif op == "unbalanced":
                with self.assertRaises(UnbalancedTransaction):
                    services.post_transaction(
                        idempotency_key=key,
                        entries=[(source, -amount), (destination, amount + FEN)],
                        kind="p",
                    )
                continue
            else:
                with self.assertRaises(SubFenAmount):
                    services.post_transaction(
                        idempotency_key=key,
                        entries=[
                            (source, -amount - Decimal("0.001")),
                            (destination, amount + Decimal("0.001")),
                        ],
                        kind="p",
                    )
                continue
            if len(entries) < 2:
                continue

            normalised = tuple(sorted((a.pk, x) for a, x in entries))
            net: dict[int, Decimal] = {}
            for account, x in entries:
                net[account.pk] = net.get(account.pk, Decimal("0.00")) + x
            if key in used:
                if used[key] == normalised:
                    before = Transaction.objects.count()
                    services.post_transaction(idempotency_key=key, entries=entries, kind="p")
                    self.assertEqual(Transaction.objects.count(), before)
                else:
                    with self.assertRaises(IdempotencyConflict):
                        services.post_transaction(idempotency_key=key, entries=entries, kind="p")
                continue
            overdraws = any(
                not a.allow_negative and expected[a.pk] + net[a.pk] < 0 for a in accounts if a.pk in net
            )
            if overdraws:
                with self.assertRaises(InsufficientFunds):
                    services.post_transaction(idempotency_key=key, entries=entries, kind="p")
                continue
            services.post_transaction(idempotency_key=key, entries=entries, kind="p")
            used[key] = normalised
            for pk, x in net.items():
                expected[pk] += x

        stored = dict(Account.objects.filter(pk__in=expected).values_list("pk", "balance"))
        self.assertEqual(stored, expected)
        self.assertEqual(sum(stored.values()), 0)
        self.assertEqual(selectors.total_of_balances(), 0)
        self.assertTrue(selectors.ledger_is_balanced())
        self.assertEqual(selectors.unbalanced_transaction_ids(), [])
        self.assertEqual(selectors.accounts_with_inconsistent_balance(), [])
        self.assertEqual(selectors.overdrawn_account_ids(), [])
        for account in accounts:
            self.assertEqual(selectors.derived_balance(account), expected[account.pk])
        self.assertEqual(Transaction.objects.count(), len(used))
