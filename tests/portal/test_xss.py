"""An XSS corpus pushed through every text input, checked where it comes out: pages, admin, e-mails, API."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from cases import services
from cases.emails import build_notification_email
from cases.models import Notification
from portal.models import ApiToken
from tests.cast import open_dispute
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CORPUS = [
    "<script>alert('x1')</script>",
    '"><img src=x onerror=alert("x2")>',
    "<svg/onload=alert('x3')>",
    "javascript:alert('x4')",
    "<a href=\"javascript:alert('x5')\">x</a>",
    "';alert('x6');//",
    "<iframe src=//evil.example></iframe>",
]
PAYLOAD = " ".join(CORPUS)
DANGEROUS = ("<script>alert", "<img src=x onerror", "<svg/onload", '<a href="javascript:', "<iframe src=")


def assert_inert(html: str, where: str) -> None:
    for marker in DANGEROUS:
        assert marker not in html, f"{marker!r} reached {where} unescaped"


@pytest.fixture
def hostile_case(helpdesk_agent, billing_admin, contoso):
    customer = CustomerFactory(
        partner=contoso, company_name=f"Evil {CORPUS[1]}", billing_contact_name=CORPUS[0]
    )
    case = open_dispute(
        helpdesk_agent, customer, title=f"T {CORPUS[0]}", description=PAYLOAD, invoice_number="G<b>1"
    )
    services.case_comment(case=case, actor=helpdesk_agent, message=PAYLOAD)
    services.case_attach(
        case=case, actor=helpdesk_agent, upload=SimpleUploadedFile(f"{CORPUS[1]}.pdf", b"%PDF-1.4\n%%EOF\n")
    )
    case = services.case_start(case=case, actor=helpdesk_agent)
    case = services.case_resolve(
        case=case,
        actor=billing_admin,
        resolution_summary=PAYLOAD,
        outcome="credit",
        credit_amount=Decimal("1"),
    )
    return case


def test_partner_pages_escape_every_field(client, helpdesk_agent, hostile_case) -> None:
    """Case detail, list, dashboard and customer pages show the corpus as text."""
    client.force_login(helpdesk_agent.user)
    for url in (
        hostile_case.get_absolute_url(),
        reverse("cases:list"),
        reverse("cases:dashboard"),
        reverse("cases:customers"),
        hostile_case.customer.get_absolute_url(),
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert_inert(response.content.decode(), url)
    detail = client.get(hostile_case.get_absolute_url()).content.decode()
    assert "&lt;script&gt;alert(&#x27;x1&#x27;)&lt;/script&gt;" in detail


def test_admin_escapes_every_field(client, staff, hostile_case) -> None:
    """Django admin lists and change pages show the corpus as text."""
    client.force_login(staff)
    for url in (
        reverse("admin:cases_case_changelist"),
        reverse("admin:cases_case_change", args=[hostile_case.pk]),
        reverse("admin:cases_customer_changelist"),
        reverse("admin:cases_customer_change", args=[hostile_case.customer.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert_inert(response.content.decode(), url)


def test_emails_escape_in_html_and_stay_plain_in_text(hostile_case) -> None:
    """The resolution e-mail's HTML part escapes the corpus; the text part carries it as plain text."""
    notification = Notification.objects.get(case=hostile_case, kind="resolution")
    message = build_notification_email(notification)
    html = message.alternatives[0][0]
    assert_inert(html, "the HTML e-mail")
    assert CORPUS[0] in message.body  # text/plain: shown as typed, never interpreted
    assert mail.outbox == []


def test_api_returns_data_not_markup(helpdesk_agent, hostile_case) -> None:
    """The API returns the corpus as JSON strings, with a JSON content type."""
    _token, key = ApiToken.issue(user=helpdesk_agent.user, name="xss")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api.get(f"/api/v1/cases/{hostile_case.number}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    body = json.loads(response.content)
    assert body["description"] == PAYLOAD


def test_api_input_comes_out_escaped_on_pages(client, helpdesk_agent, customer) -> None:
    """A case opened through the API with the corpus renders inert on the web pages."""
    _token, key = ApiToken.issue(user=helpdesk_agent.user, name="xss")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    created = api.post(
        "/api/v1/cases/",
        {"customer": customer.pk, "category": "billing_question", "title": CORPUS[2], "description": PAYLOAD},
        format="json",
    )
    assert created.status_code == 201
    client.force_login(helpdesk_agent.user)
    assert_inert(client.get(f"/en/cases/{created.json()['number']}/").content.decode(), "the API-made case")


def test_customer_answer_page_escapes_the_resolution(client, hostile_case) -> None:
    """The public answer page shows the resolution summary as text."""
    from cases.tokens import answer_link

    notification = Notification.objects.get(case=hostile_case, kind="resolution")
    path = answer_link(notification).split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path)
    assert response.status_code == 200
    assert_inert(response.content.decode(), "the answer page")
