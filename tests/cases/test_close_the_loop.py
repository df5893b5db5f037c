"""Close the loop: the outbox row written with a resolution, the e-mail sent exactly once, the customer's answer.

Everything runs against the real PostgreSQL, Redis and a real SMTP server (aiosmtpd on 127.0.0.1); the Celery
task bodies are called in-process, and what they hand to the broker is read back from Redis.
"""

from __future__ import annotations

import datetime
import html
import re
import smtplib
import socket
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from babel.numbers import format_currency
from django.core import signing
from django.core.cache import cache
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from cases import services
from cases.emails import build_notification_email, message_id_for
from cases.models import (
    Answer,
    Case,
    CustomerAnswer,
    EventKind,
    Notification,
    NotificationKind,
    NotificationStatus,
    Status,
)
from cases.tasks import (
    PERMANENT,
    TRANSIENT,
    backoff,
    classify,
    deliver_outbox,
    send_notification,
    sweep_notifications,
)
from cases.tokens import answer_link, make_token, read_token
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

LANGUAGES = ["en", "zh-hant", "zh-hans", "ja", "ru"]
BABEL_LOCALES = {"en": "en", "zh-hant": "zh_Hant", "zh-hans": "zh_Hans", "ja": "ja", "ru": "ru"}
SUMMARY = "Microsoft confirmed that 30 seats were active for all of October, so the charge stands."
CUSTOMER_EMAIL = "billing@tailspintoys.example"
SEND_TASK = "cases.tasks.send_notification"


# --- A real SMTP server, a real broker queue, eager Celery ----------------------------------------


@dataclass
class Delivery:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class SmtpSink:
    """An aiosmtpd handler that records what it accepts and answers a chosen SMTP code when told to."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.refusals: dict[str, tuple[str, str | None]] = {}
        self.greetings = 0  # EHLOs: one per connection Django's SMTP backend opens
        self.port = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.greetings += 1
        session.host_name = hostname
        return responses

    def refuse(self, stage: str, reply: str, *, only: str | None = None) -> None:
        """Answer reply (e.g. "451 4.3.0 Try again later") at RCPT or DATA, for one address or all."""
        self.refusals[stage] = (reply, only)

    def accept_all(self) -> None:
        self.refusals.clear()

    def _refusal(self, stage: str, addresses: list[str]) -> str | None:
        reply, only = self.refusals.get(stage, (None, None))
        if reply and (only is None or only in addresses):
            return reply
        return None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self._refusal("RCPT", [address])
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self._refusal("DATA", list(envelope.rcpt_tos))
        if reply:
            return reply
        self.deliveries.append(
            Delivery(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                message=BytesParser(policy=policy.default).parsebytes(envelope.original_content),
            )
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if address in delivery.rcpt_tos]


def _point_django_at(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp(settings) -> Iterator[SmtpSink]:
    """A real SMTP server on a free port of 127.0.0.1, with Django's SMTP backend pointed at it."""
    sink = SmtpSink()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    _point_django_at(settings, sink.port)
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def no_smtp(settings) -> int:
    """Django's SMTP backend pointed at a port of 127.0.0.1 where nothing listens."""
    port = free_port()
    _point_django_at(settings, port)
    return port


@dataclass
class Queued:
    """A task message found on the broker."""

    task: str
    args: tuple
    eta: datetime.datetime | None


class Broker:
    """The Celery queue in the suite's Redis database, read back with kombu."""

    def __init__(self) -> None:
        from portal.celery import app

        self.app = app

    def drain(self) -> list[Queued]:
        queued = []
        with (
            self.app.connection_for_read() as conn,
            conn.SimpleQueue(self.app.conf.task_default_queue, accept=["json"]) as queue,
        ):
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                args, _kwargs, _embed = message.decode()
                eta = message.headers.get("eta")
                queued.append(
                    Queued(
                        task=message.headers["task"],
                        args=tuple(args),
                        eta=datetime.datetime.fromisoformat(eta) if eta else None,
                    )
                )
                message.ack()
        return queued


@pytest.fixture
def broker() -> Iterator[Broker]:
    """The real broker queue, emptied before and after the test."""
    queue = Broker()
    queue.drain()
    yield queue
    queue.drain()


@pytest.fixture
def eager(eager_tasks) -> None:
    """Run Celery tasks in-process, so on-commit callbacks send their e-mail instead of publishing it."""
    assert send_notification.app.conf.task_always_eager is True


# --- Helpers ---------------------------------------------------------------------------------------


def handoffs(callbacks: list) -> list:
    """The on-commit callbacks that hand a notification to Celery (the only ones the services register)."""
    return list(callbacks)


def resolve(case: Case, starter, resolver, **overrides) -> Case:
    """Start the case (the starter becomes its assignee) unless already in progress, then resolve it."""
    case.refresh_from_db()
    if case.status == Status.NEW:
        case = services.case_start(case=case, actor=starter)
    fields = {"resolution_summary": SUMMARY, "outcome": "upheld"}
    fields.update(overrides)
    return services.case_resolve(case=case, actor=resolver, **fields)


def resolution(case: Case, round: int | None = None) -> Notification:
    case.refresh_from_db()
    return Notification.objects.get(
        case=case, kind=NotificationKind.RESOLUTION, round=case.resolution_round if round is None else round
    )


def translated(language: str, message: str) -> str:
    with translation.override(language):
        return gettext(message)


def answer_path(notification: Notification) -> str:
    return urlsplit(answer_link(notification)).path


def page(response) -> str:
    return html.unescape(response.content.decode())


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.walk() if not part.is_multipart()}


def shift_signing_clock(monkeypatch, seconds: float) -> None:
    """Make django.core.signing see a clock seconds ahead (only the signer; the rest of the process is untouched)."""
    real = time.time
    monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=lambda: real() + seconds))


def snapshot(case: Case) -> dict:
    case.refresh_from_db()
    return {
        "status": case.status,
        "loop_closed_at": case.loop_closed_at,
        "closed_at": case.closed_at,
        "answers": CustomerAnswer.objects.filter(case=case).count(),
        "events": case.events.count(),
        "notifications": case.notifications.count(),
    }


