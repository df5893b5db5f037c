"""No request can reach another partner's data.

The sweep walks every pattern of the `cases` URLconf, fills its URL with Fabrikam China's objects and sends it
as a Contoso user who holds every role: each request must answer 404 and leave Fabrikam's data as it was.
A pattern the table below does not know fails the sweep, so a new URL cannot escape it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone, translation

from cases import services
from cases.models import (
    TRANSITIONS,
    Attachment,
    Case,
    CaseEvent,
    Category,
    InboundEmail,
    Membership,
    Notification,
    Status,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
    Transition,
)
from cases.permissions import Role
from portal import audit
from portal.models import AuditAction
from tests.factories import MembershipFactory, SubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def pdf_upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("inv.pdf", PDF, content_type="application/pdf")


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path) -> None:
    """Uploaded evidence goes to a temporary folder, never to var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"


# --- One partner's objects ---------------------------------------------------------------------------


@dataclass
class World:
    """Everything of one partner a cases URL can name."""

    partner: Any
    case: Case
    customer: Any
    active_subscription: Subscription
    suspended_subscription: Subscription
    attachment: Attachment
    failed_notification: Notification
    inbound_email: InboundEmail
    member: Membership
    inactive_member: Membership


def build_world(actor: Membership, case: Case, active_subscription: Subscription, email_domain: str) -> World:
    """Add to a partner's case and subscription the rest of what its URLs can point at."""
    customer = case.customer
    suspended = SubscriptionFactory(
        customer=customer,
        offer=f"Dynamics 365 Sales ({email_domain})",
        status=SubscriptionStatus.SUSPENDED,
        status_reason="Invoice 45 days overdue",
    )
    attachment = services.case_attach(case=case, actor=actor, upload=pdf_upload())
    failed = Notification.objects.create(
        case=case,
        kind="resolution",
        round=9,
        recipient=case.customer.billing_contact_email,
        language=case.customer.preferred_language,
        status="failed",
        last_error="550 mailbox unavailable",
    )
    inbound_email = InboundEmail.objects.create(
        message_id=f"<reply@{email_domain}>",
        source="test",
        raw=b"From: customer\r\n\r\nThe credit is missing.",
        size=40,
        sender=case.customer.billing_contact_email,
        status="threaded",
        case=case,
        text="The credit is missing.",
    )
    audit.record(AuditAction.SIGN_IN, actor=actor.user, obj=actor.user)  # each partner's trail has an entry
    inactive = MembershipFactory(
        partner=actor.partner,
        roles=[Role.SALES_AGENT],
        user=UserFactory(email=f"former.agent@{email_domain}", full_name="Former Agent", is_active=False),
    )
    return World(
        partner=actor.partner,
        case=Case.objects.get(pk=case.pk),
        customer=customer,
        active_subscription=active_subscription,
        suspended_subscription=suspended,
        attachment=attachment,
        failed_notification=failed,
        inbound_email=inbound_email,
        member=actor,
        inactive_member=inactive,
    )


@pytest.fixture
def all_roles(contoso, password) -> Membership:
    """A Contoso user who holds all five roles, so no role check can be what stops a request."""
    return MembershipFactory(
        partner=contoso,
        roles=list(Role.values),
        user=UserFactory(email="all.roles@contoso.example", full_name="Alex All-Roles", password=password),
    )


@pytest.fixture
def fabrikam_world(outsider, fabrikam_case, fabrikam_customer) -> World:
    active = SubscriptionFactory(customer=fabrikam_customer, offer="Azure operated by 21Vianet", quantity=5)
    return build_world(outsider, fabrikam_case, active, "fabrikam-china.example")


@pytest.fixture
def contoso_world(helpdesk_agent, case, subscription) -> World:
    return build_world(helpdesk_agent, case, subscription, "contoso.example")


def fabrikam_strings(world: World) -> list[str]:
    """Text that must never appear on a page a Contoso user receives."""
    return [
        world.partner.name,
        world.case.number,
        world.customer.company_name,
        world.customer.tenant_domain,
        world.active_subscription.offer,
        world.member.user.email,
        world.inactive_member.user.email,
    ]


