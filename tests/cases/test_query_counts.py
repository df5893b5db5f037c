"""The partner pages run a fixed number of SQL queries, however many cases and customers a partner has.

Each test measures a page with a little data and with a lot, asserts both counts are equal, and pins the
exact number for the large case, so an N+1 (a template touching an unloaded relation) fails here first.
"""

from __future__ import annotations

import datetime
import itertools
import time
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import (
    OPEN_STATUSES,
    Case,
    Category,
    Customer,
    EscalationTarget,
    Severity,
    Status,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
    SupportVehicle,
)

pytestmark = pytest.mark.django_db

MANY_CASES = 10_000
MANY_CUSTOMERS = 500
LIST_SECONDS = 2.0  # coarse guard for the 10,000-case list on this machine

# Every signed-in page reads its session with the user, their membership and partner joined (portal.sessions):
# one query before the page's own. Nothing comes from a cache.
SIGNED_IN = 1
# The case list runs the count, the page of rows (its ids from the sort's index in a subquery, customer and
# assignee joined) and the assignee options (the customer is a picker, not a list of every customer);
# filtering by customer and assignee adds one query each to check the chosen pk belongs to the partner.
CASE_LIST_QUERIES = {
    "": SIGNED_IN + 3,
    "?status=open&sort=severity": SIGNED_IN + 3,
    "?q=seats": SIGNED_IN + 3,
    "?page=2": SIGNED_IN + 3,
    "?escalated=yes": SIGNED_IN + 3,
    "?customer={customer}&assignee={assignee}&sort=-updated": SIGNED_IN + 5,
    # The service-level filter and sort read the stored due times (index (partner, next_due_at)).
    "?due=at_risk&sort=due": SIGNED_IN + 3,
    "?sort=due": SIGNED_IN + 3,
}
# The open-case counts (one index-only read), "resolved this week" (another), the satisfaction average and
# the two panels.
DASHBOARD_QUERIES = SIGNED_IN + 5
CUSTOMER_LIST_QUERIES = {"": SIGNED_IN + 2, "?q=Ltd": SIGNED_IN + 2, "?page=2": SIGNED_IN + 2}
CUSTOMER_DETAIL_QUERIES = SIGNED_IN + 5
# The case (customer, assignee, subscription and resolver joined), its timeline with the actors, its evidence,
# its notifications with the customer's answers, and the assignee options of the Assign form.
CASE_DETAIL_QUERIES = SIGNED_IN + 5
# The API: the token with its user, membership and partner; the count; the page of rows.
API_LIST_QUERIES = 3
# The reports (cases/reports.py): the cases opened (per week and currency: the weekly counts, money and
# targets), resolved per week, resolution times (percentile_cont), satisfaction, top customers; the CSV
# streams one query in chunks.
REPORT_QUERIES = SIGNED_IN + 5
API_REPORT_QUERIES = 1 + 5


@dataclass
class Book:
    """A partner's people and customers, and a way to give it as many cases as a test needs."""

    partner: Any
    customers: list[Customer]
    users: list[Any]
    viewer: Any
    now: datetime.datetime

    def grow_cases_to(self, total: int, customers: list[Customer] | None = None) -> None:
        """Bulk-create cases until the partner has `total`, spread over customers, assignees and statuses."""
        customers = customers or self.customers
        start = Case.objects.filter(partner=self.partner).count()
        assignees = [None, *self.users]
        cases = []
        for i in range(start, total):
            status = Status.values[i % len(Status.values)]
            escalated = status in (Status.ESCALATED, Status.INFO_REQUESTED)
            created = self.now - datetime.timedelta(minutes=i)
            cases.append(
                Case(
                    partner=self.partner,
                    number=f"CON-{100000 + i}",
                    customer=customers[i % len(customers)],
                    category=Category.values[i % len(Category.values)],
                    title=f"Charged for {30 + i % 7} seats, using {25 + i % 5}",
                    description="The invoice bills more seats than the customer uses.",
                    severity=Severity.values[i % len(Severity.values)],
                    status=status,
                    assignee=assignees[i % len(assignees)],
                    created_by=self.users[i % len(self.users)],
                    created_at=created,
                    first_response_due=created + datetime.timedelta(hours=2 + i % 7),
                    # Some open cases past their due time, some close to it, the rest later.
                    next_due_at=created + datetime.timedelta(hours=i % 7 - 3)
                    if status in OPEN_STATUSES
                    else None,
                    escalation_target=EscalationTarget.MICROSOFT if escalated else "",
                    support_vehicle=SupportVehicle.COMMERCIAL if escalated else "",
                    escalated_at=created if escalated else None,
                )
            )
        Case.objects.bulk_create(cases, batch_size=2_000)
        assert Case.objects.filter(partner=self.partner).count() == total

    def grow_customers_to(self, total: int) -> None:
        """Bulk-create customers (with subscriptions, some suspended, and a few cases) up to `total`."""
        start = Customer.objects.filter(partner=self.partner).count()
        new = Customer.objects.bulk_create(
            Customer(
                partner=self.partner,
                company_name=f"Bulk Customer {i:04d} Ltd",
                tenant_domain=f"bulk{i}.onmicrosoft.com",
                billing_contact_name="Bea Billing",
                billing_contact_email=f"billing{i}@bulk.example",
                delinquent=i % 4 == 0,
            )
            for i in range(start, total)
        )
        Subscription.objects.bulk_create(
            Subscription(
                customer=customer,
                offer=offer,
                quantity=10,
                status=SubscriptionStatus.SUSPENDED if n % 3 == 0 and offer.endswith("E3") else "active",
            )
            for n, customer in enumerate(new)
            for offer in ("Microsoft 365 E3", "Azure plan")
        )
        self.customers.extend(new)
        self.grow_cases_to(Case.objects.filter(partner=self.partner).count() + 2 * len(new), customers=new)
        assert Customer.objects.filter(partner=self.partner).count() == total