# --- 1. The e-mail, in the customer's language ---------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_resolution_email_is_in_the_customers_language(
    language, settings, contoso, customer, case, helpdesk_agent, billing_admin
) -> None:
    """The resolution e-mail carries the case, the greeting, summary, locale-formatted outcome and partner contact."""
    customer.preferred_language = language
    customer.save()
    case = resolve(case, helpdesk_agent, billing_admin)
    notification = resolution(case)
    assert notification.language == language

    message = build_notification_email(notification)
    amount = format_currency(Decimal("412.50"), "USD", locale=BABEL_LOCALES[language])
    text = message.body
    (html_body, mimetype), *others = message.alternatives
    assert (mimetype, others) == ("text/html", [])

    assert case.number in message.subject
    assert message.to == [CUSTOMER_EMAIL]
    assert message.reply_to == [contoso.support_contact_email]
    greeting = translated(language, "Dear %(name)s,") % {"name": customer.billing_contact_name}
    outcome = translated(
        language, "Outcome: the charge of %(disputed)s is correct and stays as invoiced."
    ) % {"disputed": amount}
    for body in (text, html.unescape(html_body)):
        assert greeting in body
        assert SUMMARY in body
        assert amount in body
        assert outcome in body
        assert contoso.name in body
        assert contoso.support_contact_name in body
        assert contoso.support_contact_email in body
        assert contoso.support_contact_phone in body
    assert f'<html lang="{language}">' in html_body

    mime = message.message()
    assert mime.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mime.get_payload()] == ["text/plain", "text/html"]
    assert mime["Message-ID"] == message_id_for(notification)
    assert mime["Content-Language"] == language
    assert build_notification_email(notification).message()["Message-ID"] == mime["Message-ID"]

    links = re.findall(re.escape(settings.PORTAL_BASE_URL) + r"/\S+/answer/[^/\s\"]+/", text)
    assert len(links) == 1
    assert links[0].startswith(f"{settings.PORTAL_BASE_URL}/{language}/answer/")
    assert f'href="{links[0]}"' in html_body
    assert read_token(links[0].rstrip("/").rsplit("/", 1)[1]) == {"n": notification.pk, "r": 1}


def test_russian_amount_is_formatted_the_russian_way(customer, case, helpdesk_agent, billing_admin) -> None:
    """A Russian customer reads 412,50 $ (comma decimals, symbol after a no-break space), not $412.50."""
    customer.preferred_language = "ru"
    customer.save()
    case = resolve(case, helpdesk_agent, billing_admin)
    message = build_notification_email(resolution(case))
    assert "412,50\xa0$" in message.body
    assert "$412.50" not in message.body


def test_credit_outcome_shows_the_credit_in_the_customers_locale(
    customer, case, helpdesk_agent, billing_admin
) -> None:
    """A granted credit is stated with the credit amount, formatted for the customer's locale."""
    case = resolve(case, helpdesk_agent, billing_admin, outcome="credit", credit_amount=Decimal("82.50"))
    message = build_notification_email(resolution(case))
    credit = format_currency(Decimal("82.50"), "USD", locale="ja")
    assert (
        translated("ja", "Outcome: a credit of %(credit)s has been granted.") % {"credit": credit}
        in message.body
    )
    assert format_currency(Decimal("412.50"), "USD", locale="ja") not in message.body


@pytest.mark.parametrize("language", ["zh-hant", "zh-hans", "ja", "ru"])
def test_resolution_email_text_is_translated(language, customer, case, helpdesk_agent, billing_admin) -> None:
    """A customer who prefers another language than English gets no English sentences in the e-mail."""
    customer.preferred_language = language
    customer.save()
    case = resolve(case, helpdesk_agent, billing_admin)
    message = build_notification_email(resolution(case))
    english = [
        f"Resolved: {case.title} (case {case.number})",
        f"Dear {customer.billing_contact_name},",
        "What we found",
        "Is your problem solved? Please tell us with one click:",
    ]
    rendered = "\n".join([message.subject, message.body, html.unescape(message.alternatives[0][0])])
    assert [sentence for sentence in english if sentence in rendered] == []


# --- 2. The outbox row is written with the resolution ------------------------------------------------


def test_resolving_writes_one_pending_notification_and_queues_it_on_commit(
    django_capture_on_commit_callbacks, customer, case, helpdesk_agent, billing_admin
) -> None:
    """One pending resolution row per round, handed to Celery only once the transaction commits."""
    with django_capture_on_commit_callbacks() as callbacks:
        case = resolve(case, helpdesk_agent, billing_admin)
    assert len(handoffs(callbacks)) == 1
    rows = list(Notification.objects.filter(case=case))
    assert len(rows) == 1
    row = rows[0]
    assert (row.kind, row.round, row.recipient, row.language, row.status, row.attempts) == (
        NotificationKind.RESOLUTION,
        1,
        CUSTOMER_EMAIL,
        "ja",
        NotificationStatus.PENDING,
        0,
    )


def test_rolled_back_resolution_leaves_no_notification_and_queues_nothing(
    django_capture_on_commit_callbacks, case, helpdesk_agent, billing_admin
) -> None:
    """A resolution whose transaction rolls back owes the customer nothing and hands nothing to Celery."""
    case = services.case_start(case=case, actor=helpdesk_agent)

    class Abort(Exception):
        pass

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(Abort), transaction.atomic():
        services.case_resolve(case=case, actor=billing_admin, resolution_summary=SUMMARY, outcome="upheld")
        assert Notification.objects.filter(case=case).count() == 1
        raise Abort
    assert callbacks == []
    assert not Notification.objects.filter(case=case).exists()
    case.refresh_from_db()
    assert (case.status, case.resolution_round) == (Status.IN_PROGRESS, 0)


def test_reopening_and_resolving_again_starts_round_two(case, helpdesk_agent, billing_admin) -> None:
    """Each resolution is a new round with its own notification; the first one is left as it was."""
    case = resolve(case, helpdesk_agent, billing_admin)
    case = services.case_reopen(case=case, actor=billing_admin, reason="The customer found another seat.")
    case = resolve(case, helpdesk_agent, billing_admin)
    rows = Notification.objects.filter(case=case).order_by("round")
    assert [(n.kind, n.round, n.status) for n in rows] == [
        (NotificationKind.RESOLUTION, 1, NotificationStatus.PENDING),
        (NotificationKind.RESOLUTION, 2, NotificationStatus.PENDING),
    ]


