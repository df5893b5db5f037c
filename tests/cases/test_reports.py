"""The reports: every figure against a small book of cases worked out by hand, the page, the CSV and who sees them."""

from __future__ import annotations

import csv
import datetime
import io
import json
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import reports
from cases.forms import ReportPeriodForm
from cases.models import EscalationTarget, Status
from cases.permissions import PERMISSIONS, Action, Role
from tests.factories import CaseFactory, CustomerAnswerFactory, CustomerFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
PERIOD = reports.Period(datetime.date(2026, 10, 5), datetime.date(2026, 10, 18))  # two whole weeks
NOW = datetime.datetime(2026, 10, 20, tzinfo=UTC)
HOUR = datetime.timedelta(hours=1)


def at(day: int, hour: int = 0, month: int = 10) -> datetime.datetime:
    return datetime.datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.fixture
def book(contoso, customer, global_admin, fabrikam_customer):
    """Contoso's cases around the period (A–H), and one of Fabrikam's inside it.

    Opened in the period: A B H G (week of 5 October), C D E (week of 12 October). F was opened before and
    resolved inside; G was resolved and reopened; I opens the moment after the period.
    """
    other = CustomerFactory(partner=contoso, company_name="Wingtip Toys")
    make = {"created_by": global_admin.user}
    cases = {
        "A": CaseFactory(
            customer=customer, created_at=at(5, 9), disputed_amount=Decimal("100.00"), currency="USD",
            credit_amount=Decimal("40.00"), outcome="credit", status=Status.CLOSED, resolved_at=at(6, 9),
            closed_at=at(8), first_response_at=at(5, 10), first_response_due_at=at(5, 11),
            resolution_due_at=at(7), **make,
        ),
        "B": CaseFactory(
            customer=customer, created_at=at(6, 12), disputed_amount=Decimal("300.00"), currency="USD",
            status=Status.RESOLVED, resolved_at=at(8, 12), escalation_target=EscalationTarget.MICROSOFT,
            support_request_number="2610060040001234", first_response_at=at(6, 20),
            first_response_due_at=at(6, 16), resolution_due_at=at(7, 12), **make,
        ),
        "H": CaseFactory(
            customer=other, created_at=at(7), disputed_amount=Decimal("50.00"), currency="USD",
            credit_amount=Decimal("50.00"), outcome="credit", status=Status.CLOSED, resolved_at=at(7, 12),
            escalation_target=EscalationTarget.MICROSOFT, resolution_due_at=at(7, 12), **make,
        ),
        "G": CaseFactory(
            customer=customer, created_at=at(10), category="billing_question", status=Status.IN_PROGRESS,
            resolved_at=at(11), **make,
        ),
        "C": CaseFactory(
            customer=other, created_at=at(12, 8), disputed_amount=Decimal("50000"), currency="JPY",
            credit_amount=Decimal("50000"), outcome="credit", status=Status.RESOLVED, resolved_at=at(15, 8),
            escalation_target=EscalationTarget.MICROSOFT, **make,
        ),
        "D": CaseFactory(
            customer=customer, created_at=at(13, 10), disputed_amount=Decimal("200.00"), currency="EUR",
            status=Status.IN_PROGRESS, first_response_due_at=at(13, 12), resolution_due_at=at(31, 0, 12), **make,
        ),
        "E": CaseFactory(
            customer=customer, created_at=at(14), category="billing_question", first_response_due_at=at(25),
            **make,
        ),
        "F": CaseFactory(
            customer=customer, created_at=at(28, 10, month=9), status=Status.RESOLVED, resolved_at=at(7, 10),
            escalation_target=EscalationTarget.VIANET, disputed_amount=Decimal("75.00"), currency="USD", **make,
        ),
        "I": CaseFactory(
            customer=customer, created_at=at(19), disputed_amount=Decimal("999.00"), currency="USD", **make,
        ),
    }  # fmt: skip
    CustomerAnswerFactory(case=cases["A"], rating=5, created_at=at(7))
    CustomerAnswerFactory(case=cases["B"], rating=2, created_at=at(9))
    CustomerAnswerFactory(case=cases["B"], rating=None, answer="not_resolved", created_at=at(10))
    CustomerAnswerFactory(case=cases["H"], rating=4, created_at=at(20))  # after the period
    CustomerAnswerFactory(case=cases["F"], rating=3, created_at=at(8))  # case opened before, answer inside
    theirs = CaseFactory(
        customer=fabrikam_customer, created_at=at(6), disputed_amount=Decimal("980.00"), currency="CNY",
        credit_amount=Decimal("980.00"), status=Status.RESOLVED, resolved_at=at(7),
        escalation_target=EscalationTarget.VIANET, first_response_due_at=at(6, 1), **make,
    )  # fmt: skip
    CustomerAnswerFactory(case=theirs, rating=1, created_at=at(8))
    return cases


