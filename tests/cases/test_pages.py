"""Partner pages: dashboard, case list, customers and team, showing only the user's own organisation."""

from __future__ import annotations

import datetime
import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from cases import services
from cases.models import Case, Membership
from tests.cast import open_dispute
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def numbers(response) -> list[str]:
    return re.findall(r'<a href="/en/cases/(CON-\d+)/">', response.content.decode())


def test_dashboard_counts_what_needs_attention(client, helpdesk_agent, billing_admin, customer) -> None:
    """Open, escalated, waiting on the partner, at-risk and resolved-this-week counts come from the cases."""
    new = open_dispute(helpdesk_agent, customer, severity="A")
    Case.objects.filter(pk=new.pk).update(next_due_at=timezone.now() - datetime.timedelta(minutes=5))
    escalated = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    services.case_escalate(case=escalated, actor=helpdesk_agent, support_vehicle="commercial", severity="B")
    waiting = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    services.case_escalate(case=waiting, actor=helpdesk_agent, support_vehicle="commercial", severity="B")
    services.case_request_info(case=waiting, actor=helpdesk_agent)
    resolved = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    services.case_resolve(case=resolved, actor=billing_admin, resolution_summary="Upheld.", outcome="upheld")

    client.force_login(helpdesk_agent.user)
    counts = client.get(reverse("cases:dashboard")).context["counts"]
    assert counts == {"open": 3, "escalated": 2, "waiting": 1, "at_risk": 1, "resolved_week": 1}


def test_case_list_filters_searches_and_sorts(client, helpdesk_agent, customer, contoso) -> None:
    """Status, customer, category, escalated and text search narrow the list; sorting orders it."""
    other_customer = CustomerFactory(partner=contoso, company_name="Northwind Traders")
    a = open_dispute(helpdesk_agent, customer, title="Duplicate Azure charge", severity="A")
    b = open_dispute(helpdesk_agent, other_customer, title="Seats after cancellation", severity="C")
    c = services.case_create(
        actor=helpdesk_agent,
        customer=customer,
        category="billing_question",
        title="Prorated month",
        description="?",
    )
    services.case_escalate(
        case=services.case_start(case=b, actor=helpdesk_agent),
        actor=helpdesk_agent,
        support_vehicle="commercial",
        severity="C",
    )
    client.force_login(helpdesk_agent.user)
    url = reverse("cases:list")
    assert numbers(client.get(url)) == [c.number, b.number, a.number]
    assert numbers(client.get(url, {"status": "escalated"})) == [b.number]
    assert numbers(client.get(url, {"escalated": "no"})) == [c.number, a.number]
    assert numbers(client.get(url, {"customer": other_customer.pk})) == [b.number]
    assert numbers(client.get(url, {"category": "billing_question"})) == [c.number]
    assert numbers(client.get(url, {"q": "azure"})) == [a.number]
    assert numbers(client.get(url, {"q": "northwind"})) == [b.number]
    assert numbers(client.get(url, {"q": a.number})) == [a.number]
    assert numbers(client.get(url, {"sort": "severity"})) == [a.number, c.number, b.number]
    assert numbers(client.get(url, {"sort": "created"})) == [a.number, b.number, c.number]
    assert numbers(client.get(url, {"assignee": helpdesk_agent.user.pk})) == [b.number]


def test_case_list_paginates(client, helpdesk_agent, customer) -> None:
    """Twenty-five cases a page, with the filters kept in the page links."""
    for index in range(27):
        open_dispute(helpdesk_agent, customer, title=f"Case {index}")
    client.force_login(helpdesk_agent.user)
    first = client.get(reverse("cases:list"), {"status": "open"})
    assert len(numbers(first)) == 25
    assert 'href="?status=open&amp;page=2"' in first.content.decode()
    second = client.get(reverse("cases:list"), {"status": "open", "page": 2})
    assert len(numbers(second)) == 2


def test_new_case_page_links_to_the_billing_support_guidance(client, helpdesk_agent, outsider) -> None:
    """The new-case page points to "Provide billing support" for the partner's own cloud, in the user's language."""
    client.force_login(helpdesk_agent.user)
    assert (
        'href="/ja/guidance/global/provide-billing-support/"' in client.get("/ja/cases/new/").content.decode()
    )
    client.force_login(outsider.user)
    assert (
        'href="/zh-hans/guidance/21vianet/provide-billing-support/"'
        in client.get("/zh-hans/cases/new/").content.decode()
    )