def test_committed_resolution_sends_the_email_exactly_once(
    django_capture_on_commit_callbacks, eager, smtp, case, helpdesk_agent, billing_admin
) -> None:
    """Once the resolution commits, the queued task delivers the e-mail; running it again delivers nothing more."""
    with django_capture_on_commit_callbacks(execute=True):
        case = resolve(case, helpdesk_agent, billing_admin)
    notification = resolution(case)
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert len(smtp.deliveries) == 1
    assert send_notification.run(notification.pk) == "skipped"
    assert len(smtp.deliveries) == 1


# --- 3. Claiming -------------------------------------------------------------------------------------


@pytest.fixture
def notification(case, helpdesk_agent, billing_admin) -> Notification:
    """The pending resolution notification of the case, resolved by a billing admin after the helpdesk started it."""
    return resolution(resolve(case, helpdesk_agent, billing_admin))


def test_a_notification_is_claimed_once(notification, settings) -> None:
    """The first claim takes the row for sending; a second claim right after gets nothing."""
    first = services.notification_claim(notification_id=notification.pk)
    assert first is not None
    assert (first.status, first.attempts) == (NotificationStatus.SENDING, 1)
    assert first.claimed_at is not None
    assert services.notification_claim(notification_id=notification.pk) is None
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (NotificationStatus.SENDING, 1)


def test_a_claim_past_its_lease_can_be_taken_again(notification, settings) -> None:
    """A row left in sending longer than the lease (its worker died) is claimed again; a younger one is not."""
    assert services.notification_claim(notification_id=notification.pk) is not None
    lease = datetime.timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS)
    now = timezone.now()
    Notification.objects.filter(pk=notification.pk).update(
        claimed_at=now - lease + datetime.timedelta(seconds=30)
    )
    assert services.notification_claim(notification_id=notification.pk) is None
    Notification.objects.filter(pk=notification.pk).update(
        claimed_at=now - lease - datetime.timedelta(seconds=1)
    )
    again = services.notification_claim(notification_id=notification.pk)
    assert again is not None
    assert (again.status, again.attempts) == (NotificationStatus.SENDING, 2)


@pytest.mark.parametrize("status", [NotificationStatus.SENT, NotificationStatus.FAILED])
def test_sent_and_failed_notifications_are_never_claimed(status, notification) -> None:
    """A finished notification stays finished, however old its claim."""
    long_ago = timezone.now() - datetime.timedelta(days=3)
    Notification.objects.filter(pk=notification.pk).update(status=status, claimed_at=long_ago)
    assert services.notification_claim(notification_id=notification.pk) is None
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (status, 0)


def test_running_the_task_twice_delivers_one_email(smtp, notification) -> None:
    """A duplicate task message sends nothing: the second run skips."""
    assert send_notification.run(notification.pk) == "sent"
    assert send_notification.run(notification.pk) == "skipped"
    assert len(smtp.deliveries) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (NotificationStatus.SENT, 1)


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_notification_deliver_one_email(smtp, customer, case) -> None:
    """Two workers running the same task at the same moment, each on its own connection, send one e-mail."""
    row = Notification.objects.create(
        case=case, kind=NotificationKind.RESOLUTION, round=1, recipient=CUSTOMER_EMAIL, language="ja"
    )
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(send_notification.run(row.pk))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(results) == ["sent", "skipped"]
    assert len(smtp.deliveries) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)


@pytest.mark.django_db(transaction=True)
def test_a_claim_held_by_another_worker_is_skipped_not_waited_for(customer, case) -> None:
    """While another transaction holds the row, a claim returns None at once instead of blocking."""
    row = Notification.objects.create(
        case=case, kind=NotificationKind.RESOLUTION, round=1, recipient=CUSTOMER_EMAIL, language="ja"
    )
    outcome: list = []

    def other_worker() -> None:
        try:
            started = time.monotonic()
            outcome.append(services.notification_claim(notification_id=row.pk))
            outcome.append(time.monotonic() - started)
        finally:
            connection.close()

    with transaction.atomic():
        Notification.objects.select_for_update().get(pk=row.pk)
        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join(timeout=30)
    assert outcome[0] is None
    assert outcome[1] < 5
    assert services.notification_claim(notification_id=row.pk) is not None


# --- 4. Retry classification and backoff ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(smtplib.SMTPResponseException(421, b"Service not available"), TRANSIENT, id="421"),
        pytest.param(smtplib.SMTPResponseException(451, b"Try again later"), TRANSIENT, id="451"),
        pytest.param(smtplib.SMTPResponseException(452, b"Insufficient storage"), TRANSIENT, id="452"),
        pytest.param(smtplib.SMTPResponseException(550, b"No such user"), PERMANENT, id="550"),
        pytest.param(smtplib.SMTPResponseException(553, b"Mailbox name invalid"), PERMANENT, id="553"),
        pytest.param(smtplib.SMTPResponseException(554, b"Transaction failed"), PERMANENT, id="554"),
        pytest.param(smtplib.SMTPDataError(451, b"Try again later"), TRANSIENT, id="data-451"),
        pytest.param(
            smtplib.SMTPSenderRefused(553, b"Sender rejected", "portal@localhost"), PERMANENT, id="sender-553"
        ),
        pytest.param(
            smtplib.SMTPRecipientsRefused({CUSTOMER_EMAIL: (451, b"Greylisted")}), TRANSIENT, id="rcpt-451"
        ),
        pytest.param(
            smtplib.SMTPRecipientsRefused({CUSTOMER_EMAIL: (452, b"Too many recipients")}),
            TRANSIENT,
            id="rcpt-452",
        ),
        pytest.param(
            smtplib.SMTPRecipientsRefused({CUSTOMER_EMAIL: (550, b"No such user")}), PERMANENT, id="rcpt-550"
        ),
        pytest.param(
            smtplib.SMTPRecipientsRefused({CUSTOMER_EMAIL: (553, b"Mailbox name invalid")}),
            PERMANENT,
            id="rcpt-553",
        ),
        pytest.param(
            smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), TRANSIENT, id="disconnected"
        ),
        pytest.param(ConnectionRefusedError(111, "Connection refused"), TRANSIENT, id="refused"),
        pytest.param(ConnectionResetError(104, "Connection reset by peer"), TRANSIENT, id="reset"),
        pytest.param(TimeoutError("timed out"), TRANSIENT, id="timeout"),
        pytest.param(TimeoutError("timed out"), TRANSIENT, id="socket-timeout"),
        pytest.param(socket.gaierror(-3, "Temporary failure in name resolution"), TRANSIENT, id="dns"),
        pytest.param(ValueError("Invalid address"), PERMANENT, id="value-error"),
    ],
)
def test_send_errors_are_classified_as_transient_or_permanent(error, expected) -> None:
    """4xx replies and network trouble may go away and are retried; 5xx replies and bad input fail at once."""
    assert classify(error) == expected


