"""Replies by e-mail: the reply address and threading headers on outgoing mail, and the one intake for what
comes back (cases/inbound.py, `manage.py receive_email`).

Messages are built with email.message.EmailMessage, as a mail client sends them (delivery reports as an MTA
writes them), and go through the real intake against the real PostgreSQL.
"""

from __future__ import annotations

import html
import io
import os
import re
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from cases import services
from cases.emails import build_notification_email, message_id_for
from cases.inbound import (
    InboundError,
    case_token,
    inbound_accept,
    read_case_token,
    receive,
    reply_address,
    reply_text,
)
from cases.models import (
    Answer,
    Attachment,
    Case,
    CaseEvent,
    EventKind,
    InboundEmail,
    InboundStatus,
    Notification,
    NotificationKind,
    NotificationStatus,
    Status,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
INBOUND = "support@portal.example"
CUSTOMER = "billing@tailspintoys.example"
SUMMARY = "Microsoft confirmed that 30 seats were active for all of October, so the charge stands."
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def inbound_address(settings) -> str:
    settings.INBOUND_EMAIL_ADDRESS = INBOUND
    return INBOUND


@pytest.fixture
def resolved(case, helpdesk_agent, billing_admin) -> Case:
    """The case started by the helpdesk agent (its assignee), resolved, and its resolution e-mail sent."""
    services.case_start(case=case, actor=helpdesk_agent)
    services.case_resolve(case=case, actor=billing_admin, resolution_summary=SUMMARY, outcome="upheld")
    send(resolution(case))
    case.refresh_from_db()
    return case


def resolution(case: Case) -> Notification:
    case.refresh_from_db()
    return Notification.objects.get(case=case, kind=NotificationKind.RESOLUTION, round=case.resolution_round)


def send(notification: Notification) -> None:
    services.notification_mark_sent(notification=notification, message_id=message_id_for(notification))


def email(
    body: str = "The credit is still missing from the November invoice.",
    *,
    to: str = INBOUND,
    sender: str = CUSTOMER,
    subject: str = "Re: Resolved: Charged for 30 seats, using 25",
    message_id: str | None = "<reply-1@mail.tailspintoys.example>",
    attachments: tuple[tuple[str, bytes, str], ...] = (),
    **headers: str,
) -> bytes:
    """An e-mail as a mail client sends it; headers given as In_Reply_To="…" become In-Reply-To: …."""
    message = EmailMessage()
    message["From"] = f"Bea Billing <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Mon, 03 Nov 2025 10:30:00 +0900"
    if message_id:
        message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    for name, data, kind in attachments:
        maintype, subtype = kind.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes(policy=policy.SMTP)


def to_case(case: Case) -> str:
    address = reply_address(case)
    assert address is not None
    return address


def customer_messages(case: Case) -> list[CaseEvent]:
    return list(case.events.filter(kind=EventKind.CUSTOMER_MESSAGE))


def notices(case: Case) -> list[Notification]:
    return list(Notification.objects.filter(case=case, kind=NotificationKind.CUSTOMER_MESSAGE))


def page(response) -> str:
    return html.unescape(response.content.decode())


# --- The reply address and the threading headers ---------------------------------------------------------


def test_the_resolution_email_asks_for_replies_at_the_cases_own_address(resolved) -> None:
    """Reply-To is the portal's address tagged with the case's token; the body names the partner's contact."""
    message = build_notification_email(resolution(resolved))
    assert message.reply_to == [to_case(resolved)]
    local, _at, domain = message.reply_to[0].rpartition("@")
    assert domain == "portal.example"
    assert local == f"support+{case_token(resolved)}"
    assert local == local.lower() and len(local) <= 64
    text = message.body
    assert resolved.number in text and resolved.partner.support_contact_email in text
    assert "your reply goes into case" in build_english(resolved)


def build_english(case: Case) -> str:
    case.customer.preferred_language = "en"
    case.customer.save()
    notification = resolution(case)
    notification.language = "en"
    notification.save()
    return build_notification_email(notification).body


def test_a_case_token_survives_a_lower_casing_mta_and_a_forged_one_is_not_read(case) -> None:
    """The tag reads back as the case number, in any case; a changed or foreign tag reads as nothing."""
    token = case_token(case)
    assert read_case_token(token) == case.number
    assert read_case_token(token.upper()) == case.number
    number, _dot, signature = token.rpartition(".")
    assert read_case_token(f"{number}.{'a' * len(signature)}") is None
    assert read_case_token(token.replace(case.number.lower(), "con-9999")) is None
    assert read_case_token("nonsense") is None


def test_the_first_resolution_email_is_the_root_of_the_thread(
    resolved, helpdesk_agent, billing_admin
) -> None:
    """The customer's e-mail reply answers the first resolution e-mail; the second resolution e-mail answers
    the customer's reply and refers to the whole thread from the first."""
    first = resolution(resolved)
    first_message = build_notification_email(first)
    assert "In-Reply-To" not in first_message.extra_headers
    receive(email(to=to_case(resolved), In_Reply_To=message_id_for(first)), source="test")
    resolved.refresh_from_db()
    assert resolved.status == Status.IN_PROGRESS
    services.case_resolve(case=resolved, actor=billing_admin, resolution_summary=SUMMARY, outcome="upheld")
    second = build_notification_email(resolution(resolved)).extra_headers
    assert second["In-Reply-To"] == "<reply-1@mail.tailspintoys.example>"
    assert second["References"].split() == [message_id_for(first), "<reply-1@mail.tailspintoys.example>"]


def test_without_an_inbound_address_nothing_changes(settings, resolved) -> None:
    """INBOUND_EMAIL_ADDRESS unset (the default): replies go to the partner, no threading headers, no new text."""
    settings.INBOUND_EMAIL_ADDRESS = None
    english = build_english(resolved)
    message = build_notification_email(resolution(resolved))
    assert message.reply_to == [resolved.partner.support_contact_email]
    assert "In-Reply-To" not in message.extra_headers and "References" not in message.extra_headers
    assert "your reply goes into case" not in english
    assert reply_address(resolved) is None


def test_a_partner_that_switches_replies_off_keeps_them_in_its_mailbox(
    contoso, resolved, helpdesk_agent, billing_admin
) -> None:
    """The partner's switch off: Reply-To is its support contact again and the body says nothing of replying
    into the case; the e-mails still thread."""
    contoso.inbound_replies = False
    contoso.save()
    resolved.refresh_from_db()
    services.case_reopen(case=resolved, actor=billing_admin, reason="Not yet.")
    services.case_resolve(case=resolved, actor=billing_admin, resolution_summary=SUMMARY, outcome="upheld")
    message = build_notification_email(resolution(resolved))
    assert message.reply_to == [contoso.support_contact_email]
    assert reply_address(resolved) is None
    assert "your reply goes into case" not in build_english(resolved)
    first = Notification.objects.get(case=resolved, kind=NotificationKind.RESOLUTION, round=1)
    assert message.extra_headers["In-Reply-To"] == message_id_for(first)


def test_the_partner_switch_is_on_by_default_and_in_django_admin(client, staff, contoso) -> None:
    """New partners take replies into their cases; staff see and change the switch on the partner's page."""
    assert contoso.inbound_replies is True
    client.force_login(staff)
    response = client.get(reverse("admin:cases_partner_change", args=[contoso.pk]))
    assert response.status_code == 200
    assert 'name="inbound_replies"' in response.content.decode()


# --- Threading ---------------------------------------------------------------------------------------------


def test_a_reply_to_the_case_address_reopens_the_resolved_case_and_tells_the_assignee(
    resolved, helpdesk_agent
) -> None:
    """The token in To is enough: a customer message on the timeline, the case back in progress (the one
    reopen move), and a notice to the assignee written with it."""
    inbound = receive(email(to=to_case(resolved)), source="test")
    assert inbound.status == InboundStatus.THREADED
    assert inbound.case == resolved
    resolved.refresh_from_db()
    assert resolved.status == Status.IN_PROGRESS
    assert resolved.loop_closed_at is None
    [event] = customer_messages(resolved)
    assert event.message == "The credit is still missing from the November invoice."
    assert event.data["sender"] == CUSTOMER and event.data["inbound"] == inbound.pk
    reopen = resolved.events.get(kind=EventKind.STATUS, data__transition="reopen")
    assert reopen.data["says"] == "reopened_by_email"
    [notice] = notices(resolved)
    assert notice.recipient == helpdesk_agent.user.email
    assert notice.inbound == inbound
    assert notice.status == NotificationStatus.PENDING


def test_the_case_page_credits_the_reopening_to_the_customer_who_wrote(
    client, resolved, helpdesk_agent
) -> None:
    """The move the reply caused names the customer's address, not "the portal"."""
    receive(email(to=to_case(resolved)), source="test")
    client.force_login(helpdesk_agent.user)
    text = client.get(f"/en/cases/{resolved.number}/").content.decode()
    actors = re.findall(r'data-testid="event-actor">([^<]*)<', text)
    assert actors[-2:] == [f"the customer ({CUSTOMER})"] * 2
    assert "the portal" not in actors[-2:]


def test_the_token_may_be_in_cc_or_delivered_to(resolved) -> None:
    """An MTA that rewrites To still leaves the tagged address in Delivered-To."""
    inbound = receive(email(to="someone@portal.example", Delivered_To=to_case(resolved)), source="test")
    assert inbound.case == resolved and inbound.status == InboundStatus.THREADED


def test_a_reply_without_the_token_threads_by_in_reply_to(resolved) -> None:
    """A reply sent to the plain address (the customer typed it) threads through its In-Reply-To."""
    inbound = receive(email(In_Reply_To=message_id_for(resolution(resolved))), source="test")
    assert inbound.case == resolved
    assert inbound.notification == resolution(resolved)
    assert len(customer_messages(resolved)) == 1


def test_references_thread_when_in_reply_to_is_missing(resolved) -> None:
    inbound = receive(
        email(References=f"<unrelated@elsewhere.example> {message_id_for(resolution(resolved))}"),
        source="test",
    )
    assert inbound.case == resolved


def test_a_reply_to_a_reply_threads_into_the_same_case(resolved) -> None:
    """The customer answering their own earlier e-mail (a reply-all of the thread) lands on the same case."""
    receive(email(to=to_case(resolved)), source="test")
    second = receive(
        email(
            "And the December one too.",
            message_id="<reply-2@mail.tailspintoys.example>",
            In_Reply_To="<reply-1@mail.tailspintoys.example>",
        ),
        source="test",
    )
    assert second.case == resolved
    assert len(customer_messages(resolved)) == 2


def test_a_message_on_an_open_case_adds_to_it_without_a_move(case, helpdesk_agent) -> None:
    services.case_start(case=case, actor=helpdesk_agent)
    inbound = receive(email("Here is the invoice number you asked for.", to=to_case(case)), source="test")
    case.refresh_from_db()
    assert inbound.status == InboundStatus.THREADED
    assert case.status == Status.IN_PROGRESS
    assert not case.events.filter(kind=EventKind.STATUS, data__transition="reopen").exists()
    assert len(notices(case)) == 1


def test_an_unassigned_case_tells_the_partners_support_contact(contoso, case) -> None:
    receive(email(to=to_case(case)), source="test")
    [notice] = notices(case)
    assert notice.recipient == contoso.support_contact_email


def test_each_message_gets_its_own_notice(case) -> None:
    receive(email(to=to_case(case)), source="test")
    receive(email("Second thought.", to=to_case(case), message_id="<reply-2@x.example>"), source="test")
    assert len(notices(case)) == 2


def test_a_message_matching_no_case_is_kept_unmatched() -> None:
    inbound = receive(email(), source="test")
    assert inbound.status == InboundStatus.UNMATCHED
    assert inbound.case is None
    assert bytes(inbound.raw).startswith(b"From: ")


def test_the_notice_tells_the_assignee_what_the_customer_wrote(resolved, helpdesk_agent) -> None:
    receive(email(to=to_case(resolved)), source="test")
    [notice] = notices(resolved)
    message = build_notification_email(notice)
    assert message.to == [helpdesk_agent.user.email]
    assert resolved.number in message.subject
    assert "The credit is still missing from the November invoice." in message.body
    assert "back in your queue" in message.body
    assert message.reply_to == [resolved.partner.support_contact_email]  # a notice to the partner: no token


# --- Quoted history in the customers' five languages --------------------------------------------------------

QUOTED = {
    "en": (
        "The credit is still missing.\n\nBest regards,\nBea\n\n"
        "On Mon, 3 Nov 2025 at 10:00, Contoso Support <support+con-1001.x@portal.example> wrote:\n"
        "> Contoso has resolved your billing case CON-1001.\n> What we found\n",
        "The credit is still missing.",
    ),
    "en-outlook": (
        "The credit is still missing.\n\n"
        "________________________________\n"
        "From: Contoso Support <support@portal.example>\n"
        "Sent: Monday, November 3, 2025 10:00 AM\n"
        "To: Bea Billing <billing@tailspintoys.example>\n"
        "Subject: Resolved: Charged for 30 seats\n\nContoso has resolved your billing case.\n",
        "The credit is still missing.",
    ),
    "ja": (
        "クレジットがまだ反映されていません。\n\n"
        "2025年11月3日(月) 10:00 Contoso Support <support@portal.example>:\n"
        "> Contoso がお客様の請求ケース CON-1001 を解決しました。\n",
        "クレジットがまだ反映されていません。",
    ),
    "zh-hans": (
        "退款仍未到账。\n\n"
        "Contoso Support <support@portal.example> 于2025年11月3日周一 10:00写道：\n"
        "> Contoso 已解决您的账单案例 CON-1001。\n",
        "退款仍未到账。",
    ),
    "zh-hant": (
        "退款仍未入帳。\n\n"
        "Contoso Support <support@portal.example> 於 2025年11月3日 週一 上午10:00 寫道：\n"
        "> Contoso 已解決您的帳單案例 CON-1001。\n",
        "退款仍未入帳。",
    ),
    "ru": (
        "Возврат так и не поступил.\n\nС уважением,\nБеа\n\n"
        "пн, 3 нояб. 2025 г. в 10:00, Contoso Support <support@portal.example>:\n"
        "> Contoso решила ваш вопрос по счёту CON-1001.\n",
        "Возврат так и не поступил.",
    ),
    "ru-thunderbird": (
        "Возврат так и не поступил.\n\n03.11.2025 10:00, Contoso Support пишет:\n> Contoso решила ваш вопрос.\n",
        "Возврат так и не поступил.",
    ),
}


@pytest.mark.parametrize("style", QUOTED)
def test_quoted_history_and_signature_are_cut_in_each_language(style: str, customer, case) -> None:
    """What lands on the timeline is what the customer wrote this time; the whole text stays stored."""
    text, expected = QUOTED[style]
    customer.preferred_language = style.split("-")[0] if style.startswith(("en", "ru")) else style
    customer.save()
    inbound = receive(email(text, to=to_case(case)), source="test")
    assert inbound.reply == expected
    assert inbound.text == text.strip()
    [event] = customer_messages(case)
    assert event.message == expected


def test_a_reply_that_is_all_quote_keeps_its_whole_text() -> None:
    assert reply_text("> only the old message\n> quoted") == "> only the old message\n> quoted"


def test_a_hyphen_list_is_not_taken_for_a_signature() -> None:
    text = "Still wrong:\n- October: 30 seats\n- November: 30 seats"
    assert reply_text(text) == text


def test_an_html_only_reply_is_read_as_text_and_its_quote_cut(case) -> None:
    message = EmailMessage()
    message["From"] = CUSTOMER
    message["To"] = to_case(case)
    message["Subject"] = "Re: case"
    message["Message-ID"] = "<html-1@mail.tailspintoys.example>"
    message.set_content(
        "<html><body><p>The credit is <b>still</b> missing.</p>"
        "<div>On Mon, 3 Nov 2025, Contoso Support &lt;support@portal.example&gt; wrote:</div>"
        "<blockquote><p>Contoso has resolved your case.</p></blockquote>"
        "<script>alert(1)</script></body></html>",
        subtype="html",
    )
    inbound = receive(message.as_bytes(policy=policy.SMTP), source="test")
    assert inbound.reply == "The credit is still missing."
    assert "> Contoso has resolved your case." in inbound.text
    assert "alert" not in inbound.text


# --- Exactly once ------------------------------------------------------------------------------------------


def test_the_same_message_twice_is_one_entry(resolved) -> None:
    """An MTA's redelivery, or the pipe and the poller both: the second receive returns the first entry and
    changes nothing."""
    raw = email(to=to_case(resolved))
    first = receive(raw, source="pipe")
    second = receive(raw, source="imap")
    assert second.pk == first.pk and second.source == "pipe"
    assert InboundEmail.objects.count() == 1
    assert len(customer_messages(resolved)) == 1
    assert len(notices(resolved)) == 1


def test_a_message_without_message_id_is_still_kept_once(resolved) -> None:
    raw = email(to=to_case(resolved), message_id=None)
    assert receive(raw, source="test").pk == receive(raw, source="test").pk
    assert len(customer_messages(resolved)) == 1


def test_a_failure_while_threading_keeps_the_message_and_writes_nothing_else(monkeypatch, resolved) -> None:
    """Threading fails half-way (after the timeline event, before the notice): all of it is rolled back,
    the raw message stays, marked with the error; the next delivery of it threads it once."""

    def broken(*args, **kwargs):
        raise RuntimeError("the outbox is on fire")

    monkeypatch.setattr(services, "_notify", broken)
    raw = email(to=to_case(resolved))
    inbound = receive(raw, source="test")
    assert inbound.status == InboundStatus.FAILED
    assert "the outbox is on fire" in inbound.reason
    assert bytes(inbound.raw) == raw
    resolved.refresh_from_db()
    assert resolved.status == Status.RESOLVED
    assert customer_messages(resolved) == [] and notices(resolved) == []
    monkeypatch.undo()
    again = receive(raw, source="test")
    assert again.pk == inbound.pk and again.status == InboundStatus.THREADED
    assert len(customer_messages(resolved)) == 1


# --- Automatic replies and bounces ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Auto_Submitted": "auto-generated"},
        {"X_Autoreply": "yes"},
        {"X_Autorespond": "Out of office"},
        {"Precedence": "bulk"},
        {"Precedence": "auto_reply"},
        {"Precedence": "list"},
        {"subject": "Automatic reply: Resolved: Charged for 30 seats"},
        {"subject": "自動応答: 解決済み"},
        {"subject": "Автоматический ответ: Решено"},
    ],
    ids=lambda headers: "-".join(f"{k}={v}" for k, v in headers.items()),
)
def test_automatic_replies_are_recorded_but_reopen_and_notify_nothing(headers, resolved) -> None:
    inbound = receive(
        email("I am out of the office until Monday.", to=to_case(resolved), **headers), source="test"
    )
    assert inbound.status == InboundStatus.AUTO_REPLY
    assert inbound.case == resolved and inbound.reason
    resolved.refresh_from_db()
    assert resolved.status == Status.RESOLVED
    assert customer_messages(resolved) == [] and notices(resolved) == []