@pytest.fixture
def book(contoso, cast, customer) -> Book:
    """Contoso with its five members, five customers, and the global admin looking at the pages."""
    customers = [
        customer,
        *(
            Customer.objects.create(
                partner=contoso,
                company_name=f"Customer {n} Ltd",
                tenant_domain=f"customer{n}.onmicrosoft.com",
                billing_contact_name="Bea Billing",
                billing_contact_email=f"billing{n}@customer.example",
            )
            for n in range(1, 5)
        ),
    ]
    return Book(
        partner=contoso,
        customers=customers,
        users=[member.user for member in cast.values()],
        viewer=cast["global_admin"].user,
        now=timezone.now(),
    )


def queries_for(client, url: str) -> tuple[int, float, Any]:
    """The number of SQL queries the page runs, the seconds it takes to render, and the response."""
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, url
    return len(captured.captured_queries), elapsed, response


def signed_in(client, book: Book, *urls: str):
    """Sign the viewer in and open each page once, so one-time work does not count against a page."""
    client.force_login(book.viewer)
    for url in urls:
        assert client.get(url).status_code == 200
    return client


@pytest.mark.parametrize("query", CASE_LIST_QUERIES)
def test_case_list_query_count_does_not_grow_with_cases(client, book, query, django_assert_num_queries):
    """The case list (filtered, searched, sorted, paged) runs the same queries for 10 cases and 10,000."""
    # Case 1 of the first ten has the second customer and the first user as assignee.
    url = "/en/cases/all/" + query.format(customer=book.customers[1].pk, assignee=book.users[0].pk)
    signed_in(client, book, url)
    book.grow_cases_to(10)
    few, _, response = queries_for(client, url)
    # An empty page skips the rows query: every variant must find some of the ten cases to compare fairly.
    assert response.context["page"].object_list
    book.grow_cases_to(MANY_CASES)
    many, seconds, _ = queries_for(client, url)
    assert few == many
    assert seconds < LIST_SECONDS, f"{url} took {seconds:.2f}s with {MANY_CASES} cases"
    with django_assert_num_queries(CASE_LIST_QUERIES[query]):
        response = client.get(url)
    assert response.context["page"].paginator.count > 25  # the page really drew from the many cases


def test_case_list_of_ten_thousand_cases_renders_quickly(client, book) -> None:
    """The unfiltered list of a partner with 10,000 cases renders in under two seconds."""
    signed_in(client, book, "/en/cases/all/")
    book.grow_cases_to(MANY_CASES)
    started = time.perf_counter()
    response = client.get("/en/cases/all/")
    seconds = time.perf_counter() - started
    assert response.status_code == 200
    assert response.context["page"].paginator.count == MANY_CASES
    assert len(response.context["page"].object_list) == 25
    assert seconds < LIST_SECONDS, f"the list took {seconds:.2f}s"


def test_dashboard_query_count_does_not_grow_with_cases(client, book, django_assert_num_queries) -> None:
    """The dashboard's counters and panels cost the same queries for 10 cases and 10,000."""
    url = "/en/cases/"
    signed_in(client, book, url)
    book.grow_cases_to(10)
    few, _, _ = queries_for(client, url)
    book.grow_cases_to(MANY_CASES)
    many, _, _ = queries_for(client, url)
    assert few == many
    with django_assert_num_queries(DASHBOARD_QUERIES):
        response = client.get(url)
    assert len(response.context["mine"]) == 10
    assert response.context["counts"]["open"] > 10


@pytest.mark.parametrize("query", CUSTOMER_LIST_QUERIES)
def test_customer_list_query_count_does_not_grow_with_customers(
    client, book, query, django_assert_num_queries
) -> None:
    """The customer list with its open-case and suspension counts costs the same for 10 customers and 500."""
    url = "/en/customers/" + query
    signed_in(client, book, url)
    book.grow_customers_to(10)
    few, _, response = queries_for(client, url)
    assert response.context["page"].object_list
    book.grow_customers_to(MANY_CUSTOMERS)
    many, _, _ = queries_for(client, url)
    assert few == many
    with django_assert_num_queries(CUSTOMER_LIST_QUERIES[query]):
        response = client.get(url)
    assert response.context["page"].paginator.count > 25


