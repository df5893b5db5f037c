"""Resolution e-mails through a real worker, broker and mail server: exactly one, in the customer's language,
whatever fails for a while."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from cases import services
from cases.models import Notification, NotificationStatus, Status
from tests.cast import open_dispute
from tests.integration.conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DELIVERY_TIMEOUT = 45


def resolve(case, helpdesk_agent, billing_admin):
    case = services.case_start(case=case, actor=helpdesk_agent)
    return services.case_resolve(
        case=case,
        actor=billing_admin,
        resolution_summary="We credited the five cancelled seats.",
        outcome="credit",
        credit_amount=Decimal("412.50"),
    )


def delivered_to(sink, address: str) -> list:
    return [m for m in sink.messages if m["To"] == address]


def assert_exactly_one_after_quiet(sink, address: str, seconds: float = 4) -> None:
    """Wait past a lease and a few sweeps, then check nothing else arrived."""
    time.sleep(seconds)
    assert len(delivered_to(sink, address)) == 1, [m["Message-ID"] for m in sink.messages]


def notification_of(case) -> Notification:
    return Notification.objects.get(case=case, kind="resolution")


def test_resolving_delivers_one_email_in_the_customers_language(
    publish_to, smtp_sink, worker_factory, helpdesk_agent, billing_admin, customer
) -> None:
    """A real worker sends exactly one resolution e-mail, in Japanese, and records it as sent."""
    smtp_sink.start()
    worker_factory().start()
    case = resolve(open_dispute(helpdesk_agent, customer), helpdesk_agent, billing_admin)

    wait_until(
        lambda: delivered_to(smtp_sink, customer.billing_contact_email), DELIVERY_TIMEOUT, "the e-mail"
    )
    message = delivered_to(smtp_sink, customer.billing_contact_email)[0]
    assert case.number in message["Subject"]
    assert message["Content-Language"] == "ja"
    assert "解決" in message["Subject"] or "解決" in message.get_body(("plain",)).get_content()
    assert message["Reply-To"] == case.partner.support_contact_email
    wait_until(lambda: notification_of(case).status == NotificationStatus.SENT, 10, "the row to say sent")
    assert notification_of(case).message_id == message["Message-ID"]
    assert_exactly_one_after_quiet(smtp_sink, customer.billing_contact_email)


def test_mail_server_down_at_first_then_up(
    publish_to, smtp_sink, worker_factory, helpdesk_agent, billing_admin, customer
) -> None:
    """With the mail server refusing connections the worker retries with backoff, then delivers once."""
    worker = worker_factory()
    worker.start()
    case = resolve(open_dispute(helpdesk_agent, customer), helpdesk_agent, billing_admin)

    wait_until(lambda: notification_of(case).attempts >= 2, DELIVERY_TIMEOUT, "two failed attempts")
    row = notification_of(case)
    assert row.status in (NotificationStatus.PENDING, NotificationStatus.SENDING)
    assert "Connection refused" in row.last_error or "Errno 111" in row.last_error, row.last_error

    smtp_sink.start()
    wait_until(
        lambda: delivered_to(smtp_sink, customer.billing_contact_email), DELIVERY_TIMEOUT, "the e-mail"
    )
    wait_until(lambda: notification_of(case).status == NotificationStatus.SENT, 10, "the row to say sent")
    assert_exactly_one_after_quiet(smtp_sink, customer.billing_contact_email)


def test_broker_down_when_resolved_then_the_sweep_delivers(
    publish_to, broker, smtp_sink, worker_factory, helpdesk_agent, billing_admin, customer
) -> None:
    """Resolving while the broker is stopped still succeeds; once it is back, the sweep sends the e-mail."""
    smtp_sink.start()
    broker.stop()
    case = resolve(open_dispute(helpdesk_agent, customer), helpdesk_agent, billing_admin)
    assert case.status == Status.RESOLVED
    assert notification_of(case).status == NotificationStatus.PENDING  # written with the resolution

    broker.start()
    worker_factory().start()
    wait_until(
        lambda: delivered_to(smtp_sink, customer.billing_contact_email), DELIVERY_TIMEOUT, "the e-mail"
    )
    wait_until(lambda: notification_of(case).status == NotificationStatus.SENT, 10, "the row to say sent")
    assert_exactly_one_after_quiet(smtp_sink, customer.billing_contact_email)


def test_worker_killed_while_sending_then_restarted(
    publish_to, smtp_sink, worker_factory, helpdesk_agent, billing_admin, customer
) -> None:
    """A worker SIGKILLed in the middle of the SMTP conversation loses nothing: the next one sends it once."""
    smtp_sink.handler.hold_rcpt.set()
    smtp_sink.start()
    first = worker_factory()
    first.start()
    case = resolve(open_dispute(helpdesk_agent, customer), helpdesk_agent, billing_admin)

    assert smtp_sink.handler.in_rcpt.wait(DELIVERY_TIMEOUT), first.logs()
    assert notification_of(case).status == NotificationStatus.SENDING
    first.kill()
    smtp_sink.handler.hold_rcpt.clear()
    smtp_sink.handler.released.set()
    assert delivered_to(smtp_sink, customer.billing_contact_email) == []

    worker_factory().start()
    wait_until(
        lambda: delivered_to(smtp_sink, customer.billing_contact_email), DELIVERY_TIMEOUT, "the e-mail"
    )
    wait_until(lambda: notification_of(case).status == NotificationStatus.SENT, 10, "the row to say sent")
    assert notification_of(case).attempts == 2
    assert_exactly_one_after_quiet(smtp_sink, customer.billing_contact_email)