def test_cases_opened_and_resolved_per_week(contoso, book) -> None:
    """Opened counts the period's new cases, resolved the period's resolutions not undone by a reopen."""
    weeks = reports.report_for(contoso, PERIOD).weeks
    assert [(w.start, w.opened, w.resolved) for w in weeks] == [
        (datetime.date(2026, 10, 5), 4, 4),  # A B H G opened; A B H F resolved (G reopened)
        (datetime.date(2026, 10, 12), 3, 1),  # C D E opened; C resolved
    ]


def test_weeks_of_a_period_not_starting_on_monday() -> None:
    """A period from a Wednesday to the next Tuesday touches two weeks, each named by its Monday."""
    period = reports.Period(datetime.date(2026, 10, 7), datetime.date(2026, 10, 13))
    assert period.weeks() == [datetime.date(2026, 10, 5), datetime.date(2026, 10, 12)]


def test_disputed_and_credited_per_currency(contoso, book) -> None:
    """Amounts add up per currency over the cases opened in the period; the rate is credit over disputed."""
    money = {m.currency: m for m in reports.report_for(contoso, PERIOD).money}
    assert list(money) == ["JPY", "USD", "EUR"]
    usd = money["USD"]
    assert (usd.cases, usd.disputed, usd.credited, usd.credited_cases) == (
        3,
        Decimal("450"),
        Decimal("90"),
        2,
    )
    assert usd.recovery_rate == pytest.approx(0.2)
    assert (money["JPY"].disputed, money["JPY"].recovery_rate) == (Decimal("50000"), 1.0)
    assert (money["EUR"].disputed, money["EUR"].credited, money["EUR"].recovery_rate) == (Decimal(200), 0, 0)


def test_resolution_times_by_escalation_target(contoso, book) -> None:
    """Microsoft's 12, 48 and 72 hours give a median of 48 and a 90th percentile of 67.2 (interpolated)."""
    times = {t.target: t for t in reports.resolution_times(contoso, PERIOD)}
    microsoft = times[EscalationTarget.MICROSOFT]
    assert (microsoft.cases, microsoft.median, microsoft.p90) == (
        3,
        48 * HOUR,
        datetime.timedelta(hours=67.2),
    )
    vianet = times[EscalationTarget.VIANET]
    assert (vianet.cases, vianet.median, vianet.p90) == (1, 216 * HOUR, 216 * HOUR)
    assert (times[""].cases, times[""].median, times[""].p90) == (1, 24 * HOUR, 24 * HOUR)


def test_portable_percentile_matches_percentile_cont(contoso, book) -> None:
    """The window-function fallback SQLite uses gives what PostgreSQL's percentile_cont gives."""
    assert reports.resolution_times(contoso, PERIOD, portable=True) == reports.resolution_times(
        contoso, PERIOD, portable=False
    )


