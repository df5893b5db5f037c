"""Service levels on cases: due times on the partner's calendar, the clock's pauses, recomputing, warnings."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from cases import servicelevels, services, tasks
from cases.emails import build_notification_email
from cases.models import Case, CaseEvent, EventKind, Notification, ServiceLevel, Status
from tests.cast import force_login_with_code, open_dispute

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
NINE_TO_FIVE = {str(day): [[540, 1020]] for day in range(5)}


def at(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def set_times(case: Case, created: datetime.datetime, events: list[datetime.datetime]) -> Case:
    """Put the case and its timeline (oldest first) at fixed instants, and recompute its due times."""
    Case.objects.filter(pk=case.pk).update(created_at=created)
    for event, when in zip(case.events.order_by("created_at", "pk"), events, strict=True):
        CaseEvent.objects.filter(pk=event.pk).update(created_at=when)
    case = Case.objects.select_related("partner").get(pk=case.pk)
    servicelevels.refresh_due_times(case)
    return case


def test_a_partner_without_settings_uses_its_clouds_calendar(contoso, fabrikam) -> None:
    """21Vianet partners get China's holidays and Shanghai time; the global cloud UTC and none."""
    china = ServiceLevel.for_partner(fabrikam)
    assert (china.time_zone, china.holiday_country) == ("Asia/Shanghai", "CN")
    assert (
        ServiceLevel.for_partner(contoso).time_zone,
        ServiceLevel.for_partner(contoso).holiday_country,
    ) == (
        "UTC",
        "",
    )
    assert ServiceLevel.for_partner(contoso).target("first_response", "B") == datetime.timedelta(hours=4)


def test_due_times_skip_the_weekend(helpdesk_agent, customer) -> None:
    """Severity B opened Friday 15:00: first response due Monday 11:00, resolution (24 h) Wednesday 15:00."""
    ServiceLevel.objects.create(partner=helpdesk_agent.partner, working_hours=NINE_TO_FIVE)
    case = open_dispute(helpdesk_agent, customer, severity="B")
    case = set_times(case, at(2026, 3, 6, 15), [at(2026, 3, 6, 15)])
    assert case.first_response_due_at == at(2026, 3, 9, 11)
    assert case.resolution_due_at == at(2026, 3, 11, 15)
    assert case.next_due_at == case.first_response_due_at
    # The warning comes at 75 % of the first response: three working hours, Monday 10:00.
    assert case.service_check_at == at(2026, 3, 9, 10)


def test_information_requested_pauses_the_clock_on_the_timeline(helpdesk_agent, case) -> None:
    """Asking the partner for information stops the clock; providing it starts it again; both are shown."""
    case = services.case_start(case=case, actor=helpdesk_agent)
    case = services.case_escalate(case=case, actor=helpdesk_agent, support_vehicle="commercial", severity="B")
    case = services.case_request_info(case=case, actor=helpdesk_agent)
    assert case.clock_paused_at is not None
    assert case.next_due_at is None or case.next_due_at < case.clock_paused_at
    clock = [e.data["clock"] for e in case.events.filter(kind=EventKind.CLOCK)]
    assert clock == ["paused"]
    case = services.case_provide_info(case=case, actor=helpdesk_agent)
    assert case.clock_paused_at is None
    texts = [e.text for e in case.events.filter(kind=EventKind.CLOCK)]
    assert texts == [
        "The service-level clock is paused: Microsoft asked for information.",
        "The service-level clock runs again.",
    ]