def snapshot(world: World) -> dict[str, Any]:
    """Everything a leaking request could change on this partner's side."""
    case = Case.objects.get(pk=world.case.pk)
    return {
        "case": (
            case.status,
            case.assignee_id,
            case.support_request_number,
            case.loop_closed_at,
            case.resolution_round,
            case.updated_at,
        ),
        "events": CaseEvent.objects.filter(case=case).count(),
        "attachments": Attachment.objects.filter(case=case).count(),
        "notifications": list(
            Notification.objects.filter(case=case).order_by("pk").values_list("pk", "status", "attempts")
        ),
        "cases": Case.objects.filter(partner=world.partner).count(),
        "subscriptions": list(
            Subscription.objects.filter(customer__partner=world.partner)
            .order_by("pk")
            .values_list("pk", "status", "status_reason")
        ),
        "subscription_events": SubscriptionEvent.objects.filter(
            subscription__customer__partner=world.partner
        ).count(),
        "members": list(
            Membership.objects.filter(partner=world.partner)
            .order_by("pk")
            .values_list("pk", "roles", "user__is_active")
        ),
    }


# --- How to fill each URL of the cases URLconf --------------------------------------------------------


@dataclass
class Probe:
    """One request to a URL: its kwargs, its form data, and how to set the stage so a leak would show."""

    kwargs: dict[str, Any]
    data: Callable[[], dict[str, Any]] = dict
    prepare: Callable[[], None] | None = None


@dataclass
class Route:
    method: str
    probes: Callable[[World], list[Probe]] | None = None  # None: the page names no object
    shows: Callable[[World], str] | None = None  # for pages without objects: own data the page must show


# Every field any transition's form reads, filled so that the move would succeed if the case were reachable.
TRANSITION_DATA = {
    "support_vehicle": "commercial",
    "severity": "A",
    "support_request_number": "SR-2601010001",
    "resolution_summary": "Credited the five cancelled seats.",
    "outcome": "credit",
    "credit_amount": "10",
    "message": "Customer called back.",
}


def _put_case_where(world: World, transition: str) -> Callable[[], None]:
    """Move the case (behind the services' back) to where this transition, or the action, would succeed."""

    def prepare() -> None:
        source = sorted(TRANSITIONS[transition][0])[0]
        Case.objects.filter(pk=world.case.pk).update(
            status=source,
            loop_closed_at=timezone.now(),
            escalation_target=world.partner.escalation_target,
            escalated_at=timezone.now(),
        )

    return prepare


def _case_probes(data: dict[str, Any] | Callable[[], dict[str, Any]]) -> Callable[[World], list[Probe]]:
    make = data if callable(data) else lambda: dict(data)
    return lambda w: [Probe({"number": w.case.number}, make)]