def test_backoff_grows_exponentially_within_its_jittered_band(settings) -> None:
    """Each delay lies in the upper half of min(max, base·2^(n-1)), grows with n, caps, and is jittered."""
    base, maximum = settings.NOTIFICATION_RETRY_BASE_SECONDS, settings.NOTIFICATION_RETRY_MAX_SECONDS
    draws = {attempt: [backoff(attempt) for _ in range(20)] for attempt in range(1, 13)}
    for attempt, delays in draws.items():
        ceiling = min(maximum, base * 2 ** (attempt - 1))
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), (attempt, delays)
        assert len(set(delays)) > 1, f"attempt {attempt} is not jittered: {delays}"
    doubling = [attempt for attempt in draws if base * 2**attempt <= maximum]
    assert doubling, "the settings leave no room for the delay to grow"
    for attempt in doubling:
        assert min(draws[attempt + 1]) >= max(draws[attempt]), attempt
    assert max(draws[12]) <= maximum
    assert sum(draws[1]) / 20 < sum(draws[4]) / 20 < sum(draws[7]) / 20


def test_backoff_follows_the_settings(settings) -> None:
    """The base and the ceiling come from NOTIFICATION_RETRY_BASE_SECONDS and NOTIFICATION_RETRY_MAX_SECONDS."""
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 10
    settings.NOTIFICATION_RETRY_MAX_SECONDS = 60
    assert all(5 <= backoff(1) <= 10 for _ in range(20))
    assert all(20 <= backoff(3) <= 40 for _ in range(20))
    assert all(30 <= backoff(9) <= 60 for _ in range(20))


# --- 5. The task against a real SMTP server -----------------------------------------------------------


def test_a_delivered_email_marks_the_notification_sent(smtp, notification, settings) -> None:
    """Success records sent_at and the Message-ID, and the server received exactly that message once."""
    before = timezone.now()
    assert send_notification.run(notification.pk) == "sent"
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert before <= notification.sent_at <= timezone.now()
    assert notification.message_id == message_id_for(notification)
    assert notification.last_error == ""
    assert len(smtp.deliveries) == 1
    delivery = smtp.deliveries[0]
    assert delivery.rcpt_tos == [CUSTOMER_EMAIL]
    assert delivery.message["Message-ID"] == notification.message_id
    assert delivery.message["Reply-To"] == notification.case.partner.support_contact_email
    assert delivery.message["Content-Language"] == "ja"
    assert notification.case.number in delivery.message["Subject"]
    assert set(parts(delivery.message)) == {"text/plain", "text/html"}


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_a_451_reply_puts_the_notification_back_for_a_later_attempt(
    stage, smtp, broker, notification, settings
) -> None:
    """A temporary refusal returns the row to pending with the error, one attempt and a retry time ahead."""
    smtp.refuse(stage, "451 4.7.1 Greylisted, try again later")
    before = timezone.now()
    assert send_notification.run(notification.pk) == "retry"
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.PENDING
    assert notification.attempts == 1
    assert "451" in notification.last_error
    base = settings.NOTIFICATION_RETRY_BASE_SECONDS
    assert before + datetime.timedelta(seconds=base / 2) <= notification.next_attempt_at
    assert notification.next_attempt_at <= timezone.now() + datetime.timedelta(seconds=base)
    assert smtp.deliveries == []
    queued = broker.drain()
    assert [(q.task, q.args) for q in queued] == [(SEND_TASK, (notification.pk,))]
    assert abs((queued[0].eta - notification.next_attempt_at).total_seconds()) < 2


@pytest.mark.parametrize("assigned", ["assignee", "unassigned", "inactive assignee"])
def test_a_550_reply_fails_at_once_and_tells_the_partner(
    assigned,
    django_capture_on_commit_callbacks,
    eager,
    smtp,
    settings,
    case,
    contoso,
    helpdesk_agent,
    billing_admin,
) -> None:
    """A permanent refusal fails the row, says so on the timeline, and e-mails the assignee (or partner contact)."""
    case = services.case_start(case=case, actor=helpdesk_agent)
    if assigned == "unassigned":
        case = services.case_assign(case=case, actor=helpdesk_agent, assignee=None)
    helpdesk_agent.user.language = "ru"
    helpdesk_agent.user.is_active = assigned != "inactive assignee"
    helpdesk_agent.user.save()
    case = resolve(case, helpdesk_agent, billing_admin)
    notification = resolution(case)
    expected = (
        (helpdesk_agent.user.email, "ru") if assigned == "assignee" else (contoso.support_contact_email, "en")
    )
    smtp.refuse("RCPT", "550 5.1.1 No such user here", only=CUSTOMER_EMAIL)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert send_notification.run(notification.pk) == "failed"
    assert len(handoffs(callbacks)) == 1

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert notification.attempts == 1
    assert "550" in notification.last_error
    assert notification.sent_at is None
    event = case.events.filter(kind=EventKind.NOTIFICATION).last()
    assert CUSTOMER_EMAIL in event.message
    assert "failed" in event.message
    assert "550" in event.message
    assert event.data["notification"] == notification.pk
    assert event.data["says"] == "email_failed"  # put into words in each reader's language

    notice = Notification.objects.get(case=case, kind=NotificationKind.FAILED)
    assert (notice.round, notice.recipient, notice.language) == (notification.round, *expected)
    assert notice.status == NotificationStatus.SENT
    assert smtp.to(CUSTOMER_EMAIL) == []
    [delivery] = smtp.to(expected[0])
    assert case.number in delivery.message["Subject"]
    assert delivery.message["Content-Language"] == expected[1]
    case_url = f"{settings.PORTAL_BASE_URL}/{expected[1]}/cases/{case.number}/"
    assert case_url in parts(delivery.message)["text/plain"]


