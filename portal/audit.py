"""The audit trail: `record()` writes an AuditEvent in the transaction of the change it describes, chained to
the partner's previous event by hash; `verify()` walks the chains and says where one was edited or cut.

Each chain (one per partner, one for events of no partner) has a head row (AuditChain) holding the hash and
number of its newest event. A new event locks the head, so events of one partner are written one after the
other, and its hash covers its fields and the previous event's hash: changing any stored field, removing an
event in the middle or removing the newest ones breaks the chain where it happened. Pruning past the
retention (`AUDIT_RETENTION_DAYS`) removes a chain's oldest events and says so on the head (`pruned_to`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from portal.models import AuditAction, AuditChain, AuditEvent

# The request being served (set by AuditContextMiddleware), for events recorded by the service layer, which
# does not see it; its address and user agent are read only when an event is recorded.
_request_context: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


class AuditContextMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        token = _request_context.set(request)
        try:
            return self.get_response(request)
        finally:
            _request_context.reset(token)


def _describe(request: HttpRequest | None) -> tuple[str | None, str]:
    if request is None:
        return None, ""
    from axes.helpers import get_client_ip_address

    address = get_client_ip_address(request) or request.META.get("REMOTE_ADDR") or None
    return address, request.META.get("HTTP_USER_AGENT", "")[:300]


def _chain_key(partner_id: int | None) -> str:
    return f"partner:{partner_id}" if partner_id else "portal"


def _digest(event: AuditEvent) -> str:
    fields = {
        "partner": event.partner_id,
        "sequence": event.sequence,
        "created_at": event.created_at.isoformat(),
        "actor": event.actor_email,
        "address": event.address,
        "user_agent": event.user_agent,
        "action": event.action,
        "object": [event.object_type, event.object_id, event.object_repr],
        "before": event.before,
        "after": event.after,
        "previous": event.previous_hash,
    }
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(
    action: AuditAction | str,
    *,
    actor=None,
    partner=None,
    obj: Any = None,
    before: dict | None = None,
    after: dict | None = None,
    request: HttpRequest | None = None,
    actor_email: str = "",
) -> AuditEvent:
    """Append an event to its partner's chain, in the caller's transaction (an event is never written for a
    change that rolls back). The partner defaults to the actor's; the address comes from the request."""
    if partner is None and actor is not None:
        membership = getattr(actor, "membership", None)
        partner = membership.partner if membership is not None else None
    address, user_agent = _describe(request if request is not None else _request_context.get())
    with transaction.atomic():
        head, _created = AuditChain.objects.get_or_create(key=_chain_key(getattr(partner, "pk", None)))
        head = AuditChain.objects.select_for_update().get(pk=head.pk)
        event = AuditEvent(
            partner=partner,
            created_at=timezone.now(),
            actor=actor if getattr(actor, "pk", None) else None,
            actor_email=(actor.email if actor is not None else actor_email)[:254],
            address=address,
            user_agent=user_agent,
            action=str(action),
            object_type=type(obj).__name__ if obj is not None else "",
            object_id=str(getattr(obj, "pk", "") or "")[:64],
            object_repr=str(obj)[:200] if obj is not None else "",
            before=before,
            after=after,
            sequence=head.count + 1,
            previous_hash=head.last_hash,
        )
        event.hash = _digest(event)
        event.save()
        head.last_hash, head.count = event.hash, event.sequence
        head.save(update_fields=["last_hash", "count"])
    return event


@dataclass(frozen=True)
class Break:
    chain: str
    sequence: int
    reason: str

    def __str__(self) -> str:
        return f"{self.chain}: event {self.sequence}: {self.reason}"


def verify() -> list[Break]:
    """Every place a chain does not hold: an event whose fields no longer give its hash (edited), one whose
    previous hash is not its predecessor's (an event before it removed), a head that is not the newest event
    (the newest removed)."""
    breaks: list[Break] = []
    heads = {head.key: head for head in AuditChain.objects.all()}
    events_by_chain: dict[str, list[AuditEvent]] = {}
    for event in AuditEvent.objects.order_by("partner_id", "sequence").iterator(chunk_size=2000):
        events_by_chain.setdefault(_chain_key(event.partner_id), []).append(event)
    for key in sorted(set(heads) | set(events_by_chain)):
        events = events_by_chain.get(key, [])
        head = heads.get(key)
        expected_previous = head.pruned_hash if head is not None else ""
        expected_sequence = (head.pruned_to + 1) if head is not None else 1
        for event in events:
            if event.sequence != expected_sequence or event.previous_hash != expected_previous:
                missing = event.sequence - expected_sequence
                breaks.append(
                    Break(key, event.sequence, f"{max(missing, 1)} event(s) before it are missing or changed")
                )
            if _digest(event) != event.hash:
                breaks.append(Break(key, event.sequence, "its stored fields were changed"))
            expected_previous, expected_sequence = event.hash, event.sequence + 1
        if head is not None and (head.count != expected_sequence - 1 or head.last_hash != expected_previous):
            breaks.append(Break(key, head.count, "the newest event(s) are missing"))
    return breaks


def prune(now: datetime.datetime | None = None) -> int:
    """Remove events older than AUDIT_RETENTION_DAYS, oldest first per chain, noting on each head where its
    chain now starts. Returns how many were removed."""
    days = settings.AUDIT_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    removed = 0
    for head in AuditChain.objects.all():
        with transaction.atomic():
            head = AuditChain.objects.select_for_update().get(pk=head.pk)
            partner_id = None if head.key == "portal" else int(head.key.split(":", 1)[1])
            chain = AuditEvent.objects.filter(partner_id=partner_id)
            last_old = chain.filter(created_at__lt=cutoff).order_by("-sequence").first()
            if last_old is None:
                continue
            count, _detail = chain.filter(sequence__lte=last_old.sequence).delete()
            head.pruned_to, head.pruned_hash = last_old.sequence, last_old.hash
            head.save(update_fields=["pruned_to", "pruned_hash"])
            removed += count
    return removed


# --- What signals tell ---------------------------------------------------------------------------------


@receiver(user_logged_in, dispatch_uid="portal.audit.sign_in")
def _signed_in(sender, request, user, **kwargs) -> None:
    from portal import mfa

    owed = mfa.has_factor(user)
    record(AuditAction.SIGN_IN, actor=user, obj=user, request=request, after={"code_owed": owed})


@receiver(user_login_failed, dispatch_uid="portal.audit.sign_in_failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    """A wrong password (or, from the code step, a wrong code), on the chain of the account's partner when
    the address is an account's, so its admins see attempts on their people."""
    email, partner = _address_and_partner(credentials.get(settings.AXES_USERNAME_FORM_FIELD))
    step = "code" if sender == "portal.mfa_views" else "password"
    record(
        AuditAction.SIGN_IN_FAILED,
        partner=partner,
        actor_email=email,
        request=request,
        after={"step": step},
    )


@receiver(user_locked_out, dispatch_uid="portal.audit.locked_out")
def _locked_out(sender, request, username, ip_address, **kwargs) -> None:
    email, partner = _address_and_partner(username)
    record(AuditAction.LOCKED_OUT, partner=partner, actor_email=email, request=request)


def _address_and_partner(typed: object):
    """The address as sign-in matches it, and the partner of the account that has it (None if none)."""
    from portal.models import User, normalize_email

    email = normalize_email(str(typed or ""))[:254]
    user = User.objects.select_related("membership__partner").filter(email=email).first() if email else None
    membership = getattr(user, "membership", None) if user is not None else None
    return email, membership.partner if membership is not None else None
