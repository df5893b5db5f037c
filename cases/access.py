"""The one way partner pages reach data: through the signed-in user's own partner organisation."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from cases.models import Membership
from cases.permissions import roles_allow

M = TypeVar("M", bound=models.Model)


def membership_of(user: Any) -> Membership:
    """The user's active partner membership, or PermissionDenied.

    Signed-in requests and API tokens load the user with the membership and its partner joined
    (portal.auth.WITH_MEMBERSHIP), so this runs no query of its own.
    """
    if not user.is_authenticated or not user.is_active:
        raise PermissionDenied(_("Sign in with a partner account."))
    try:
        return user.membership
    except Membership.DoesNotExist:
        raise PermissionDenied(_("Your account does not belong to a partner organisation.")) from None


def membership_or_none(user: Any) -> Membership | None:
    """The user's membership (as membership_of), or None for anyone who has none."""
    try:
        return membership_of(user)
    except PermissionDenied:
        return None


def partner_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Require a signed-in partner user; the view finds their membership on request.membership."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.membership = membership_of(request.user)
        return view(request, *args, **kwargs)

    return wrapper


def get_for_partner(membership: Membership, source: type[M] | models.QuerySet, **lookup: Any) -> M:
    """Load one object of the member's own partner; anything else (another partner's, or none) is 404.

    source: the model, or a queryset of it (to join what the page shows) whose for_partner() scopes it.
    """
    queryset = source if isinstance(source, models.QuerySet) else source.objects.all()
    return get_object_or_404(queryset.for_partner(membership.partner), **lookup)


def require(membership: Membership, action: str) -> None:
    """Raise PermissionDenied unless one of the member's roles allows action."""
    if not roles_allow(membership.roles, action):
        raise PermissionDenied(_("Your role does not allow this."))
