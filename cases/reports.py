"""How a partner's disputes went over a period: every figure one SQL aggregate over the partner's cases.

Which cases each figure counts (docs/reports.md):
- opened per week: cases opened in the period; resolved per week, time to resolution: cases resolved in the
  period and still resolved or closed (a reopened case is not resolved);
- money, targets and top customers: the cases opened in the period (so a recovery rate compares the credit
  granted on the very cases whose amounts were disputed);
- satisfaction: the ratings customers gave in the period.
"""

from __future__ import annotations

import datetime
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import RowNumber, TruncWeek
from django.utils import timezone

from cases.models import Case, CustomerAnswer, EscalationTarget, Partner, Status

RESOLVED_STATUSES = (Status.RESOLVED, Status.CLOSED)
PERCENTILES = (0.5, 0.9)
RATINGS = (1, 2, 3, 4, 5)
OUTCOMES = ("met", "missed", "pending", "no_target")  # of a target (TargetCounts)
TOP_CUSTOMERS = 5  # per currency
# The escalation targets a time to resolution is split by; "" is a case never escalated.
TARGET_GROUPS = (EscalationTarget.MICROSOFT.value, EscalationTarget.VIANET.value, "")


@dataclass(frozen=True)
class Period:
    """Whole days, both included, in the portal's time zone."""

    start: datetime.date
    end: datetime.date

    @property
    def since(self) -> datetime.datetime:
        return _midnight(self.start)

    @property
    def until(self) -> datetime.datetime:
        """The first moment after the period."""
        return _midnight(self.end + datetime.timedelta(days=1))

    def weeks(self) -> list[datetime.date]:
        """The Monday of every week the period touches."""
        monday = self.start - datetime.timedelta(days=self.start.weekday())
        weeks = []
        while monday <= self.end:
            weeks.append(monday)
            monday += datetime.timedelta(days=7)
        return weeks


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(
        datetime.datetime.combine(day, datetime.time()), timezone.get_current_timezone()
    )


@dataclass(frozen=True)
class Week:
    start: datetime.date
    opened: int
    resolved: int


@dataclass(frozen=True)
class Money:
    """Disputed amounts and the credit granted on them, in one currency."""

    currency: str
    cases: int
    disputed: Decimal
    credited: Decimal
    credited_cases: int

    @property
    def recovery_rate(self) -> float | None:
        """The share of the disputed amount granted back as credit."""
        return float(self.credited / self.disputed) if self.disputed else None


@dataclass(frozen=True)
class ResolutionTimes:
    """Time from opening to resolution of the cases one escalation target had ("" : never escalated)."""

    target: str
    cases: int
    median: datetime.timedelta | None
    p90: datetime.timedelta | None


@dataclass(frozen=True)
class TargetCounts:
    """How the cases with a due time fared: done in time, done late or overdue, not due yet; and those
    without a due time."""

    met: int = 0
    missed: int = 0
    pending: int = 0
    no_target: int = 0

    @property
    def rate(self) -> float | None:
        """Met as a share of the cases whose outcome is known (met or missed)."""
        decided = self.met + self.missed
        return self.met / decided if decided else None


@dataclass(frozen=True)
class Satisfaction:
    average: float | None
    answers: int
    distribution: dict[int, int] = field(default_factory=dict)  # rating -> answers


@dataclass(frozen=True)
class TopCustomer:
    customer_id: int
    name: str
    currency: str
    cases: int
    disputed: Decimal


@dataclass(frozen=True)
class Report:
    period: Period
    weeks: list[Week]
    money: list[Money]
    resolution_times: list[ResolutionTimes]
    first_response: TargetCounts
    resolution: TargetCounts
    satisfaction: Satisfaction
    top_customers: list[TopCustomer]

    @property
    def opened(self) -> int:
        return sum(week.opened for week in self.weeks)

    @property
    def resolved(self) -> int:
        return sum(week.resolved for week in self.weeks)


# --- Querysets ---------------------------------------------------------------------------------------


def opened_in(partner: Partner, period: Period) -> QuerySet[Case]:
    """The partner's cases opened in the period (what the money figures, the targets and the CSV count)."""
    return Case.objects.for_partner(partner).filter(created_at__gte=period.since, created_at__lt=period.until)