@pytest.mark.parametrize("hours", [[5], [1, 2], [3, 1, 2, 10], [7, 7, 7, 1, 100, 40, 8, 9, 11, 2, 6]])
def test_portable_percentile_on_other_counts(contoso, customer, global_admin, hours) -> None:
    """Odd, even, one and many values: the fallback interpolates as percentile_cont does."""
    for i, h in enumerate(hours):
        CaseFactory(
            customer=customer, created_by=global_admin.user, created_at=at(6, i), resolved_at=at(6, i) + h * HOUR,
            status=Status.RESOLVED, escalation_target=EscalationTarget.MICROSOFT,
        )  # fmt: skip
    portable = reports.resolution_times(contoso, PERIOD, portable=True)
    assert portable == reports.resolution_times(contoso, PERIOD, portable=False)
    values = sorted(hours)
    rank = 0.5 * (len(values) - 1)
    low = values[int(rank)]
    high = values[min(int(rank) + 1, len(values) - 1)]
    assert portable[0].median == (low + (high - low) * (rank - int(rank))) * HOUR


def test_no_resolved_case_has_no_times(contoso) -> None:
    """Without a resolved case there is no median to show, on either path."""
    for portable in (True, False):
        assert [
            (t.cases, t.median, t.p90) for t in reports.resolution_times(contoso, PERIOD, portable=portable)
        ] == [(0, None, None)] * 3


def test_targets_met_missed_pending_and_without(contoso, book) -> None:
    """A done in time; B late; D overdue; E and D's resolution not due yet; C, G, H without a due time."""
    figures = reports.opened(contoso, PERIOD, NOW)
    first_response, resolution = figures.first_response, figures.resolution
    assert first_response == reports.TargetCounts(met=1, missed=2, pending=1, no_target=3)
    assert resolution == reports.TargetCounts(met=2, missed=1, pending=1, no_target=3)
    assert first_response.rate == pytest.approx(1 / 3)


def test_satisfaction_of_the_ratings_given_in_the_period(contoso, book) -> None:
    """Ratings 5, 2 and 3 were given in the period (the answer without a rating and the later one are not)."""
    csat = reports.satisfaction(contoso, PERIOD)
    assert csat.answers == 3
    assert csat.average == pytest.approx(10 / 3)
    assert csat.distribution == {1: 0, 2: 1, 3: 1, 4: 0, 5: 1}


def test_top_customers_per_currency(contoso, book, customer) -> None:
    """Each currency ranks its own customers: Tailspin leads in USD with A and B."""
    top = [(t.name, t.currency, t.cases, t.disputed) for t in reports.top_customers(contoso, PERIOD)]
    assert top == [
        ("Tailspin Toys 株式会社", "EUR", 1, Decimal("200")),
        ("Wingtip Toys", "JPY", 1, Decimal("50000")),
        ("Tailspin Toys 株式会社", "USD", 2, Decimal("400")),
        ("Wingtip Toys", "USD", 1, Decimal("50")),
    ]


def test_top_customers_keeps_the_first_of_each_currency(contoso, global_admin) -> None:
    """At most `limit` customers a currency."""
    for i in range(4):
        CaseFactory(
            customer=CustomerFactory(partner=contoso, company_name=f"C{i}"), created_by=global_admin.user,
            created_at=at(6), disputed_amount=Decimal(10 + i), currency="USD",
        )  # fmt: skip
    assert [t.name for t in reports.top_customers(contoso, PERIOD, limit=2)] == ["C3", "C2"]


def test_another_partner_sees_none_of_contoso(fabrikam, book) -> None:
    """Fabrikam's report counts only its own case, in its own currency."""
    report = reports.report_for(fabrikam, PERIOD, now=NOW)
    assert report.opened == 1 and report.resolved == 1
    assert [(m.currency, m.disputed) for m in report.money] == [("CNY", Decimal("980"))]
    assert report.satisfaction.distribution == {1: 1, 2: 0, 3: 0, 4: 0, 5: 0}
    assert [t.name for t in report.top_customers] == ["Adatum 科技"]


# --- The period --------------------------------------------------------------------------------------

TODAY = datetime.date(2026, 11, 30)