def test_a_554_reply_to_the_data_fails_at_once(smtp, notification) -> None:
    """A permanent refusal of the message itself fails without retry."""
    smtp.refuse("DATA", "554 5.6.0 Message rejected")
    assert send_notification.run(notification.pk) == "failed"
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (NotificationStatus.FAILED, 1)
    assert "554" in notification.last_error
    assert notification.next_attempt_at is None


def test_an_unreachable_mail_server_is_retried(no_smtp, broker, notification) -> None:
    """Nothing listening on the SMTP port is network trouble: the row goes back to pending for a retry."""
    assert send_notification.run(notification.pk) == "retry"
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.PENDING
    assert notification.attempts == 1
    assert "ConnectionRefusedError" in notification.last_error
    assert notification.next_attempt_at > timezone.now()
    assert [(q.task, q.args) for q in broker.drain()] == [(SEND_TASK, (notification.pk,))]


def test_a_stopped_mail_server_is_retried_then_the_email_goes_out(settings, broker, notification) -> None:
    """The mail server is down for one attempt and back for the next: the customer gets one e-mail."""
    sink = SmtpSink()
    port = free_port()
    _point_django_at(settings, port)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    controller.stop()
    assert send_notification.run(notification.pk) == "retry"
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert send_notification.run(notification.pk) == "sent"
    finally:
        controller.stop()
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.last_error) == (
        NotificationStatus.SENT,
        2,
        "",
    )
    assert len(sink.deliveries) == 1
    assert sink.deliveries[0].message["Message-ID"] == notification.message_id == message_id_for(notification)


def test_the_last_allowed_attempt_fails_for_good(smtp, broker, notification, settings) -> None:
    """A transient error on attempt NOTIFICATION_MAX_ATTEMPTS gives up instead of retrying forever."""
    smtp.refuse("RCPT", "451 4.3.0 Try again later")
    Notification.objects.filter(pk=notification.pk).update(attempts=settings.NOTIFICATION_MAX_ATTEMPTS - 1)
    assert send_notification.run(notification.pk) == "failed"
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert notification.attempts == settings.NOTIFICATION_MAX_ATTEMPTS
    assert "451" in notification.last_error
    assert broker.drain() == []


def test_retries_stop_after_max_attempts(smtp, broker, notification, settings) -> None:
    """With a server that always answers 451, the task retries MAX-1 times and then fails."""
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    smtp.refuse("DATA", "451 4.3.0 Try again later")
    results = [send_notification.run(notification.pk) for _ in range(4)]
    assert results == ["retry", "retry", "failed", "skipped"]
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (NotificationStatus.FAILED, 3)
    assert len(broker.drain()) == 2


# --- 6. The sweep ---------------------------------------------------------------------------------------


@pytest.fixture
def outbox(case, settings) -> dict[str, Notification]:
    """Notifications in every state the sweep must tell apart, keyed by what they are."""
    now = timezone.now()
    lease = datetime.timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS)
    grace = datetime.timedelta(seconds=settings.NOTIFICATION_PENDING_GRACE_SECONDS)
    second = datetime.timedelta(seconds=1)
    states = {
        "retry due": {"status": NotificationStatus.PENDING, "next_attempt_at": now - second},
        "lost message": {"status": NotificationStatus.PENDING, "updated_at": now - grace - second},
        "stuck sending": {
            "status": NotificationStatus.SENDING,
            "claimed_at": now - lease - second,
            "attempts": 1,
        },
        "fresh": {"status": NotificationStatus.PENDING},
        "within grace": {"status": NotificationStatus.PENDING, "updated_at": now - grace + 10 * second},
        "retry later": {
            "status": NotificationStatus.PENDING,
            "next_attempt_at": now + datetime.timedelta(minutes=5),
            "updated_at": now - datetime.timedelta(hours=1),
        },
        "sending": {"status": NotificationStatus.SENDING, "claimed_at": now - 5 * second, "attempts": 1},
        "sent": {
            "status": NotificationStatus.SENT,
            "claimed_at": now - datetime.timedelta(days=1),
            "updated_at": now - datetime.timedelta(days=1),
            "next_attempt_at": now - datetime.timedelta(days=1),
        },
        "failed": {
            "status": NotificationStatus.FAILED,
            "claimed_at": now - datetime.timedelta(days=1),
            "updated_at": now - datetime.timedelta(days=1),
            "next_attempt_at": now - datetime.timedelta(days=1),
        },
    }
    rows = {}
    for index, (name, fields) in enumerate(states.items()):
        row = Notification.objects.create(
            case=case,
            kind=NotificationKind.RESOLUTION,
            round=1,
            recipient=f"contact{index}@tailspintoys.example",
            language="ja",
        )
        Notification.objects.filter(pk=row.pk).update(**fields)  # update() leaves updated_at as given
        rows[name] = row
    return rows


DUE = {"retry due", "lost message", "stuck sending"}


def test_notifications_due_finds_only_what_a_lost_message_left_behind(outbox) -> None:
    """Pending past its retry time or grace, and sending past the lease, are due; nothing else is."""
    due = services.notifications_due()
    assert {name for name, row in outbox.items() if row.pk in due} == DUE
    assert len(due) == len(DUE)


def test_sweeping_twice_still_delivers_each_email_once(smtp, broker, outbox) -> None:
    """Two sweeps queue each due notification twice; running every queued task still sends each e-mail once."""
    assert sweep_notifications.run() == len(DUE)
    assert sweep_notifications.run() == len(DUE)
    queued = broker.drain()
    assert sorted(q.args[0] for q in queued) == sorted(2 * [outbox[name].pk for name in DUE])
    assert {q.task for q in queued} == {SEND_TASK}
    results = [send_notification.run(*q.args) for q in queued]
    assert sorted(results) == sorted(len(DUE) * ["sent", "skipped"])
    assert sorted(d.rcpt_tos[0] for d in smtp.deliveries) == sorted(outbox[name].recipient for name in DUE)
    assert sweep_notifications.run() == 0
    assert broker.drain() == []
    untouched = {name: row for name, row in outbox.items() if name not in DUE}
    for name, row in untouched.items():
        status = Notification.objects.get(pk=row.pk).status
        assert status == {"sent": "sent", "failed": "failed", "sending": "sending"}.get(name, "pending"), name


