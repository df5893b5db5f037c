"""The case state machine, escalation, resolution and the timeline, through the services."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from cases import services
from cases.models import (
    TRANSITIONS,
    Case,
    CaseEvent,
    EventKind,
    Notification,
    NotificationKind,
    ServiceLevel,
    Status,
    Transition,
)
from tests.cast import open_dispute

pytestmark = pytest.mark.django_db


def drive(case: Case, actor, *transitions: str) -> Case:
    """Move a case through transitions with valid arguments for each."""
    for transition in transitions:
        if transition == Transition.START:
            case = services.case_start(case=case, actor=actor)
        elif transition == Transition.ESCALATE:
            case = services.case_escalate(case=case, actor=actor, support_vehicle="commercial", severity="B")
        elif transition == Transition.REQUEST_INFO:
            case = services.case_request_info(case=case, actor=actor, message="Need usage export.")
        elif transition == Transition.PROVIDE_INFO:
            case = services.case_provide_info(case=case, actor=actor, message="Sent.")
        elif transition == Transition.RESOLVE:
            case = services.case_resolve(
                case=case, actor=actor, resolution_summary="Upheld.", outcome="upheld"
            )
        elif transition == Transition.CLOSE:
            if case.loop_closed_at is None:
                case = services.case_mark_customer_informed(case=case, actor=actor, note="Phoned.")
            case = services.case_close(case=case, actor=actor)
        elif transition == Transition.REOPEN:
            case = services.case_reopen(case=case, actor=actor, reason="Customer disagrees.")
    return case


# How to bring a fresh case to each status.
PATHS = {
    Status.NEW: [],
    Status.IN_PROGRESS: [Transition.START],
    Status.ESCALATED: [Transition.START, Transition.ESCALATE],
    Status.INFO_REQUESTED: [Transition.START, Transition.ESCALATE, Transition.REQUEST_INFO],
    Status.RESOLVED: [Transition.START, Transition.RESOLVE],
    Status.CLOSED: [Transition.START, Transition.RESOLVE, Transition.CLOSE],
}


@pytest.mark.parametrize("transition", Transition.values)
@pytest.mark.parametrize("status", Status.values)
def test_each_transition_from_each_status(global_admin, customer, status: str, transition: str) -> None:
    """A transition works exactly from the statuses the table lists, and is refused with a clear error otherwise."""
    case = drive(open_dispute(global_admin, customer), global_admin, *PATHS[status])
    assert case.status == status
    sources, target = TRANSITIONS[transition]
    events_before = case.events.count()
    if status in sources:
        case = drive(case, global_admin, transition)
        assert case.status == target
        event = case.events.filter(kind=EventKind.STATUS).last()
        assert (event.from_status, event.to_status, event.actor) == (status, target, global_admin.user)
    else:
        with pytest.raises(services.CaseActionError) as error:
            drive(case, global_admin, transition)
        assert error.value.code in ("illegal_transition", "not_resolved")
        case.refresh_from_db()
        assert case.status == status
        assert case.events.count() == events_before


def test_status_changes_only_in_services() -> None:
    """No module outside the services assigns a case status (STYLE: `status =` elsewhere is a bug)."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = []
    for path in list((root / "cases").rglob("*.py")) + list((root / "portal").rglob("*.py")):
        if path.name in ("services.py",) or "migrations" in path.parts or "management" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bcase\.status\s*=[^=]", line):
                offenders.append(f"{path.relative_to(root)}:{number}")
    assert offenders == []


def test_case_numbers_are_per_partner_and_sequential(
    helpdesk_agent, outsider, customer, fabrikam_customer
) -> None:
    """Each partner numbers its own cases PREFIX-1001, PREFIX-1002, …"""
    first = open_dispute(helpdesk_agent, customer)
    second = open_dispute(helpdesk_agent, customer)
    other = open_dispute(outsider, fabrikam_customer, currency="CNY")
    assert (first.number, second.number, other.number) == ("CON-1001", "CON-1002", "FAB-1001")


def test_new_case_gets_its_response_target_from_severity(helpdesk_agent, customer) -> None:
    """Severity A, B and C give first-response targets of 2, 4 and 8 hours (here round the clock)."""
    ServiceLevel.objects.create(
        partner=helpdesk_agent.partner, working_hours={str(day): [[0, 1440]] for day in range(7)}
    )
    for severity, hours in (("A", 2), ("B", 4), ("C", 8)):
        case = open_dispute(helpdesk_agent, customer, severity=severity)
        assert case.first_response_due_at - case.created_at == datetime.timedelta(hours=hours)
        assert case.first_response_due == case.first_response_due_at
    created = CaseEvent.objects.filter(kind=EventKind.CREATED).first()
    assert created.actor == helpdesk_agent.user