@pytest.mark.parametrize(
    ("data", "start", "end"),
    [
        ({}, datetime.date(2026, 9, 2), TODAY),
        ({"from": "", "to": ""}, datetime.date(2026, 9, 2), TODAY),
        ({"to": "2026-10-31"}, datetime.date(2026, 8, 3), datetime.date(2026, 10, 31)),
        ({"from": "2026-10-01", "to": "2026-10-01"}, datetime.date(2026, 10, 1), datetime.date(2026, 10, 1)),
        ({"from": "2025-12-01", "to": "2026-11-30"}, datetime.date(2025, 12, 1), TODAY),
    ],
)
def test_period_defaults_and_choices(data, start, end) -> None:
    """The last 90 days unless chosen; an end alone ends them there; a single day and a year are periods."""
    form = ReportPeriodForm(data, today=TODAY)
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["from"], form.cleaned_data["to"]) == (start, end)


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"from": "2026-10-10", "to": "2026-10-01"}, "to", "reversed"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "from", "too_long"),
        ({"to": "2026-12-01"}, "to", "future"),
        ({"to": "9999-12-31"}, "to", "future"),
        ({"from": "1999-12-31", "to": "2000-01-01"}, "from", "too_early"),
        ({"from": "yesterday"}, "from", "invalid"),
    ],
)
def test_period_refused(data, field, code) -> None:
    """A reversed, too long, future, too early or unreadable period is a field error with its code."""
    form = ReportPeriodForm(data, today=TODAY)
    assert not form.is_valid()
    assert [error.code for error in form.errors.as_data()[field]] == [code]


# --- The page and the CSV ------------------------------------------------------------------------


def row(page: str, marker: str) -> list[str]:
    """The cells of the table row carrying marker, as text."""
    import re

    start = page.index(f"<tr {marker}>")
    html = page[start : page.index("</tr>", start)]
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", html)]


def test_billing_admin_sees_every_figure(client, billing_admin, book) -> None:
    """The page shows the figures in tables beside charts named by their headings."""
    client.force_login(billing_admin.user)
    response = client.get(reverse("cases:reports"), {"from": "2026-10-05", "to": "2026-10-18"})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('<svg class="chart" role="img"') == 5
    for name in ("report-weekly", "report-money", "report-times", "report-targets", "report-csat"):
        assert f'aria-labelledby="{name}"' in page and f'<h2 id="{name}">' in page
    assert row(page, 'data-currency="USD"') == ["USD", "3", "$450.00", "$90.00", "20%"]
    assert row(page, 'data-target="microsoft"') == ["Microsoft", "3", "48.0 h", "67.2 h"]
    assert "Average 3.3 of 5 from 3 ratings given in the period." in page
    assert "980" not in page  # Fabrikam's amount
    assert 'href="/en/reports/cases.csv?from=2026-10-05&amp;to=2026-10-18"' in page


def test_page_in_russian_formats_numbers_and_money(client, billing_admin, book) -> None:
    """Numbers, money and shares are written as a Russian reader writes them."""
    client.force_login(billing_admin.user)
    response = client.get("/ru/reports/", {"from": "2026-10-05", "to": "2026-10-18"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "450,00\xa0$" in page and "20\xa0%" in page and "67,2" in page


def test_reports_default_to_the_last_ninety_days(client, global_admin, customer) -> None:
    """Without a period the page covers the 90 days to today, and says so in its fields."""
    CaseFactory(
        customer=customer, created_by=global_admin.user, disputed_amount=Decimal("12.00"), currency="USD"
    )
    client.force_login(global_admin.user)
    response = client.get(reverse("cases:reports"))
    today = timezone.localdate()
    page = response.content.decode()
    assert response.status_code == 200
    assert (
        f'value="{today - datetime.timedelta(days=89):%Y-%m-%d}"' in page
        and f'value="{today:%Y-%m-%d}"' in page
    )
    assert "$12.00" in page


def test_bad_period_is_a_400_with_the_error(client, billing_admin) -> None:
    """A reversed period is refused on the page, with the field's message."""
    client.force_login(billing_admin.user)
    response = client.get(reverse("cases:reports"), {"from": "2026-10-10", "to": "2026-10-01"})
    assert response.status_code == 400
    assert "The period cannot end before it starts." in response.content.decode()
    assert client.get(reverse("cases:report_export"), {"from": "x"}).status_code == 400


@pytest.mark.parametrize("role", Role.values)
def test_only_global_and_billing_admins_see_reports(client, cast, role) -> None:
    """The page, its CSV and its menu entry are for the roles the table gives `report`."""
    client.force_login(cast[role].user)
    allowed = role in PERMISSIONS[Action.REPORT]
    assert client.get(reverse("cases:reports")).status_code == (200 if allowed else 403)
    assert client.get(reverse("cases:report_export")).status_code == (200 if allowed else 403)
    menu = client.get(reverse("cases:dashboard")).content.decode()
    assert (f'href="{reverse("cases:reports")}"' in menu) is allowed


def test_report_table_has_global_and_billing_admins() -> None:
    """Reports are for whoever answers for the money: Global and Billing admins."""
    assert PERMISSIONS[Action.REPORT] == {Role.GLOBAL_ADMIN, Role.BILLING_ADMIN}


def read_csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))