# --- 7. "Send again" -------------------------------------------------------------------------------


@pytest.fixture
def failed(smtp, notification) -> Notification:
    """The customer's resolution e-mail, refused for good by the real SMTP server."""
    smtp.refuse("RCPT", "550 5.1.1 No such user here", only=CUSTOMER_EMAIL)
    assert send_notification.run(notification.pk) == "failed"
    notification.refresh_from_db()
    smtp.accept_all()
    return notification


def resend_url(notification: Notification) -> str:
    return reverse("cases:resend", kwargs={"number": notification.case.number, "pk": notification.pk})


def test_the_case_page_shows_a_failed_email_and_send_again_to_a_billing_admin(
    client, failed, billing_admin
) -> None:
    """A billing admin sees the failed e-mail, its error, and a "Send again" button for it."""
    client.force_login(billing_admin.user)
    response = client.get(failed.case.get_absolute_url())
    assert response.status_code == 200
    content = page(response)
    assert failed.last_error in content
    assert content.count(f'action="{resend_url(failed)}"') == 1
    assert "Send again" in content


def test_a_sales_agent_sees_the_failure_but_cannot_send_again(client, failed, sales_agent) -> None:
    """A sales agent, whose role cannot resolve, sees no "Send again" and is refused if they post it."""
    client.force_login(sales_agent.user)
    content = page(client.get(failed.case.get_absolute_url()))
    assert failed.last_error in content
    assert resend_url(failed) not in content
    assert "Send again" not in content
    assert client.post(resend_url(failed)).status_code == 403
    failed.refresh_from_db()
    assert failed.status == NotificationStatus.FAILED


def test_send_again_queues_the_email_and_delivers_it(
    client, django_capture_on_commit_callbacks, eager, smtp, failed, billing_admin
) -> None:
    """Posting "Send again" resets the row to pending with no attempts, notes it, and the e-mail goes out."""
    client.force_login(billing_admin.user)
    events = failed.case.events.count()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(resend_url(failed))
    assert response.status_code == 302
    assert response.url == failed.case.get_absolute_url()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.next_attempt_at) == (NotificationStatus.PENDING, 0, None)
    event = failed.case.events.order_by("pk").last()
    assert failed.case.events.count() == events + 1
    assert event.kind == EventKind.NOTIFICATION
    assert event.actor == billing_admin.user
    assert CUSTOMER_EMAIL in event.message
    assert event.data["notification"] == failed.pk
    assert event.data["says"] == "email_queued_again"
    assert len(handoffs(callbacks)) == 1

    callbacks[0]()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (NotificationStatus.SENT, 1)
    assert len(smtp.to(CUSTOMER_EMAIL)) == 1


@pytest.mark.parametrize(
    "status", [NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.SENT]
)
def test_only_a_failed_email_can_be_sent_again(status, client, notification, billing_admin) -> None:
    """ "Send again" on an e-mail that has not failed changes nothing and says why."""
    Notification.objects.filter(pk=notification.pk).update(status=status, attempts=1)
    events = notification.case.events.count()
    client.force_login(billing_admin.user)
    response = client.post(resend_url(notification), follow=True)
    assert response.status_code == 200
    assert "Only a failed e-mail can be sent again." in page(response)
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (status, 1)
    assert notification.case.events.count() == events


def test_another_partner_cannot_see_or_resend_the_email(client, failed, outsider) -> None:
    """For a Fabrikam user the case and its notification do not exist."""
    client.force_login(outsider.user)
    assert client.get(failed.case.get_absolute_url()).status_code == 404
    assert client.post(resend_url(failed)).status_code == 404
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (NotificationStatus.FAILED, 1)


# --- 8. The customer's answer ------------------------------------------------------------------------


def test_the_answer_page_is_in_the_customers_language_without_signing_in(client, notification) -> None:
    """The signed link opens the answer form, in Japanese for a Japanese customer, with no sign-in."""
    path = answer_path(notification)
    assert path.startswith("/ja/answer/")
    response = client.get(path)
    assert response.status_code == 200
    content = page(response)
    assert '<html lang="ja"' in content
    assert notification.case.number in content
    assert SUMMARY in content
    assert 'name="answer"' in content
    assert 'name="rating"' in content


@pytest.mark.parametrize("language", ["zh-hant", "zh-hans", "ja", "ru"])
def test_the_answer_page_text_is_translated(
    language, client, customer, case, helpdesk_agent, billing_admin
) -> None:
    """The answer form a non-English customer opens has no English labels or buttons."""
    customer.preferred_language = language
    customer.save()
    notification = resolution(resolve(case, helpdesk_agent, billing_admin))
    content = page(client.get(answer_path(notification)))
    english = ["What we found", "Is your problem solved?", "Yes, it is resolved", "Send my answer"]
    assert [sentence for sentence in english if sentence in content] == []


def test_resolved_with_a_rating_closes_the_case_and_the_loop(client, notification) -> None:
    """ "Resolved" closes the loop and the case, records the answer and its rating, and notes both on the timeline."""
    case = notification.case
    events = case.events.count()
    response = client.post(answer_path(notification), {"answer": Answer.RESOLVED, "rating": "5"})
    assert response.status_code == 200
    assert 'data-testid="answer-done"' in response.content.decode()

    case.refresh_from_db()
    assert case.status == Status.CLOSED
    assert case.loop_closed_at is not None
    assert case.closed_at is not None
    record = CustomerAnswer.objects.get(case=case)
    assert (record.notification_id, record.answer, record.rating, record.comment) == (
        notification.pk,
        Answer.RESOLVED,
        5,
        "",
    )
    new = list(case.events.order_by("pk")[events:])
    assert [(e.kind, e.from_status, e.to_status) for e in new] == [
        (EventKind.CUSTOMER_ANSWERED, "", ""),
        (EventKind.STATUS, Status.RESOLVED, Status.CLOSED),
    ]
    assert new[0].data == {"answer": Answer.RESOLVED, "rating": 5}
    assert all(e.actor is None for e in new)