def test_auto_submitted_no_is_a_person_writing(resolved) -> None:
    inbound = receive(email(to=to_case(resolved), Auto_Submitted="no"), source="test")
    assert inbound.status == InboundStatus.THREADED


def delivery_report(
    original: str, *, action: str = "failed", status: str = "5.1.1", recipient: str = CUSTOMER
) -> bytes:
    """A delivery status notification (RFC 3464) as Postfix writes it, with the original's headers."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.tailspintoys.example>\r\n"
        "To: portal@portal.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <20251103.dsn@mx.tailspintoys.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"\r\n\r\n'
        "--BOUNDARY\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        "--BOUNDARY\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.tailspintoys.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected: User unknown\r\n\r\n"
        "--BOUNDARY\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{original}\r\n"
        "--BOUNDARY--\r\n"
    ).encode()


def original_headers(notification: Notification, *, with_id: bool = True) -> str:
    message = build_notification_email(notification).message()
    names = ["From", "To", "Subject", "Reply-To"] + (["Message-ID"] if with_id else [])
    return "\r\n".join(f"{name}: {message[name]}" for name in names)


def test_a_bounce_marks_the_notification_failed_and_tells_the_partner(resolved, helpdesk_agent) -> None:
    """The DSN names the original's Message-ID: that resolution e-mail failed with the bounce's reason, the
    case shows it and the assignee hears of it, as for a refused delivery."""
    notification = resolution(resolved)
    inbound = receive(delivery_report(original_headers(notification)), source="test")
    assert inbound.status == InboundStatus.BOUNCE
    assert inbound.notification == notification
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert "5.1.1" in notification.last_error and "User unknown" in notification.last_error
    event = resolved.events.get(kind=EventKind.NOTIFICATION, data__says="email_failed")
    assert "5.1.1" in event.message
    failed = Notification.objects.get(case=resolved, kind=NotificationKind.FAILED)
    assert failed.recipient == helpdesk_agent.user.email
    resolved.refresh_from_db()
    assert resolved.status == Status.RESOLVED and customer_messages(resolved) == []


def test_a_bounce_without_the_message_id_is_matched_by_the_token(resolved) -> None:
    notification = resolution(resolved)
    inbound = receive(delivery_report(original_headers(notification, with_id=False)), source="test")
    assert inbound.notification == notification
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED


def test_a_delay_report_changes_nothing(resolved) -> None:
    notification = resolution(resolved)
    inbound = receive(
        delivery_report(original_headers(notification), action="delayed", status="4.4.1"), source="test"
    )
    assert inbound.status == InboundStatus.BOUNCE
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT


def test_a_bounce_for_mail_that_is_not_ours_changes_nothing(resolved) -> None:
    inbound = receive(delivery_report("Message-ID: <other@elsewhere.example>\r\nSubject: x"), source="test")
    assert inbound.status == InboundStatus.BOUNCE and inbound.notification is None
    assert resolution(resolved).status == NotificationStatus.SENT


# --- Who may speak for the customer --------------------------------------------------------------------------


def test_mail_from_a_stranger_waits_unverified_and_changes_nothing(resolved) -> None:
    inbound = receive(email(to=to_case(resolved), sender="mallory@evil.example"), source="test")
    assert inbound.status == InboundStatus.UNVERIFIED
    assert inbound.case == resolved
    resolved.refresh_from_db()
    assert resolved.status == Status.RESOLVED
    assert customer_messages(resolved) == [] and notices(resolved) == []


def test_mail_from_the_customers_tenant_domain_is_the_customer(resolved) -> None:
    inbound = receive(email(to=to_case(resolved), sender="kenji@tailspintoys.onmicrosoft.com"), source="test")
    assert inbound.status == InboundStatus.THREADED


def test_a_partner_user_accepts_an_unverified_message_and_it_does_what_the_customers_would(
    resolved, helpdesk_agent
) -> None:
    inbound = receive(email(to=to_case(resolved), sender="cfo@tailspin-holdings.example"), source="test")
    accepted = inbound_accept(inbound=inbound, actor=helpdesk_agent)
    assert accepted.status == InboundStatus.THREADED
    assert accepted.accepted_by == helpdesk_agent.user and accepted.accepted_at is not None
    resolved.refresh_from_db()
    assert resolved.status == Status.IN_PROGRESS
    [event] = customer_messages(resolved)
    assert event.data["accepted_by"] == helpdesk_agent.user.email
    assert len(notices(resolved)) == 1
    with pytest.raises(services.CaseActionError):
        inbound_accept(inbound=inbound, actor=helpdesk_agent)


def test_another_partner_cannot_accept_a_message(resolved, outsider) -> None:
    inbound = receive(email(to=to_case(resolved), sender="cfo@tailspin-holdings.example"), source="test")
    with pytest.raises(PermissionDenied):
        inbound_accept(inbound=inbound, actor=outsider)
    inbound.refresh_from_db()
    assert inbound.status == InboundStatus.UNVERIFIED


def test_a_deactivated_user_cannot_accept_a_message(resolved, helpdesk_agent) -> None:
    inbound = receive(email(to=to_case(resolved), sender="cfo@tailspin-holdings.example"), source="test")
    helpdesk_agent.user.is_active = False
    helpdesk_agent.user.save()
    with pytest.raises(PermissionDenied):
        inbound_accept(inbound=inbound, actor=helpdesk_agent)
    assert customer_messages(resolved) == []


# --- Closed cases ------------------------------------------------------------------------------------------


@pytest.fixture
def closed(resolved) -> Case:
    services.customer_answer(notification=resolution(resolved), answer=Answer.RESOLVED, rating=5)
    resolved.refresh_from_db()
    assert resolved.status == Status.CLOSED
    return resolved


def test_a_message_about_a_closed_case_opens_a_follow_up(closed, helpdesk_agent) -> None:
    """The closed case stays closed; a new case of the same customer and dispute, linked to it, carries the
    message as its description, and its assignee hears of it."""
    inbound = receive(email("The charge is back on the December invoice.", to=to_case(closed)), source="test")
    follow_up = Case.objects.get(follow_up_of=closed)
    assert inbound.case == follow_up and inbound.status == InboundStatus.THREADED
    assert follow_up.description == "The charge is back on the December invoice."
    assert follow_up.customer == closed.customer and follow_up.invoice_number == closed.invoice_number
    assert follow_up.status == Status.NEW and follow_up.number != closed.number
    assert follow_up.assignee == helpdesk_agent.user
    closed.refresh_from_db()
    assert closed.status == Status.CLOSED
    note = closed.events.get(kind=EventKind.CUSTOMER_MESSAGE)
    assert note.data["values"] == {"number": follow_up.number}
    assert len(customer_messages(follow_up)) == 1
    [notice] = notices(follow_up)
    body = build_notification_email(notice).body
    assert closed.number in body and "follow-up" in body


def test_a_second_message_on_the_old_thread_goes_to_the_same_follow_up(closed) -> None:
    receive(email(to=to_case(closed)), source="test")
    receive(email("More.", to=to_case(closed), message_id="<reply-2@x.example>"), source="test")
    [follow_up] = Case.objects.filter(follow_up_of=closed)
    assert len(customer_messages(follow_up)) == 2


# --- Attachments ----------------------------------------------------------------------------------------------


def test_attachments_become_evidence_and_refused_ones_say_why(client, resolved, helpdesk_agent) -> None:
    """A PDF passes the uploads' checks and lands on the case; a program named like a PDF and an empty file
    are refused, listed on the message with why."""
    raw = email(
        to=to_case(resolved),
        attachments=(
            ("invoice-november.pdf", PDF, "application/pdf"),
            ("screenshot.png", PNG, "image/png"),
            ("invoice.pdf", b"MZ\x90\x00 a Windows program", "application/pdf"),
            ("empty.csv", b"", "text/csv"),
        ),
    )
    inbound = receive(raw, source="test")
    assert inbound.status == InboundStatus.THREADED
    names = sorted(Attachment.objects.filter(case=resolved).values_list("original_name", flat=True))
    assert names == ["invoice-november.pdf", "screenshot.png"]
    pdf = Attachment.objects.get(case=resolved, original_name="invoice-november.pdf")
    assert pdf.content_type == "application/pdf" and pdf.file.read() == PDF
    assert [item["code"] for item in inbound.refused_attachments] == ["bad_type", "empty"]
    client.force_login(helpdesk_agent.user)
    content = page(client.get(reverse("cases:inbound_email", args=[resolved.number, inbound.pk])))
    assert "invoice.pdf was not kept: Attach a PDF, PNG, JPEG or CSV file" in content
    assert "invoice-november.pdf" in content


def test_an_attachment_over_the_evidence_limit_is_refused(settings, resolved) -> None:
    settings.ATTACHMENT_MAX_BYTES = 1024
    raw = email(to=to_case(resolved), attachments=(("big.pdf", PDF + b"0" * 2048, "application/pdf"),))
    inbound = receive(raw, source="test")
    assert [item["code"] for item in inbound.refused_attachments] == ["too_large"]
    assert not Attachment.objects.filter(case=resolved).exists()


def test_an_unverified_messages_attachments_wait_for_acceptance(resolved, helpdesk_agent) -> None:
    raw = email(
        to=to_case(resolved),
        sender="cfo@tailspin-holdings.example",
        attachments=(("invoice-november.pdf", PDF, "application/pdf"),),
    )
    inbound = receive(raw, source="test")
    assert not Attachment.objects.filter(case=resolved).exists()
    inbound_accept(inbound=inbound, actor=helpdesk_agent)
    assert Attachment.objects.filter(case=resolved).count() == 1


# --- Refused input ----------------------------------------------------------------------------------------------


def test_empty_input_is_refused_and_stores_nothing() -> None:
    with pytest.raises(InboundError) as refused:
        receive(b"  \r\n", source="test")
    assert refused.value.code == "empty"
    assert not InboundEmail.objects.exists()


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"hello, this is not an e-mail\n", "No e-mail headers"),
        (b"\x00\x01\xff\xfe\x80binary", "No e-mail headers"),
        (b"Subject: no sender\r\nMessage-ID: <x@y.example>\r\n\r\nbody\r\n", "names no sender"),
        (b"From: <<<@@@>>>\r\nMessage-ID: <z@y.example>\r\n\r\nbody\r\n", "names no sender"),
    ],
)
def test_unreadable_input_is_refused_with_a_clear_reason_and_kept(raw: bytes, why: str) -> None:
    inbound = receive(raw, source="test")
    assert inbound.status == InboundStatus.REFUSED
    assert why in inbound.reason
    assert bytes(inbound.raw) == raw
    assert not CaseEvent.objects.filter(kind=EventKind.CUSTOMER_MESSAGE).exists()


def test_a_message_over_the_limit_is_refused_and_only_its_headers_kept(settings, resolved) -> None:
    settings.INBOUND_MAX_BYTES = 4096
    raw = email("x" * 10000, to=to_case(resolved))
    inbound = receive(raw, source="test")
    assert inbound.status == InboundStatus.REFUSED
    assert inbound.size == len(raw)
    assert "the limit is" in inbound.reason
    kept = bytes(inbound.raw)
    assert raw.startswith(kept) and b"Message-ID: <reply-1@mail.tailspintoys.example>" in kept
    assert b"xxxx" not in kept
    assert inbound.message_id == "<reply-1@mail.tailspintoys.example>" and inbound.sender == CUSTOMER
    resolved.refresh_from_db()
    assert resolved.status == Status.RESOLVED and customer_messages(resolved) == []


def test_a_malformed_header_is_no_traceback(resolved) -> None:
    raw = email(to=to_case(resolved)).replace(b"Subject: Re:", b"Subject: =?utf-8?B?broken?= Re:")
    raw = raw.replace(b"Date: Mon, 03 Nov 2025", b"Date: not a date at all")
    inbound = receive(raw, source="test")
    assert inbound.status == InboundStatus.THREADED


# --- The command ------------------------------------------------------------------------------------------------


def test_the_command_stores_a_message_from_standard_input(resolved) -> None:
    out = io.StringIO()
    call_command("receive_email", stdin=io.BytesIO(email(to=to_case(resolved))), stdout=out)
    assert "threaded" in out.getvalue()
    assert InboundEmail.objects.get().source == "pipe"


@pytest.mark.parametrize(
    ("raw", "message"), [(b"", "The message is empty."), (b"garbage\n", "No e-mail headers")]
)
def test_the_command_refuses_what_is_not_a_message(raw: bytes, message: str) -> None:
    with pytest.raises(CommandError) as refused:
        call_command("receive_email", stdin=io.BytesIO(raw))
    assert refused.value.returncode == 65
    assert message in str(refused.value)


def _test_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def _run_command(raw: bytes, settings, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "INBOUND_EMAIL_ADDRESS": INBOUND,
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "EMAIL_URL": "dummymail://",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "receive_email"],
        input=raw,
        capture_output=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_the_command_exit_codes_as_an_mta_pipe_sees_them(settings, customer, helpdesk_agent) -> None:
    """0 once stored; 65 with one line on standard error for empty, unreadable and oversized input."""
    case = services.case_create(
        actor=helpdesk_agent, customer=customer, category="billing_question", title="Seats", description="?"
    )
    stored = _run_command(email(to=to_case(case)), settings)
    assert stored.returncode == 0, stored.stderr
    assert InboundEmail.objects.get().status == InboundStatus.THREADED
    for raw, env in [
        (b"", {}),
        (b"\x00garbage", {}),
        (email("x" * (1024 * 1024 + 10), message_id="<big@x.example>"), {"INBOUND_MAX_MB": "1"}),
    ]:
        refused = _run_command(raw, settings, **env)
        assert refused.returncode == 65
        lines = refused.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("CommandError: ")
    big = InboundEmail.objects.get(message_id="<big@x.example>")
    assert big.status == InboundStatus.REFUSED and big.size > 1024 * 1024 and len(big.raw) < 4096


@pytest.mark.parametrize(
    "value",
    ["Support <support@portal.example>", "support+cases@portal.example", "support", "a b@portal.example"],
)
def test_a_bad_inbound_address_stops_the_portal_at_start_naming_the_variable(value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "INBOUND_EMAIL_ADDRESS": value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "INBOUND_EMAIL_ADDRESS" in result.stderr.splitlines()[-1]


# --- The message on the case page ---------------------------------------------------------------------------------


def test_the_case_page_shows_the_customers_message_with_a_link_to_the_whole_email(
    client, resolved, helpdesk_agent
) -> None:
    inbound = receive(email(QUOTED["en"][0], to=to_case(resolved)), source="test")
    client.force_login(helpdesk_agent.user)
    content = page(client.get(resolved.get_absolute_url()))
    url = reverse("cases:inbound_email", args=[resolved.number, inbound.pk])
    assert f'href="{url}"' in content
    assert "Customer message" in content and f"the customer ({CUSTOMER})" in content
    assert "The credit is still missing." in content
    whole = page(client.get(url))
    assert "Contoso has resolved your billing case CON-1001." in whole  # the quoted history stays viewable
    assert "Added to the case" in whole


def test_another_partner_cannot_see_the_message(client, resolved, outsider, fabrikam_case) -> None:
    inbound = receive(email(to=to_case(resolved)), source="test")
    client.force_login(outsider.user)
    assert client.get(reverse("cases:inbound_email", args=[resolved.number, inbound.pk])).status_code == 404
    # Nor through a case of its own.
    assert (
        client.get(reverse("cases:inbound_email", args=[fabrikam_case.number, inbound.pk])).status_code == 404
    )


def test_the_message_page_escapes_what_the_customer_wrote(client, case, helpdesk_agent) -> None:
    inbound = receive(email('<script>alert("x")</script>', to=to_case(case)), source="test")
    client.force_login(helpdesk_agent.user)
    body = client.get(reverse("cases:inbound_email", args=[case.number, inbound.pk])).content.decode()
    assert "<script>alert" not in body and "&lt;script&gt;" in body