ROUTES: dict[str, Route] = {
    # Pages that name no object: they must list only the user's own partner's data.
    "dashboard": Route("GET", shows=lambda w: w.case.number),
    "list": Route("GET", shows=lambda w: w.case.number),
    # The customer is a picker, not a list of every customer: the page shows the partner's people (assignees).
    "create": Route("GET", shows=lambda w: w.member.user.get_full_name()),
    "customers": Route("GET", shows=lambda w: w.customer.company_name),
    "customer_search": Route("GET", shows=lambda w: w.customer.company_name),
    "team": Route("GET", shows=lambda w: w.member.user.email),
    "audit": Route("GET", shows=lambda w: w.member.user.email),
    "service_levels": Route("GET", shows=lambda w: w.partner.name),
    # The reports' top customers and the CSV's rows: the partner's own, opened in the last 90 days.
    "reports": Route("GET", shows=lambda w: w.customer.company_name),
    "report_export": Route("GET", shows=lambda w: w.case.number),
    "audit_export": Route("GET", shows=lambda w: w.member.user.email),
    # Pages and actions on one object.
    "detail": Route("GET", _case_probes({})),
    "assign": Route(
        "POST", lambda w: [Probe({"number": w.case.number}, lambda: {"assignee": w.member.user.pk})]
    ),
    "support_request": Route(
        "POST",
        lambda w: [
            Probe(
                {"number": w.case.number},
                lambda: {"support_request_number": "SR-2601010002"},
                _put_case_where(w, Transition.REQUEST_INFO),  # escalated
            )
        ],
    ),
    "customer_informed": Route(
        "POST",
        lambda w: [
            Probe(
                {"number": w.case.number},
                lambda: {"message": "Phoned the customer."},
                _put_case_where(w, Transition.CLOSE),  # resolved
            )
        ],
    ),
    "comment": Route("POST", _case_probes({"message": "An internal note."})),
    "attach": Route("POST", _case_probes(lambda: {"file": pdf_upload()})),
    "attachment": Route("GET", lambda w: [Probe({"number": w.case.number, "pk": w.attachment.pk})]),
    "transition": Route(
        "POST",
        lambda w: [
            Probe(
                {"number": w.case.number, "transition": transition},
                lambda: dict(TRANSITION_DATA),
                _put_case_where(w, transition),
            )
            for transition in Transition.values
        ],
    ),
    "resend": Route("POST", lambda w: [Probe({"number": w.case.number, "pk": w.failed_notification.pk})]),
    "inbound_email": Route("GET", lambda w: [Probe({"number": w.case.number, "pk": w.inbound_email.pk})]),
    "inbound_accept": Route(
        "POST",
        lambda w: [
            Probe(
                {"number": w.case.number, "pk": w.inbound_email.pk},
                prepare=lambda: InboundEmail.objects.filter(pk=w.inbound_email.pk).update(
                    status="unverified"
                ),
            )
        ],
    ),
    "message": Route("POST", _case_probes({"message": "A message to the customer."})),
    "customer": Route("GET", lambda w: [Probe({"pk": w.customer.pk})]),
    "customer_subscriptions": Route("GET", lambda w: [Probe({"pk": w.customer.pk})]),
    "subscription": Route(
        "POST",
        lambda w: [
            Probe(
                {"pk": w.customer.pk, "subscription_pk": w.active_subscription.pk, "action": "suspend"},
                lambda: {"reason": "Invoice 60 days overdue.", "confirm": "1"},
            ),
            Probe(
                {"pk": w.customer.pk, "subscription_pk": w.suspended_subscription.pk, "action": "reactivate"},
                lambda: {"reason": "Paid in full."},
            ),
        ],
    ),
    "member": Route(
        "POST",
        lambda w: [
            Probe({"pk": w.member.pk}, lambda: {"operation": "deactivate", "confirm": "1"}),
            Probe({"pk": w.inactive_member.pk}, lambda: {"operation": "activate"}),
            Probe({"pk": w.member.pk}, lambda: {"operation": "roles", "roles": [Role.GLOBAL_ADMIN]}),
        ],
    ),
    "member_mfa_reset": Route("POST", lambda w: [Probe({"pk": w.member.pk}, lambda: {})]),
}


# URLs reached without signing in, by a signed single-use token instead; tested in test_close_the_loop.py.
PUBLIC = {"answer"}


def cases_patterns() -> Iterator[tuple[str, URLPattern]]:
    """Every (name, pattern) under the "cases" namespace of the project's URLconf, but the PUBLIC ones."""

    def walk(resolver: URLResolver, namespace: str) -> Iterator[tuple[str, URLPattern]]:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                inner = ":".join(filter(None, [namespace, pattern.namespace or ""]))
                yield from walk(pattern, inner)
            elif namespace == "cases" and pattern.name not in PUBLIC:
                yield pattern.name, pattern

    found = list(walk(get_resolver(), ""))
    assert found, "the cases URLconf is not included in the project's URLs"
    return iter(found)


def url_kwargs(pattern: URLPattern) -> set[str]:
    return set(pattern.pattern.regex.groupindex)