def test_guidance_links_to_report_and_escalate_lead_to_case_pages(client, helpdesk_agent) -> None:
    """Guidance links to "report problems" and "escalate problems" open the portal's case pages."""
    from django.core.management import call_command

    from tests.guidance.conftest import CONTENT

    call_command("import_guidance", str(CONTENT), verbosity=0)
    html = client.get("/ja/guidance/global/provide-billing-support/").content.decode()
    assert 'href="/ja/cases/new/"' in html
    assert 'href="/ja/cases/"' in html


def test_partner_user_reads_guidance_of_their_own_cloud(client, outsider) -> None:
    """A Fabrikam China user sees 21Vianet guidance without choosing, and no cloud choice."""
    client.force_login(outsider.user)
    response = client.get("/en/guidance/?cloud=global")
    assert response.context["cloud"] == "21vianet"
    assert 'name="cloud"' not in response.content.decode()


def test_customer_page_shows_subscriptions_policy_and_cases(
    client, billing_admin, customer, subscription, case
):
    """The customer page has the collections policy, subscriptions and recent cases."""
    client.force_login(billing_admin.user)
    html = client.get(customer.get_absolute_url()).content.decode()
    assert customer.partner.collections_policy in html
    assert "Microsoft 365 E3" in html
    assert case.number in html
    assert "Suspend for non-payment" in html


def test_suspend_and_reactivate_are_recorded_with_who_and_when(client, billing_admin, customer, subscription):
    """Suspension needs a reason; both moves are kept with the admin's name."""
    client.force_login(billing_admin.user)
    url = reverse("cases:subscription", args=[customer.pk, subscription.pk, "suspend"])
    assert client.post(url, {"reason": "Unpaid for 60 days.", "confirm": "1"}).status_code == 302
    subscription.refresh_from_db()
    assert (subscription.status, subscription.status_reason) == ("suspended", "Unpaid for 60 days.")
    assert subscription.status_changed_by == billing_admin.user
    again = client.post(url, {"reason": "Twice?", "confirm": "1"}, follow=True)
    assert "already suspended" in again.content.decode()
    client.post(
        reverse("cases:subscription", args=[customer.pk, subscription.pk, "reactivate"]), {"reason": "Paid."}
    )
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert list(subscription.events.values_list("status", "actor__email")) == [
        ("active", "billing.admin@contoso.example"),
        ("suspended", "billing.admin@contoso.example"),
    ]


def test_customer_list_searches_and_marks_delinquent(client, helpdesk_agent, customer, contoso) -> None:
    """The list finds customers by name or domain and flags delinquent ones."""
    CustomerFactory(
        partner=contoso,
        company_name="Northwind Traders",
        tenant_domain="northwind.onmicrosoft.com",
        delinquent=True,
    )
    client.force_login(helpdesk_agent.user)
    html = client.get(reverse("cases:customers"), {"q": "northwind"}).content.decode()
    assert "Northwind Traders" in html and "Tailspin" not in html
    assert "Delinquent" in html


