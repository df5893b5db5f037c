"""Celery tasks for the outbox: send what is due (exactly once), and sweep up what a lost message left; and
the poller of the replies' IMAP mailbox.

Tasks take ids, re-read the row and call services, so running one twice (a duplicate message, a
redelivery after a worker died) sends nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
import random
import smtplib
import socket
import uuid

from celery import shared_task
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.core.cache import cache
from django.core.mail import get_connection
from django.db import close_old_connections

from cases import inbound, services
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


def _task_boundary(sender=None, **_kwargs: object) -> None:
    """Before and after each task, what Django does around each request: drop the database connection only
    when it is broken, too old (DATABASE_CONN_MAX_AGE) or left in a transaction (see CELERY_DB_REUSE_MAX)."""
    request = getattr(sender, "request", None)
    if not getattr(request, "is_eager", False):
        close_old_connections()


task_prerun.connect(_task_boundary, weak=False, dispatch_uid="cases.task_prerun_connections")
task_postrun.connect(_task_boundary, weak=False, dispatch_uid="cases.task_postrun_connections")


# --- Sending ----------------------------------------------------------------------------------------

# A burst of resolutions (a partner closing a batch of disputes) goes out in batches: each deliver_outbox run
# claims DRAIN_BATCH due notifications at a time and sends them over one SMTP connection. Several runs may
# work side by side (each claim skips rows another holds); a new run is asked for only when none is waiting.
# A run that meets a transient error (the mail server is away) puts the rest of its batch back and stops: the
# failed one is retried after its backoff, the rest by the next run or the sweep.
DRAIN_BATCH = 20
KICK_KEY = "cases:outbox:kick"
KICK_SECONDS = 60  # if a run asked for is lost, the next request after this (or the sweep) asks again


def request_delivery() -> None:
    """Make sure a deliver_outbox run is coming: publish one unless one is already waiting to start.

    The mark lives in the cache; when the cache cannot be reached (add() answers None) a run is published
    anyway: a run too many sends nothing twice.
    """
    if cache.add(KICK_KEY, 1, KICK_SECONDS) is False:
        return  # a run is queued and has not started: it will see the new row
    try:
        deliver_outbox.delay()
    except BaseException:
        cache.delete(KICK_KEY)  # nothing is coming after all: let the next request try again
        raise


def _close(connection) -> None:
    with contextlib.suppress(Exception):  # it is being thrown away either way
        connection.close()


def _send(notification, connection) -> str:
    """Send one claimed notification over connection (opened here if it is not); what happened.

    On any error the connection is closed, so the next message starts on a fresh one.
    """
    message = build_notification_email(notification)
    try:
        connection.open()
        connection.send_messages([message])
    except Exception as error:  # classified below; nothing escapes to Celery's own retry
        _close(connection)
        description = _describe(error)
        if classify(error) == PERMANENT or notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            logger.warning("notification %s failed for good: %s", notification.pk, description)
            services.notification_mark_failed(notification=notification, error=description)
            return "failed"
        delay = backoff(notification.attempts)
        services.notification_mark_retry(notification=notification, error=description, delay=delay)
        logger.info("notification %s: %s; retrying in %.0f s", notification.pk, description, delay)
        if not send_notification.app.conf.task_always_eager:
            send_notification.apply_async((notification.pk,), countdown=delay)
        return "retry"
    # The one window exactly-once cannot close: the server took the mail and this process dies right here.
    # The Message-ID is stable across attempts, so the receiving side can drop the duplicate
    # (docs/close-the-loop.md).
    services.notification_mark_sent(notification=notification, message_id=message_id_for(notification))
    return "sent"


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_notification(notification_id: int) -> str:
    """Send one notification if it is still owed; returns what happened (for logs and tests)."""
    notification = services.notification_claim(notification_id=notification_id)
    if notification is None:
        return "skipped"
    connection = get_connection(timeout=settings.EMAIL_TIMEOUT)
    try:
        return _send(notification, connection)
    finally:
        _close(connection)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_outbox() -> int:
    """Send every notification that is due, DRAIN_BATCH at a time over one connection; how many were sent."""
    cache.delete(KICK_KEY)  # from now on, a new notification asks for another run
    sent = 0
    connection = get_connection(timeout=settings.EMAIL_TIMEOUT)
    try:
        while batch := services.notifications_claim_due(limit=DRAIN_BATCH):
            for index, notification in enumerate(batch):
                outcome = _send(notification, connection)
                sent += outcome == "sent"
                if outcome == "retry":
                    services.notifications_release(batch[index + 1 :])
                    return sent
    finally:
        _close(connection)
    return sent


@shared_task(ignore_result=True)
def sweep_notifications() -> int:
    """Re-queue notifications left pending or stuck in sending; safe to run alongside itself."""
    due = services.notifications_due()
    for notification_id in due:
        send_notification.delay(notification_id)
    if due:
        logger.info("sweep re-queued %d notification(s)", len(due))
    return len(due)


# --- Replies by IMAP --------------------------------------------------------------------------------

POLL_LOCK_KEY = "cases:inbound:imap-poll"


@shared_task(ignore_result=True)
def poll_inbound_mailbox() -> dict[str, int] | None:
    """Receive what waits in INBOUND_IMAP_URL's mailbox (a bounded batch); None when there is no mailbox or
    another poll holds the lock.

    The lock (SET NX with an expiry past the task's time limit) keeps two beats from reading the same
    messages at once; when the cache cannot be reached the poll runs anyway, since a message received twice is
    one entry. Any error is logged and the run ends: the messages not yet moved wait for the next poll.
    """
    if not settings.INBOUND_IMAP_URL:
        return None
    token = uuid.uuid4().hex
    if cache.add(POLL_LOCK_KEY, token, settings.CELERY_TASK_TIME_LIMIT + 60) is False:
        logger.info("imap poll skipped: another poll is running")
        return None
    try:
        counts = inbound.poll_imap(
            url=settings.INBOUND_IMAP_URL,
            done_folder=settings.INBOUND_IMAP_DONE_FOLDER,
            limit=settings.INBOUND_IMAP_BATCH,
            timeout=settings.INBOUND_IMAP_TIMEOUT,
        )
    except Exception as error:  # the mailbox or the database away: logged, retried by the next beat
        logger.warning("imap poll failed: %s", _describe(error), exc_info=True)
        return None
    finally:
        with contextlib.suppress(Exception):  # an unreachable cache: the lock expires by itself
            if cache.get(POLL_LOCK_KEY) == token:
                cache.delete(POLL_LOCK_KEY)
    if any(counts.values()):
        logger.info("imap poll: %s", ", ".join(f"{n} {what}" for what, n in counts.items() if n))
    return counts


# --- Service levels -----------------------------------------------------------------------------------


@shared_task(ignore_result=True)
def check_service_levels() -> int:
    """Warn of the service-level targets at 75 % and at breach (a beat task); how many notices were written.
    Each case is checked in its own locked transaction, so two runs side by side tell nothing twice."""
    written = 0
    for case_id in services.service_checks_due():
        written += len(services.case_check_service_levels(case_id=case_id))
    if written:
        logger.info("service levels: %d warning(s) written", written)
    return written


@shared_task(ignore_result=True)
def refresh_partner_due_times(partner_id: int) -> int:
    """Recompute a partner's open cases' due times after its calendar or targets changed."""
    from cases.models import Partner
    from cases.servicelevels import partner_refresh_due_times

    partner = Partner.objects.filter(pk=partner_id).first()
    return partner_refresh_due_times(partner=partner) if partner is not None else 0
