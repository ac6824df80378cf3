"""Errors in OpenAI's shape (``{"error": {"message", "type", "code", "param"}}``), so SDKs raise the usual
exception classes (401 → AuthenticationError, 429 → RateLimitError, …)."""

from __future__ import annotations

from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _


class GatewayError(Exception):
    status = 400
    type = "invalid_request_error"
    code: str | None = None
    default_message = _("The request is invalid.")

    def __init__(self, message: object | None = None, *, param: str | None = None) -> None:
        self.message = str(message if message is not None else self.default_message)
        self.param = param
        super().__init__(self.message)

    def payload(self) -> dict[str, object]:
        return error_payload(self.message, type=self.type, code=self.code, param=self.param)

    def response(self) -> JsonResponse:
        return error_response(self.status, self.message, type=self.type, code=self.code, param=self.param)


def error_payload(
    message: str, *, type: str, code: str | None = None, param: str | None = None
) -> dict[str, object]:
    return {"error": {"message": message, "type": type, "code": code, "param": param}}


def error_response(
    status: int, message: str, *, type: str, code: str | None = None, param: str | None = None
) -> JsonResponse:
    return JsonResponse(error_payload(message, type=type, code=code, param=param), status=status)


class InvalidRequest(GatewayError):
    pass


class InvalidApiKey(GatewayError):
    status = 401
    code = "invalid_api_key"
    default_message = _("Incorrect API key provided.")


class ModelNotAllowed(GatewayError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"
    default_message = _("This key may not use this model.")


class ModelNotFound(GatewayError):
    status = 404
    code = "model_not_found"
    default_message = _("The model does not exist or is not served by this gateway.")


class QuotaExhausted(GatewayError):
    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"
    default_message = _("You have used up your token quota. Ask your community operator for more.")


class RateLimited(GatewayError):
    status = 429
    type = "requests"
    code = "rate_limit_exceeded"
    default_message = _("Rate limit reached for this key; slow down.")


class UpstreamUnavailable(GatewayError):
    status = 502
    type = "api_error"
    code = "upstream_unavailable"
    default_message = _("No upstream channel could serve this request; nothing was charged.")
