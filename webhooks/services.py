"""Every write to webhook endpoints and their deliveries. The pages and the API call these and nothing else.

Deliveries are an outbox: written in the transaction of the change they tell of, handed to Celery on commit,
claimed by one conditional UPDATE (so two runs, or a duplicate message, attempt a delivery once), and swept up
again when a message was lost.
"""

from __future__ import annotations

import datetime
import json
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cases.models import Membership, Partner
from cases.permissions import Action, roles_allow
from webhooks import transport
from webhooks.models import DeliveryStatus, DisabledReason, WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

MAX_ENDPOINTS = 10  # per partner: each event is written once per endpoint


class WebhookError(Exception):
    """A request the webhooks refuse; the message is for the user, the code for machines."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _authorize(actor: Membership, partner_id: int) -> None:
    if actor.partner_id != partner_id:
        raise PermissionDenied(_("That belongs to another partner."))
    if not actor.user.is_active or not roles_allow(actor.roles, Action.WEBHOOKS):
        raise PermissionDenied(_("Your role does not allow this."))


def clean_events(events: Iterable[str]) -> list[str]:
    """The events in their canonical order; a ValidationError for none or an unknown one."""
    chosen = list(events)
    unknown = [event for event in chosen if event not in WebhookEvent.values]
    if unknown or not chosen:
        raise ValidationError(
            {"events": [ValidationError(_("Choose one or more of the events listed."), code="invalid")]}
        )
    return [event for event in WebhookEvent.values if event in set(chosen)]


def clean_url(url: str) -> str:
    """The URL as a receiver: https (http only where private hosts are allowed), no credentials, no literal
    private address; a ValidationError otherwise."""
    url = url.strip()
    try:
        transport.check_url(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_HOSTS)
    except transport.Refused:
        raise ValidationError(
            {
                "url": [
                    ValidationError(
                        _("Enter an https:// URL of a public host, without a user name or password."),
                        code="refused",
                    )
                ]
            }
        ) from None
    return url


@transaction.atomic
def endpoint_create(*, actor: Membership, url: str, events: Iterable[str]) -> WebhookEndpoint:
    """Register an endpoint of the actor's partner with a new signing secret (shown once, by the caller)."""
    _authorize(actor, actor.partner_id)
    errors: dict[str, list[ValidationError]] = {}
    cleaned_url = cleaned_events = None
    try:
        cleaned_url = clean_url(url)
    except ValidationError as error:
        errors.update(error.error_dict)
    try:
        cleaned_events = clean_events(events)
    except ValidationError as error:
        errors.update(error.error_dict)
    if errors:
        raise ValidationError(errors)
    # Serialised per partner, so two requests at once cannot both pass the limit.
    list(Partner.objects.select_for_update().filter(pk=actor.partner_id).values_list("pk", flat=True))
    if WebhookEndpoint.objects.filter(partner_id=actor.partner_id).count() >= MAX_ENDPOINTS:
        raise WebhookError(
            ngettext(
                "A partner can register at most %(limit)d endpoint.",
                "A partner can register at most %(limit)d endpoints.",
                MAX_ENDPOINTS,
            )
            % {"limit": MAX_ENDPOINTS},
            code="too_many_endpoints",
        )
    endpoint = WebhookEndpoint(
        partner_id=actor.partner_id,
        url=cleaned_url,
        events=cleaned_events,
        secret="whsec_" + secrets.token_urlsafe(32),
        created_by=actor.user,
    )
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_update(
    *,
    actor: Membership,
    endpoint: WebhookEndpoint,
    active: bool | None = None,
    events: Iterable[str] | None = None,
) -> WebhookEndpoint:
    """Disable or enable an endpoint, or change its events; enabling sends what waited for it."""
    _authorize(actor, endpoint.partner_id)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if events is not None:
        endpoint.events = clean_events(events)
    enabled = active is True and not endpoint.active
    if active is not None:
        endpoint.active = active
        endpoint.disabled_reason = "" if active else DisabledReason.MANUAL
        if active:
            endpoint.failures_in_row = 0
    endpoint.save()
    if enabled:
        waiting = list(
            WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).values_list(
                "pk", flat=True
            )
        )
        transaction.on_commit(lambda: [enqueue_delivery(pk) for pk in waiting])
    return endpoint


@transaction.atomic
def endpoint_delete(*, actor: Membership, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint and its delivery log; nothing more is sent to it."""
    _authorize(actor, endpoint.partner_id)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()


@transaction.atomic
def delivery_redeliver(*, actor: Membership, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (the log's "deliver again"), with the same body and the same Portal-Delivery."""
    _authorize(actor, delivery.endpoint.partner_id)
    delivery = WebhookDelivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
    if delivery.status == DeliveryStatus.SENDING:
        raise WebhookError(_("This delivery is being sent right now."), code="sending")
    if not delivery.endpoint.active:
        raise WebhookError(_("Enable the endpoint first."), code="endpoint_disabled")
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = None
    delivery.claimed_at = None
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "claimed_at", "updated_at"])
    transaction.on_commit(lambda: enqueue_delivery(delivery.pk))
    return delivery


# --- The outbox -------------------------------------------------------------------------------------


