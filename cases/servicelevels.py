"""Service levels: a partner's targets to its customers, counted on its business calendar.

The arithmetic is cases/businesstime.py; this module reads a partner's calendar and a case's pauses, keeps the
due times stored on the case (Case.first_response_due_at, resolution_due_at, escalation_response_due_at, and
next_due_at, the soonest running one, which the dashboard and the list filter by), and sends the warnings
before and at a breach.

Three targets, each in business time:
- first response: from the case's opening until the partner starts work (Case.first_response_at);
- resolution: from the opening until the case is resolved; the time it spends resolved before a reopen is not
  counted;
- escalation response: from the escalation until Microsoft or 21Vianet answers (asks for information, or the
  case is resolved).
The clock pauses while the case waits on the customer's answer and while the escalation target waits on the
partner's information; each pause is a CLOCK event on the timeline.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.businesstime import Calendar, Pause, business_add, working_intervals
from cases.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    EventKind,
    Notification,
    NotificationKind,
    Partner,
    ServiceLevel,
    Severity,
    Status,
    Transition,
    event_says,
)

logger = logging.getLogger(__name__)

# Targets by the code a warning's notification carries as its round.
FIRST_RESPONSE, RESOLUTION, ESCALATION = "first_response", "resolution", "escalation"
TARGET_CODES = {FIRST_RESPONSE: 1, RESOLUTION: 2, ESCALATION: 3}
WARN_AT = 0.75  # of a target's time: the warning before the breach
TARGET_LABELS = {
    FIRST_RESPONSE: _("first response"),
    RESOLUTION: _("resolution"),
    ESCALATION: _("escalation response"),
}


def target_of_round(round_: int) -> str:
    """The target a warning's round names (warning_round)."""
    return {code: kind for kind, code in TARGET_CODES.items()}[round_ % 10]


@lru_cache(maxsize=64)
def _public_holidays(country: str) -> holidays.HolidayBase:
    # The package fills in each year when first asked about it.
    return holidays.country_holidays(country)


class ClosedDays:
    """A partner's closed days: its country's public holidays and its own."""

    def __init__(self, own: Iterable[datetime.date], country: str) -> None:
        self.own = frozenset(own)
        self.country = country

    def __contains__(self, day: object) -> bool:
        return day in self.own or bool(self.country and day in _public_holidays(self.country))

    def name(self, day: datetime.date) -> str:
        return _public_holidays(self.country).get(day, "") if self.country else ""


def calendar_for(level: ServiceLevel) -> Calendar:
    """The business calendar of a partner's service level."""
    return Calendar(
        ZoneInfo(level.time_zone), level.shifts(), ClosedDays(level.own_closed_days(), level.holiday_country)
    )


def public_holidays_ahead(level: ServiceLevel, *, days: int = 365) -> list[tuple[datetime.date, str]]:
    """The public holidays of the level's country in the coming days (the settings page lists them)."""
    if not level.holiday_country:
        return []
    today = timezone.localdate(timezone=ZoneInfo(level.time_zone))
    public = _public_holidays(level.holiday_country)
    ahead = (today + datetime.timedelta(days=n) for n in range(days + 1))
    return [(day, public.get(day, "")) for day in ahead if day in public]


def is_working_time(level: ServiceLevel, when: datetime.datetime) -> bool:
    """Whether when falls in the calendar's working hours."""
    start, _end = next(working_intervals(calendar_for(level), when))
    return start <= when


def next_working_time(level: ServiceLevel, when: datetime.datetime) -> datetime.datetime:
    start, _end = next(working_intervals(calendar_for(level), when))
    return max(start, when)


# --- A case's clock ----------------------------------------------------------------------------------------


@dataclass
class Clock:
    """What a case's timeline says about its clock: the pauses, and when the escalation target answered."""

    pauses: list[Pause]
    escalation_answered_at: datetime.datetime | None


CLOCK_EVENT_KINDS = (EventKind.CLOCK, EventKind.STATUS)