def test_contoso_escalates_to_microsoft_with_its_own_contact(helpdesk_agent, case) -> None:
    """A global-cloud partner escalates to Microsoft; the partner's contact, not the customer's, goes on it."""
    case = drive(case, helpdesk_agent, Transition.START)
    case = services.case_escalate(
        case=case,
        actor=helpdesk_agent,
        support_vehicle="commercial",
        severity="A",
        support_request_number=" 123 ",
    )
    assert case.escalation_target == "microsoft"
    assert case.escalation_contact_email == case.partner.support_contact_email
    assert case.escalation_contact_email != case.customer.billing_contact_email
    assert case.support_request_number == "123"
    assert case.escalated_at is not None


def test_fabrikam_escalates_to_21vianet(outsider, fabrikam_case) -> None:
    """A 21Vianet-cloud partner escalates to 21Vianet; nobody can pick the other target."""
    case = drive(fabrikam_case, outsider, Transition.START)
    case = services.case_escalate(case=case, actor=outsider, support_vehicle="commercial", severity="B")
    assert case.escalation_target == "21vianet"


@pytest.mark.parametrize(
    ("plan", "vehicle", "allowed"),
    [
        ("none", "commercial", True),
        ("none", "premier", False),
        ("premier", "premier", True),
        ("premier", "advanced", False),
        ("advanced", "advanced", True),
        ("signature", "signature", True),
        ("signature", "premier", False),
    ],
)
def test_technical_escalation_needs_the_matching_support_plan(
    helpdesk_agent, customer, contoso, plan: str, vehicle: str, allowed: bool
) -> None:
    """Commercial support is open to all; technical support only through the partner's own plan."""
    contoso.support_plan = plan
    contoso.save()
    case = drive(open_dispute(helpdesk_agent, customer), helpdesk_agent, Transition.START)
    if allowed:
        assert services.case_escalate(
            case=case, actor=helpdesk_agent, support_vehicle=vehicle, severity="B"
        ).status == (Status.ESCALATED)
    else:
        with pytest.raises(services.CaseActionError) as error:
            services.case_escalate(case=case, actor=helpdesk_agent, support_vehicle=vehicle, severity="B")
        assert error.value.code == "vehicle_not_in_plan"


def test_support_request_number_can_be_added_later(helpdesk_agent, case) -> None:
    """The number Microsoft gives may arrive after the escalation; it is recorded on the timeline."""
    case = drive(case, helpdesk_agent, Transition.START, Transition.ESCALATE)
    case = services.case_record_support_request(
        case=case, actor=helpdesk_agent, support_request_number="2611220040001234"
    )
    assert case.support_request_number == "2611220040001234"
    assert case.events.filter(kind=EventKind.SUPPORT_REQUEST).exists()


def test_time_with_target_against_response_target(helpdesk_agent, case) -> None:
    """The case knows how long it has been with the target, and whether that passed the severity's target."""
    case = drive(case, helpdesk_agent, Transition.START, Transition.ESCALATE)
    later = case.escalated_at + datetime.timedelta(hours=5)
    assert case.time_with_target(later) == datetime.timedelta(hours=5)
    assert case.escalation_overdue(later)  # severity B: 4 hours
    assert not case.escalation_overdue(case.escalated_at + datetime.timedelta(hours=3))


def test_resolving_a_dispute_needs_summary_and_outcome(billing_admin, helpdesk_agent, case) -> None:
    """A dispute is resolved only with a summary and whether a credit was granted or the charge upheld."""
    case = drive(case, helpdesk_agent, Transition.START)
    with pytest.raises(ValidationError) as error:
        services.case_resolve(case=case, actor=billing_admin, resolution_summary=" ", outcome="")
    assert set(error.value.message_dict) == {"resolution_summary", "outcome"}
    with pytest.raises(ValidationError) as error:
        services.case_resolve(case=case, actor=billing_admin, resolution_summary="Credit.", outcome="credit")
    assert "credit_amount" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.case_resolve(
            case=case,
            actor=billing_admin,
            resolution_summary="Credit.",
            outcome="credit",
            credit_amount=Decimal("999"),
        )
    assert error.value.message_dict["credit_amount"] == ["The credit cannot exceed the disputed amount."]
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS


def test_resolution_records_a_due_notification_per_round(billing_admin, helpdesk_agent, case) -> None:
    """Resolving writes the customer's notification in their language; resolving again after a reopen, another."""
    case = drive(case, helpdesk_agent, Transition.START)
    case = services.case_resolve(
        case=case,
        actor=billing_admin,
        resolution_summary="Credit issued.",
        outcome="credit",
        credit_amount=Decimal("412.50"),
    )
    first = Notification.objects.get(case=case)
    assert (first.kind, first.round, first.recipient, first.language) == (
        NotificationKind.RESOLUTION,
        1,
        "billing@tailspintoys.example",
        "ja",
    )
    case = drive(case, billing_admin, Transition.REOPEN)
    case = services.case_resolve(
        case=case, actor=billing_admin, resolution_summary="Upheld.", outcome="upheld"
    )
    assert list(Notification.objects.filter(case=case).values_list("round", flat=True)) == [1, 2]


def test_closing_waits_for_the_loop_with_the_customer(billing_admin, helpdesk_agent, case) -> None:
    """A resolved case closes only once the loop is closed."""
    case = drive(case, helpdesk_agent, Transition.START)
    case = services.case_resolve(
        case=case, actor=billing_admin, resolution_summary="Upheld.", outcome="upheld"
    )
    with pytest.raises(services.CaseActionError) as error:
        services.case_close(case=case, actor=billing_admin)
    assert error.value.code == "loop_open"
    case = services.case_mark_customer_informed(case=case, actor=billing_admin, note="Explained by phone.")
    case = services.case_close(case=case, actor=billing_admin)
    assert case.status == Status.CLOSED and case.closed_at is not None


def test_reopen_returns_to_the_queue_and_needs_a_reason(billing_admin, helpdesk_agent, case) -> None:
    """Reopening from resolved or closed goes back to in progress, with the reason on the timeline."""
    case = drive(case, helpdesk_agent, Transition.START, Transition.RESOLVE, Transition.CLOSE)
    with pytest.raises(services.CaseActionError):
        services.case_reopen(case=case, actor=billing_admin, reason="")
    case = services.case_reopen(case=case, actor=billing_admin, reason="The credit never arrived.")
    assert case.status == Status.IN_PROGRESS
    assert case.closed_at is None and case.loop_closed_at is None
    assert case.events.last().message == "The credit never arrived."


def test_timeline_records_every_step_in_order(helpdesk_agent, billing_admin, case) -> None:
    """Opening, notes, escalation and resolution each leave one line, in order, with who did it."""
    services.case_comment(case=case, actor=helpdesk_agent, message="Asked for the invoice PDF.")
    case = drive(case, helpdesk_agent, Transition.START, Transition.ESCALATE)
    case = services.case_resolve(
        case=case,
        actor=billing_admin,
        resolution_summary="Credit.",
        outcome="credit",
        credit_amount=Decimal("1"),
    )
    kinds = [(e.kind, e.to_status, e.actor.email if e.actor else None) for e in case.events.all()]
    assert kinds == [
        ("created", "", "helpdesk.agent@contoso.example"),
        ("comment", "", "helpdesk.agent@contoso.example"),
        ("status", "in_progress", "helpdesk.agent@contoso.example"),
        ("status", "escalated", "helpdesk.agent@contoso.example"),
        ("status", "resolved", "billing.admin@contoso.example"),
        ("notification", "", "billing.admin@contoso.example"),
    ]


def test_illegal_move_through_the_page_is_a_message_not_a_500(client, helpdesk_agent, case) -> None:
    """Posting a transition the status does not allow redirects back with a clear message."""
    client.force_login(helpdesk_agent.user)
    response = client.post(reverse("cases:transition", args=[case.number, "close"]), follow=True)
    assert response.status_code == 200
    assert "cannot be moved this way" in response.content.decode()


def test_unknown_transition_is_404(client, helpdesk_agent, case) -> None:
    """A made-up transition name is not found."""
    client.force_login(helpdesk_agent.user)
    assert client.post(reverse("cases:transition", args=[case.number, "teleport"])).status_code == 404


def test_concurrent_transitions_are_serialised(helpdesk_agent, case) -> None:
    """The row lock means a stale copy of the case cannot be moved twice."""
    stale = Case.objects.get(pk=case.pk)
    services.case_start(case=case, actor=helpdesk_agent)
    with pytest.raises(services.CaseActionError):
        services.case_start(case=stale, actor=helpdesk_agent)
    assert Case.objects.get(pk=case.pk).events.filter(kind=EventKind.STATUS).count() == 1
