"""Replies by e-mail in a real browser: the customer's e-mail reply appears on the case the agent has open,
and the agent answers from the page; the answer leaves through the outbox to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from email import policy
from email.message import EmailMessage

import pytest
from playwright.sync_api import Page, expect

from cases import services
from cases.inbound import receive, reply_address
from cases.models import InboundStatus, Notification, NotificationKind
from tests.cast import open_dispute
from tests.integration.conftest import SmtpSink, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REPLY = "The credit is still missing from the November invoice."
ANSWER = "We asked Microsoft for the October usage report and will write again by Friday."


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_to_sink(settings, live_server, eager_tasks, sink) -> None:
    """Tasks run in the web process, as under `make run`, and mail goes over SMTP to the sink."""
    settings.PORTAL_BASE_URL = live_server.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.INBOUND_EMAIL_ADDRESS = "support@portal.example"


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/en/accounts/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_be_visible()


def customer_reply(case, in_reply_to: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"Bea Billing <{case.customer.billing_contact_email}>"
    message["To"] = reply_address(case)
    message["Subject"] = f"Re: Resolved: {case.title}"
    message["Message-ID"] = "<e2e-reply@mail.tailspintoys.example>"
    message["In-Reply-To"] = in_reply_to
    message.set_content(
        f"{REPLY}\n\nOn Mon, 3 Nov 2025 at 10:00, Contoso Support <support@portal.example> wrote:\n"
        "> Contoso has resolved your billing case.\n"
    )
    return message.as_bytes(policy=policy.SMTP)


def test_a_customers_reply_appears_on_the_open_case_and_the_agent_answers_it(
    page: Page, snap, mail_to_sink, sink, helpdesk_agent, billing_admin, customer, password
) -> None:
    case = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    services.case_resolve(
        case=case, actor=billing_admin, resolution_summary="The charge stands.", outcome="upheld"
    )
    resolution = Notification.objects.get(case=case, kind=NotificationKind.RESOLUTION)
    wait_until(
        lambda: [m for m in sink.messages if m["To"] == customer.billing_contact_email], 15, "the e-mail"
    )
    resolution.refresh_from_db()

    sign_in(page, helpdesk_agent.user.email, password)
    page.goto(f"/en/cases/{case.number}/")
    expect(page.get_by_test_id("case-status")).to_have_text("Resolved")
    snap("case-open-resolved")

    inbound = receive(customer_reply(case, resolution.message_id), source="test")
    assert inbound.status == InboundStatus.THREADED
    page.reload()
    expect(page.get_by_test_id("case-status")).to_have_text("In progress")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text(REPLY)
    expect(timeline).not_to_contain_text("Contoso has resolved your billing case.")  # the quote is cut
    snap("customer-reply-on-the-case")

    page.get_by_test_id("write-to-customer").locator("summary").click()
    page.get_by_label("Message to the customer").fill(ANSWER)
    snap("answer-written")
    page.get_by_role("button", name="Send the message").click()
    expect(page.locator(".messages")).to_contain_text("queued")
    outgoing = timeline.locator(".timeline__event--partner_message")
    expect(outgoing).to_contain_text(ANSWER)
    expect(outgoing.get_by_test_id("outgoing")).to_contain_text(customer.billing_contact_email)
    expect(timeline.locator(".timeline__event--comment")).to_have_count(0)  # not an internal note

    sent = wait_until(
        lambda: [m for m in sink.messages if m["In-Reply-To"] == "<e2e-reply@mail.tailspintoys.example>"],
        15,
        "the answer at the SMTP server",
    )
    [answer] = sent
    assert answer["To"] == customer.billing_contact_email
    assert answer["Reply-To"] == reply_address(case)
    assert ANSWER in answer.get_body(("plain",)).get_content()
    page.reload()
    expect(outgoing.get_by_test_id("outgoing")).to_contain_text("Sent")
    snap("answer-sent")