def test_a_pause_pushes_the_due_times_by_its_working_time(helpdesk_agent, customer) -> None:
    """Two working hours waiting on the partner's answer push resolution and escalation response by two."""
    ServiceLevel.objects.create(partner=helpdesk_agent.partner, working_hours=NINE_TO_FIVE)
    case = open_dispute(helpdesk_agent, customer, severity="B")
    case = services.case_start(case=case, actor=helpdesk_agent)
    case = services.case_escalate(case=case, actor=helpdesk_agent, support_vehicle="commercial", severity="B")
    Case.objects.filter(pk=case.pk).update(
        escalated_at=at(2026, 3, 2, 10), first_response_at=at(2026, 3, 2, 9)
    )
    case = services.case_request_info(case=case, actor=helpdesk_agent)
    case = services.case_provide_info(case=case, actor=helpdesk_agent)
    # created, start, escalate, request info and the pause, provide info and the resumption.
    events = list(case.events.order_by("created_at", "pk"))
    assert [e.kind for e in events] == ["created", "status", "status", "status", "clock", "status", "clock"]
    times = [at(2026, 3, 2, 9), at(2026, 3, 2, 9), at(2026, 3, 2, 10)]
    times += [at(2026, 3, 2, 11), at(2026, 3, 2, 11), at(2026, 3, 2, 13), at(2026, 3, 2, 13)]
    case = set_times(case, at(2026, 3, 2, 9), times)
    # Resolution: 24 working hours from Monday 09:00 is Thursday 09:00, plus two paused: 11:00.
    assert case.resolution_due_at == at(2026, 3, 5, 11)
    # The escalation target answered (asked for information) at 11:00: its response target was met then.
    assert case.escalation_response_due_at == at(2026, 3, 2, 14)
    assert case.first_response_due_at == at(2026, 3, 2, 13)


def test_waiting_on_the_customer_pauses_until_they_answer(helpdesk_agent, case) -> None:
    """A message that waits for the customer's answer stops the clock; any move starts it again."""
    services.case_message_customer(
        case=case, actor=helpdesk_agent, message="Which seats?", wait_for_answer=True
    )
    case.refresh_from_db()
    assert case.clock_paused_at is not None
    assert case.first_response_due_at is None  # the clock stopped before the target ran out
    assert case.next_due_at is None
    case = services.case_start(case=case, actor=helpdesk_agent)
    assert case.clock_paused_at is None
    assert case.first_response_due_at is not None and case.resolution_due_at is not None
    kinds = [e.data.get("says") for e in case.events.filter(kind=EventKind.CLOCK)]
    assert kinds == ["clock_paused_customer", "clock_resumed"]


def test_the_time_resolved_before_a_reopen_does_not_count(helpdesk_agent, customer) -> None:
    """Resolved Monday 10:00, reopened Tuesday 10:00: the resolution target moves by a working day."""
    ServiceLevel.objects.create(partner=helpdesk_agent.partner, working_hours=NINE_TO_FIVE)
    case = open_dispute(helpdesk_agent, customer, severity="C")
    case = services.case_start(case=case, actor=helpdesk_agent)
    case = services.case_resolve(
        case=case, actor=helpdesk_agent, resolution_summary="Upheld.", outcome="upheld"
    )
    case = services.case_reopen(case=case, actor=helpdesk_agent, reason="Not so.")
    events = list(case.events.order_by("created_at", "pk"))
    times = [at(2026, 3, 2, 9)] * 2 + [at(2026, 3, 2, 10)] * (len(events) - 3) + [at(2026, 3, 3, 10)]
    case = set_times(case, at(2026, 3, 2, 9), times)
    # 40 working hours from Monday 09:00 end Friday 17:00; eight more paused: Monday 17:00.
    assert case.resolution_due_at == at(2026, 3, 9, 17)


def test_a_resolved_case_keeps_its_due_times_and_runs_no_target(helpdesk_agent, case) -> None:
    """After resolving, the due times stay for the reports and nothing is running."""
    case = services.case_start(case=case, actor=helpdesk_agent)
    case = services.case_resolve(
        case=case, actor=helpdesk_agent, resolution_summary="Upheld.", outcome="upheld"
    )
    assert case.status == Status.RESOLVED
    assert case.first_response_due_at and case.resolution_due_at
    assert (case.next_due_at, case.service_check_at) == (None, None)


def test_changing_the_calendar_recomputes_open_cases(helpdesk_agent, customer) -> None:
    """A partner's open cases take its new calendar at once; resolved ones keep theirs."""
    open_case = open_dispute(helpdesk_agent, customer, severity="B")
    done = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    done = services.case_resolve(case=done, actor=helpdesk_agent, resolution_summary="Ok.", outcome="upheld")
    before = done.resolution_due_at
    ServiceLevel.objects.create(
        partner=helpdesk_agent.partner, working_hours={str(day): [[0, 1440]] for day in range(7)}
    )
    assert servicelevels.partner_refresh_due_times(partner=helpdesk_agent.partner) == 1
    open_case.refresh_from_db()
    done.refresh_from_db()
    assert open_case.first_response_due_at == open_case.created_at + datetime.timedelta(hours=4)
    assert done.resolution_due_at == before


