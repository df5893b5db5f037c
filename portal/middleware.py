"""Requests the portal refuses before any view sees them."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class RefuseNulMiddleware:
    """A NUL byte in the address or the query string is a 400.

    No text the portal keeps can hold one (PostgreSQL refuses it in any string), and no address or search
    a person types has one; forms refuse it in posted fields themselves (ProhibitNullCharactersValidator).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in key or "\x00" in "".join(values) for key, values in request.GET.lists()
        ):
            from portal.views import bad_request

            return bad_request(request, None)
        return self.get_response(request)