def route_for(name: str, pattern: URLPattern) -> Route:
    """The table's entry for a pattern; a pattern the table does not know fails the test."""
    if name not in ROUTES:
        pytest.fail(
            f"cases:{name} ({pattern.pattern}) is not in the isolation table: add how to fill its URL."
        )
    route = ROUTES[name]
    if url_kwargs(pattern) and route.probes is None:
        pytest.fail(f"cases:{name} now takes {sorted(url_kwargs(pattern))}: give it probes in the table.")
    if not url_kwargs(pattern) and route.probes is not None:
        pytest.fail(f"cases:{name} no longer takes URL kwargs: update the isolation table.")
    return route


def url_of(name: str, pattern: URLPattern, kwargs: dict[str, Any]) -> str:
    assert set(kwargs) == url_kwargs(pattern), f"cases:{name}: the table fills {sorted(kwargs)}"
    with translation.override("en"):
        return reverse(f"cases:{name}", kwargs=kwargs)


def send(client, method: str, url: str, probe: Probe | None = None):
    if method == "GET":
        return client.get(url)
    return client.post(url, probe.data() if probe else {})


def body(response) -> str:
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)  # the test client closes it once consumed
    else:
        content = response.content
    return content.decode("utf-8", errors="replace")


def every_request(world: World) -> Iterator[tuple[str, str, Route, Probe | None]]:
    """(name, url, route, probe) for every cases URL filled with this world's objects."""
    for name, pattern in cases_patterns():
        route = route_for(name, pattern)
        if route.probes is None:
            yield name, url_of(name, pattern, {}), route, None
            continue
        for probe in route.probes(world):
            yield name, url_of(name, pattern, probe.kwargs), route, probe


# --- The sweep ---------------------------------------------------------------------------------------


def test_isolation_table_covers_exactly_the_cases_urlconf() -> None:
    """Every cases URL has an entry in the sweep's table, and the table names no URL that is gone."""
    names = set()
    for name, pattern in cases_patterns():
        route_for(name, pattern)
        names.add(name)
    assert set(ROUTES) == names


def test_contoso_user_gets_404_for_every_fabrikam_object_url(client, all_roles, fabrikam_world) -> None:
    """Every cases URL filled with a Fabrikam object answers 404 to Contoso and changes nothing at Fabrikam."""
    client.force_login(all_roles.user)
    forbidden = fabrikam_strings(fabrikam_world)
    failures: list[str] = []
    swept = set()
    for name, url, route, probe in every_request(fabrikam_world):
        if probe is None:
            continue  # pages naming no object: test_pages_without_objects_show_no_fabrikam_data
        if probe.prepare:
            probe.prepare()
        before = snapshot(fabrikam_world)
        response = send(client, route.method, url, probe)
        # The page may echo the address it was asked for (the language switcher does); nothing else.
        content = body(response).replace(url, "")
        swept.add(name)
        if response.status_code != 404:
            failures.append(f"{route.method} {url} answered {response.status_code}, not 404")
        if (after := snapshot(fabrikam_world)) != before:
            changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
            failures.append(f"{route.method} {url} changed Fabrikam's data: {changed}")
        if leaked := [text for text in forbidden if text in content]:
            failures.append(f"{route.method} {url} showed {leaked}")
    assert not failures, "\n".join(failures)
    assert swept == {name for name, pattern in cases_patterns() if url_kwargs(pattern)}