ROUND_THE_CLOCK = {str(day): [[0, 1440]] for day in range(7)}


def aged(case: Case, hours: float) -> Case:
    """The case as if opened hours ago, its due times recomputed and saved."""
    created = timezone.now() - datetime.timedelta(hours=hours)
    case = set_times(case, created, [created] * case.events.count())
    case.save()
    return case


def warnings(case: Case) -> list[tuple[str, int, str]]:
    return list(
        Notification.objects.filter(case=case, kind__in=("sla_warning", "sla_breach"))
        .order_by("pk")
        .values_list("kind", "round", "recipient")
    )


def test_the_warning_and_the_breach_fire_once_each(
    helpdesk_agent, customer, django_capture_on_commit_callbacks
) -> None:
    """At 75 % of the first response the assignee is warned, at the breach told; running the task again
    tells nothing more."""
    ServiceLevel.objects.create(partner=helpdesk_agent.partner, working_hours=ROUND_THE_CLOCK)
    case = open_dispute(helpdesk_agent, customer, severity="B", assignee=helpdesk_agent.user)
    case = aged(case, 3.5)  # 4 hours for severity B: past 75 %
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.check_service_levels() == 1
        assert tasks.check_service_levels() == 0
    assert warnings(case) == [("sla_warning", 1, helpdesk_agent.user.email)]
    case = aged(case, 4.5)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.check_service_levels() == 1
        assert tasks.check_service_levels() == 0
    assert [kind for kind, _round, _to in warnings(case)] == ["sla_warning", "sla_breach"]
    case.refresh_from_db()
    assert case.service_check_at is not None  # the resolution target still runs
    assert case.service_check_at > timezone.now()


def test_a_breach_found_late_sends_only_the_breach(helpdesk_agent, customer) -> None:
    """A case found past its target is told of the breach, not of the 75 % it passed on the way."""
    ServiceLevel.objects.create(partner=helpdesk_agent.partner, working_hours=ROUND_THE_CLOCK)
    case = aged(open_dispute(helpdesk_agent, customer, severity="B"), 5)
    sent = services.case_check_service_levels(case_id=case.pk)
    assert [(n.kind, n.round) for n in sent] == [("sla_breach", 1)]
    # Without an assignee, the partner's support contact hears of it.
    assert sent[0].recipient == helpdesk_agent.partner.support_contact_email
    assert services.case_check_service_levels(case_id=case.pk) == []


def test_warnings_wait_for_working_hours_unless_severity_a(helpdesk_agent, customer) -> None:
    """A breach on Saturday is told on Monday at opening; a severity A breach at once."""
    ServiceLevel.objects.create(partner=helpdesk_agent.partner, working_hours=NINE_TO_FIVE)
    saturday = at(2026, 3, 7, 10)
    case_b = open_dispute(helpdesk_agent, customer, severity="B")
    case_b = set_times(case_b, at(2026, 3, 6, 9), [at(2026, 3, 6, 9)])
    case_b.save()
    assert services.case_check_service_levels(case_id=case_b.pk, now=saturday) == []
    case_b.refresh_from_db()
    assert case_b.service_check_at == at(2026, 3, 9, 9)
    case_a = open_dispute(helpdesk_agent, customer, severity="A")
    case_a = set_times(case_a, at(2026, 3, 6, 9), [at(2026, 3, 6, 9)])
    case_a.save()
    # Severity A: two hours to the first response, eight to resolution, both missed on Friday.
    told = services.case_check_service_levels(case_id=case_a.pk, now=saturday)
    assert [(n.kind, n.round) for n in told] == [("sla_breach", 1), ("sla_breach", 2)]
    monday = at(2026, 3, 9, 9, 5)
    assert [(n.kind, n.round) for n in services.case_check_service_levels(case_id=case_b.pk, now=monday)] == [
        ("sla_breach", 1)
    ]


