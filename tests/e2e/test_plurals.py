"""The Russian dashboard in a real browser: its counters agree with 1, 2, 5 and 21 open cases (screenshots of each
under test-artifacts/)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from cases.models import Case
from tests.cast import open_dispute

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_russian_dashboard_agrees_with_1_2_5_and_21_open_cases(
    page: Page, snap, helpdesk_agent, customer, password
) -> None:
    """Одно открытое обращение, два открытых обращения, пять открытых обращений, двадцать одно открытое обращение."""
    page.goto("/ru/accounts/login/")
    page.locator("input[name=username]").fill(helpdesk_agent.user.email)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Войти").click()
    expect(page.get_by_test_id("signed-in-user")).to_be_visible()
    stats = page.locator(".stats")
    for total, words in [
        (1, "открытое обращение"),
        (2, "открытых обращения"),
        (5, "открытых обращений"),
        (21, "открытое обращение"),
    ]:
        while Case.objects.count() < total:
            open_dispute(helpdesk_agent, customer)
        page.goto("/ru/cases/")
        expect(stats.get_by_role("link", name=f"{total} {words}", exact=True)).to_be_visible()
        expect(stats.locator("a[href$='?status=open'] strong")).to_have_text(str(total))
        snap(f"ru-dashboard-{total}-open")
    page.set_viewport_size({"width": 390, "height": 844})
    snap("ru-dashboard-21-open-phone")