def test_pages_without_objects_show_no_fabrikam_data(
    client, all_roles, contoso_world, fabrikam_world
) -> None:
    """Dashboard, case list, new-case form, customers (and their search) and team show Contoso's data and
    none of Fabrikam's."""
    now = timezone.now()
    # Make both cases qualify for every dashboard panel of the Contoso user: only the partner scope differs.
    for world in (contoso_world, fabrikam_world):
        Case.objects.filter(pk=world.case.pk).update(
            assignee=all_roles.user, first_response_due=now, created_at=now
        )
    client.force_login(all_roles.user)
    forbidden = fabrikam_strings(fabrikam_world)
    checked = []
    for name, url, route, probe in every_request(fabrikam_world):
        if probe is not None:
            continue
        response = send(client, route.method, url)
        content = body(response)
        assert response.status_code == 200, url
        assert route.shows(contoso_world) in content, f"{url} does not show Contoso's own data"
        assert [text for text in forbidden if text in content] == [], url
        checked.append(name)
    assert sorted(checked) == [
        "audit", "audit_export", "create", "customer_search", "customers", "dashboard", "list",
        "report_export", "reports", "service_levels", "team",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("customer", lambda w: w.customer.pk),
        ("assignee", lambda w: w.member.user.pk),
    ],
)
def test_case_list_filter_rejects_a_fabrikam_object(
    client, all_roles, contoso_world, fabrikam_world, parameter, value
) -> None:
    """Filtering Contoso's case list by a Fabrikam customer or user is refused by the form and shows nothing of it."""
    client.force_login(all_roles.user)
    response = client.get("/en/cases/all/", {parameter: value(fabrikam_world)})
    content = body(response)
    assert response.status_code == 200
    assert parameter in response.context["form"].errors
    assert [text for text in fabrikam_strings(fabrikam_world) if text in content] == []
    assert contoso_world.case.number in content


def test_new_case_form_ignores_a_fabrikam_customer_in_the_query(client, all_roles, fabrikam_world) -> None:
    """/cases/new/?customer=<Fabrikam customer> neither preselects nor shows that customer."""
    client.force_login(all_roles.user)
    response = client.get("/en/cases/new/", {"customer": fabrikam_world.customer.pk})
    assert response.status_code == 200
    assert response.context["form"].initial.get("customer") is None
    assert [text for text in fabrikam_strings(fabrikam_world) if text in body(response)] == []


@pytest.mark.parametrize(
    ("customer_of", "subscription_of", "field_with_error"),
    [
        ("fabrikam", None, "customer"),
        ("contoso", "fabrikam", "subscription"),
    ],
)
def test_opening_a_case_on_fabrikam_objects_is_refused(
    client, all_roles, contoso_world, fabrikam_world, customer_of, subscription_of, field_with_error
) -> None:
    """The new-case form rejects a Fabrikam customer or subscription, and no case is opened anywhere."""
    worlds = {"contoso": contoso_world, "fabrikam": fabrikam_world}
    data = {
        "customer": worlds[customer_of].customer.pk,
        "category": Category.BILLING_QUESTION,
        "title": "Why two invoices this month?",
        "description": "The customer received two invoices for October.",
        "severity": "C",
    }
    if subscription_of:
        data["subscription"] = worlds[subscription_of].active_subscription.pk
    before = (snapshot(contoso_world), snapshot(fabrikam_world))
    client.force_login(all_roles.user)
    response = client.post("/en/cases/new/", data)
    assert response.status_code == 200
    assert field_with_error in response.context["form"].errors
    assert (snapshot(contoso_world), snapshot(fabrikam_world)) == before


@pytest.mark.parametrize(
    ("url", "method", "data"),
    [
        # An own case with another partner's attachment.
        (lambda c, f: f"/en/cases/{c.case.number}/attachments/{f.attachment.pk}/", "GET", {}),
        # An own customer with another partner's subscription.
        (
            lambda c, f: f"/en/customers/{c.customer.pk}/subscriptions/{f.active_subscription.pk}/suspend/",
            "POST",
            {"reason": "Unpaid.", "confirm": "1"},
        ),
        # Another partner's customer with an own subscription.
        (
            lambda c, f: f"/en/customers/{f.customer.pk}/subscriptions/{c.active_subscription.pk}/suspend/",
            "POST",
            {"reason": "Unpaid.", "confirm": "1"},
        ),
    ],
    ids=["own-case-their-attachment", "own-customer-their-subscription", "their-customer-own-subscription"],
)
def test_mixing_an_own_object_with_a_fabrikam_one_is_404(
    client, all_roles, contoso_world, fabrikam_world, url, method, data
) -> None:
    """A URL pairing a Contoso object with a Fabrikam one answers 404 and changes nothing."""
    before = (snapshot(contoso_world), snapshot(fabrikam_world))
    client.force_login(all_roles.user)
    path = url(contoso_world, fabrikam_world)
    response = client.get(path) if method == "GET" else client.post(path, data)
    assert response.status_code == 404
    assert (snapshot(contoso_world), snapshot(fabrikam_world)) == before