def test_not_resolved_without_a_comment_asks_what_is_wrong(client, notification) -> None:
    """ "Not resolved" needs a comment; without one the form shows the error and nothing changes."""
    before = snapshot(notification.case)
    response = client.post(answer_path(notification), {"answer": Answer.NOT_RESOLVED, "comment": "  "})
    assert response.status_code == 400
    assert response.context["form"].errors["comment"]
    assert translated("ja", "Tell us what is still wrong.") in page(response)
    assert snapshot(notification.case) == before


def test_not_resolved_with_a_comment_reopens_the_case_and_tells_the_assignee(
    client, django_capture_on_commit_callbacks, notification, helpdesk_agent
) -> None:
    """ "Not resolved" reopens the case, notes the customer's words and owes the assignee an e-mail."""
    case = notification.case
    comment = "We still see 30 seats on the November invoice."
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            answer_path(notification), {"answer": Answer.NOT_RESOLVED, "comment": comment, "rating": "2"}
        )
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS
    assert case.loop_closed_at is None
    assert case.closed_at is None
    record = CustomerAnswer.objects.get(notification=notification)
    assert (record.answer, record.comment, record.rating) == (Answer.NOT_RESOLVED, comment, 2)
    answered = case.events.filter(kind=EventKind.CUSTOMER_ANSWERED).get()
    assert answered.message == comment
    assert case.events.filter(
        kind=EventKind.STATUS, from_status=Status.RESOLVED, to_status=Status.IN_PROGRESS
    ).exists()

    reopened = Notification.objects.get(case=case, kind=NotificationKind.REOPENED)
    assert (reopened.recipient, reopened.language, reopened.round, reopened.status) == (
        helpdesk_agent.user.email,
        helpdesk_agent.user.language,
        notification.round,
        NotificationStatus.PENDING,
    )
    assert len(handoffs(callbacks)) == 1
    message = build_notification_email(reopened)
    assert message.to == [helpdesk_agent.user.email]
    assert case.number in message.subject
    assert comment in message.body
    assert "/answer/" not in message.body


def test_invalid_answers_are_form_errors_not_server_errors(client, notification) -> None:
    """An unknown answer or an out-of-range rating re-shows the form with errors (400) and changes nothing."""
    before = snapshot(notification.case)
    for data in ({"answer": "maybe"}, {"answer": Answer.RESOLVED, "rating": "9"}, {"comment": ""}):
        response = client.post(answer_path(notification), data)
        assert response.status_code == 400, data
        assert response.context["form"].errors
    assert snapshot(notification.case) == before


def test_after_a_reopen_the_next_resolution_gets_a_working_link(
    client, notification, helpdesk_agent, billing_admin
) -> None:
    """The customer says "not resolved", the partner resolves again, and the new e-mail's link closes the case."""
    first = answer_path(notification)
    assert (
        client.post(first, {"answer": Answer.NOT_RESOLVED, "comment": "Still 30 seats."}).status_code == 200
    )
    case = resolve(notification.case, helpdesk_agent, billing_admin)
    second = resolution(case, round=2)
    assert client.get(first).status_code == 410
    assert client.post(answer_path(second), {"answer": Answer.RESOLVED, "rating": "4"}).status_code == 200
    case.refresh_from_db()
    assert case.status == Status.CLOSED
    assert list(case.customer_answers.order_by("created_at").values_list("answer", flat=True)) == [
        Answer.NOT_RESOLVED,
        Answer.RESOLVED,
    ]


def test_not_resolved_on_an_unassigned_case_tells_the_partner_contact(
    client, case, contoso, helpdesk_agent, billing_admin
) -> None:
    """With nobody assigned, the reopened notice goes to the partner's support contact, in English."""
    case = services.case_start(case=case, actor=helpdesk_agent)
    case = services.case_assign(case=case, actor=helpdesk_agent, assignee=None)
    notification = resolution(resolve(case, helpdesk_agent, billing_admin))
    response = client.post(
        answer_path(notification), {"answer": Answer.NOT_RESOLVED, "comment": "Still wrong."}
    )
    assert response.status_code == 200
    reopened = Notification.objects.get(case=case, kind=NotificationKind.REOPENED)
    assert (reopened.recipient, reopened.language) == (contoso.support_contact_email, "en")


def test_the_link_works_once(client, notification) -> None:
    """After an answer, the same link shows "You have already answered" (410) and records nothing more."""
    path = answer_path(notification)
    assert client.post(path, {"answer": Answer.RESOLVED, "rating": "4"}).status_code == 200
    before = snapshot(notification.case)
    for response in (client.get(path), client.post(path, {"answer": Answer.NOT_RESOLVED, "comment": "No."})):
        assert response.status_code == 410
        assert translated("ja", "You have already answered") in page(response)
    assert snapshot(notification.case) == before


def test_an_expired_link_says_so(client, monkeypatch, notification, settings) -> None:
    """A link older than CUSTOMER_ANSWER_DAYS shows "This link has expired" (410); a day younger still works."""
    path = answer_path(notification)
    before = snapshot(notification.case)
    shift_signing_clock(monkeypatch, (settings.CUSTOMER_ANSWER_DAYS - 1) * 86400)
    assert client.get(path).status_code == 200
    shift_signing_clock(monkeypatch, settings.CUSTOMER_ANSWER_DAYS * 86400 + 60)
    for response in (client.get(path), client.post(path, {"answer": Answer.RESOLVED, "rating": "5"})):
        assert response.status_code == 410
        assert translated("ja", "This link has expired") in page(response)
    assert snapshot(notification.case) == before


