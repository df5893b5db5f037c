"""Numbers and the words next to them agree in every language: the dashboard's counters and the amount errors
are plural messages, and Russian picks its form for 1, 2, 5 and 21."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation
from django.utils.translation import ngettext

from cases.models import Case, Category
from tests.cast import open_dispute

S = "<strong>%(counter)s</strong> "

# Each dashboard counter as the template marks it, with its Russian for 1, 2, 5 and 21.
COUNTERS = {
    "open": (
        (S + "open case", S + "open cases"),
        ["открытое обращение", "открытых обращения", "открытых обращений", "открытое обращение"],
    ),
    "escalated": (
        (S + "escalated case", S + "escalated cases"),
        [
            "обращение эскалировано",
            "обращения эскалированы",
            "обращений эскалировано",
            "обращение эскалировано",
        ],
    ),
    "waiting": (
        (S + "case waiting on us", S + "cases waiting on us"),
        [
            "обращение ожидает нашего ответа",
            "обращения ожидают нашего ответа",
            "обращений ожидают нашего ответа",
            "обращение ожидает нашего ответа",
        ],
    ),
    "at_risk": (
        (S + "case at risk of missing a target", S + "cases at risk of missing a target"),
        [
            "обращение под угрозой срыва срока",
            "обращения под угрозой срыва срока",
            "обращений под угрозой срыва срока",
            "обращение под угрозой срыва срока",
        ],
    ),
    "resolved_week": (
        (S + "case resolved this week", S + "cases resolved this week"),
        [
            "обращение решено на этой неделе",
            "обращения решены на этой неделе",
            "обращений решено на этой неделе",
            "обращение решено на этой неделе",
        ],
    ),
}


@pytest.mark.parametrize("counter", list(COUNTERS))
def test_each_dashboard_counter_agrees_with_its_number_in_russian(counter: str) -> None:
    """1 открытое обращение, 2 открытых обращения, 5 открытых обращений, 21 открытое обращение."""
    (singular, plural), expected = COUNTERS[counter]
    with translation.override("ru"):
        got = [ngettext(singular, plural, n) % {"counter": n} for n in (1, 2, 5, 21)]
    assert got == [f"<strong>{n}</strong> {words}" for n, words in zip((1, 2, 5, 21), expected, strict=True)]


def _open_counter(client, language: str) -> str:
    with translation.override(language):
        page = client.get(reverse("cases:dashboard")).content.decode()
    [link] = re.findall(r'<a href="[^"]*\?status=open">(.*?)</a>', page)
    return re.sub(r"<[^>]+>", "", link)


@pytest.mark.django_db
def test_the_russian_dashboard_counts_1_2_5_and_21_open_cases_in_agreement(
    client, helpdesk_agent, customer
) -> None:
    """The dashboard's open-case counter, rendered in Russian as the cases accumulate."""
    client.force_login(helpdesk_agent.user)
    shown = {}
    for total in (1, 2, 5, 21):
        while Case.objects.count() < total:
            open_dispute(helpdesk_agent, customer)
        shown[total] = _open_counter(client, "ru")
    assert shown == {
        1: "1 открытое обращение",
        2: "2 открытых обращения",
        5: "5 открытых обращений",
        21: "21 открытое обращение",
    }
    assert _open_counter(client, "en") == "21 open cases"


def _amount_error(amount: str, currency: str) -> str:
    case = Case(
        category=Category.BILLING_DISPUTE,
        invoice_number="G012345678",
        disputed_amount=Decimal(amount),
        currency=currency,
    )
    with translation.override("ru"):
        with pytest.raises(ValidationError) as raised:
            case.clean()
        [message] = raised.value.message_dict["disputed_amount"]  # lazy: read while Russian is active
    return message


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("10.555", "USD", "Суммы в USD могут иметь не более 2 знаков в дробной части."),
        ("10.5555", "KWD", "Суммы в KWD могут иметь не более 3 знаков в дробной части."),
        ("10.5", "JPY", "Суммы в JPY указываются без дробной части."),
    ],
)
def test_the_decimal_places_error_agrees_and_says_none_for_a_currency_without_decimals(
    amount: str, currency: str, message: str
) -> None:
    """Dollars may have "не более 2 знаков"; yen get their own message, not "не более 0 знаков"."""
    assert _amount_error(amount, currency) == message