def test_assigning_an_own_case_to_a_fabrikam_user_is_refused(
    client, all_roles, contoso_world, fabrikam_world
):
    """Contoso cannot hand its case to a Fabrikam user: the form refuses and the case keeps its assignee."""
    before = snapshot(contoso_world)
    client.force_login(all_roles.user)
    response = client.post(
        f"/en/cases/{contoso_world.case.number}/assign/", {"assignee": fabrikam_world.member.user.pk}
    )
    assert response.status_code == 400
    assert "assignee" in response.context["assign_form"].errors
    assert snapshot(contoso_world) == before
    assert fabrikam_world.member.user.email not in body(response)


# --- Who is not a partner user at all ----------------------------------------------------------------


def test_signed_in_user_without_membership_gets_403_on_every_cases_url(client, staff, contoso_world) -> None:
    """A staff user who belongs to no partner gets 403 on every cases URL, even with real objects in it."""
    client.force_login(staff)
    failures = []
    before = snapshot(contoso_world)
    for _name, url, route, probe in every_request(contoso_world):
        if probe and probe.prepare:
            probe.prepare()
            before = snapshot(contoso_world)
        response = send(client, route.method, url, probe)
        content = body(response)
        if response.status_code != 403:
            failures.append(f"{route.method} {url} answered {response.status_code}, not 403")
        if contoso_world.customer.company_name in content or contoso_world.member.user.email in content:
            failures.append(f"{route.method} {url} showed Contoso's data")
        if snapshot(contoso_world) != before:
            failures.append(f"{route.method} {url} changed Contoso's data")
    assert not failures, "\n".join(failures)


def test_anonymous_visitor_is_sent_to_sign_in_from_every_cases_url(client, contoso_world) -> None:
    """Every cases URL redirects an anonymous visitor to the sign-in page, coming back to that URL."""
    with translation.override("en"):
        login = reverse("login")
    failures = []
    before = snapshot(contoso_world)
    for _name, url, route, probe in every_request(contoso_world):
        if probe and probe.prepare:
            probe.prepare()
            before = snapshot(contoso_world)
        response = send(client, route.method, url, probe)
        location = urlsplit(response.get("Location", ""))
        if response.status_code != 302 or location.path != login:
            failures.append(f"{route.method} {url} answered {response.status_code} → {location.geturl()!r}")
        elif parse_qs(location.query).get("next") != [url]:
            failures.append(f"{route.method} {url} does not come back: {location.geturl()!r}")
        if snapshot(contoso_world) != before:
            failures.append(f"{route.method} {url} changed Contoso's data")
    assert not failures, "\n".join(failures)


def test_fabrikam_case_is_unchanged_by_the_whole_sweep(client, all_roles, fabrikam_world) -> None:
    """After every object URL was tried on it in a row, the Fabrikam case still reads as Fabrikam left it."""
    client.force_login(all_roles.user)
    for _name, url, route, probe in every_request(fabrikam_world):
        if probe is not None:
            send(client, route.method, url, probe)
    case = Case.objects.get(pk=fabrikam_world.case.pk)
    fabrikam_world.member.user.refresh_from_db()
    assert case.status == Status.NEW
    assert case.disputed_amount == Decimal("980.00")
    assert list(case.events.values_list("kind", flat=True)) == ["created", "attachment"]
    assert case.assignee_id is None
    assert fabrikam_world.member.user.is_active
    assert (
        Subscription.objects.get(pk=fabrikam_world.active_subscription.pk).status == SubscriptionStatus.ACTIVE
    )
    assert (
        Subscription.objects.get(pk=fabrikam_world.suspended_subscription.pk).status
        == SubscriptionStatus.SUSPENDED
    )