def test_the_warning_is_written_in_the_recipients_language(helpdesk_agent, customer) -> None:
    """The e-mail names the target and its due time in the partner's time zone, in the assignee's language."""
    ServiceLevel.objects.create(
        partner=helpdesk_agent.partner, working_hours=ROUND_THE_CLOCK, time_zone="Europe/Berlin"
    )
    helpdesk_agent.user.language = "ja"
    helpdesk_agent.user.save()
    case = aged(open_dispute(helpdesk_agent, customer, severity="B", assignee=helpdesk_agent.user), 3.5)
    (notification,) = services.case_check_service_levels(case_id=case.pk)
    assert notification.language == "ja"
    message = build_notification_email(notification)
    assert message.extra_headers["Content-Language"] == "ja"
    assert "Europe/Berlin" in message.body
    assert case.number in message.subject


def test_paused_cases_are_not_warned(helpdesk_agent, customer) -> None:
    """While the clock waits on the customer, no target runs out and nothing is told."""
    ServiceLevel.objects.create(partner=helpdesk_agent.partner, working_hours=ROUND_THE_CLOCK)
    case = aged(open_dispute(helpdesk_agent, customer, severity="B"), 2)
    services.case_message_customer(
        case=case, actor=helpdesk_agent, message="Which seats?", wait_for_answer=True
    )
    case.refresh_from_db()
    assert case.service_check_at is None
    assert (
        services.case_check_service_levels(case_id=case.pk, now=timezone.now() + datetime.timedelta(days=3))
        == []
    )


def settings_data(**overrides: str) -> dict[str, str]:
    data = {"time_zone": "Europe/Berlin", "holiday_country": "DE", "closed_days_text": ""}
    data.update({f"hours_{day}": "" for day in range(7)})
    data.update(
        {f"{kind}_{sev}": "240" for kind in ("first_response", "resolution", "escalation") for sev in "abc"}
    )
    data.update(overrides)
    return data


def test_the_global_admin_sets_calendar_and_targets(
    client, global_admin, helpdesk_agent, customer, eager_tasks, django_capture_on_commit_callbacks
) -> None:
    """Split shifts, closed days and targets are saved; the open cases' due times follow at once."""
    case = open_dispute(helpdesk_agent, customer, severity="B")
    client.force_login(global_admin.user)
    page = client.get(reverse("cases:service_levels"))
    assert page.status_code == 200
    assert page.context["form"]["hours_0"].value() == "09:00-17:00"
    data = settings_data(
        hours_0="08:00-12:00, 13:00-17:30",
        hours_5="10:00-14:00",
        closed_days_text="2026-12-24 Christmas Eve\n2026-12-31",
        first_response_b="90",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("cases:service_levels"), data)
    assert response.status_code == 302
    level = ServiceLevel.objects.get(partner=global_admin.partner)
    assert level.working_hours == {"0": [[480, 720], [780, 1050]], "5": [[600, 840]]}
    assert level.closed_days == [
        {"date": "2026-12-24", "name": "Christmas Eve"},
        {"date": "2026-12-31", "name": ""},
    ]
    assert (level.time_zone, level.holiday_country, level.first_response_b) == ("Europe/Berlin", "DE", 90)
    case.refresh_from_db()
    expected = servicelevels.business_add(
        servicelevels.calendar_for(level), case.created_at, datetime.timedelta(minutes=90)
    )
    assert case.first_response_due_at == expected
    page = client.get(reverse("cases:service_levels"))
    assert "Christmas Day" in page.content.decode()  # Germany's public holidays are listed


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("hours_0", "9-17", "bad_shift"),
        ("hours_0", "12:00-09:00", "bad_shift"),
        ("hours_0", "09:00-13:00, 12:00-14:00", "overlap"),
        ("closed_days_text", "24 December", "bad_date"),
        ("time_zone", "Mars/Olympus", "invalid_choice"),
    ],
)
def test_bad_settings_are_refused_field_by_field(client, global_admin, field, value, code) -> None:
    """A bad shift, date or zone is a field error (400), not a 500, and nothing is saved."""
    client.force_login(global_admin.user)
    response = client.post(
        reverse("cases:service_levels"), settings_data(**{"hours_0": "09:00-17:00", field: value})
    )
    assert response.status_code == 400
    assert code in [error.code for error in response.context["form"].errors.as_data()[field]]
    assert not ServiceLevel.objects.exists()


def test_a_week_without_working_hours_is_refused(client, global_admin) -> None:
    """At least one shift is needed, or no target could ever run out."""
    client.force_login(global_admin.user)
    response = client.post(reverse("cases:service_levels"), settings_data())
    assert response.status_code == 400
    assert "Give at least one working shift." in response.content.decode()


