"""Celery tasks for the outbox: send one notification (exactly once), and sweep up what a lost message left.

Tasks take ids, re-read the row and call services, so running one twice (a duplicate message, a
redelivery after a worker died) sends nothing twice.
"""

from __future__ import annotations

import logging
import random
import smtplib
import socket

from celery import shared_task
from django.conf import settings
from django.core.mail import get_connection

from cases import services
from cases.emails import build_notification_email, message_id_for

logger = logging.getLogger(__name__)

TRANSIENT = "transient"
PERMANENT = "permanent"


def classify(error: BaseException) -> str:
    """Whether an error sending mail may go away (retry) or will not (fail now)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in error.recipients.values()]
        return TRANSIENT if codes and all(400 <= code < 500 for code in codes) else PERMANENT
    if isinstance(error, smtplib.SMTPResponseException):
        return TRANSIENT if 400 <= error.smtp_code < 500 else PERMANENT
    if isinstance(error, smtplib.SMTPServerDisconnected | ConnectionError | TimeoutError | socket.timeout):
        return TRANSIENT
    if isinstance(error, smtplib.SMTPNotSupportedError | UnicodeError | ValueError):
        return PERMANENT  # an invalid address or a message the server will never take
    if isinstance(error, OSError):
        return TRANSIENT  # network trouble: unreachable host, DNS, reset
    return TRANSIENT


def backoff(attempt: int) -> float:
    """Seconds before the next attempt: exponential in the attempts made, jittered in its upper half."""
    ceiling = min(
        settings.NOTIFICATION_RETRY_MAX_SECONDS, settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not cryptography


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_notification(notification_id: int) -> str:
    """Send one notification if it is still owed; returns what happened (for logs and tests)."""
    notification = services.notification_claim(notification_id=notification_id)
    if notification is None:
        return "skipped"
    message = build_notification_email(notification)
    try:
        with get_connection(timeout=settings.EMAIL_TIMEOUT) as connection:
            connection.send_messages([message])
    except Exception as error:  # classified below; nothing escapes to Celery's own retry
        description = _describe(error)
        if classify(error) == PERMANENT or notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            logger.warning("notification %s failed for good: %s", notification_id, description)
            services.notification_mark_failed(notification=notification, error=description)
            return "failed"
        delay = backoff(notification.attempts)
        services.notification_mark_retry(notification=notification, error=description, delay=delay)
        logger.info("notification %s: %s; retrying in %.0f s", notification_id, description, delay)
        if not send_notification.app.conf.task_always_eager:
            send_notification.apply_async((notification_id,), countdown=delay)
        return "retry"
    # The one window exactly-once cannot close: the server took the mail and this process dies right here.
    # The Message-ID is stable across attempts, so the receiving side can drop the duplicate (see README).
    services.notification_mark_sent(notification=notification, message_id=message_id_for(notification))
    return "sent"


@shared_task(ignore_result=True)
def sweep_notifications() -> int:
    """Re-queue notifications left pending or stuck in sending; safe to run alongside itself."""
    due = services.notifications_due()
    for notification_id in due:
        send_notification.delay(notification_id)
    if due:
        logger.info("sweep re-queued %d notification(s)", len(due))
    return len(due)