def read_clock(case: Case, events: Iterable[CaseEvent] | None = None) -> Clock:
    """The case's pauses from its timeline: the clock's own events, and each spell resolved until a reopen."""
    if events is None:
        events = case.events.filter(kind__in=CLOCK_EVENT_KINDS).order_by("created_at", "pk")
    pauses: list[Pause] = []
    paused_at = resolved_at = answered = None
    for event in events:
        if event.kind == EventKind.CLOCK:
            if event.data.get("clock") == "paused" and paused_at is None:
                paused_at = event.created_at
            elif event.data.get("clock") == "resumed" and paused_at is not None:
                pauses.append((paused_at, event.created_at))
                paused_at = None
            continue
        transition = event.data.get("transition")
        if event.kind != EventKind.STATUS:
            continue
        if transition == Transition.ESCALATE:
            answered = None
        elif transition in (Transition.REQUEST_INFO, Transition.RESOLVE) and answered is None:
            answered = event.created_at
        if event.to_status == Status.RESOLVED:
            resolved_at = event.created_at
        elif transition == Transition.REOPEN and resolved_at is not None:
            pauses.append((resolved_at, event.created_at))
            resolved_at = None
    if paused_at is not None:
        pauses.append((paused_at, None))
    if resolved_at is not None:
        pauses.append((resolved_at, None))
    return Clock(pauses=pauses, escalation_answered_at=answered if case.escalated_at else None)


def _until(pauses: list[Pause], met: datetime.datetime | None) -> list[Pause]:
    """The pauses that matter to a target met at met: those begun before it, ended by it at the latest."""
    if met is None:
        return pauses
    return [(start, met if end is None or end > met else end) for start, end in pauses if start < met]


@dataclass
class Target:
    kind: str
    start: datetime.datetime
    amount: datetime.timedelta
    met_at: datetime.datetime | None
    running: bool  # still to be met (a missed one that is still to be met is running too)

    def due(self, calendar: Calendar, pauses: list[Pause], fraction: float = 1.0) -> datetime.datetime | None:
        return business_add(calendar, self.start, self.amount * fraction, _until(pauses, self.met_at))


def targets(case: Case, level: ServiceLevel, clock: Clock) -> list[Target]:
    """The case's targets, met or running."""
    severity = Severity(case.severity)
    is_open = case.status in OPEN_STATUSES
    found = [
        Target(
            FIRST_RESPONSE,
            case.created_at,
            level.target(FIRST_RESPONSE, severity),
            case.first_response_at,
            is_open and case.first_response_at is None,
        ),
        Target(
            RESOLUTION,
            case.created_at,
            level.target(RESOLUTION, severity),
            None if is_open else case.resolved_at,
            is_open,
        ),
    ]
    if case.escalated_at is not None:
        found.append(
            Target(
                ESCALATION,
                case.escalated_at,
                level.target(ESCALATION, case.escalation_severity or severity),
                clock.escalation_answered_at,
                case.status == Status.ESCALATED and clock.escalation_answered_at is None,
            )
        )
    return found


def sent_warnings(case: Case) -> set[tuple[str, int]]:
    return set(
        Notification.objects.filter(
            case=case, kind__in=(NotificationKind.SLA_WARNING, NotificationKind.SLA_BREACH)
        ).values_list("kind", "round")
    )


def warning_round(case: Case, kind: str) -> int:
    """The round of a target's warnings: once per case for first response and resolution, once per
    escalation for the escalation response."""
    code = TARGET_CODES[kind]
    return code + 10 * case.resolution_round if kind == ESCALATION else code


