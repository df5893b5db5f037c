"""A partner user opens a case in a real browser: picks the customer from suggestions, sees only that
customer's subscriptions and currency, attaches evidence, and submits, on a phone and a desktop screen."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from cases.models import SubscriptionStatus
from tests.cast import open_dispute
from tests.factories import CustomerFactory, SubscriptionFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

INVOICE_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    """Keep uploaded evidence out of the working tree."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def sign_in(page: Page, member, password: str) -> None:
    page.goto("/en/accounts/login/")
    page.get_by_label("E-mail address").fill(member.user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(member.user.full_name)


def pick_customer(page: Page, typed: str, name: str) -> None:
    """Type into the customer picker and choose the suggestion for `name`."""
    picker = page.get_by_role("combobox", name="Customer")
    picker.fill(typed)
    page.get_by_role("listbox").get_by_role("option", name=re.compile("^" + re.escape(name) + " ")).click()
    expect(picker).to_have_value(name)


def test_new_case_with_the_picker_the_customers_subscriptions_and_evidence(
    page: Page, snap, media_root: Path, tmp_path: Path, helpdesk_agent, customer, password: str
) -> None:
    """Picking a customer lists only their subscriptions and offers their currency; the evidence chosen on the
    form is on the new case's page and timeline."""
    SubscriptionFactory(customer=customer, offer="Microsoft 365 E3", quantity=30)
    SubscriptionFactory(
        customer=customer, offer="Azure plan", quantity=1, status=SubscriptionStatus.SUSPENDED
    )
    northwind = CustomerFactory(
        partner=customer.partner, company_name="Northwind Traders", tenant_domain="northwind.onmicrosoft.com"
    )
    SubscriptionFactory(customer=northwind, offer="Dynamics 365 Sales", quantity=4)
    open_dispute(helpdesk_agent, customer, currency="EUR", disputed_amount=Decimal("120.00"))

    sign_in(page, helpdesk_agent, password)
    page.goto("/en/cases/new/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Open a case")
    subscription = page.get_by_label("Subscription", exact=True)
    currency = page.get_by_label("Currency", exact=True)
    # With JavaScript the list refills by itself: the button for pages sent without it is not shown.
    expect(page.get_by_role("button", name="Show this customer's subscriptions")).to_be_hidden()
    expect(subscription.locator("option")).to_have_text(["Choose the customer first"])
    expect(currency).to_have_value("EUR")  # the partner's most used currency so far

    page.get_by_role("combobox", name="Customer").fill("north")
    expect(page.get_by_role("listbox").get_by_role("option")).to_have_text(
        ["Northwind Traders northwind.onmicrosoft.com"]
    )
    snap("picker-suggestions-1280")
    page.get_by_role("listbox").get_by_role("option").first.click()
    expect(subscription.locator("option")).to_have_text(
        ["Choose a subscription (optional)", "Dynamics 365 Sales × 4"]
    )

    pick_customer(page, "tailspin", "Tailspin Toys 株式会社")
    expect(subscription.locator("option")).to_have_text(
        ["Choose a subscription (optional)", "Azure plan × 1 (suspended)", "Microsoft 365 E3 × 30"]
    )
    expect(currency).to_have_value("EUR")  # the customer's last currency
    subscription.select_option(label="Microsoft 365 E3 × 30")
    page.get_by_label("Category", exact=True).select_option(label="Billing dispute")
    page.get_by_label("Title", exact=True).fill("Charged for 30 seats, using 25")
    page.get_by_label("Description", exact=True).fill("The invoice bills 30 seats; 5 were cancelled.")
    page.get_by_label("Invoice number", exact=True).fill("G012345678")
    page.get_by_label("Disputed amount", exact=True).fill("412.50")
    page.get_by_label("Billing period", exact=True).fill("2026-10")
    pdf = tmp_path / "invoice-G012345678.pdf"
    pdf.write_bytes(INVOICE_PDF)
    page.get_by_label("Evidence (PDF, PNG, JPEG or CSV)").set_input_files(pdf)

    page.set_viewport_size(PHONE)
    snap("new-case-filled-390")
    page.set_viewport_size(DESKTOP)
    snap("new-case-filled-1280")

    page.get_by_role("button", name="Open the case").click()
    expect(page).to_have_url(re.compile(r"/en/cases/CON-\d+/$"))
    number = page.locator(".case-number").inner_text()
    expect(page.locator(".messages")).to_contain_text(f"Case {number} opened.")
    expect(page.get_by_role("region", name="Details")).to_contain_text("Microsoft 365 E3")
    expect(page.get_by_test_id("disputed-amount")).to_contain_text("€412.50")
    evidence = page.get_by_role("region", name="Evidence")
    expect(evidence.get_by_role("link", name=pdf.name)).to_be_visible()
    expect(page.locator("body")).to_contain_text("Evidence attached")
    snap("case-opened-1280")
    page.set_viewport_size(PHONE)
    snap("case-opened-390")
