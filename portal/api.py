"""What every API endpoint shares: bearer-token authentication, the partner gate and throttling.

Kept free of rest_framework.views imports: DRF loads these classes while it is itself importing.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import re
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.throttling import SimpleRateThrottle

from portal.auth import WITH_MEMBERSHIP
from portal.models import ApiToken

cache_logger = logging.getLogger("portal.cache")

LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


def _active_token(key_hash: str) -> ApiToken | None:
    """The unrevoked token for key_hash with its user, the user's membership and partner: one query."""
    tokens = ApiToken.objects.select_related(f"user__{WITH_MEMBERSHIP}").filter(
        key_hash=key_hash, revoked_at__isnull=True
    )
    return next(iter(tokens.order_by()[:1]), None)  # the hash is unique: no order to ask for


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` with a personal API token."""

    keyword = "Bearer"

    def authenticate(self, request) -> tuple[Any, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send the token as: Authorization: Bearer <token>."))
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("The token is not valid.")) from None
        token = _active_token(ApiToken.hash(key))
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("The token is not valid, or it was revoked."))
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            # Minute resolution is enough and spares a write on every call.
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token (csp_…)."}


class IsPartnerMember(permissions.BasePermission):
    """Signed in with a token of an active user who belongs to a partner organisation."""

    message = gettext_lazy("Your account does not belong to a partner organisation.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            raise exceptions.NotAuthenticated(_("Send a personal API token: Authorization: Bearer <token>."))
        from cases.access import membership_of  # the cases app builds on this module, not the other way

        try:
            request.membership = membership_of(user)
        except DjangoPermissionDenied:
            return False
        return True


class RateLimit(NamedTuple):
    """What the throttle counted for a request: its window's limit, what is left, seconds to the next."""

    limit: int
    remaining: int
    reset: int


class TokenRateThrottle(SimpleRateThrottle):
    """A rate per API token (per user when a session is used), counted in fixed windows.

    DRF's SimpleRateThrottle keeps the time of every request of the last period in one cache entry, read and
    written back whole on every call (600 timestamps at the default rate). A counter per window costs one
    add and one increment; a client may make up to twice the rate across the boundary of two windows, which
    is what a fixed window allows. The counters live in the cache: with Redis unreachable the throttle lets
    requests through (fails open) and says so in the log, once a minute.
    """

    scope = "token"

    def get_cache_key(self, request, view) -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        self.retry_after = (window + 1) * self.duration - now
        count = self._count(f"{key}:{window}", self.duration)
        if count is None:
            cache_logger.warning("API rate limit not applied: the cache cannot be reached")
            return True
        # portal.api_middleware writes these as RateLimit-* headers on the response, whatever it is.
        request._request.api_rate_limit = RateLimit(
            limit=self.num_requests,
            remaining=max(0, self.num_requests - count),
            reset=max(1, math.ceil(self.retry_after)),
        )
        return count <= self.num_requests

    def wait(self) -> float | None:
        return self.retry_after

    def _count(self, key: str, seconds: int) -> int | None:
        """Count one more request in the window `key` (which lasts `seconds`): the count so far, or None
        when the cache cannot be reached (django-redis answers None instead of raising)."""
        added = self.cache.add(key, 1, seconds)
        if added is None:
            return None
        if added:
            return 1
        try:
            return self.cache.incr(key)
        except ValueError:  # expired between the two calls: a new window
            return 1 if self.cache.add(key, 1, seconds) else self.cache.incr(key)


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"
    default_detail = gettext_lazy("The request body is too large.")


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the web's bounds: at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes (DRF reads the
    stream itself, past Django's own check), and nesting too deep to read is a 400, not a RecursionError."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if limit is not None and declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge()
        raw = stream.read(limit + 1 if limit is not None else -1) if stream is not None else b""
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(raw.decode(encoding), parse_constant=_refuse_constant)
        except RecursionError:
            raise exceptions.ParseError(_("The JSON is nested too deeply.")) from None
        except ValueError as error:
            message = _("The body is not valid JSON: %(error)s") % {"error": error}
            raise exceptions.ParseError(message) from None


def _refuse_constant(name: str) -> None:
    """NaN and Infinity are not JSON (Python's reader accepts them; DRF's strict parser refuses them too)."""
    raise ValueError(f"{name} is not allowed")


MAX_PAGE_SIZE = 200
_POSITIVE = re.compile(r"[1-9][0-9]{0,8}")


def positive_parameter(request, name: str, *, maximum: int | None = None) -> int | None:
    """The query parameter `name` as a positive integer, None when absent; anything else is a 400 on it."""
    if name not in request.query_params:
        return None
    value = request.query_params[name]
    if not _POSITIVE.fullmatch(value) or (maximum is not None and int(value) > maximum):
        if maximum is None:
            message = _("Use a whole number from 1.")
        else:
            message = _("Use a whole number from 1 to %(maximum)d.") % {"maximum": maximum}
        raise exceptions.ValidationError({name: [message]})
    return int(value)


class StrictPageNumberPagination(PageNumberPagination):
    """Page numbers, and `page_size` up to MAX_PAGE_SIZE; a page or size that is not a number from 1 is a
    400 (DRF reads `page=false` as a missing page and `page_size=x` as the default)."""

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_number(self, request, paginator):
        return positive_parameter(request, self.page_query_param) or 1

    def get_page_size(self, request) -> int:
        return positive_parameter(request, "page_size", maximum=MAX_PAGE_SIZE) or self.page_size

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "description": "Rows on all pages.", "example": 120},
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page, or null on the last one.",
                    "example": "https://portal.example/api/v1/customers/?page=3",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The page before, or null on the first one.",
                    "example": "https://portal.example/api/v1/customers/?page=1",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "The page to read, from 1.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999},
            },
            {
                "name": "page_size",
                "required": False,
                "in": "query",
                "description": f"Rows per page: {self.page_size} unless you ask, at most {MAX_PAGE_SIZE}.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
        ]
