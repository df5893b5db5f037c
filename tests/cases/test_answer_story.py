"""The case page tells the story of the customer's answer: who answered, when, what they said (once), what it did
to the loop and to the resolution; and the resolve form says where and in which language the summary goes.

The customer answers through the real answer view, on the link of the real resolution notification.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.translation import gettext

from cases import services
from cases.models import Answer, Case, Notification, NotificationKind, Status
from cases.tokens import answer_link
from tests.cast import force_login_with_code

pytestmark = pytest.mark.django_db

SUMMARY = "Microsoft confirmed that 30 seats were active for all of October, so the charge stands."
COMMENT = "We still see 30 seats on the November invoice."
CUSTOMER_EMAIL = "billing@tailspintoys.example"  # the cast's customer: its billing contact, Japanese
ANSWERED_BY = f"the customer (billing contact {CUSTOMER_EMAIL})"


class _TestIds(HTMLParser):
    """The text of every element with a data-testid, in page order (nested elements' text included)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[str]]] = []
        self._open: list[tuple[str, int | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        testid = dict(attrs).get("data-testid")
        if testid is not None:
            self.found.append((testid, []))
        if tag not in self.VOID:
            self._open.append((tag, len(self.found) - 1 if testid is not None else None))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _tag, index in self._open:
            if index is not None:
                self.found[index][1].append(data)


def texts_of(response, testid: str) -> list[str]:
    """The whitespace-normalised text of each element of the page marked data-testid=testid."""
    assert response.status_code == 200
    reader = _TestIds()
    reader.feed(response.content.decode())
    return [" ".join("".join(parts).split()) for found, parts in reader.found if found == testid]


def one(response, testid: str) -> str:
    texts = texts_of(response, testid)
    assert len(texts) == 1, (testid, texts)
    return texts[0]


def resolved(case: Case, starter, resolver) -> Notification:
    """Start and resolve the case through the services; the customer's resolution notification."""
    case = services.case_start(case=case, actor=starter)
    case = services.case_resolve(case=case, actor=resolver, resolution_summary=SUMMARY, outcome="upheld")
    return Notification.objects.get(case=case, kind=NotificationKind.RESOLUTION, round=case.resolution_round)


def customer_says(notification: Notification, answer: str, comment: str = "", rating: str = "") -> None:
    """The customer opens the link of the e-mail (no sign-in) and sends the answer form."""
    path = urlsplit(answer_link(notification)).path
    data = {"answer": answer, "comment": comment, "rating": rating}
    assert Client().post(path, data).status_code == 200


@pytest.fixture
def partner_page(client, helpdesk_agent):
    """The case's page as the helpdesk agent (a signed-in partner user) reads it, in English unless told."""
    force_login_with_code(client, helpdesk_agent.user)

    def get(case: Case, language: str = "en"):
        return client.get(f"/{language}/cases/{case.number}/")

    return get


@pytest.fixture
def notification(case, helpdesk_agent, billing_admin) -> Notification:
    return resolved(case, helpdesk_agent, billing_admin)


@pytest.fixture
def not_resolved(notification) -> Case:
    """The customer answered "not resolved" with a comment and a rating of 2."""
    customer_says(notification, Answer.NOT_RESOLVED, COMMENT, "2")
    notification.case.refresh_from_db()
    return notification.case


@pytest.fixture
def confirmed(notification) -> Case:
    """The customer answered "resolved" with a rating of 5."""
    customer_says(notification, Answer.RESOLVED, rating="5")
    notification.case.refresh_from_db()
    return notification.case


def answered_event(response) -> str:
    (event,) = [text for text in texts_of(response, "timeline-event") if text.startswith("Customer answered")]
    return event


# --- "Not resolved" --------------------------------------------------------------------------------


def test_after_not_resolved_the_case_is_back_in_progress(not_resolved, partner_page) -> None:
    """The service reopens the case on "not resolved", and the page's status says so."""
    assert not_resolved.status == Status.IN_PROGRESS
    assert one(partner_page(not_resolved), "case-status") == "In progress"


def test_after_not_resolved_the_loop_says_the_customer_said_not_resolved(not_resolved, partner_page) -> None:
    """The loop state is what the customer said, not "waiting for the customer"."""
    loop = one(partner_page(not_resolved), "loop-state")
    assert loop.startswith("The customer said it is not resolved")
    assert "the case is back in progress" in loop
    assert "waiting for the customer" not in loop


def test_after_not_resolved_the_resolution_is_shown_as_superseded(not_resolved, partner_page) -> None:
    """The earlier resolution is headed as the previous one and marked as no longer current."""
    response = partner_page(not_resolved)
    assert one(response, "resolution-title") == "Previous resolution"
    assert one(response, "resolution-superseded").startswith("No longer current: the case was reopened")
    assert SUMMARY in one(response, "resolution")


def test_the_timeline_credits_the_answer_to_the_customers_billing_contact(not_resolved, partner_page) -> None:
    """The answer and the reopening it caused are the customer's, named by the address the e-mail went to."""
    response = partner_page(not_resolved)
    event = answered_event(response)
    assert "Customer answered: No, it is not resolved" in event
    assert ANSWERED_BY in event
    assert "the portal" not in event
    (reopened,) = [
        text for text in texts_of(response, "timeline-event") if text.startswith("Resolved → In progress")
    ]
    assert ANSWERED_BY in reopened
    assert "the portal" not in reopened


def test_the_timeline_shows_the_comment_once_with_the_rating(not_resolved, partner_page) -> None:
    """What the customer wrote appears once on the timeline, on the answer, with the rating they gave."""
    response = partner_page(not_resolved)
    assert one(response, "timeline").count(COMMENT) == 1
    event = answered_event(response)
    assert COMMENT in event
    assert "satisfaction 2/5" in event


def test_the_answer_under_the_resolution_says_who_and_when(not_resolved, partner_page) -> None:
    """Under the resolution, the customer's answer names the address that answered and when."""
    answer = one(partner_page(not_resolved), "customer-answer")
    assert answer.startswith("Customer's answer: No, it is not resolved")
    assert CUSTOMER_EMAIL in answer
    assert COMMENT in answer


def test_a_new_resolution_after_not_resolved_is_current_again(
    not_resolved, partner_page, helpdesk_agent, billing_admin
) -> None:
    """Resolved again, the case shows the new resolution as current and waits for the new answer."""
    services.case_resolve(
        case=not_resolved, actor=billing_admin, resolution_summary="Credited 5 seats.", outcome="upheld"
    )
    response = partner_page(not_resolved)
    assert one(response, "resolution-title") == "Resolution"
    assert texts_of(response, "resolution-superseded") == []
    assert one(response, "loop-state") == "open: waiting for the customer"
    assert texts_of(response, "customer-answer") == []  # that answer was to the earlier resolution
    assert "Customer answered: No, it is not resolved" in answered_event(response)  # still on the timeline


def test_telling_the_story_costs_no_query_more(case, partner_page, helpdesk_agent, billing_admin) -> None:
    """The answers come with the notifications the page loads anyway: back in progress after a "not resolved",
    the page costs what it did in progress before the resolution (tests/cases/test_query_counts.py pins that)."""

    def queries() -> int:
        partner_page(case)
        with CaptureQueriesContext(connection) as captured:
            partner_page(case)
        return len(captured)

    services.case_start(case=case, actor=helpdesk_agent)
    in_progress = queries()
    case = services.case_resolve(case=case, actor=billing_admin, resolution_summary=SUMMARY, outcome="upheld")
    customer_says(case.notifications.get(), Answer.NOT_RESOLVED, COMMENT)
    assert queries() == in_progress


# --- "Resolved" ------------------------------------------------------------------------------------


def test_after_resolved_the_loop_is_closed_by_the_customers_answer(confirmed, partner_page) -> None:
    """The customer's "resolved" closes the case and the loop, and the page says it was their answer."""
    response = partner_page(confirmed)
    assert one(response, "case-status") == "Closed"
    assert one(response, "loop-state").startswith("Closed by the customer's answer")
    assert one(response, "resolution-title") == "Resolution"
    assert texts_of(response, "resolution-superseded") == []


def test_after_resolved_the_timeline_credits_the_customer(confirmed, partner_page) -> None:
    """Both the answer and the closing it caused are the customer's on the timeline."""
    response = partner_page(confirmed)
    assert ANSWERED_BY in answered_event(response)
    (closed,) = [
        text for text in texts_of(response, "timeline-event") if text.startswith("Resolved → Closed")
    ]
    assert ANSWERED_BY in closed
    assert "the portal" not in closed


def test_a_loop_closed_by_the_partner_is_not_credited_to_the_customer(
    notification, partner_page, billing_admin
) -> None:
    """When the partner informed the customer itself, the loop is closed without a customer's answer."""
    case = notification.case
    services.case_mark_customer_informed(case=case, actor=billing_admin, note="Called the billing contact.")
    case.refresh_from_db()
    loop = one(partner_page(case), "loop-state")
    assert loop.startswith("Closed: the customer was informed directly (")
    assert "customer's answer" not in loop


def test_a_case_the_partner_reopened_no_longer_waits_for_the_customer(
    notification, partner_page, billing_admin
) -> None:
    """Reopened by the partner before any answer, the resolution is the previous one and nobody is waited for."""
    case = services.case_reopen(case=notification.case, actor=billing_admin, reason="Wrong invoice checked.")
    response = partner_page(case)
    assert one(response, "resolution-title") == "Previous resolution"
    assert one(response, "loop-state") == "open again: the case was reopened after this resolution"
    (reopened,) = [
        text for text in texts_of(response, "timeline-event") if text.startswith("Resolved → In progress")
    ]
    assert "Billing Admin" in reopened  # the partner's own move keeps its actor
    assert "Wrong invoice checked." in reopened


# --- The resolve form ------------------------------------------------------------------------------


def test_the_resolve_form_says_the_summary_is_emailed_in_the_customers_language(
    case, partner_page, helpdesk_agent
) -> None:
    """Before resolving, the form says the summary goes to the customer by e-mail, to which address, in 日本語."""
    services.case_start(case=case, actor=helpdesk_agent)
    notice = one(partner_page(case), "resolve-notice")
    assert "e-mail" in notice
    assert CUSTOMER_EMAIL in notice
    assert "日本語" in notice


def test_the_resolve_form_names_another_language_in_that_language(
    case, customer, partner_page, helpdesk_agent
) -> None:
    """A Russian-speaking customer's summary is announced as written in Русский."""
    customer.preferred_language = "ru"
    customer.save()
    services.case_start(case=case, actor=helpdesk_agent)
    assert "Русский" in one(partner_page(case), "resolve-notice")


# --- In another language ---------------------------------------------------------------------------


def test_the_story_is_told_in_the_readers_language(not_resolved, partner_page) -> None:
    """A partner user reading in Japanese gets the loop state, the superseded note and the answerer in Japanese."""
    response = partner_page(not_resolved, "ja")
    english = [
        "The customer said it is not resolved",
        "Previous resolution",
        "No longer current",
        "billing contact",
    ]
    page = response.content.decode()
    assert [sentence for sentence in english if sentence in page] == []
    with translation.override("ja"):
        assert one(response, "resolution-title") == gettext("Previous resolution")
