"""What every API endpoint shares: bearer-token authentication, the partner gate and throttling.

Kept free of rest_framework.views imports: DRF loads these classes while it is itself importing.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.cache import cache
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.throttling import SimpleRateThrottle

from portal import auth
from portal.models import ApiToken

LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


# A token is read from the cache (a revocation or deletion removes the copy, see forget_token); its user comes
# from portal.auth, whose copy a change of the user removes, so a deactivated user's tokens stop at once.
# Which user a token belongs to never changes, so each process remembers it and reads the token, the user and
# the membership from the cache in one round trip.
TOKEN_SECONDS = 5 * 60
KNOWN_TOKENS = 10_000
_token_users: dict[str, int] = {}


def token_key(key_hash: str) -> str:
    return f"portal:token:{key_hash}"


def _token_and_user(key_hash: str) -> tuple[ApiToken | None, Any]:
    """The active token for key_hash and its user (active, or None)."""
    key = token_key(key_hash)
    user_id = _token_users.get(key_hash)
    found = cache.get_many([key, *(auth.user_keys(user_id) if user_id else [])])
    token = found.get(key)
    if token is None:
        token = ApiToken.objects.filter(key_hash=key_hash, revoked_at__isnull=True).first()
        if token is None:
            return None, None
        cache.set(key, token, TOKEN_SECONDS)
    if token.user_id != user_id:
        if len(_token_users) >= KNOWN_TOKENS:
            _token_users.clear()
        _token_users[key_hash] = token.user_id
        found = None  # read for another user id: get_user reads its own
    return token, auth.CachedModelBackend().get_user(token.user_id, found=found)


def forget_token(sender: type, instance: ApiToken, **_kwargs: Any) -> None:
    key = token_key(instance.key_hash)
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))


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
        token, user = _token_and_user(ApiToken.hash(key))
        if user is None:
            raise exceptions.AuthenticationFailed(_("The token is not valid, or it was revoked."))
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            # Minute resolution is enough and spares a write on every call.
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
            cache.set(token_key(token.key_hash), token, TOKEN_SECONDS)
        token.user = user
        return user, token

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


class TokenRateThrottle(SimpleRateThrottle):
    """A rate per API token (per user when a session is used), counted in fixed windows.

    DRF's SimpleRateThrottle keeps the time of every request of the last period in one cache entry, read and
    written back whole on every call (600 timestamps at the default rate). A counter per window costs one
    round trip to Redis (portal.cache.RedisCache.incr_window); a client may make up to twice the rate across
    the boundary of two windows, which is what a fixed window allows.
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
        return self._count(f"{key}:{window}", self.duration) <= self.num_requests

    def wait(self) -> float | None:
        return self.retry_after

    def _count(self, key: str, seconds: int) -> int:
        """Count one more request in the window `key` (which lasts `seconds`); the count so far."""
        if hasattr(self.cache, "incr_window"):
            return self.cache.incr_window(key, seconds)
        self.cache.add(key, 0, seconds)  # other cache backends (local memory under `make run`)
        try:
            return self.cache.incr(key)
        except ValueError:  # expired between the two calls: a new window
            self.cache.add(key, 1, seconds)
            return 1


def connect() -> None:
    post_save.connect(forget_token, sender=ApiToken, dispatch_uid="portal.api.forget_token.save")
    post_delete.connect(forget_token, sender=ApiToken, dispatch_uid="portal.api.forget_token.delete")
