"""Domain errors of the ledger. Each carries a translated, user-facing message (``.message``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class LedgerError(DomainError):
    """Base class: the ledger refused a posting or an account operation. Nothing was written."""

    default_message = _("The ledger refused this operation.")


class InvalidAmount(LedgerError):
    """Not a finite number, the wrong type (float, bool), or out of range."""

    default_message = _("This is not a valid amount of money.")


class SubFenAmount(InvalidAmount):
    """More precision than the fen (0.01 CNY) where an exact amount was required."""

    default_message = _("Amounts must be whole fen (at most two decimal places).")


class UnbalancedTransaction(LedgerError):
    """Entries do not sum to zero, or the posting is otherwise malformed (fewer than two entries, a zero entry)."""

    default_message = _("The entries of a transaction must sum to zero.")


class CurrencyMismatch(LedgerError):
    default_message = _("All entries of a transaction must be in the same currency.")


class InsufficientFunds(LedgerError):
    """A guarded account (one that may not go negative) would have been overdrawn."""

    status_code = 409
    default_message = _("Insufficient funds.")

    def __init__(self, message: object | None = None, *, account_id: int | None = None) -> None:
        super().__init__(message)
        self.account_id = account_id


class IdempotencyConflict(LedgerError):
    """The idempotency key was already used for a posting with different entries, kind or reference."""

    status_code = 409
    default_message = _("This idempotency key was already used for a different posting.")


class AccountMismatch(LedgerError):
    """An account with this code exists but belongs to another owner, purpose, currency or overdraft policy."""

    status_code = 409
    default_message = _("An account with this code already exists with different settings.")