def test_a_tampered_link_is_not_valid(client, notification) -> None:
    """A token changed by hand, or signed for a notification that does not exist, is "not valid" (404)."""
    path = answer_path(notification)
    token = path.rstrip("/").rsplit("/", 1)[1]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    forged_payload = signing.TimestampSigner(salt="another-salt").sign_object({"n": notification.pk, "r": 1})
    other_round = make_token(types.SimpleNamespace(pk=notification.pk, round=7))
    missing = make_token(types.SimpleNamespace(pk=notification.pk + 10_000, round=1))
    before = snapshot(notification.case)
    for bad in (tampered, forged_payload, other_round, missing, "not-a-token"):
        bad_path = reverse("cases:answer", kwargs={"token": bad}).replace("/en/", "/ja/", 1)
        for response in (client.get(bad_path), client.post(bad_path, {"answer": Answer.RESOLVED})):
            assert response.status_code == 404, bad
            assert translated("ja", "This link is not valid") in page(response)
    assert snapshot(notification.case) == before


@pytest.mark.parametrize("change", ["reopened", "resolved again"])
def test_an_answer_after_the_partner_changed_the_case_is_stale(
    change, client, notification, helpdesk_agent, billing_admin
) -> None:
    """Once the partner reopened (or reopened and resolved again), the old link says "This case has changed"."""
    case = services.case_reopen(case=notification.case, actor=billing_admin, reason="We found more to fix.")
    if change == "resolved again":
        resolve(case, helpdesk_agent, billing_admin)
    before = snapshot(case)
    response = client.post(answer_path(notification), {"answer": Answer.RESOLVED, "rating": "5"})
    assert response.status_code == 409
    assert translated("ja", "This case has changed") in page(response)
    assert snapshot(case) == before


def test_a_stale_link_says_so_before_the_customer_fills_the_form(client, notification, billing_admin) -> None:
    """Opening the link of a case the partner has reopened shows "This case has changed" (409), not a form."""
    services.case_reopen(case=notification.case, actor=billing_admin, reason="We found more to fix.")
    response = client.get(answer_path(notification))
    assert response.status_code == 409
    assert translated("ja", "This case has changed") in page(response)
    assert 'name="answer"' not in response.content.decode()


def test_the_dashboard_shows_the_average_satisfaction(client, notification, helpdesk_agent) -> None:
    """One rating of 5 gives an average satisfaction of 5, shown as 5.0 on the dashboard."""
    assert (
        client.post(answer_path(notification), {"answer": Answer.RESOLVED, "rating": "5"}).status_code == 200
    )
    client.force_login(helpdesk_agent.user)
    response = client.get(reverse("cases:dashboard"))
    assert response.status_code == 200
    assert response.context["satisfaction"]["average"] == 5
    assert response.context["satisfaction"]["count"] == 1
    stat = re.search(
        r'data-testid="satisfaction">\s*<span><strong>([^<]*)</strong>', response.content.decode()
    )
    assert stat is not None
    assert stat.group(1) == "5.0"


# --- Delivery runs: a burst sent in batches over one connection ----------------------------------------

DRAIN_TASK = "cases.tasks.deliver_outbox"


def test_a_delivery_run_sends_what_is_due_and_nothing_else(smtp, outbox) -> None:
    """Pending without a retry time, retries due and claims past their lease go out; the rest waits."""
    sent = deliver_outbox.run()
    expected = {"retry due", "lost message", "stuck sending", "fresh", "within grace"}
    assert sent == len(expected)
    assert sorted(d.rcpt_tos[0] for d in smtp.deliveries) == sorted(
        outbox[name].recipient for name in expected
    )
    for name, row in outbox.items():
        row.refresh_from_db()
        if name in expected:
            assert row.status == NotificationStatus.SENT, name
    assert outbox["retry later"].status == NotificationStatus.PENDING
    assert outbox["sending"].status == NotificationStatus.SENDING
    assert deliver_outbox.run() == 0  # nothing is sent twice


def test_a_burst_goes_out_in_batches_over_few_connections(smtp, case) -> None:
    """45 notifications, batches of 20: one SMTP connection, each e-mail once."""
    rows = [
        Notification.objects.create(
            case=case, kind=NotificationKind.RESOLUTION, round=1, recipient=f"c{n}@tailspintoys.example"
        )
        for n in range(45)
    ]
    assert deliver_outbox.run() == 45
    assert smtp.greetings == 1
    assert sorted(d.rcpt_tos[0] for d in smtp.deliveries) == sorted(row.recipient for row in rows)
    assert len({d.message["Message-ID"] for d in smtp.deliveries}) == 45


@pytest.mark.django_db(transaction=True)
def test_two_delivery_runs_racing_send_each_email_once(smtp, case) -> None:
    """Runs in two threads claim different rows (SKIP LOCKED): 40 notifications, 40 e-mails."""
    for n in range(40):
        Notification.objects.create(
            case=case, kind=NotificationKind.RESOLUTION, round=1, recipient=f"r{n}@tailspintoys.example"
        )
    totals: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            totals.append(deliver_outbox.run())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sum(totals) == 40
    assert len(smtp.deliveries) == 40
    assert Notification.objects.filter(status=NotificationStatus.SENT).count() == 40


def test_a_transient_error_puts_the_rest_of_the_batch_back(smtp, case) -> None:
    """The mail server answers 451: that e-mail waits for its retry; the others go back to pending unattempted."""
    rows = [
        Notification.objects.create(
            case=case, kind=NotificationKind.RESOLUTION, round=1, recipient=f"t{n}@tailspintoys.example"
        )
        for n in range(5)
    ]
    smtp.refuse("RCPT", "451 4.3.0 Try again later")
    assert deliver_outbox.run() == 0
    for row in rows:
        row.refresh_from_db()
    first, rest = rows[0], rows[1:]
    assert (first.status, first.attempts) == (NotificationStatus.PENDING, 1)
    assert first.next_attempt_at is not None
    assert {(row.status, row.attempts, row.next_attempt_at) for row in rest} == {
        (NotificationStatus.PENDING, 0, None)
    }
    smtp.accept_all()
    assert deliver_outbox.run() == 4  # the next run sends the rest; the first waits for its backoff


def test_queueing_asks_for_one_delivery_run_until_it_starts(broker, settings) -> None:
    """Many notifications committed in a burst publish one run; once it has started, the next asks again."""
    from cases.tasks import request_delivery

    for _ in range(5):
        request_delivery()
    assert [(q.task, q.args) for q in broker.drain()] == [(DRAIN_TASK, ())]
    cache.delete("cases:outbox:kick")  # what a run does first
    request_delivery()
    assert [q.task for q in broker.drain()] == [DRAIN_TASK]