def webhook_emit(*, partner_id: int, event: str, data: Callable[[], dict[str, Any]]) -> int:
    """Write one delivery of event to each active endpoint of the partner that chose it, in the caller's
    transaction; data is built only when some endpoint wants it. How many deliveries were written."""
    endpoints = [
        pk
        for pk, events in WebhookEndpoint.objects.filter(partner_id=partner_id, active=True).values_list(
            "pk", "events"
        )
        if event in events
    ]
    if not endpoints:
        return 0
    now = timezone.now()
    payload = {"event": str(event), "occurred_at": _moment(now), "data": data()}
    deliveries = []
    for endpoint_id in endpoints:
        delivery = WebhookDelivery(endpoint_id=endpoint_id, event=event, created_at=now)
        body = {"id": str(delivery.uuid), **payload}
        delivery.body = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
        deliveries.append(delivery)
    WebhookDelivery.objects.bulk_create(deliveries)
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: [enqueue_delivery(pk) for pk in ids])
    return len(deliveries)


def _moment(value: datetime.datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def enqueue_delivery(delivery_id: int | None) -> None:
    """Hand a committed delivery to Celery; if the broker is down the row stays pending for the sweep."""
    from webhooks.tasks import deliver_webhook

    if delivery_id is None:  # a backend that does not return ids from bulk_create: the sweep sends it
        return
    try:
        deliver_webhook.delay(delivery_id)
    except Exception:
        logger.warning(
            "could not queue webhook delivery %s; the sweep will retry", delivery_id, exc_info=True
        )


def _past_lease(now: datetime.datetime) -> Q:
    lease = datetime.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    return Q(status=DeliveryStatus.SENDING, claimed_at__lt=now - lease)


def _due(now: datetime.datetime) -> Q:
    pending = Q(status=DeliveryStatus.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    return (pending | _past_lease(now)) & Q(endpoint__active=True)


def delivery_claim(*, delivery_id: int, now: datetime.datetime | None = None) -> WebhookDelivery | None:
    """Take a due delivery for an attempt, or None if another run has it, it is not due or it is done.

    One conditional UPDATE decides: on PostgreSQL the second of two racing claims re-reads the row after the
    first commits and no longer matches; SQLite runs writes one at a time. Safe to run twice on both.
    """
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(_due(now)).filter(pk=delivery_id).values_list("pk", flat=True)
    claimed = WebhookDelivery.objects.filter(
        Q(pk__in=due), Q(status=DeliveryStatus.PENDING) | _past_lease(now)
    ).update(status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)


def deliveries_due(*, now: datetime.datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of deliveries due for an attempt: a first attempt or retry whose time has come, or one stuck in
    sending past the lease (its worker died)."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(_due(now))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def delivery_mark_delivered(*, delivery: WebhookDelivery, response_code: int) -> None:
    """Record a delivery the receiver took (2xx); the endpoint's run of failures ends."""
    now = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.DELIVERED,
            response_code=response_code,
            last_error="",
            delivered_at=now,
            next_attempt_at=None,
            updated_at=now,
        )
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).exclude(failures_in_row=0).update(
            failures_in_row=0
        )


def delivery_mark_retry(
    *, delivery: WebhookDelivery, error: str, response_code: int | None, delay: float
) -> datetime.datetime:
    """Put a failed attempt back in the queue for another after delay seconds."""
    now = timezone.now()
    due = now + datetime.timedelta(seconds=delay)
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.PENDING,
        last_error=error[:2000],
        response_code=response_code,
        next_attempt_at=due,
        updated_at=now,
    )
    return due


@transaction.atomic
def delivery_mark_failed(*, delivery: WebhookDelivery, error: str, response_code: int | None) -> bool:
    """Give up on a delivery after its last attempt; WEBHOOK_DISABLE_AFTER_FAILURES of them in a row disable
    the endpoint, and its partner's Global admins are told. Whether the endpoint was disabled now."""
    now = timezone.now()
    updated = WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.FAILED,
        last_error=error[:2000],
        response_code=response_code,
        next_attempt_at=None,
        updated_at=now,
    )
    if not updated:
        return False
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    endpoint.failures_in_row += 1
    disable = endpoint.active and endpoint.failures_in_row >= settings.WEBHOOK_DISABLE_AFTER_FAILURES
    if disable:
        endpoint.active = False
        endpoint.disabled_reason = DisabledReason.FAILING
    endpoint.save(update_fields=["failures_in_row", "active", "disabled_reason", "updated_at"])
    if disable:
        from webhooks.tasks import tell_admins_disabled

        transaction.on_commit(lambda: _tell(tell_admins_disabled, endpoint.pk))
    return disable


def _tell(task: Any, endpoint_id: int) -> None:
    try:
        task.delay(endpoint_id)
    except Exception:
        logger.warning("could not queue the notice of endpoint %s being disabled", endpoint_id, exc_info=True)


def admins_of(partner_id: int) -> list[Any]:
    """The active users of the partner who manage its webhooks."""
    return [
        membership.user
        for membership in Membership.objects.filter(partner_id=partner_id, user__is_active=True)
        .select_related("user")
        .order_by("user__email")
        if roles_allow(membership.roles, Action.WEBHOOKS)
    ]


def deliveries_prune(*, now: datetime.datetime | None = None) -> int:
    """Delete delivered and failed deliveries older than WEBHOOK_LOG_DAYS; how many went."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.WEBHOOK_LOG_DAYS)
    done = WebhookDelivery.objects.filter(
        status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED], created_at__lt=cutoff
    )
    deleted, _by_model = done.delete()
    return deleted