def test_global_admin_invites_a_colleague_who_can_then_sign_in(
    client, global_admin, contoso, django_capture_on_commit_callbacks
) -> None:
    """An invitation creates the account with its roles and mails a link to choose a password."""
    client.force_login(global_admin.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("cases:team"),
            {
                "email": "New.Agent@Contoso.example",
                "full_name": "Nia New",
                "roles": ["helpdesk_agent", "sales_agent"],
            },
        )
    assert response.status_code == 302
    membership = Membership.objects.get(user__email="new.agent@contoso.example")
    assert membership.partner == contoso
    assert membership.roles == ["helpdesk_agent", "sales_agent"]
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+(/en/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    client.logout()
    set_page = client.get(link, follow=True)
    done = client.post(
        set_page.redirect_chain[-1][0],
        {"new_password1": "Welcome-aboard-42", "new_password2": "Welcome-aboard-42"},
    )
    assert done.status_code == 302
    signed_in = client.post(
        "/en/accounts/login/", {"username": "new.agent@contoso.example", "password": "Welcome-aboard-42"}
    )
    assert signed_in.status_code == 302


def test_invitation_refuses_an_address_already_in_use(client, global_admin, helpdesk_agent) -> None:
    """An existing address gets a field error, and nothing is created."""
    client.force_login(global_admin.user)
    response = client.post(
        reverse("cases:team"),
        {"email": helpdesk_agent.user.email, "full_name": "Dup", "roles": ["sales_agent"]},
    )
    assert response.status_code == 200
    assert "Someone already uses this e-mail address." in response.content.decode()


def test_user_admin_deactivates_and_reactivates_a_colleague(client, user_admin, sales_agent) -> None:
    """A deactivated colleague cannot sign in; reactivation restores access."""
    client.force_login(user_admin.user)
    client.post(reverse("cases:member", args=[sales_agent.pk]), {"operation": "deactivate", "confirm": "1"})
    sales_agent.user.refresh_from_db()
    assert sales_agent.user.is_active is False
    client.post(reverse("cases:member", args=[sales_agent.pk]), {"operation": "activate"})
    sales_agent.user.refresh_from_db()
    assert sales_agent.user.is_active is True


def test_nobody_deactivates_themselves(client, global_admin) -> None:
    """An admin cannot lock themselves out."""
    client.force_login(global_admin.user)
    response = client.post(
        reverse("cases:member", args=[global_admin.pk]),
        {"operation": "deactivate", "confirm": "1"},
        follow=True,
    )
    assert "You cannot deactivate your own account." in response.content.decode()
    global_admin.user.refresh_from_db()
    assert global_admin.user.is_active


def test_roles_can_be_changed(client, global_admin, sales_agent) -> None:
    """An admin changes a colleague's roles from the team page."""
    client.force_login(global_admin.user)
    client.post(
        reverse("cases:member", args=[sales_agent.pk]), {"operation": "roles", "roles": ["billing_admin"]}
    )
    sales_agent.refresh_from_db()
    assert sales_agent.roles == ["billing_admin"]


def test_navigation_shows_partner_sections_to_members_only(
    client, helpdesk_agent, global_admin, staff
) -> None:
    """Members see Cases, Customers and Team; staff without a partner see Admin instead."""
    client.force_login(helpdesk_agent.user)
    labels = [item["label"] for item in client.get("/en/").context["nav_items"]]
    assert [str(label) for label in labels] == ["Guidance", "Cases", "Customers", "Team"]
    client.force_login(
        global_admin.user
    )  # the Global admin also reads reports, registers webhooks, sets service levels
    labels = [str(item["label"]) for item in client.get("/en/").context["nav_items"]]
    assert labels == ["Guidance", "Cases", "Customers", "Team", "Reports", "Webhooks", "Service levels"]
    client.force_login(staff)
    labels = [str(item["label"]) for item in client.get("/en/").context["nav_items"]]
    assert labels == ["Guidance", "Cases", "Admin"]


def test_dashboard_names_the_escalation_target(client, global_admin, outsider) -> None:
    """The dashboard says where the partner escalates: Microsoft, or 21Vianet."""
    client.force_login(global_admin.user)
    assert "you escalate to Microsoft." in client.get("/en/cases/").content.decode()
    client.force_login(outsider.user)
    assert "you escalate to 21Vianet." in client.get("/en/cases/").content.decode()


def test_new_case_form_ignores_a_malformed_customer(client, global_admin) -> None:
    """A malformed ?customer= preselects nothing instead of failing."""
    client.force_login(global_admin.user)
    assert client.get("/en/cases/new/?customer=abc").status_code == 200


def test_a_bad_filter_value_drops_only_that_filter(client, helpdesk_agent, customer) -> None:
    """An unknown customer id is ignored while the status filter still applies."""
    open_dispute(helpdesk_agent, customer)
    started = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    client.force_login(helpdesk_agent.user)
    assert numbers(client.get(reverse("cases:list"), {"status": "in_progress", "customer": "999999"})) == [
        started.number
    ]


def test_the_customer_list_is_paged_with_its_search(client, helpdesk_agent) -> None:
    import factory

    from tests.factories import CustomerFactory

    names = factory.Sequence(lambda n: f"Paged Customer {n:02d}")
    CustomerFactory.create_batch(30, partner=helpdesk_agent.partner, company_name=names)
    client.force_login(helpdesk_agent.user)
    first = client.get(reverse("cases:customers"), {"q": "Paged"}).content.decode()
    assert 'href="?q=Paged&amp;page=2" rel="next"' in first
    unfiltered = client.get(reverse("cases:customers")).content.decode()
    assert 'href="?page=2" rel="next"' in unfiltered


@pytest.mark.parametrize(
    "page", ["cases:list", "cases:create", "cases:detail", "cases:customers", "cases:team", "cases:dashboard"]
)
def test_no_select_offers_django_s_dashes_for_its_empty_choice(client, global_admin, customer, page) -> None:
    """An empty choice says what it means ("Anyone", "Nobody", "Choose a category"), never "---------"."""
    case = open_dispute(global_admin, customer)
    client.force_login(global_admin.user)
    url = reverse(page, args=[case.number]) if page == "cases:detail" else reverse(page)
    response = client.get(url)
    assert response.status_code == 200
    assert "---------" not in response.content.decode()