def refresh_due_times(
    case: Case,
    *,
    level: ServiceLevel | None = None,
    calendar: Calendar | None = None,
    clock: Clock | None = None,
    sent: set[tuple[str, int]] | None = None,
) -> list[str]:
    """Set the case's stored due times (not saved); the names of the fields set."""
    level = level or ServiceLevel.for_partner(case.partner)
    calendar = calendar or calendar_for(level)
    clock = clock or read_clock(case)
    sent = sent_warnings(case) if sent is None else sent
    dues: dict[str, datetime.datetime | None] = {}
    running: list[datetime.datetime] = []
    checks: list[datetime.datetime] = []
    for target in targets(case, level, clock):
        due = target.due(calendar, clock.pauses)
        dues[target.kind] = due
        if not target.running or due is None:
            continue
        running.append(due)
        round_ = warning_round(case, target.kind)
        if (NotificationKind.SLA_BREACH, round_) in sent:
            continue
        warn = target.due(calendar, clock.pauses, WARN_AT)
        if (NotificationKind.SLA_WARNING, round_) not in sent and warn is not None:
            checks.append(warn)
        else:
            checks.append(due)
    case.first_response_due_at = dues.get(FIRST_RESPONSE)
    case.resolution_due_at = dues.get(RESOLUTION)
    case.escalation_response_due_at = dues.get(ESCALATION)
    if case.first_response_due_at is not None:
        case.first_response_due = case.first_response_due_at  # the older, required field says the same
    case.next_due_at = min(running, default=None)
    case.service_check_at = min(checks, default=None)
    return [
        "first_response_due_at",
        "first_response_due",
        "resolution_due_at",
        "escalation_response_due_at",
        "next_due_at",
        "service_check_at",
    ]


def clock_pause(case: Case, *, reason: str, actor: Any = None, target: str = "") -> None:
    """Stop a locked case's clock (no-op if stopped), on the timeline; the caller saves the case."""
    if case.clock_paused_at is not None:
        return
    case.clock_paused_at = timezone.now()
    says = (
        event_says("clock_paused_target", target=target)
        if reason == "target"
        else event_says("clock_paused_customer")
    )
    CaseEvent.objects.create(
        case=case,
        kind=EventKind.CLOCK,
        actor=actor,
        created_at=case.clock_paused_at,
        message=says["message"],
        data={"says": says["says"], "values": says["values"], "clock": "paused", "reason": reason},
    )


def clock_resume(case: Case, *, actor: Any = None) -> None:
    """Start a locked case's clock again (no-op if running), on the timeline; the caller saves the case."""
    if case.clock_paused_at is None:
        return
    case.clock_paused_at = None
    says = event_says("clock_resumed")
    CaseEvent.objects.create(
        case=case,
        kind=EventKind.CLOCK,
        actor=actor,
        message=says["message"],
        data={"says": says["says"], "values": says["values"], "clock": "resumed"},
    )


def partner_refresh_due_times(*, partner: Partner, chunk: int = 500, every_case: bool = False) -> int:
    """Recompute the due times of the partner's open cases (its calendar or targets changed), or of all of
    them (every_case: filling in cases from before service levels); how many."""
    level = ServiceLevel.for_partner(partner)
    calendar = calendar_for(level)
    statuses = set(Status.values) if every_case else OPEN_STATUSES
    ids = list(Case.objects.for_partner(partner).filter(status__in=statuses).values_list("pk", flat=True))
    done = 0
    for begin in range(0, len(ids), chunk):
        with transaction.atomic():
            cases = list(
                Case.objects.select_for_update(of=("self",))
                .filter(pk__in=ids[begin : begin + chunk], status__in=statuses)
                .order_by("pk")
            )
            events: dict[int, list[CaseEvent]] = {case.pk: [] for case in cases}
            for event in CaseEvent.objects.filter(case__in=cases, kind__in=CLOCK_EVENT_KINDS).order_by(
                "created_at", "pk"
            ):
                events[event.case_id].append(event)
            sent: dict[int, set[tuple[str, int]]] = {case.pk: set() for case in cases}
            for case_id, kind, round_ in Notification.objects.filter(
                case__in=cases, kind__in=(NotificationKind.SLA_WARNING, NotificationKind.SLA_BREACH)
            ).values_list("case_id", "kind", "round"):
                sent[case_id].add((kind, round_))
            fields: list[str] = []
            for case in cases:
                case.partner = partner
                fields = refresh_due_times(
                    case,
                    level=level,
                    calendar=calendar,
                    clock=read_clock(case, events[case.pk]),
                    sent=sent[case.pk],
                )
            if cases:
                Case.objects.bulk_update(cases, fields)
            done += len(cases)
    return done
