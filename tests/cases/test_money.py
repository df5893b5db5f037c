"""Money as the reader writes it, on the case page, in its timeline and in the e-mails: one helper (Babel)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from cases import services
from cases.currencies import money
from tests.cast import open_dispute

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "amount", "currency", "written"),
    [
        ("en", "1290", "USD", "$1,290.00"),
        ("ja", "41250", "JPY", "￥41,250"),
        ("ru", "1290", "USD", "1\xa0290,00\xa0$"),
        ("zh-hant", "1290", "USD", "US$1,290.00"),
        ("en", "12.5", "KWD", "KWD12.500"),
        ("en", "12.5", "", "12.5"),
    ],
)
def test_money_is_written_for_the_reader(language, amount, currency, written) -> None:
    assert money(Decimal(amount), currency, language) == written
    with translation.override(language):
        assert money(Decimal(amount), currency) == written


def test_the_case_page_and_its_timeline_show_amounts_with_their_currency(
    client, billing_admin, customer
) -> None:
    case = open_dispute(billing_admin, customer, disputed_amount=Decimal("41250"), currency="JPY")
    services.case_start(case=case, actor=billing_admin)
    services.case_resolve(
        case=case,
        actor=billing_admin,
        resolution_summary="Credited.",
        outcome="credit",
        credit_amount=Decimal("41250"),
    )
    client.force_login(billing_admin.user)
    page = client.get(f"/ja/cases/{case.number}/").content.decode()
    assert '<dd data-testid="disputed-amount">￥41,250</dd>' in page
    assert "41250 JPY" not in page
    english = client.get(f"/en/cases/{case.number}/").content.decode()
    assert "¥41,250" in english
    assert "Credit amount" in english and "¥41,250" in english.split("Credit amount", 1)[1][:200]