def resolved_in(partner: Partner, period: Period) -> QuerySet[Case]:
    """The partner's cases resolved in the period and not reopened since."""
    return Case.objects.for_partner(partner).filter(
        resolved_at__gte=period.since, resolved_at__lt=period.until, status__in=RESOLVED_STATUSES
    )


TIME_TO_RESOLUTION = ExpressionWrapper(F("resolved_at") - F("created_at"), output_field=DurationField())


# --- Figures -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """What one query says of the cases opened in the period: how many each week, the money per currency,
    and how their targets fared."""

    per_week: Counter[datetime.date]
    money: list[Money]
    first_response: TargetCounts
    resolution: TargetCounts


def _target_counts(done: str, due: str, now: datetime.datetime) -> dict[str, Count]:
    """Met, missed, pending and without a target (OUTCOMES), of the done/due pair of columns."""
    has_due = Q(**{f"{due}__isnull": False})
    return {
        f"{done}_met": Count("pk", filter=has_due & Q(**{f"{done}__lte": F(due)})),
        f"{done}_missed": Count(
            "pk",
            filter=has_due
            & (Q(**{f"{done}__gt": F(due)}) | Q(**{f"{done}__isnull": True, f"{due}__lt": now})),
        ),
        f"{done}_pending": Count("pk", filter=has_due & Q(**{f"{done}__isnull": True, f"{due}__gte": now})),
        f"{done}_no_target": Count("pk", filter=Q(**{f"{due}__isnull": True})),
    }


def opened(partner: Partner, period: Period, now: datetime.datetime) -> Opened:
    """The weekly counts, money and targets of the cases opened in the period, in one pass: the database
    groups them by week and currency (a few dozen rows), and the figures are sums of those groups."""
    tz = timezone.get_current_timezone()
    done_due = (("first_response_at", "first_response_due_at"), ("resolved_at", "resolution_due_at"))
    rows = (
        opened_in(partner, period)
        .order_by()
        .annotate(week=TruncWeek("created_at", tzinfo=tz))
        .values("week", "currency")
        .annotate(
            opened=Count("pk"),
            disputed_cases=Count("pk", filter=Q(disputed_amount__isnull=False)),
            credit_known=Count("credit_amount"),
            disputed=Sum("disputed_amount", default=Decimal(0)),
            credited=Sum("credit_amount", default=Decimal(0)),
            credited_cases=Count("pk", filter=Q(credit_amount__gt=0)),
            **{key: value for done, due in done_due for key, value in _target_counts(done, due, now).items()},
        )
    )
    target_keys = [f"{done}_{outcome}" for done, _due in done_due for outcome in OUTCOMES]
    money_keys = ("disputed_cases", "credit_known", "disputed", "credited", "credited_cases")
    per_week: Counter[datetime.date] = Counter()
    targets: Counter[str] = Counter()
    money: dict[str, Counter[str]] = {}
    for row in rows:
        per_week[_as_date(row["week"])] += row["opened"]
        targets.update({key: row[key] for key in target_keys})
        # Money counts the cases with a currency and an amount disputed or credited.
        if row["currency"] and (row["disputed_cases"] or row["credit_known"]):
            money.setdefault(row["currency"], Counter()).update({key: row[key] for key in money_keys})

    def pick(done: str) -> TargetCounts:
        return TargetCounts(**{outcome: targets[f"{done}_{outcome}"] for outcome in OUTCOMES})

    return Opened(
        per_week=per_week,
        money=sorted(
            (
                Money(
                    currency=currency,
                    cases=totals["disputed_cases"],
                    disputed=Decimal(totals["disputed"]),
                    credited=Decimal(totals["credited"]),
                    credited_cases=totals["credited_cases"],
                )
                for currency, totals in money.items()
            ),
            key=lambda row: (-row.disputed, row.currency),
        ),
        first_response=pick("first_response_at"),
        resolution=pick("resolved_at"),
    )


def resolved_per_week(partner: Partner, period: Period) -> Counter[datetime.date]:
    """The cases resolved in each week of the period."""
    tz = timezone.get_current_timezone()
    rows = (
        resolved_in(partner, period)
        .order_by()
        .annotate(week=TruncWeek("resolved_at", tzinfo=tz))
        .values("week")
        .annotate(count=Count("pk"))
        .values_list("week", "count")
    )
    return Counter({_as_date(week): count for week, count in rows})


def _as_date(value: datetime.date | datetime.datetime) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return (timezone.localtime(value) if timezone.is_aware(value) else value).date()
    return value


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile of an ordered set (here: of intervals)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression, fraction: float, **extra) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError(fraction)
        super().__init__(expression, fraction=repr(float(fraction)), output_field=DurationField(), **extra)


def resolution_times(
    partner: Partner, period: Period, *, portable: bool | None = None
) -> list[ResolutionTimes]:
    """Median and 90th percentile of the time to resolution per escalation target.

    PostgreSQL computes them with percentile_cont; elsewhere (SQLite, or portable=True) the database numbers
    each group's cases in order of their time and returns only the rows either side of each percentile,
    which are then interpolated as percentile_cont does.
    """
    if portable is None:
        portable = connection.vendor != "postgresql"
    cases = resolved_in(partner, period).order_by()
    if not portable:
        rows = cases.values("escalation_target").annotate(
            cases=Count("pk"),
            median=PercentileCont(TIME_TO_RESOLUTION, 0.5),
            p90=PercentileCont(TIME_TO_RESOLUTION, 0.9),
        )
        found = {row["escalation_target"]: row for row in rows}
        return [
            ResolutionTimes(group, found[group]["cases"], found[group]["median"], found[group]["p90"])
            if group in found
            else ResolutionTimes(group, 0, None, None)
            for group in TARGET_GROUPS
        ]
    sizes = dict(
        cases.values("escalation_target").annotate(n=Count("pk")).values_list("escalation_target", "n")
    )
    positions = {
        position for n in sizes.values() for fraction in PERCENTILES for position in _neighbours(n, fraction)
    }
    ranked = cases.annotate(
        duration=TIME_TO_RESOLUTION,
        position=Window(
            RowNumber(),
            partition_by=[F("escalation_target")],
            order_by=[TIME_TO_RESOLUTION.asc(), F("pk").asc()],
        ),
    ).filter(position__in=positions or {0})
    at: dict[tuple[str, int], datetime.timedelta] = {
        (target, position): duration
        for target, position, duration in ranked.values_list("escalation_target", "position", "duration")
    }
    result = []
    for group in TARGET_GROUPS:
        n = sizes.get(group, 0)
        values = [_interpolate(at, group, n, fraction) if n else None for fraction in PERCENTILES]
        result.append(ResolutionTimes(group, n, *values))
    return result


def _neighbours(n: int, fraction: float) -> tuple[int, int]:
    """The 1-based row numbers either side of a percentile among n ordered values."""
    exact = fraction * (n - 1)
    return math.floor(exact) + 1, math.ceil(exact) + 1


def _interpolate(
    at: dict[tuple[str, int], datetime.timedelta], group: str, n: int, fraction: float
) -> datetime.timedelta:
    exact = fraction * (n - 1)
    low, high = _neighbours(n, fraction)
    below, above = at[(group, low)], at[(group, high)]
    return below + (above - below) * (exact - math.floor(exact))


def satisfaction(partner: Partner, period: Period) -> Satisfaction:
    """The average and the distribution of the ratings customers gave in the period."""
    row = CustomerAnswer.objects.filter(
        case__partner=partner, created_at__gte=period.since, created_at__lt=period.until, rating__isnull=False
    ).aggregate(
        average=Avg("rating"),
        answers=Count("pk"),
        **{f"rated_{rating}": Count("pk", filter=Q(rating=rating)) for rating in RATINGS},
    )
    return Satisfaction(
        average=float(row["average"]) if row["average"] is not None else None,
        answers=row["answers"],
        distribution={rating: row[f"rated_{rating}"] for rating in RATINGS},
    )


def top_customers(partner: Partner, period: Period, limit: int = TOP_CUSTOMERS) -> list[TopCustomer]:
    """Per currency, the customers who disputed the most in the period (amounts in two currencies are never
    added up, nor ranked against each other)."""
    rows = (
        opened_in(partner, period)
        .filter(disputed_amount__isnull=False)
        .exclude(currency="")
        .order_by()
        .values("customer_id", "customer__company_name", "currency")
        .annotate(cases=Count("pk"), disputed=Sum("disputed_amount"))
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("currency")],
                order_by=[F("disputed").desc(), F("customer__company_name").asc(), F("customer_id").asc()],
            )
        )
        .filter(rank__lte=limit)
        .order_by("currency", "-disputed", "customer__company_name", "customer_id")
    )
    return [
        TopCustomer(
            row["customer_id"], row["customer__company_name"], row["currency"], row["cases"], row["disputed"]
        )
        for row in rows
    ]


def report_for(partner: Partner, period: Period, *, now: datetime.datetime | None = None) -> Report:
    """Every figure of the partner's report for the period."""
    figures = opened(partner, period, now or timezone.now())
    resolved = resolved_per_week(partner, period)
    return Report(
        period=period,
        weeks=[Week(monday, figures.per_week[monday], resolved[monday]) for monday in period.weeks()],
        money=figures.money,
        resolution_times=resolution_times(partner, period),
        first_response=figures.first_response,
        resolution=figures.resolution,
        satisfaction=satisfaction(partner, period),
        top_customers=top_customers(partner, period),
    )