def test_customer_detail_query_count_does_not_grow(client, book, django_assert_num_queries) -> None:
    """A customer's page costs the same with one subscription and two cases as with 25 and 2,000."""
    customer = book.customers[0]
    url = f"/en/customers/{customer.pk}/"
    signed_in(client, book, url)
    Subscription.objects.create(customer=customer, offer="Microsoft 365 E3", quantity=30)
    SubscriptionEvent.objects.create(
        subscription=customer.subscriptions.get(), status=SubscriptionStatus.ACTIVE, actor=book.users[0]
    )
    book.grow_cases_to(2 * len(book.customers))
    few, _, _ = queries_for(client, url)

    subscriptions = Subscription.objects.bulk_create(
        Subscription(customer=customer, offer=f"Azure plan {n}", status=SubscriptionStatus.SUSPENDED)
        for n in range(24)
    )
    actors = itertools.cycle([None, *book.users])
    SubscriptionEvent.objects.bulk_create(
        SubscriptionEvent(
            subscription=subscription, status=status, reason="Invoice overdue", actor=next(actors)
        )
        for subscription in subscriptions
        for status in (SubscriptionStatus.SUSPENDED, SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED)
    )
    book.grow_cases_to(2_000 * len(book.customers))
    many, _, _ = queries_for(client, url)
    assert few == many
    with django_assert_num_queries(CUSTOMER_DETAIL_QUERIES):
        response = client.get(url)
    assert len(response.context["cases"]) == 20
    assert len(response.context["subscriptions"]) == 25


def test_case_detail_query_count_does_not_grow(client, book, django_assert_num_queries) -> None:
    """A case's page costs the same with a short timeline as with a long one, and with many cases around."""
    from cases import services
    from tests.cast import open_dispute

    actor = book.viewer.membership
    case = services.case_start(case=open_dispute(actor, book.customers[0]), actor=actor)
    url = f"/en/cases/{case.number}/"
    signed_in(client, book, url)
    few, _, _ = queries_for(client, url)
    for n in range(20):
        services.case_comment(case=case, actor=actor, message=f"Called the customer ({n}).")
    book.grow_cases_to(MANY_CASES)
    many, _, response = queries_for(client, url)
    assert few == many
    with django_assert_num_queries(CASE_DETAIL_QUERIES):
        response = client.get(url)
    assert response.content.decode().count("timeline__event--comment") == 20


def test_service_levels_page_query_count(client, book, django_assert_num_queries) -> None:
    """The service-levels settings page reads the partner's saved settings and nothing more."""
    url = "/en/service-levels/"
    signed_in(client, book, url)
    with django_assert_num_queries(SIGNED_IN + 1):
        response = client.get(url)
    assert response.context["form"]["time_zone"].value() == "UTC"


def test_api_case_list_query_count_does_not_grow(book, django_assert_num_queries) -> None:
    """The API's page of cases costs the same for ten cases and ten thousand, on the first page and deep."""
    from rest_framework.test import APIClient

    from portal.models import ApiToken

    _token, key = ApiToken.issue(user=book.viewer, name="counts")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    book.grow_cases_to(10)
    with django_assert_num_queries(API_LIST_QUERIES + 1):  # the first call records when the token was used
        assert api.get("/api/v1/cases/").status_code == 200
    book.grow_cases_to(MANY_CASES)
    for url in ("/api/v1/cases/", "/api/v1/cases/?page=150"):
        with django_assert_num_queries(API_LIST_QUERIES):
            response = api.get(url)
        assert response.status_code == 200 and len(response.json()["results"]) == 50


def test_reports_query_count_does_not_grow_with_cases(client, book, django_assert_num_queries) -> None:
    """The reports page costs the same queries for 10 cases and 10,000: every figure is one aggregate."""
    url = "/en/reports/"
    signed_in(client, book, url)
    book.grow_cases_to(10)
    few, _, _ = queries_for(client, url)
    book.grow_cases_to(MANY_CASES)
    many, _, _ = queries_for(client, url)
    assert few == many
    with django_assert_num_queries(REPORT_QUERIES):
        response = client.get(url)
    assert response.context["report"].opened == MANY_CASES


def test_reports_api_and_csv_query_counts(client, book, django_assert_num_queries) -> None:
    """The API's report runs the page's aggregates; the CSV of 10,000 cases streams from one query."""
    from rest_framework.test import APIClient

    from portal.models import ApiToken

    book.grow_cases_to(MANY_CASES)
    _token, key = ApiToken.issue(user=book.viewer, name="counts")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/reports/").status_code == 200  # records when the token was used
    with django_assert_num_queries(API_REPORT_QUERIES):
        assert api.get("/api/v1/reports/").json()["weeks"]
    signed_in(client, book)
    with django_assert_num_queries(SIGNED_IN + 1):
        response = client.get("/en/reports/cases.csv")
        lines = b"".join(response.streaming_content).count(b"\n")
    assert lines == MANY_CASES + 1
