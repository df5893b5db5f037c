"""Replying from the case: a partner user writes to the customer (page and service), the e-mail goes out
through the outbox in the case's thread and the customer's language, and the customer's answer to it comes
back to the case; a message from an unverified sender is accepted from the case page."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from cases import services
from cases.emails import build_notification_email, message_id_for
from cases.inbound import receive, reply_address
from cases.models import (
    CaseEvent,
    EventKind,
    InboundStatus,
    Notification,
    NotificationKind,
    NotificationStatus,
    Status,
)
from cases.tasks import deliver_outbox
from tests.cases.test_inbound import CUSTOMER, email, resolution, send

pytestmark = pytest.mark.django_db

INBOUND = "support@portal.example"
WORDS = "We asked Microsoft for the October usage report.\nYou will hear from us by Friday."


@pytest.fixture(autouse=True)
def inbound_address(settings) -> None:
    settings.INBOUND_EMAIL_ADDRESS = INBOUND


def page(response) -> str:
    return html.unescape(response.content.decode())


def outgoing(case) -> list[Notification]:
    return list(Notification.objects.filter(case=case, kind=NotificationKind.PARTNER_MESSAGE))


def test_the_agent_writes_to_the_customer_from_the_case_page(
    client, case, helpdesk_agent, mailoutbox, django_capture_on_commit_callbacks, settings
) -> None:
    """The form posts one message; the e-mail is in the outbox with the timeline entry, and the delivery run
    sends it to the billing contact in Japanese, with the agent's words as written."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    client.force_login(helpdesk_agent.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("cases:message", args=[case.number]), {"message": WORDS})
    assert response.status_code == 302
    [event] = case.events.filter(kind=EventKind.PARTNER_MESSAGE)
    assert event.actor == helpdesk_agent.user and event.message == WORDS
    [notification] = outgoing(case)
    assert (notification.recipient, notification.language) == (CUSTOMER, "ja")
    assert notification.round == event.pk and event.data["notification"] == notification.pk
    assert notification.status == NotificationStatus.SENT
    [message] = mailoutbox
    assert message.to == [CUSTOMER]
    assert message.reply_to == [reply_address(case)]
    assert WORDS in message.body and helpdesk_agent.user.get_full_name() in message.body
    # The portal's words in Japanese (the greeting and sign-off; the new sentences once translated).
    assert "Bea Billing 様" in message.body and "Contoso サポート チーム" in message.body
    assert message.extra_headers["Content-Language"] == "ja"
    content = page(client.get(case.get_absolute_url()))
    assert "Message to the customer" in content
    assert f"E-mail to the customer ({CUSTOMER})" in content
    assert "timeline__event--partner_message" in content


def test_an_outgoing_message_is_not_an_internal_note_and_a_note_sends_nothing(case, helpdesk_agent) -> None:
    services.case_comment(case=case, actor=helpdesk_agent, message="Customer sounds annoyed.")
    services.case_message_customer(case=case, actor=helpdesk_agent, message=WORDS)
    kinds = list(case.events.exclude(kind=EventKind.CREATED).values_list("kind", flat=True))
    assert kinds == [EventKind.COMMENT, EventKind.PARTNER_MESSAGE]
    assert len(outgoing(case)) == 1
    assert not Notification.objects.filter(case=case).exclude(kind=NotificationKind.PARTNER_MESSAGE).exists()


def test_a_message_threads_after_the_resolution_and_the_customers_reply(
    case, helpdesk_agent, billing_admin
) -> None:
    """In-Reply-To is the customer's latest e-mail; References starts with the resolution e-mail."""
    services.case_start(case=case, actor=helpdesk_agent)
    services.case_resolve(
        case=case, actor=billing_admin, resolution_summary="The charge stands.", outcome="upheld"
    )
    first = resolution(case)
    send(first)
    receive(email(to=reply_address(case), In_Reply_To=message_id_for(first)), source="test")
    event = services.case_message_customer(case=case, actor=helpdesk_agent, message=WORDS)
    message = build_notification_email(Notification.objects.get(pk=event.data["notification"]))
    assert message.extra_headers["In-Reply-To"] == "<reply-1@mail.tailspintoys.example>"
    assert message.extra_headers["References"].split() == [
        message_id_for(first),
        "<reply-1@mail.tailspintoys.example>",
    ]


