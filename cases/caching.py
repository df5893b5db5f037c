"""Partner pages served from the cache until something of the partner's changes.

A partner's case list, dashboard and API case list are read far more often than the partner's data changes,
and with 10,000 cases rendering them costs ~40 times a minimal view. Each partner has a *generation* in the
cache: any saved or deleted case, customer, membership, customer answer, user or the partner itself starts a
new one (signals below). A page is stored with the generation it was read under and served only while that
is still the partner's generation, for at most PAGE_SECONDS — the dashboard's "due within the hour" and "this
week" move with the clock, not with the data.

Stored per user, language, time zone and address (scheme, host, path, query string): the header names the
user, and what a role may do changes the page. Never stored or served with a flash message pending, for
anything but a plain 200, or for a page that used a CSP nonce. Every request still goes through the
session, the user and the membership as before: a cached page saves the work after those, never the checks.

Correctness: the generation is read before the page is rendered, and a change starts a new generation both
when it is made (so the writer's next page already misses) and again after its transaction commits (a page
rendered from the old data between the two cannot be served after the commit).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from cases.access import membership_key, require
from cases.models import Case, Customer, CustomerAnswer, Membership, Partner
from cases.permissions import Action
from portal import auth, pagecache

PAGE_SECONDS = 60
UNSEEN_USER_FIELDS = {"last_login"}


def _generation_key(partner_id: int) -> str:
    return f"cases:generation:{partner_id}"


def _new_generation() -> int:
    # Random rather than counted: after the cache is emptied, no copy kept from before can match.
    return secrets.randbits(48)


def generation(partner_id: int, found: dict[str, Any] | None = None) -> int:
    """The partner's current generation (from `found`, a get_many() that asked for it, when given)."""
    key = _generation_key(partner_id)
    value = (found or {}).get(key)
    if value is None:
        cache.add(key, _new_generation(), None)
        value = cache.get(key)
    return value


def changed(*partner_ids: int) -> None:
    """Something of these partners changed: their stored pages are no longer served, now and after commit."""
    ids = {pk for pk in partner_ids if pk is not None}
    if not ids:
        return

    def bump() -> None:
        cache.set_many({_generation_key(pk): _new_generation() for pk in ids}, None)

    bump()
    transaction.on_commit(bump)


def page_key(request: HttpRequest, kind: str) -> str:
    return ":".join(
        [
            "cases:page",
            kind,
            pagecache.build(),
            str(request.user.pk),
            translation.get_language() or "",
            timezone.get_current_timezone_name(),
            pagecache.address(request),
        ]
    )


def _cacheable_request(request: HttpRequest) -> bool:
    return request.method in ("GET", "HEAD") and not len(messages.get_messages(request))


def cached_response(
    request: HttpRequest, kind: str, partner_id: int, respond: Callable[[], HttpResponse]
) -> HttpResponse:
    """The stored response of this kind for this request while the partner's generation holds, else
    respond() (stored for the next request if it can be)."""
    if not _cacheable_request(request):
        return respond()
    key = page_key(request, kind)
    found = cache.get_many([_generation_key(partner_id), key])
    current = generation(partner_id, found)
    entry = found.get(key)
    if entry is not None and entry[0] == current:
        return pagecache.serve(request, entry[1], entry[2])
    response = respond()
    content = pagecache.storable(request, response)
    if content is not None:
        cache.set(key, (current, content, response["Content-Type"]), PAGE_SECONDS)
    return response


def cached_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve a partner page (after @partner_view has found the membership) from the cache while it holds.

    For pages anyone who may view the partner's cases may see: the permission is checked before the cache.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        require(request.membership, Action.VIEW)
        return cached_response(
            request, view.__name__, request.membership.partner_id, lambda: view(request, *args, **kwargs)
        )

    return wrapper


# --- What starts a new generation -----------------------------------------------------------------------


def _partner_of(sender: type, instance: Any) -> list[int]:
    if sender is Partner:
        return [instance.pk]
    if sender in (Membership, Customer, Case):
        return [instance.partner_id]
    if sender is CustomerAnswer:
        return list(Case.objects.filter(pk=instance.case_id).values_list("partner_id", flat=True))
    # A user: the partner whose pages name them (a user belongs to one partner at most).
    return list(Membership.objects.filter(user_id=instance.pk).values_list("partner_id", flat=True))


def _members_of(sender: type, instance: Any) -> list[int]:
    """The users whose cached membership (cases.access.membership_of) a change of instance makes stale."""
    if sender is Partner:
        return list(Membership.objects.filter(partner_id=instance.pk).values_list("user_id", flat=True))
    if sender is Membership:
        return [instance.user_id]
    if sender is get_user_model():
        return [instance.pk]
    return []


def _on_change(sender: type, instance: Any, update_fields: Any = None, **_kwargs: Any) -> None:
    if update_fields is not None and set(update_fields) <= UNSEEN_USER_FIELDS and sender is get_user_model():
        return  # a sign-in (Django records last_login) changes nothing a cached page shows
    changed(*_partner_of(sender, instance))
    if keys := [membership_key(user_id) for user_id in _members_of(sender, instance)]:
        cache.delete_many(keys)
        transaction.on_commit(lambda: cache.delete_many(keys))


def connect() -> None:
    auth.load_with_user(membership_key)
    for model in (Partner, Membership, Customer, Case, CustomerAnswer, get_user_model()):
        uid = f"cases.caching.{model._meta.label_lower}"
        post_save.connect(_on_change, sender=model, dispatch_uid=f"{uid}.save")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"{uid}.delete")
