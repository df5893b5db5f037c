"""A billing admin reads the reports in Japanese in a real browser, and downloads the period's cases as CSV."""

from __future__ import annotations

import csv
import datetime
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from cases.models import EscalationTarget, Status
from tests.e2e import header
from tests.factories import CaseFactory, CustomerAnswerFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHARTS = ("report-weekly", "report-money", "report-times", "report-targets", "report-csat")


@pytest.fixture
def disputes(contoso, customer, global_admin, fabrikam_case):
    """Three Contoso disputes of the last weeks (in yen and dollars), one resolved by Microsoft and rated."""
    now = timezone.now()
    make = {"customer": customer, "created_by": global_admin.user}
    resolved = CaseFactory(
        created_at=now - datetime.timedelta(days=20), disputed_amount=Decimal("41250"), currency="JPY",
        credit_amount=Decimal("41250"), outcome="credit", status=Status.RESOLVED,
        resolved_at=now - datetime.timedelta(days=18), escalation_target=EscalationTarget.MICROSOFT,
        first_response_at=now - datetime.timedelta(days=20), first_response_due_at=now - datetime.timedelta(days=19),
        **make,
    )  # fmt: skip
    CaseFactory(
        created_at=now - datetime.timedelta(days=9),
        disputed_amount=Decimal("1290.00"),
        currency="USD",
        **make,
    )
    CaseFactory(
        created_at=now - datetime.timedelta(days=2), disputed_amount=Decimal("8750"), currency="JPY", **make
    )
    CustomerAnswerFactory(case=resolved, rating=4, created_at=now - datetime.timedelta(days=17))
    return resolved


def sign_in(page: Page, member, password: str) -> None:
    page.goto("/en/accounts/login/")
    page.get_by_label("E-mail address").fill(member.user.email)
    page.get_by_label("Password").fill(password)
    page.locator("#main").get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(member.user.full_name)


def test_billing_admin_reads_reports_in_japanese_and_downloads_the_csv(
    page: Page, billing_admin, password, disputes, snap, tmp_path: Path
) -> None:
    """The menu leads to the reports; the charts are there, named, in Japanese formats; the CSV downloads."""
    sign_in(page, billing_admin, password)
    header.choose_language(page, "日本語")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    page.locator(".main-nav").locator('a[href="/ja/reports/"]').click()
    expect(page).to_have_url(re.compile(r"/ja/reports/$"))

    for chart in CHARTS:
        name = page.locator(f"#{chart}").inner_text()
        expect(page.get_by_role("img", name=name)).to_be_visible()
    expect(page.locator("svg.chart rect").first).to_be_visible()
    money = page.locator('tr[data-currency="JPY"]')
    expect(money).to_contain_text("￥50,000")  # 41,250 + 8,750, as a Japanese reader writes yen
    expect(money).to_contain_text("￥41,250")
    expect(page.locator('tr[data-currency="USD"]')).to_contain_text("$1,290.00")
    expect(page.locator('tr[data-target="microsoft"]')).to_contain_text("48.0")
    expect(page.locator("table.report-table time").first).to_have_text(re.compile(r"^\d{1,2}月\d{1,2}日$"))
    expect(page.get_by_test_id("csat-average")).to_contain_text("4.0")
    expect(page.locator("main")).not_to_contain_text("980")  # Fabrikam's case
    snap("reports-ja")

    with page.expect_download() as download:
        page.get_by_test_id("report-export").click()
    path = tmp_path / "cases.csv"
    download.value.save_as(path)
    assert re.fullmatch(r"cases-con-\d{8}-\d{8}\.csv", download.value.suggested_filename)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [(r["disputed_amount"], r["currency"]) for r in rows] == [
        ("41250", "JPY"),
        ("1290.00", "USD"),
        ("8750", "JPY"),
    ]
    assert rows[0]["escalation_target"] == "microsoft" and rows[0]["first_response_target"] == "met"
    assert rows[0]["csat"] == "4"
