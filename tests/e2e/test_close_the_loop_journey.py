"""Closing the loop in a real browser: the resolution e-mail's link, the customer's answer, the agent's queue."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, expect

from cases import services
from tests.cast import open_dispute

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager_delivery(settings, live_server, eager_tasks) -> None:
    """The embedded default: tasks run in the web process, mail is kept in memory, links point at this server."""
    settings.PORTAL_BASE_URL = live_server.url


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/en/accounts/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_be_visible()


def test_customer_says_not_resolved_and_the_case_returns_to_the_agent(
    page: Page, browser: Browser, snap, artifacts_dir, eager_delivery, helpdesk_agent, customer, password
) -> None:
    """An agent resolves; the customer's e-mail link opens the answer page; "not resolved" reopens the case."""
    case = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    sign_in(page, helpdesk_agent.user.email, password)
    page.goto(f"/en/cases/{case.number}/")
    page.locator("summary", has_text="Resolve").click()
    page.get_by_label("Resolution summary").fill("We credited the five cancelled seats.")
    page.get_by_label("Outcome").select_option("credit")
    page.get_by_label("Credit amount").fill("412.50")
    snap("resolve-form")
    page.get_by_role("button", name="Resolve the case").click()
    expect(page.get_by_test_id("case-status")).to_have_text("Resolved")
    expect(page.get_by_test_id("notifications")).to_contain_text("Sent")
    snap("resolved-and-sent")

    resolution = [m for m in mail.outbox if m.to == [customer.billing_contact_email]]
    assert len(resolution) == 1
    link = re.search(r"(http://\S+/ja/answer/\S+/)", resolution[0].body).group(1)

    customer_page = browser.new_context(locale="ja-JP").new_page()
    customer_page.goto(link)
    expect(customer_page.locator("html")).to_have_attribute("lang", "ja")
    expect(customer_page.get_by_role("heading", level=1)).to_have_text(case.title)
    expect(customer_page.get_by_test_id("signed-in-user")).to_have_count(0)
    customer_page.locator("input[name=answer][value=not_resolved]").check()
    customer_page.locator("textarea[name=comment]").fill("クレジットがまだ反映されていません。")
    customer_page.locator("input[name=rating][value='2']").check()
    customer_page.screenshot(path=str(artifacts_dir / "customer-answer-filled.png"), full_page=True)
    customer_page.get_by_role("button").last.click()
    expect(customer_page.get_by_test_id("answer-done")).to_be_visible()
    customer_page.screenshot(path=str(artifacts_dir / "customer-answer-done.png"), full_page=True)

    customer_page.goto(link)  # the link works once
    expect(customer_page.get_by_test_id("answer-problem")).to_be_visible()

    page.goto("/en/cases/")
    mine = page.locator("table").first  # "Assigned to you"
    expect(mine.get_by_role("link", name=case.number)).to_be_visible()
    mine.get_by_role("link", name=case.number).click()
    expect(page.get_by_test_id("case-status")).to_have_text("In progress")
    expect(page.get_by_test_id("timeline")).to_contain_text("クレジットがまだ反映されていません。")
    snap("reopened-in-the-queue")

    reopened = [m for m in mail.outbox if m.to == [helpdesk_agent.user.email]]
    assert len(reopened) == 1 and case.number in reopened[0].subject
