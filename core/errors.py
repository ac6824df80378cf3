"""Typed domain errors. Services raise them with a translated, user-facing message; views and API handlers
turn them into a form error / message / 4xx response. Nothing changes when one is raised."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A rule of the domain refused the operation. ``message`` is shown to the person as is."""

    status_code = 400
    default_message = _("The operation is not allowed.")

    def __init__(self, message: object | None = None) -> None:
        self.message = str(message if message is not None else self.default_message)
        super().__init__(self.message)


class InvalidTransition(DomainError):
    status_code = 409
    default_message = _("This change of state is not allowed.")


class NotPermitted(DomainError):
    status_code = 403
    default_message = _("You do not have permission to do this.")


class NotFound(DomainError):
    status_code = 404
    default_message = _("Not found.")


class Conflict(DomainError):
    status_code = 409
    default_message = _("This conflicts with the current state; reload and try again.")
