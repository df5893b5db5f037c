"""The signed-in user and their partner membership, read in one query.

Django's ModelBackend reads the user on every request of a signed-in session; nearly every page then needs
the user's partner membership and its partner too (the header, the partner pages). They are read joined to the
user, and the user joined to the session row (portal.sessions): one query instead of four. Nothing is cached:
a deactivation, a new password or a changed role is seen by the very next request.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


def axes_username(request: Any, credentials: dict[str, Any] | None = None) -> str | None:
    """The name django-axes counts failed sign-ins against (AXES_USERNAME_CALLABLE): the address as sign-in
    matches it (portal.models.normalize_email), so "SALES@…" and " sales@…" share one account's lockout."""
    from django.conf import settings

    from portal.models import normalize_email

    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        value = credentials.get(field)
    else:
        value = getattr(request, "data", None) or getattr(request, "POST", {})
        value = value.get(field) if hasattr(value, "get") else None
    return normalize_email(value) if isinstance(value, str) else value


# The reverse one-to-one from the user to cases.Membership, and on to its partner.
WITH_MEMBERSHIP = "membership__partner"


class MemberBackend(ModelBackend):
    def get_user(self, user_id: Any):
        """The active user with their membership and partner joined (None if missing or inactive): the one
        the request's session was read with (portal.sessions), else read now."""
        from portal.sessions import session_user

        user = session_user.get()
        if user is None or str(user.pk) != str(user_id):
            model = get_user_model()
            try:
                user = model._default_manager.select_related(WITH_MEMBERSHIP).get(pk=user_id)
            except model.DoesNotExist:
                return None
        return user if self.user_can_authenticate(user) else None