def test_the_customers_answer_to_a_message_comes_back_to_the_case(case, helpdesk_agent) -> None:
    """Threaded by In-Reply-To alone (no token in the address): the partner's message is one of ours."""
    event = services.case_message_customer(case=case, actor=helpdesk_agent, message=WORDS)
    notification = Notification.objects.get(pk=event.data["notification"])
    send(notification)
    inbound = receive(
        email(
            "Thanks, Friday is fine.", to="someone@portal.example", In_Reply_To=message_id_for(notification)
        ),
        source="test",
    )
    assert inbound.status == InboundStatus.THREADED and inbound.case == case
    assert inbound.notification == notification


def test_a_message_needs_words_and_has_a_limit(client, case, helpdesk_agent) -> None:
    client.force_login(helpdesk_agent.user)
    response = client.post(reverse("cases:message", args=[case.number]), {"message": "  "})
    assert response.status_code == 400
    assert not outgoing(case)
    with pytest.raises(services.CaseActionError) as refused:
        services.case_message_customer(case=case, actor=helpdesk_agent, message="x" * 10_001)
    assert refused.value.code == "max_length"


def test_a_resolved_case_stays_resolved_when_the_partner_writes(case, helpdesk_agent, billing_admin) -> None:
    services.case_start(case=case, actor=helpdesk_agent)
    services.case_resolve(
        case=case, actor=billing_admin, resolution_summary="The charge stands.", outcome="upheld"
    )
    services.case_message_customer(case=case, actor=helpdesk_agent, message=WORDS)
    case.refresh_from_db()
    assert case.status == Status.RESOLVED


def test_the_resolution_panel_lists_the_resolutions_e_mails_and_the_timeline_the_conversation(
    client, case, helpdesk_agent, billing_admin
) -> None:
    """A message written after the resolution is on the timeline, with a way to send it again if it failed,
    not among the resolution's e-mails."""
    services.case_start(case=case, actor=helpdesk_agent)
    services.case_resolve(
        case=case, actor=billing_admin, resolution_summary="The charge stands.", outcome="upheld"
    )
    event = services.case_message_customer(case=case, actor=helpdesk_agent, message=WORDS)
    notification = Notification.objects.get(pk=event.data["notification"])
    services.notification_mark_failed(notification=notification, error="550 5.1.1 mailbox unknown")
    client.force_login(billing_admin.user)
    text = page(client.get(reverse("cases:detail", args=[case.number])))
    panel = text.split('data-testid="notifications"')[1].split("</ul>")[0]
    assert "Resolution e-mail to the customer" in panel
    assert "A partner user wrote to the customer" not in panel
    outgoing_line = text.split('data-testid="outgoing"')[1].split("</p>")[0]
    assert reverse("cases:resend", args=[case.number, notification.pk]) in outgoing_line


def test_an_unverified_message_waits_on_the_case_page_and_is_accepted_there(
    client, case, helpdesk_agent
) -> None:
    stranger = "cfo@tailspin-holdings.example"
    inbound = receive(email(to=reply_address(case), sender=stranger), source="test")
    assert inbound.status == InboundStatus.UNVERIFIED
    client.force_login(helpdesk_agent.user)
    content = page(client.get(case.get_absolute_url()))
    assert "Waiting for acceptance" in content and stranger in content
    assert not case.events.filter(kind=EventKind.CUSTOMER_MESSAGE).exists()
    response = client.post(reverse("cases:inbound_accept", args=[case.number, inbound.pk]))
    assert response.status_code == 302
    inbound.refresh_from_db()
    assert inbound.status == InboundStatus.THREADED and inbound.accepted_by == helpdesk_agent.user
    [event] = CaseEvent.objects.filter(case=case, kind=EventKind.CUSTOMER_MESSAGE)
    assert event.data["accepted_by"] == helpdesk_agent.user.email
    assert "Waiting for acceptance" not in page(client.get(case.get_absolute_url()))
    # A second accept (a double click) is refused with a message, not an error page.
    again = client.post(reverse("cases:inbound_accept", args=[case.number, inbound.pk]), follow=True)
    assert again.status_code == 200 and "Only a message from an unverified sender" in page(again)


def test_the_delivery_run_sends_an_outgoing_message_once(case, helpdesk_agent, mailoutbox) -> None:
    services.case_message_customer(case=case, actor=helpdesk_agent, message=WORDS)
    assert deliver_outbox.apply().get() == 1
    assert deliver_outbox.apply().get() == 0
    assert len(mailoutbox) == 1
