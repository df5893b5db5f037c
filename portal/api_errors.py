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


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable machine-readable code, e.g. illegal_transition.")
    message = serializers.CharField(help_text="A human-readable message in the caller's language.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field errors, for validation errors.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error_response(code: str, message: str, http_status: int, fields: dict | None = None, headers=None):
    body: dict[str, Any] = {"error": {"code": code, "message": str(message)}}
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