def test_the_case_page_shows_the_due_times_and_the_pause(client, helpdesk_agent, case) -> None:
    """The case page shows first response and resolution due, and the clock paused while waiting."""
    services.case_message_customer(
        case=case, actor=helpdesk_agent, message="Which seats?", wait_for_answer=True
    )
    client.force_login(helpdesk_agent.user)
    html = client.get(case.get_absolute_url()).content.decode()
    assert 'data-testid="clock-paused"' in html
    assert "The service-level clock is paused: waiting on the customer" in html
    case = services.case_start(case=case, actor=helpdesk_agent)
    html = client.get(case.get_absolute_url()).content.decode()
    assert 'data-testid="clock-paused"' not in html
    assert "overdue" not in html


def test_the_list_filters_and_sorts_by_the_due_times(client, helpdesk_agent, customer) -> None:
    """The list's at-risk and overdue filters read the stored due times."""
    late = open_dispute(helpdesk_agent, customer, title="Late")
    soon = open_dispute(helpdesk_agent, customer, title="Soon")
    open_dispute(helpdesk_agent, customer, title="Fine")
    now = timezone.now()
    Case.objects.filter(pk=late.pk).update(next_due_at=now - datetime.timedelta(hours=1))
    Case.objects.filter(pk=soon.pk).update(next_due_at=now + datetime.timedelta(minutes=30))
    client.force_login(helpdesk_agent.user)
    rows = client.get(reverse("cases:list"), {"due": "at_risk", "sort": "due"}).context["page"].object_list
    assert [row["number"] for row in rows] == [late.number, soon.number]
    rows = client.get(reverse("cases:list"), {"due": "past_due"}).context["page"].object_list
    assert [row["number"] for row in rows] == [late.number]


def test_the_backfill_command_fills_in_older_cases(helpdesk_agent, customer) -> None:
    """Cases from before service levels (no due times) get them, resolved ones included."""
    open_case = open_dispute(helpdesk_agent, customer)
    done = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    services.case_resolve(case=done, actor=helpdesk_agent, resolution_summary="Ok.", outcome="upheld")
    Case.objects.update(first_response_due_at=None, resolution_due_at=None, next_due_at=None)
    out = io.StringIO()
    call_command("refresh_due_times", stdout=out)
    assert "2 case(s) recomputed." in out.getvalue()
    assert not Case.objects.filter(resolution_due_at__isnull=True).exists()
    open_case.refresh_from_db()
    assert open_case.next_due_at == open_case.first_response_due_at


def test_the_escalation_shows_its_response_due_until_the_target_answers(client, helpdesk_agent, case) -> None:
    """Past its due time the escalation is flagged; once the target has asked for information, it is not."""
    case = services.case_start(case=case, actor=helpdesk_agent)
    case = services.case_escalate(case=case, actor=helpdesk_agent, support_vehicle="commercial", severity="B")
    assert case.escalation_response_due_at is not None
    Case.objects.filter(pk=case.pk).update(
        escalation_response_due_at=timezone.now() - datetime.timedelta(hours=1)
    )
    client.force_login(helpdesk_agent.user)
    assert "past the response target" in client.get(case.get_absolute_url()).content.decode()
    case = services.case_request_info(case=case, actor=helpdesk_agent)
    case = services.case_provide_info(case=case, actor=helpdesk_agent)
    Case.objects.filter(pk=case.pk).update(
        escalation_response_due_at=timezone.now() - datetime.timedelta(hours=1)
    )
    html = client.get(case.get_absolute_url()).content.decode()
    assert 'data-testid="escalation-response-due"' in html
    assert "past the response target" not in html


def test_staff_set_a_partners_service_level_in_admin(
    client, staff, helpdesk_agent, customer, eager_tasks, django_capture_on_commit_callbacks
) -> None:
    """Django admin uses the same form; saving recomputes the partner's open cases."""
    case = open_dispute(helpdesk_agent, customer, severity="B")
    force_login_with_code(client, staff)
    data = settings_data(partner=str(helpdesk_agent.partner.pk), hours_0="00:00-24:00", first_response_b="30")
    data.update({f"hours_{day}": "00:00-24:00" for day in range(7)})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/en/admin/cases/servicelevel/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    case.refresh_from_db()
    assert case.first_response_due_at == case.created_at + datetime.timedelta(minutes=30)
