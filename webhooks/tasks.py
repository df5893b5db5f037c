"""Celery tasks of the webhooks: attempt one delivery (safe to run twice), sweep up what is due, and tell a
partner's admins that an endpoint was disabled.

On a real worker a retry is a task published with a countdown, and beat runs the sweep; on the embedded
default (eager tasks, no beat) the web process runs the sweep on a timer of its own (webhooks.embedded).
"""

from __future__ import annotations

import json
import logging
import random
import time

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from webhooks import services, transport
from webhooks.models import WebhookEndpoint

logger = logging.getLogger(__name__)


def backoff(attempt: int) -> float:
    """Seconds before the next attempt: exponential in the attempts made, jittered in its upper half (the
    first retry comes within WEBHOOK_RETRY_BASE_SECONDS)."""
    ceiling = min(
        settings.WEBHOOK_RETRY_MAX_SECONDS, settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not cryptography


def _attempt(delivery) -> tuple[int | None, str]:
    """POST the delivery once: (response code or None, error or "" when the receiver took it)."""
    body = delivery.body.encode()
    headers = {
        "Portal-Event": delivery.event,
        "Portal-Delivery": str(delivery.uuid),
        "Portal-Signature": transport.signature(delivery.endpoint.secret, int(time.time()), body),
    }
    try:
        answer = transport.post(
            delivery.endpoint.url,
            body,
            headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE_HOSTS,
        )
    except transport.Refused as error:
        return None, f"refused: {error}"
    except Exception as error:  # the network's many ways to fail: all of them retried
        return None, f"{type(error).__name__}: {error}"[:2000]
    if 200 <= answer.status < 300:
        return answer.status, ""
    return answer.status, f"HTTP {answer.status}: {answer.text[:500]}"


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> str:
    """Attempt one delivery if it is due; returns what happened (for logs and tests)."""
    delivery = services.delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return "skipped"
    code, error = _attempt(delivery)
    if not error:
        services.delivery_mark_delivered(delivery=delivery, response_code=code)
        return "delivered"
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        logger.warning("webhook delivery %s failed for good: %s", delivery.pk, error)
        services.delivery_mark_failed(delivery=delivery, error=error, response_code=code)
        return "failed"
    delay = backoff(delivery.attempts)
    services.delivery_mark_retry(delivery=delivery, error=error, response_code=code, delay=delay)
    logger.info("webhook delivery %s: %s; retrying in %.0f s", delivery.pk, error, delay)
    if deliver_webhook.app.conf.task_always_eager:
        from webhooks import embedded

        embedded.ensure_running()  # no worker to hold a countdown: the in-process sweep retries it
    else:
        deliver_webhook.apply_async((delivery.pk,), countdown=delay)
    return "retry"


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    """Queue every delivery that is due (a retry whose time came, a lost message, a dead worker's)."""
    due = services.deliveries_due()
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    if due:
        logger.info("webhook sweep queued %d deliveries", len(due))
    return len(due)


@shared_task(ignore_result=True)
def prune_deliveries() -> int:
    """Keep the delivery logs to WEBHOOK_LOG_DAYS (pending ones stay whatever their age)."""
    return services.deliveries_prune()


@shared_task(acks_late=True, ignore_result=True)
def tell_admins_disabled(endpoint_id: int) -> int:
    """E-mail each Global admin of the endpoint's partner, in their language, that it was disabled."""
    endpoint = WebhookEndpoint.objects.select_related("partner").filter(pk=endpoint_id).first()
    if endpoint is None or endpoint.active:
        return 0
    admins = services.admins_of(endpoint.partner_id)
    for user in admins:
        language = user.language or settings.LANGUAGE_CODE
        with translation.override(language):
            context = {
                "endpoint": endpoint,
                "partner": endpoint.partner,
                "user": user,
                "failures": endpoint.failures_in_row,
                "link": f"{settings.PORTAL_BASE_URL}{reverse('webhooks:detail', args=[endpoint.pk])}",
            }
            subject = " ".join(render_to_string("webhooks/emails/disabled_subject.txt", context).split())
            body = render_to_string("webhooks/emails/disabled.txt", context)
        send_mail(subject, body, None, [user.email])
    return len(admins)


def body_of(delivery) -> dict:
    """The delivery's JSON body, read back (for the log page)."""
    try:
        return json.loads(delivery.body)
    except ValueError:
        return {}