# --- Export ------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "number", "customer", "category", "status", "severity", "disputed_amount", "credit_amount", "currency",
    "escalation_target", "support_request_number", "opened", "first_response", "first_response_due",
    "first_response_target", "resolved", "resolution_due", "resolution_target", "closed", "csat",
)  # fmt: skip


def export_rows(partner: Partner, period: Period) -> QuerySet:
    """The cases opened in the period as the CSV lists them, read in chunks (values, no model instances)."""
    latest_rating = (
        CustomerAnswer.objects.filter(case=OuterRef("pk"), rating__isnull=False)
        .order_by("-created_at", "-pk")
        .values("rating")[:1]
    )
    return (
        opened_in(partner, period)
        .annotate(csat=Subquery(latest_rating))
        .order_by("created_at", "pk")
        .values(
            "number",
            "customer__company_name",
            "category",
            "status",
            "severity",
            "disputed_amount",
            "credit_amount",
            "currency",
            "escalation_target",
            "support_request_number",
            "created_at",
            "first_response_at",
            "first_response_due_at",
            "resolved_at",
            "resolution_due_at",
            "closed_at",
            "csat",
        )
    )


def target_outcome(
    done: datetime.datetime | None, due: datetime.datetime | None, now: datetime.datetime
) -> str:
    """met, missed, pending, or "" (no target): as opened() counts them (_target_counts)."""
    if due is None:
        return ""
    if done is not None:
        return "met" if done <= due else "missed"
    return "missed" if due < now else "pending"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection): text starting with = + - @ or a
    tab is prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_lines(partner: Partner, period: Period, *, now: datetime.datetime | None = None) -> Iterator[list]:
    """The CSV's rows after its header: one a case, amounts with their currency's decimals."""
    from cases.currencies import plain_amount

    now = now or timezone.now()
    for row in export_rows(partner, period).iterator(chunk_size=2000):
        currency = row["currency"]
        cells = [
            row["number"],
            row["customer__company_name"],
            row["category"],
            row["status"],
            row["severity"],
            plain_amount(row["disputed_amount"], currency) or "",
            plain_amount(row["credit_amount"], currency) or "",
            currency,
            row["escalation_target"],
            row["support_request_number"],
            _iso(row["created_at"]),
            _iso(row["first_response_at"]),
            _iso(row["first_response_due_at"]),
            target_outcome(row["first_response_at"], row["first_response_due_at"], now),
            _iso(row["resolved_at"]),
            _iso(row["resolution_due_at"]),
            target_outcome(row["resolved_at"], row["resolution_due_at"], now),
            _iso(row["closed_at"]),
            row["csat"] if row["csat"] is not None else "",
        ]
        yield [safe_cell(cell) for cell in cells]


def _iso(value: datetime.datetime | None) -> str:
    return value.isoformat() if value else ""
