"""Partner users work billing cases and subscriptions in a real browser, from opening to resolution."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e import header
from tests.guidance.conftest import CONTENT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


INVOICE_PDF = (
    b"%PDF-1.4\n"
    b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
    b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n"
    b"trailer << /Root 1 0 R >>\n"
    b"%%EOF\n"
)


# --- Helpers -----------------------------------------------------------------------------------


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    """Keep uploaded evidence out of the working tree."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def other_page(browser: Browser, live_server) -> Iterator[Callable[[], Page]]:
    """Open further browser contexts (other users, other sessions) on the live server."""
    contexts = []

    def open_page() -> Page:
        context = browser.new_context(
            base_url=live_server.url, locale="en-US", viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def snap_other(artifacts_dir: Path) -> Callable[[Page, str], Path]:
    """Screenshot a page other than `page`, named apart from snap()'s numbered steps."""
    counter = {"n": 0}

    def take(other: Page, step: str) -> Path:
        counter["n"] += 1
        path = artifacts_dir / f"other-{counter['n']:02d}-{step}.png"
        other.screenshot(path=str(path), full_page=True)
        return path

    return take


def sign_in(page: Page, member, password: str) -> None:
    """Sign in through the login form, starting from the English home page."""
    page.goto("/en/")
    page.get_by_role("link", name="Sign in").first.click()
    expect(page).to_have_url(re.compile(r"/en/accounts/login/"))
    page.get_by_label("E-mail address").fill(member.user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(member.user.full_name)


def sign_out(page: Page) -> None:
    header.sign_out(page)
    expect(page.get_by_test_id("signed-in-user")).to_have_count(0)
    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()


def main_nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def open_case_from_list(page: Page, number: str) -> None:
    main_nav(page, "Cases")
    page.get_by_role("link", name="All cases", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("All cases")
    page.get_by_role("link", name=number, exact=True).click()
    expect(page.locator(".case-number")).to_have_text(number)


def action(page: Page, transition: str) -> Locator:
    """A case page's collapsible action section (<details>), found by where its form posts.

    Found by the form rather than by the <summary> label, so that a wrong label fails the assertion
    about the label, not every step after it.
    """
    return page.locator("details.action").filter(has=page.locator(f"form[action$='/{transition}/']"))


def fill_dispute(
    page: Page, *, customer_name: str, title: str, invoice: str, amount: str, currency: str, month: str
) -> None:
    # The customer picker: type part of the name, choose the suggestion.
    page.get_by_label("Customer", exact=True).fill(customer_name.split()[0])
    page.get_by_role("listbox").get_by_role(
        "option", name=re.compile("^" + re.escape(customer_name) + " ")
    ).click()
    page.get_by_label("Category", exact=True).select_option(label="Billing dispute")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Description", exact=True).fill(
        "The invoice bills 30 seats; the customer cancelled 5 seats on 2 October.\nThey ask for a credit."
    )
    page.get_by_label("Invoice number", exact=True).fill(invoice)
    page.get_by_label("Disputed amount", exact=True).fill(amount)
    page.get_by_label("Currency", exact=True).select_option(currency)
    page.get_by_label("Billing period", exact=True).fill(month)
    page.get_by_label("Severity", exact=True).select_option("B")


# --- Journeys ----------------------------------------------------------------------------------


def test_contoso_dispute_escalated_to_microsoft_and_resolved_with_credit(
    page: Page,
    snap,
    tmp_path: Path,
    media_root: Path,
    contoso,
    helpdesk_agent,
    billing_admin,
    customer,
    password: str,
) -> None:
    """A helpdesk agent opens, documents and escalates a dispute; a billing admin grants a credit."""
    call_command("import_guidance", str(CONTENT), verbosity=0)

    sign_in(page, helpdesk_agent, password)
    main_nav(page, "Cases")
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    snap("dashboard-empty")

    page.get_by_role("link", name="Open a case", exact=True).click()
    expect(page).to_have_url(re.compile(r"/en/cases/new/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Open a case")
    guidance = page.get_by_role("link", name="Provide billing support", exact=True)
    expect(guidance).to_have_attribute("href", "/en/guidance/global/provide-billing-support/")
    # Follow it in the browser (page.request would leave a keep-alive connection holding the test database).
    with page.expect_response(re.compile(r"/en/guidance/global/provide-billing-support/$")) as article:
        guidance.click()
    assert article.value.status == 200, article.value.status
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Provide billing support"))
    snap("guidance-article")
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Open a case")

    fill_dispute(
        page,
        customer_name="Tailspin Toys 株式会社",
        title="Charged for 30 seats, using 25",
        invoice="G012345678",
        amount="412.50",
        currency="USD",
        month="2025-10",
    )
    snap("new-case-filled")
    page.get_by_role("button", name="Open the case").click()

    expect(page).to_have_url(re.compile(r"/en/cases/CON-\d+/$"))
    number = page.locator(".case-number").inner_text()
    expect(page.locator(".messages")).to_contain_text(f"Case {number} opened.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Charged for 30 seats, using 25")
    expect(page.get_by_test_id("case-status")).to_have_text("New")
    details = page.get_by_role("region", name="Details")
    expect(details).to_contain_text("G012345678")
    expect(page.get_by_test_id("disputed-amount")).to_contain_text("$412.50")
    expect(details).to_contain_text("October 2025")
    expect(page.locator(".case-head")).to_contain_text("Severity B")
    expect(page.locator(".case-head")).to_contain_text("Billing dispute")
    snap("case-opened")

    # Evidence: a real PDF through the file input.
    pdf = tmp_path / "invoice-G012345678.pdf"
    pdf.write_bytes(INVOICE_PDF)
    evidence = page.get_by_role("region", name="Evidence")
    expect(evidence).to_contain_text("No evidence attached yet.")
    evidence.get_by_label("Evidence (PDF, PNG, JPEG or CSV)").set_input_files(pdf)
    evidence.get_by_role("button", name="Attach", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Evidence attached.")
    attachment = page.get_by_role("region", name="Evidence").get_by_role("link", name=pdf.name)
    expect(attachment).to_be_visible()
    snap("evidence-attached")

    with page.expect_download() as download_info:
        attachment.click()
    download = download_info.value
    assert download.suggested_filename == pdf.name
    assert Path(download.path()).read_bytes() == INVOICE_PDF

    page.get_by_role("button", name="Start work", exact=True).click()
    expect(page.get_by_test_id("case-status")).to_have_text("In progress")
    expect(page.get_by_role("button", name="Start work", exact=True)).to_have_count(0)
    snap("in-progress")

    escalate = action(page, "escalate")
    expect(escalate.locator("summary")).to_have_text("Escalate to Microsoft")
    vehicle = escalate.get_by_label("Support vehicle")
    expect(vehicle).to_be_hidden()  # folded away until chosen
    escalate.locator("summary").click()
    expect(vehicle).to_be_visible()
    # Contoso holds Premier Support for Partners: commercial plus its own technical vehicle, nothing else.
    expect(vehicle.locator("option")).to_have_text(
        ["Commercial issue support (all CSP partners)", "Technical: Premier Support for Partners"]
    )
    vehicle.select_option(label="Commercial issue support (all CSP partners)")
    escalate.get_by_label("Severity", exact=True).select_option("B")
    snap("escalate-form")
    escalate.get_by_role("button", name="Escalate", exact=True).click()

    expect(page.get_by_test_id("case-status")).to_have_text("Escalated")
    escalation = page.get_by_role("region", name="Escalated to Microsoft")
    expect(escalation).to_be_visible()
    expect(escalation).to_contain_text("Commercial issue support (all CSP partners)")
    # The partner's own support contact goes on the escalation, never the customer's.
    expect(escalation).to_contain_text(contoso.support_contact_name)
    expect(escalation).to_contain_text(contoso.support_contact_email)
    expect(escalation).not_to_contain_text(customer.billing_contact_email)
    expect(escalation).not_to_contain_text(customer.billing_contact_name)
    expect(page.get_by_test_id("support-request-number")).to_have_text("—")
    snap("escalated")

    escalation.get_by_label("Support request number").fill("2510150040001234")
    escalation.get_by_role("button", name="Save the number").click()
    expect(page.get_by_test_id("support-request-number")).to_have_text("2510150040001234")
    snap("support-request-number")
    sign_out(page)

    # The billing admin takes over and resolves with a credit.
    sign_in(page, billing_admin, password)
    open_case_from_list(page, number)
    expect(page.get_by_test_id("case-status")).to_have_text("Escalated")
    resolve = action(page, "resolve")
    expect(resolve.locator("summary")).to_have_text("Resolve")
    resolve.locator("summary").click()
    resolve.get_by_label("Resolution summary").fill(
        "Microsoft credited the 5 cancelled seats for October on the next invoice."
    )
    resolve.get_by_label("Outcome").select_option(label="Credit granted")
    resolve.get_by_label("Credit amount").fill("412.50")
    snap("resolve-form")
    resolve.get_by_role("button", name="Resolve the case").click()

    expect(page.get_by_test_id("case-status")).to_have_text("Resolved")
    resolution = page.get_by_role("region", name="Resolution")
    expect(page.get_by_test_id("outcome")).to_contain_text("Credit granted: $412.50")
    expect(resolution).to_contain_text("Microsoft credited the 5 cancelled seats")
    expect(resolution).to_contain_text("Billing Admin")
    expect(resolution.locator(".notification")).to_contain_text(
        "Resolution e-mail to the customer → billing@tailspintoys.example (Japanese)"
    )

    timeline = page.get_by_test_id("timeline")
    events = timeline.locator(".timeline__event")
    expect(events.locator(".timeline__head strong")).to_have_text(
        [
            "Case opened",
            "Evidence attached",
            "New → In progress",
            "In progress → Escalated",
            "Support request number recorded",
            "Escalated → Resolved",
            "Notification",
        ]
    )
    for index in range(5):
        expect(events.nth(index)).to_contain_text("Helpdesk Agent")
    expect(events.nth(1)).to_contain_text(pdf.name)
    expect(events.nth(3)).to_contain_text("Escalated to: Microsoft")
    expect(events.nth(4)).to_contain_text("Support request number: 2510150040001234")
    expect(events.nth(5)).to_contain_text("Billing Admin")
    expect(events.nth(5)).to_contain_text("Outcome: Credit granted")
    expect(events.nth(6)).to_contain_text("Resolution e-mail due to billing@tailspintoys.example")
    snap("resolved-timeline")


def test_fabrikam_dispute_escalates_to_21vianet(
    page: Page, snap, fabrikam, outsider, fabrikam_customer, password: str
) -> None:
    """A partner on the 21Vianet cloud escalates to 21Vianet, and only through commercial support."""
    sign_in(page, outsider, password)
    main_nav(page, "Cases")
    page.get_by_role("link", name="Open a case", exact=True).click()
    fill_dispute(
        page,
        customer_name="Adatum 科技",
        title="Seats billed after cancellation",
        invoice="CN0099887766",
        amount="980.00",
        currency="CNY",
        month="2025-09",
    )
    snap("new-case-filled")
    page.get_by_role("button", name="Open the case").click()

    expect(page).to_have_url(re.compile(r"/en/cases/FAB-\d+/$"))
    expect(page.get_by_test_id("case-status")).to_have_text("New")
    expect(page.get_by_test_id("disputed-amount")).to_contain_text("CN¥980.00")
    page.get_by_role("button", name="Start work", exact=True).click()
    expect(page.get_by_test_id("case-status")).to_have_text("In progress")

    escalate = action(page, "escalate")
    expect(escalate.locator("summary")).to_have_text("Escalate to 21Vianet")
    escalate.locator("summary").click()
    vehicle = escalate.get_by_label("Support vehicle")
    expect(vehicle).to_be_visible()
    # Fabrikam has no support plan: commercial support only, no technical vehicle at all.
    expect(vehicle.locator("option")).to_have_text(["Commercial issue support (all CSP partners)"])
    for technical in ("premier", "advanced", "signature"):
        expect(vehicle.locator(f"option[value='{technical}']")).to_have_count(0)
    expect(vehicle.locator("option", has_text="Technical")).to_have_count(0)
    vehicle.select_option("commercial")
    escalate.get_by_label("Severity", exact=True).select_option("B")
    escalate.get_by_label("Support request number").fill("CN-7788")
    snap("escalate-form")
    escalate.get_by_role("button", name="Escalate", exact=True).click()

    expect(page.get_by_test_id("case-status")).to_have_text("Escalated")
    escalation = page.get_by_role("region", name="Escalated to 21Vianet")
    expect(escalation).to_be_visible()
    expect(escalation).to_contain_text(fabrikam.support_contact_name)
    expect(page.get_by_test_id("support-request-number")).to_have_text("CN-7788")
    expect(page.get_by_text("Escalated to Microsoft")).to_have_count(0)
    snap("escalated-to-21vianet")

    main_nav(page, "Cases")
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    stats = page.locator(".stats")
    expect(stats.get_by_role("link", name="1 escalated case", exact=True)).to_be_visible()
    expect(stats.get_by_role("link", name="1 open case", exact=True)).to_be_visible()
    expect(page.locator(".lead")).to_have_text(
        "Billing cases of Fabrikam China. What you cannot resolve, you escalate to 21Vianet."
    )
    snap("dashboard")


def test_billing_admin_suspends_and_reactivates_a_subscription(
    page: Page,
    snap,
    snap_other,
    other_page,
    contoso,
    billing_admin,
    sales_agent,
    customer,
    subscription,
    password: str,
) -> None:
    """Suspension needs a reason and leaves a history; a sales agent never gets the controls."""
    sign_in(page, billing_admin, password)
    main_nav(page, "Customers")
    expect(page.get_by_role("heading", level=1)).to_have_text("Customers")
    page.get_by_role("link", name="Tailspin Toys 株式会社").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tailspin Toys 株式会社")
    policy = page.get_by_role("region", name="Collections policy of Contoso")
    expect(policy).to_contain_text(contoso.collections_policy)

    row = page.get_by_test_id(f"subscription-{subscription.pk}")
    expect(row).to_contain_text("Microsoft 365 E3")
    expect(row.get_by_test_id("subscription-status")).to_have_text("Active")
    snap("customer-page")

    suspend = row.locator("details.action").filter(
        has=page.locator("summary", has_text="Suspend for non-payment")
    )
    suspend.locator("summary").click()
    expect(suspend.get_by_label("Reason")).to_be_visible()
    suspend.get_by_role("button", name="Suspend", exact=True).click()

    # Without a reason: the page comes back with the form open and the field's error.
    expect(page.locator(".messages")).to_contain_text("Please correct the errors below.")
    row = page.get_by_test_id(f"subscription-{subscription.pk}")
    expect(row.get_by_test_id("subscription-status")).to_have_text("Active")
    suspend = row.locator("details.action").filter(
        has=page.locator("summary", has_text="Suspend for non-payment")
    )
    expect(suspend).to_have_attribute("open", "")
    expect(suspend.locator(".field--error")).to_contain_text("This field is required.")
    snap("suspend-without-reason")

    reason = "Invoice G012345678 unpaid for 60 days despite three reminders."
    suspend.get_by_label("Reason").fill(reason)
    suspend.get_by_role("button", name="Suspend", exact=True).click()
    # The portal asks first, saying what it records; nothing is suspended until the confirmation.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Suspend Microsoft 365 E3 of Tailspin Toys 株式会社?"
    )
    page.get_by_role("button", name="Confirm the suspension").click()

    expect(page.locator(".messages")).to_contain_text("Subscription suspended.")
    row = page.get_by_test_id(f"subscription-{subscription.pk}")
    expect(row.get_by_test_id("subscription-status")).to_have_text("Suspended")
    expect(row).to_contain_text(reason)
    history = row.locator(".subscription-history li")
    expect(history).to_have_text([re.compile(rf"^Suspended · Billing Admin · .+ — {re.escape(reason)}$")])
    expect(row.locator("details.action")).to_have_count(0)
    snap("suspended")

    # Meanwhile a sales agent reads the same customer: no suspend or reactivate controls.
    sales = other_page()
    sign_in(sales, sales_agent, password)
    main_nav(sales, "Customers")
    sales.get_by_role("link", name="Tailspin Toys 株式会社").click()
    sales_row = sales.get_by_test_id(f"subscription-{subscription.pk}")
    expect(sales_row.get_by_test_id("subscription-status")).to_have_text("Suspended")
    expect(sales.get_by_role("button", name="Reactivate")).to_have_count(0)
    expect(sales.get_by_text("Suspend for non-payment")).to_have_count(0)
    expect(sales_row.locator("form")).to_have_count(0)
    snap_other(sales, "sales-agent-sees-suspended")

    row.get_by_role("button", name="Reactivate", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Subscription reactivated.")
    row = page.get_by_test_id(f"subscription-{subscription.pk}")
    expect(row.get_by_test_id("subscription-status")).to_have_text("Active")
    expect(row.get_by_role("button", name="Reactivate")).to_have_count(0)
    expect(row.locator("summary", has_text="Suspend for non-payment")).to_be_visible()
    expect(row.locator(".subscription-history li")).to_have_text(
        [
            re.compile(r"^Active · Billing Admin · "),
            re.compile(rf"^Suspended · Billing Admin · .+ — {re.escape(reason)}$"),
        ]
    )
    snap("reactivated")

    sales.reload()
    sales_row = sales.get_by_test_id(f"subscription-{subscription.pk}")
    expect(sales_row.get_by_test_id("subscription-status")).to_have_text("Active")
    expect(sales.get_by_text("Suspend for non-payment")).to_have_count(0)
    expect(sales.get_by_role("button", name="Suspend")).to_have_count(0)
    expect(sales_row.locator("form")).to_have_count(0)
    snap_other(sales, "sales-agent-sees-active")


def test_illegal_move_gets_a_clear_message_not_an_error_page(
    page: Page,
    snap,
    snap_other,
    other_page,
    helpdesk_agent,
    billing_admin,
    case,
    password: str,
) -> None:
    """Two users on one case: actions submitted from a stale page are refused with a message, never a 500."""
    number = case.number

    # The billing admin opens the new case: their page offers "Start work".
    admin = other_page()
    sign_in(admin, billing_admin, password)
    open_case_from_list(admin, number)
    expect(admin.get_by_test_id("case-status")).to_have_text("New")
    snap_other(admin, "admin-sees-new-case")

    # The helpdesk agent starts work; their page now offers escalation.
    sign_in(page, helpdesk_agent, password)
    open_case_from_list(page, number)
    page.get_by_role("button", name="Start work", exact=True).click()
    expect(page.get_by_test_id("case-status")).to_have_text("In progress")
    escalate = action(page, "escalate")
    expect(escalate).to_have_count(1)
    snap("agent-started-work")

    # The admin's page is stale: "Start work" again is refused, clearly.
    with admin.expect_response(lambda r: r.request.method == "POST") as posted:
        admin.get_by_role("button", name="Start work", exact=True).click()
    assert posted.value.status < 500, posted.value.status
    expect(admin.locator(".messages .message--error")).to_have_text(
        "A case that is in progress cannot be moved this way (start work)."
    )
    expect(admin).to_have_title(re.compile(rf"^{number} "))
    expect(admin.get_by_test_id("case-status")).to_have_text("In progress")
    snap_other(admin, "admin-stale-start-refused")

    # The admin resolves the case; the agent still has the escalate form open on the old page.
    resolve = action(admin, "resolve")
    resolve.locator("summary").click()
    resolve.get_by_label("Resolution summary").fill("The charge is correct: the seats were cancelled late.")
    resolve.get_by_label("Outcome").select_option(label="Charge upheld")
    resolve.get_by_role("button", name="Resolve the case").click()
    expect(admin.get_by_test_id("case-status")).to_have_text("Resolved")
    snap_other(admin, "admin-resolved")

    escalate.locator("summary").click()
    escalate.get_by_label("Support vehicle").select_option(
        label="Commercial issue support (all CSP partners)"
    )
    escalate.get_by_label("Severity", exact=True).select_option("A")
    snap("agent-stale-escalate-form")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        escalate.get_by_role("button", name="Escalate", exact=True).click()
    assert posted.value.status < 500, posted.value.status

    expect(page.locator(".messages .message--error")).to_have_text(
        "A case that is resolved cannot be moved this way (escalate)."
    )
    expect(page).to_have_title(re.compile(rf"^{number} "))
    expect(page.get_by_role("heading", name="Something went wrong")).to_have_count(0)
    expect(page.get_by_test_id("case-status")).to_have_text("Resolved")
    expect(action(page, "escalate")).to_have_count(0)
    expect(page.get_by_role("region", name="Escalated to Microsoft")).to_have_count(0)
    expect(page.get_by_test_id("timeline").locator(".timeline__head strong")).to_have_text(
        ["Case opened", "New → In progress", "In progress → Resolved", "Notification"]
    )
    snap("agent-stale-escalate-refused")
