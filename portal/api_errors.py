"""The API's error shape: {"error": {"code", "message", "fields"?}} with the right status, for every error."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.storage import StorageUnavailable, unavailable_message

# Every code an error of the API carries, and when. tests/api hold the list complete.
ERROR_CODES = {
    "invalid": "Invalid input: `fields` names each field (or header, or query parameter) and why.",
    "bad_request": "The address or the query cannot be read.",
    "parse_error": "The body is not valid JSON, or not the multipart form the upload takes.",
    "not_authenticated": "No token was sent.",
    "authentication_failed": "The token is not valid, or it was revoked.",
    "permission_denied": "Your roles do not allow this, or your account belongs to no partner.",
    "not_found": "No such object in your organisation, or no such address.",
    "method_not_allowed": "The address does not take this method.",
    "not_acceptable": "The API answers in JSON (and files as they are).",
    "unsupported_media_type": "Send JSON (the upload: multipart/form-data).",
    "too_large": "The body is too large.",
    "throttled": "Too many requests: wait Retry-After seconds.",
    "precondition_failed": "If-Match names a version the case no longer has: read it again.",
    "idempotency_key_reused": "The Idempotency-Key was used before with another request.",
    "illegal_transition": "The case's status does not allow this move now.",
    "loop_open": "The customer has not been informed of the resolution yet.",
    "not_resolved": "Only a resolved case allows this.",
    "not_escalated": "Only an escalated case has a support request number.",
    "vehicle_not_in_plan": "Your support plan does not offer this support vehicle.",
    "bad_vehicle": "Choose a support vehicle.",
    "bad_severity": "Choose a severity.",
    "bad_assignee": "Assign the case to an active member of your organisation.",
    "required": "Something the action needs is missing (a note, a reason, a message).",
    "max_length": "A text is too long.",
    "no_recipient": "The customer has no billing contact e-mail address.",
    "not_failed": "Only a failed e-mail can be sent again.",
    "already_active": "The subscription is already active.",
    "already_suspended": "The subscription is already suspended.",
    "last_global_admin": "The organisation keeps at least one Global admin.",
    "self": "You cannot do this to your own account.",
    "used": "The link was already used.",
    "too_many_endpoints": "Your organisation has as many webhook endpoints as it may: delete one first.",
    "endpoint_disabled": "The webhook endpoint is disabled: enable it first.",
    "sending": "The webhook delivery is being sent right now.",
    "storage_unavailable": "The file storage cannot be reached: try again after Retry-After seconds.",
    "server_error": "The server failed; try again later.",
    "error": "Any other error; the message says what.",
}

ERROR_CODE_CHOICES = list(ERROR_CODES)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=ERROR_CODE_CHOICES,
        help_text="A stable machine-readable code:\n\n"
        + "\n".join(f"- `{code}`: {meaning}" for code, meaning in ERROR_CODES.items()),
    )
    message = serializers.CharField(help_text="A human-readable message in the caller's language.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field errors, for validation errors.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error_response(code: str, message: str, http_status: int, fields: dict | None = None, headers=None):
    body: dict[str, Any] = {
        "error": {"code": code if code in ERROR_CODES else "error", "message": str(message)}
    }
    if fields:
        body["error"]["fields"] = fields
    return Response(body, status=http_status, headers=headers)


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        result: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for inner, messages in _flatten(value).items():
                    result[f"{key}.{inner}"] = messages
            else:
                items = value if isinstance(value, list) else [value]
                result[key] = [str(item) for item in items]
        return result
    items = detail if isinstance(detail, list) else [detail]
    return {"non_field_errors": [str(item) for item in items]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error as {"error": {"code", "message", "fields"?}} with the right status."""
    from cases.services import CaseActionError

    if isinstance(exc, CaseActionError):
        return error_response(exc.code, exc.message, status.HTTP_409_CONFLICT)
    if isinstance(exc, StorageUnavailable):
        return error_response(
            "storage_unavailable",
            unavailable_message(),
            status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "60"},
        )
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return error_response(
            "invalid", _("The request has invalid fields."), status.HTTP_400_BAD_REQUEST, fields
        )
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Http404):
        return error_response("not_found", _("Not found."), status.HTTP_404_NOT_FOUND)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            "invalid", _("The request has invalid fields."), response.status_code, _flatten(exc.detail)
        )
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.Throttled):
        code = "throttled"
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    message = detail if isinstance(detail, str) else " ".join(str(v) for v in _flatten(detail).values())
    headers = {k: v for k, v in response.headers.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")}
    return error_response(code, message, response.status_code, headers=headers)
