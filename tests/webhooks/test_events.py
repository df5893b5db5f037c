"""Each event is written where it happens, in the transaction of the change, to the endpoints that chose it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from cases import services
from cases.models import Notification, Severity, SupportVehicle
from tests.cast import open_dispute
from webhooks import services as webhook_services
from webhooks.models import WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooked(global_admin):
    return webhook_services.endpoint_create(
        actor=global_admin, url="https://hooks.contoso.example/", events=WebhookEvent.values
    )


def events(endpoint) -> list[tuple[str, dict]]:
    return [
        (delivery.event, json.loads(delivery.body)["data"])
        for delivery in WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk")
    ]


def test_the_workflow_writes_each_event(hooked, helpdesk_agent, billing_admin, customer) -> None:
    """Opening, a note, starting, escalating and resolving write their events with the case's facts."""
    case = open_dispute(helpdesk_agent, customer)
    services.case_comment(case=case, actor=helpdesk_agent, message="Asked for the seat report.")
    case = services.case_start(case=case, actor=helpdesk_agent)
    case = services.case_escalate(
        case=case, actor=helpdesk_agent, support_vehicle=SupportVehicle.COMMERCIAL, severity=Severity.B
    )
    written = events(hooked)
    assert [name for name, _data in written] == [
        "case.created",
        "case.commented",
        "case.status_changed",
        "case.status_changed",
        "case.escalated",
    ]
    created, note, started, escalating, escalated = (data for _name, data in written)
    assert created["case"]["number"] == case.number and created["case"]["status"] == "new"
    assert note["note"]["message"] == "Asked for the seat report."
    assert note["note"]["author"] == helpdesk_agent.user.email
    assert (started["from_status"], started["to_status"], started["transition"]) == (
        "new",
        "in_progress",
        "start",
    )
    assert escalating["to_status"] == "escalated"
    assert escalated["escalation_target"] == "microsoft" and escalated["support_vehicle"] == "commercial"


def test_the_customers_answer_and_a_failed_email_write_events(
    hooked, helpdesk_agent, billing_admin, customer
) -> None:
    """The customer's "not resolved" writes customer.answered (and the reopening); a failed e-mail writes
    notification.failed."""
    case = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    case = services.case_resolve(
        case=case,
        actor=billing_admin,
        resolution_summary="Credited.",
        outcome="credit",
        credit_amount=Decimal("1"),
    )
    notification = Notification.objects.get(case=case, kind="resolution")
    services.customer_answer(
        notification=notification, answer="not_resolved", comment="Still billed.", rating=2
    )
    answered = [data for name, data in events(hooked) if name == "customer.answered"]
    assert answered == [
        {**answered[0], "channel": "link", "answer": "not_resolved", "rating": 2, "message": "Still billed."}
    ]
    assert events(hooked)[-1][1]["to_status"] == "in_progress"

    services.notification_mark_failed(notification=notification, error="550 no such user")
    [failed] = [data for name, data in events(hooked) if name == "notification.failed"]
    assert failed["notification"]["recipient"] == customer.billing_contact_email
    assert failed["notification"]["error"] == "550 no such user"


def test_an_endpoint_hears_only_the_events_it_chose(global_admin, helpdesk_agent, customer) -> None:
    """An endpoint for case.escalated gets nothing when a case is opened or noted."""
    endpoint = webhook_services.endpoint_create(
        actor=global_admin, url="https://hooks.contoso.example/", events=["case.escalated"]
    )
    case = open_dispute(helpdesk_agent, customer)
    services.case_comment(case=case, actor=helpdesk_agent, message="Nothing to send.")
    assert events(endpoint) == []


def test_another_partners_changes_reach_no_contoso_endpoint(hooked, fabrikam_case, outsider) -> None:
    """Fabrikam's cases are written to Fabrikam's endpoints only."""
    services.case_comment(case=fabrikam_case, actor=outsider, message="Fabrikam's own note.")
    assert events(hooked) == []


def test_the_customers_email_reply_writes_customer_answered(hooked, case, helpdesk_agent) -> None:
    """A customer's e-mail threaded into the case is customer.answered with channel email and their words."""
    from cases.emails import message_id_for
    from cases.inbound import receive
    from tests.cases.test_inbound import email, send

    event = services.case_message_customer(case=case, actor=helpdesk_agent, message="Is Friday fine?")
    notification = Notification.objects.get(pk=event.data["notification"])
    send(notification)
    receive(
        email("Friday is fine.", to="someone@portal.example", In_Reply_To=message_id_for(notification)),
        source="test",
    )
    [answered] = [data for name, data in events(hooked) if name == "customer.answered"]
    assert answered["channel"] == "email" and "Friday is fine." in answered["message"]
    assert answered["case"]["number"] == case.number
