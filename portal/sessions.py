"""Sessions in the database that bring their user along (SESSION_ENGINE = "portal.sessions").

Every signed-in request reads its session and then its user; with the user's id kept on the session row, the
session is read with the user, the membership and the partner joined, and AuthenticationMiddleware below hands
that user to Django's own get_user, which checks it exactly as it checks a user it reads itself (active, and
the session's password hash). One query instead of two, and nothing cached anywhere.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from django.contrib import auth
from django.contrib.auth import SESSION_KEY
from django.contrib.auth import middleware as auth_middleware
from django.contrib.sessions.backends import db
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from portal.auth import WITH_MEMBERSHIP

# The user read with this request's session, while Django's get_user asks the backend (portal.auth).
session_user: ContextVar[Any] = ContextVar("session_user", default=None)


class SessionStore(db.SessionStore):
    user = None  # the user the session row named when it was read, with membership and partner

    @classmethod
    def get_model_class(cls):
        from portal.models import Session

        return Session

    def create_model_instance(self, data: dict[str, Any]):
        session = super().create_model_instance(data)
        user_id = str(data.get(SESSION_KEY, ""))
        session.user_id = int(user_id) if user_id.isdigit() else None
        return session

    def _get_session_from_db(self):
        sessions = self.model.objects.select_related(f"user__{WITH_MEMBERSHIP}")
        try:
            session = sessions.get(session_key=self.session_key, expire_date__gt=timezone.now())
        except (self.model.DoesNotExist, SuspiciousOperation) as error:
            if isinstance(error, SuspiciousOperation):
                logging.getLogger(f"django.security.{type(error).__name__}").warning(str(error))
            self._session_key = None
            return None
        self.user = session.user
        return session


def _get_user(request: HttpRequest):
    if not hasattr(request, "_cached_user"):
        request.session.get(SESSION_KEY)  # reads the session row, and its user with it
        token = session_user.set(getattr(request.session, "user", None))
        try:
            request._cached_user = auth.get_user(request)
        finally:
            session_user.reset(token)
    return request._cached_user


class AuthenticationMiddleware(auth_middleware.AuthenticationMiddleware):
    """Django's, with request.user taken from the user the session was read with."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _get_user(request))
