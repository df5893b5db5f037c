"""What every response under /api/ carries, whichever part of Django wrote it.

A URL no route matches, a method a route lacks, an address the portal refuses, a server error: Django answers
those with its own pages (HTML, and with DEBUG its technical pages). A partner's tool reads JSON, so under
/api/ every error answer is the API's error shape ({"error": {"code", "message"}}), whatever DEBUG says.
The rate-limit counters the throttle took (portal.api.TokenRateThrottle) go out as RateLimit-* headers.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

# The code and message of an error Django answered itself, by status.
_CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def _message(status: int) -> str:
    messages = {
        400: _("The request cannot be read."),
        403: _("Your role does not allow this."),
        404: _("Not found."),
        405: _("This method is not allowed here."),
        413: _("The request body is too large."),
    }
    return messages.get(status, _("The server could not answer; try again later."))


class ApiResponseMiddleware:
    """JSON errors and RateLimit-* headers on every response under /api/."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        if any(len(values) > 1 for _name, values in request.GET.lists()):
            response: HttpResponse = _repeated_parameters(request)
        else:
            response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            response = _json_error(response)
        limit = getattr(request, "api_rate_limit", None)
        if limit is not None:
            response["RateLimit-Limit"] = str(limit.limit)
            response["RateLimit-Remaining"] = str(limit.remaining)
            response["RateLimit-Reset"] = str(limit.reset)
        return response


def _repeated_parameters(request: HttpRequest) -> JsonResponse:
    """A query parameter given twice is refused: which one counts would be a guess."""
    message = _("Give this parameter once.")
    fields = {name: [message] for name, values in request.GET.lists() if len(values) > 1}
    body = {"error": {"code": "invalid", "message": _("The request has invalid fields."), "fields": fields}}
    return JsonResponse(body, status=400)


def _json_error(response: HttpResponse) -> JsonResponse:
    status = response.status_code
    code = _CODES.get(status, "server_error" if status >= 500 else "error")
    answer = JsonResponse({"error": {"code": code, "message": _message(status)}}, status=status)
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in response:
            answer[header] = response[header]
    return answer