def test_csv_lists_each_case_opened_in_the_period(client, billing_admin, book) -> None:
    """One row a case, oldest first, with its amounts, dates, targets met and rating; nothing of Fabrikam's."""
    client.force_login(billing_admin.user)
    response = client.get(reverse("cases:report_export"), {"from": "2026-10-05", "to": "2026-10-18"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="cases-con-20261005-20261018.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert [r["number"] for r in rows] == [book[k].number for k in "ABHGCDE"]
    assert rows[1] == {
        "number": book["B"].number,
        "customer": "Tailspin Toys 株式会社",
        "category": "billing_dispute",
        "status": "resolved",
        "severity": "B",
        "disputed_amount": "300.00",
        "credit_amount": "",
        "currency": "USD",
        "escalation_target": "microsoft",
        "support_request_number": "2610060040001234",
        "opened": "2026-10-06T12:00:00+00:00",
        "first_response": "2026-10-06T20:00:00+00:00",
        "first_response_due": "2026-10-06T16:00:00+00:00",
        "first_response_target": "missed",
        "resolved": "2026-10-08T12:00:00+00:00",
        "resolution_due": "2026-10-07T12:00:00+00:00",
        "resolution_target": "missed",
        "closed": "",
        "csat": "2",
    }
    by_number = {r["number"]: r for r in rows}
    assert by_number[book["A"].number]["first_response_target"] == "met"
    assert by_number[book["A"].number]["csat"] == "5"
    assert by_number[book["C"].number]["disputed_amount"] == "50000"
    assert by_number[book["C"].number]["first_response_target"] == ""


def test_csv_cells_cannot_become_formulas(client, billing_admin, contoso, global_admin) -> None:
    """Text starting with = + - @ is prefixed with an apostrophe, so a spreadsheet shows it as text."""
    for name in ('=HYPERLINK("http://x")', "+1 Corp", "-minus Ltd", "@at GmbH"):
        CaseFactory(
            customer=CustomerFactory(partner=contoso, company_name=name), created_by=global_admin.user
        )
    client.force_login(billing_admin.user)
    rows = read_csv(client.get(reverse("cases:report_export")))
    assert sorted(r["customer"] for r in rows) == [
        "'+1 Corp",
        "'-minus Ltd",
        '\'=HYPERLINK("http://x")',
        "'@at GmbH",
    ]


def test_safe_cell_leaves_numbers_and_plain_text() -> None:
    """Only text is prefixed; a number or a word stays as it is."""
    assert [reports.safe_cell(v) for v in (-5, "Contoso", "", "\tx")] == [-5, "Contoso", "", "'\tx"]


# --- The API -------------------------------------------------------------------------------------------


def api_as(member):
    from rest_framework.test import APIClient

    from portal.models import ApiToken

    _token, key = ApiToken.issue(user=member.user, name="reports")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_api_gives_the_same_figures(billing_admin, book) -> None:
    """GET /api/v1/reports/ answers the page's figures, amounts as decimal strings, times in seconds."""
    response = api_as(billing_admin).get("/api/v1/reports/", {"from": "2026-10-05", "to": "2026-10-18"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["period"] == {"start": "2026-10-05", "end": "2026-10-18"}
    assert body["weeks"] == [
        {"start": "2026-10-05", "opened": 4, "resolved": 4},
        {"start": "2026-10-12", "opened": 3, "resolved": 1},
    ]
    assert body["money"][1] == {
        "currency": "USD", "cases": 3, "disputed": "450.00", "credited": "90.00", "credited_cases": 2,
        "recovery_rate": 0.2,
    }  # fmt: skip
    assert body["money"][0]["disputed"] == "50000"
    assert body["resolution_times"] == [
        {
            "escalation_target": "microsoft",
            "cases": 3,
            "median_seconds": 48 * 3600.0,
            "p90_seconds": 67.2 * 3600,
        },
        {
            "escalation_target": "21vianet",
            "cases": 1,
            "median_seconds": 216 * 3600.0,
            "p90_seconds": 216 * 3600.0,
        },
        {"escalation_target": "none", "cases": 1, "median_seconds": 24 * 3600.0, "p90_seconds": 24 * 3600.0},
    ]
    assert body["first_response"]["no_target"] == 3 and body["resolution"]["met"] == 2
    assert body["satisfaction"]["answers"] == 3
    assert body["satisfaction"]["distribution"][1] == {"rating": 2, "answers": 1}
    assert body["top_customers"][2] == {
        "customer": book["A"].customer_id, "name": "Tailspin Toys 株式会社", "currency": "USD", "cases": 2,
        "disputed": "400.00",
    }  # fmt: skip


@pytest.mark.parametrize("role", Role.values)
def test_api_refuses_roles_without_report(cast, role) -> None:
    """Roles without `report` get the API's 403 error."""
    response = api_as(cast[role]).get("/api/v1/reports/")
    if role in PERMISSIONS[Action.REPORT]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-10-10", "to": "2026-10-01"}, "to"),
        ({"from": "soon"}, "from"),
        ({"to": "9999-12-31"}, "to"),
    ],
)
def test_api_bad_period_is_a_400_with_field_errors(global_admin, query, field) -> None:
    """A period the page would refuse is a 400 with the field's message, never a 500."""
    response = api_as(global_admin).get("/api/v1/reports/", query)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


# --- The embedded default (SQLite) ---------------------------------------------------------------------

SQLITE_REPORT = """
import datetime, json, django
django.setup()
from decimal import Decimal
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment
from cases import reports
from cases.models import Case, Customer, Membership, Partner
from django.contrib.auth import get_user_model

setup_test_environment()
call_command("migrate", verbosity=0)
partner = Partner.objects.create(name="Contoso", mpn_id="1234567", case_prefix="CON",
    support_contact_name="S", support_contact_email="s@contoso.example")
user = get_user_model().objects.create_user(email="ba@contoso.example", password="x", full_name="B")
Membership.objects.create(user=user, partner=partner, roles=["billing_admin"])
customer = Customer.objects.create(partner=partner, company_name="Tailspin", tenant_domain="t.onmicrosoft.com",
    billing_contact_name="B", billing_contact_email="b@t.example")
today = datetime.date.today()
start = datetime.datetime.combine(today - datetime.timedelta(days=10), datetime.time(), datetime.UTC)
for i, hours in enumerate([12, 48, 72, 5]):
    Case.objects.create(partner=partner, customer=customer, number=f"CON-{1001 + i}", category="billing_dispute",
        title="t", description="d", created_by=user, created_at=start, first_response_due=start,
        first_response_due_at=start, first_response_at=start, disputed_amount=Decimal("10.50"), currency="USD",
        status="resolved", resolved_at=start + datetime.timedelta(hours=hours),
        escalation_target="microsoft" if i < 3 else "")
period = reports.Period(today - datetime.timedelta(days=30), today)
times = reports.resolution_times(partner, period)
client = Client()
client.force_login(user)
page = client.get("/ja/reports/")
export = client.get("/en/reports/cases.csv")
from portal.models import ApiToken
_token, key = ApiToken.issue(user=user, name="sqlite")
api = Client().get("/api/v1/reports/", HTTP_AUTHORIZATION=f"Bearer {key}")
print(json.dumps({
    "vendor": connection.vendor,
    "times": [[t.target, t.cases, t.median.total_seconds() / 3600 if t.median else None,
               t.p90.total_seconds() / 3600 if t.p90 else None] for t in times],
    "page": [page.status_code, page.content.decode().count('class="chart"')],
    "csv": [export.status_code, b"".join(export.streaming_content).decode().count("CON-")],
    "api": [api.status_code, api.json()["resolution_times"][0]["median_seconds"] if api.status_code == 200 else None],
}))
"""


@pytest.mark.slow
def test_embedded_sqlite_reports(tmp_path) -> None:
    """On the SQLite database `make run` uses, the percentiles come from the window-function fallback and
    the page, the CSV and the API all answer."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    variables = {"DATABASE_URL", "REDIS_URL", "EMAIL_URL", "DEBUG", "VAR_DIR", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {key: value for key, value in os.environ.items() if key not in variables}
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", VAR_DIR=str(tmp_path / "var"), MFA_REQUIRED="0")
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_REPORT],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert results["vendor"] == "sqlite"
    # Microsoft: 12, 48, 72 hours -> median 48, 90th percentile 48 + 0.8 × 24; never escalated: 5 hours.
    assert results["times"] == [["microsoft", 3, 48.0, 67.2], ["21vianet", 0, None, None], ["", 1, 5.0, 5.0]]
    assert results["page"] == [200, 5]
    assert results["csv"] == [200, 4]
    assert results["api"] == [200, 48 * 3600.0]


def test_charts_scale_to_the_largest_value_and_skip_zero() -> None:
    """The largest column fills the chart's height; a zero draws nothing (its table row says 0)."""
    from cases import charts

    chart = charts.columns(["a", "b", "c"], [charts.Series("cases", "chart-a", [0, 4, 2], ["0", "4", "2"])])
    assert [(s.height, s.title) for s in chart.shapes] == [
        (charts.COLUMN_AREA, "b · cases: 4"),
        (90.0, "c · cases: 2"),
    ]
    stacked = charts.stacked(
        ["x"], [charts.Series(n, "c", [v], [str(v)]) for n, v in (("met", 3), ("missed", 1))]
    )
    assert [s.width for s in stacked.shapes] == [
        (charts.WIDTH - charts.LABEL_WIDTH - 10) * 0.75,
        (charts.WIDTH - charts.LABEL_WIDTH - 10) * 0.25,
    ]


def test_a_label_too_long_for_its_room_is_squeezed_into_it(client, billing_admin, book) -> None:
    """A bar's label that would run into the bar (エスカレーションなし is ten full-width characters) is drawn
    into the room left of the bars; one that fits is drawn as it is."""
    from cases import charts

    room = charts.LABEL_WIDTH - 6
    chart = charts.bars(
        ["エスカレーションなし", "Microsoft"], [charts.Series("median", "chart-a", [1, 2], ["1", "2"])]
    )
    fits = {text.text: text.fit for text in chart.texts if text.x == 0}
    assert fits == {"エスカレーションなし": room, "Microsoft": None}
    client.force_login(billing_admin.user)
    page = client.get("/ja/reports/", {"from": PERIOD.start.isoformat(), "to": PERIOD.end.isoformat()})
    assert page.status_code == 200
    assert (
        f'textLength="{room}" lengthAdjust="spacingAndGlyphs" dominant-baseline="middle" aria-hidden="true">'
        "エスカレーションなし</text>" in page.content.decode()
    )
