"""The signed-in user, read from the cache rather than the database on every request.

Django's ModelBackend reads the user from the database on every request of a signed-in session. The portal
keeps the user in the cache instead: any save or delete of the user removes the copy, at once and again when
the transaction commits (so a password change, a deactivation or a new name is seen by the next request), and
Django still checks the session's password hash and is_active against the copy as it would against the row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

# A change removes the copy at once (and again after commit); the timeout bounds how long a copy could outlive
# a change whose removal failed (Redis away at that moment).
USER_SECONDS = 5 * 60


def user_key(user_id: Any) -> str:
    return f"portal:user:{user_id}"


# Other apps' per-user cache entries that nearly every request needs next (the partner membership): read in
# the same round trip as the user and left on it as `cached_companions` ({key: value, or None if absent}).
_companions: list[Callable[[Any], str]] = []


def load_with_user(key_for: Callable[[Any], str]) -> None:
    """Have the cache entry key_for(user_id) read together with the user."""
    if key_for not in _companions:
        _companions.append(key_for)


def user_keys(user_id: Any) -> list[str]:
    """The cache keys get_user reads: the user's, then its companions'."""
    return [user_key(user_id), *(key_for(user_id) for key_for in _companions)]


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id: Any, found: dict[str, Any] | None = None):
        """The user (None if missing or inactive); `found`: user_keys(user_id) already read by the caller."""
        keys = user_keys(user_id)
        key = keys[0]
        if found is None:
            found = cache.get_many(keys)
        user = found.get(key)
        if user is None:
            user = super().get_user(user_id)
            if user is not None:
                cache.set(key, user, USER_SECONDS)
        if user is None or not self.user_can_authenticate(user):
            return None
        user.cached_companions = {other: found.get(other) for other in keys[1:]}
        return user


def forget_user(sender: type, instance: Any, **_kwargs: Any) -> None:
    key = user_key(instance.pk)
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))


def connect() -> None:
    model = get_user_model()
    post_save.connect(forget_user, sender=model, dispatch_uid="portal.auth.forget_user.save")
    post_delete.connect(forget_user, sender=model, dispatch_uid="portal.auth.forget_user.delete")
