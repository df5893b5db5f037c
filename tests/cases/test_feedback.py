"""Every action says it was done, in the user's language; suspending, deactivating and revoking ask first."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from cases import services
from cases.models import Case, CaseEvent, Notification, NotificationStatus, Status, SubscriptionStatus
from portal.models import ApiToken, AuditAction, AuditEvent
from tests.cast import force_login_with_code, open_dispute
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BILLING_CONTACT = "billing@tailspintoys.example"  # the cast's customer


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path) -> None:
    """Uploaded evidence goes to a temporary folder, never to var/media."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


# --- Reading the page the way a person does -------------------------------------------------------------


def shown_messages(response, level: str = "success") -> list[str]:
    """The texts of the page's messages of one level (success, error), as the reader sees them."""
    html = response.content.decode()
    found = re.findall(rf'<li class="message message--{level}">(.*?)</li>', html, re.DOTALL)
    return [unescape(text) for text in found]


@dataclass
class PageForm:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[str] = field(default_factory=list)


class _FormReader(HTMLParser):
    """The forms of a page with their hidden inputs, textareas and button labels."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[PageForm] = []
        self._textarea: str | None = None
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(PageForm(values.get("action", ""), values.get("method", "get").lower()))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1].fields[values["name"]] = values.get("value", "")
        elif tag == "textarea" and self.forms:
            self._textarea = values["name"]
            self.forms[-1].fields[self._textarea] = ""
        elif tag == "button" and self.forms:
            self._button = []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.forms[-1].fields[self._textarea] += data
        if self._button is not None:
            self._button.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "button" and self._button is not None:
            self.forms[-1].buttons.append("".join(self._button).strip())
            self._button = None


def confirmation_form(response) -> PageForm:
    """The one form of a confirmation page that asks the server to act: it posts confirm=1."""
    reader = _FormReader()
    reader.feed(response.content.decode())
    confirming = [form for form in reader.forms if form.fields.get("confirm") == "1"]
    assert len(confirming) == 1, f"expected one confirming form, found {reader.forms}"
    return confirming[0]


def csrf_client(user) -> Client:
    """A browser that enforces CSRF, so a form without its token is refused as on the real site."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


# --- 1. A success message after every case action -------------------------------------------------------


def in_progress(case: Case, actor) -> Case:
    return services.case_start(case=case, actor=actor)


def escalated(case: Case, actor) -> Case:
    return services.case_escalate(
        case=in_progress(case, actor), actor=actor, support_vehicle="commercial", severity="B"
    )


def resolved(case: Case, actor) -> Case:
    return services.case_resolve(
        case=in_progress(case, actor), actor=actor, resolution_summary="Upheld.", outcome="upheld"
    )


def loop_closed(case: Case, actor) -> Case:
    return services.case_mark_customer_informed(case=resolved(case, actor), actor=actor, note="Phoned.")


def failed_notification(case: Case, actor) -> Notification:
    notification = resolved(case, actor).notifications.get()
    Notification.objects.filter(pk=notification.pk).update(status=NotificationStatus.FAILED, last_error="550")
    return notification


@dataclass
class CaseAction:
    """How to bring the case to where the action applies, what to post, what it says and what it changed."""

    prepare: Callable[[Case, Any], Any]
    url: Callable[[Case, Any], str]
    data: Callable[[Any], dict[str, Any]]
    message: Callable[[Case, Any], str]
    done: Callable[[Case], bool]


def transition(name: str) -> Callable[[Case, Any], str]:
    return lambda case, prepared: reverse("cases:transition", args=[case.number, name])


def status_is(status: str) -> Callable[[Case], bool]:
    return lambda case: Case.objects.get(pk=case.pk).status == status


CASE_ACTIONS = {
    "start": CaseAction(
        lambda case, actor: None,
        transition("start"),
        lambda people: {},
        lambda case, prepared: f"Work started on case {case.number}.",
        status_is(Status.IN_PROGRESS),
    ),
    "escalate": CaseAction(
        in_progress,
        transition("escalate"),
        lambda people: {"support_vehicle": "commercial", "severity": "B", "support_request_number": ""},
        lambda case, prepared: f"Case {case.number} escalated to Microsoft.",
        status_is(Status.ESCALATED),
    ),
    "request_info": CaseAction(
        escalated,
        transition("request_info"),
        lambda people: {"message": "They want the invoice PDF."},
        lambda case, prepared: f"Recorded: Microsoft asked for information on case {case.number}.",
        status_is(Status.INFO_REQUESTED),
    ),
    "provide_info": CaseAction(
        lambda case, actor: services.case_request_info(case=escalated(case, actor), actor=actor),
        transition("provide_info"),
        lambda people: {"message": "Sent the PDF."},
        lambda case, prepared: f"Case {case.number} is back with Microsoft.",
        status_is(Status.ESCALATED),
    ),
    "support_request": CaseAction(
        escalated,
        lambda case, prepared: reverse("cases:support_request", args=[case.number]),
        lambda people: {"support_request_number": "2410070040001234"},
        lambda case, prepared: f"Support request number 2410070040001234 saved for case {case.number}.",
        lambda case: Case.objects.get(pk=case.pk).support_request_number == "2410070040001234",
    ),
    "resolve": CaseAction(
        in_progress,
        transition("resolve"),
        lambda people: {"resolution_summary": "The charge is correct.", "outcome": "upheld"},
        lambda case, prepared: (
            f"Case {case.number} resolved. The resolution e-mail to {BILLING_CONTACT} is queued."
        ),
        lambda case: status_is(Status.RESOLVED)(case)
        and case.notifications.filter(recipient=BILLING_CONTACT).exists(),
    ),
    "customer_informed": CaseAction(
        resolved,
        lambda case, prepared: reverse("cases:customer_informed", args=[case.number]),
        lambda people: {"message": "Phoned the customer."},
        lambda case, prepared: "The loop with the customer is closed.",
        lambda case: Case.objects.get(pk=case.pk).loop_closed_at is not None,
    ),
    "close": CaseAction(
        loop_closed,
        transition("close"),
        lambda people: {},
        lambda case, prepared: f"Case {case.number} closed.",
        status_is(Status.CLOSED),
    ),
    "reopen": CaseAction(
        resolved,
        transition("reopen"),
        lambda people: {"message": "Still charged for 30 seats."},
        lambda case, prepared: f"Case {case.number} reopened.",
        status_is(Status.IN_PROGRESS),
    ),
    "assign": CaseAction(
        lambda case, actor: None,
        lambda case, prepared: reverse("cases:assign", args=[case.number]),
        lambda people: {"assignee": people["billing_admin"].user.pk},
        lambda case, prepared: f"Case {case.number} assigned to Billing Admin.",
        lambda case: Case.objects.get(pk=case.pk).assignee is not None,
    ),
    "unassign": CaseAction(
        lambda case, actor: services.case_assign(case=case, actor=actor, assignee=actor.user),
        lambda case, prepared: reverse("cases:assign", args=[case.number]),
        lambda people: {"assignee": ""},
        lambda case, prepared: f"Case {case.number} no longer has an assignee.",
        lambda case: Case.objects.get(pk=case.pk).assignee is None,
    ),
    "comment": CaseAction(
        lambda case, actor: None,
        lambda case, prepared: reverse("cases:comment", args=[case.number]),
        lambda people: {"message": "Called the customer."},
        lambda case, prepared: "Note added.",
        lambda case: CaseEvent.objects.filter(case=case, kind="comment").exists(),
    ),
    "attach": CaseAction(
        lambda case, actor: None,
        lambda case, prepared: reverse("cases:attach", args=[case.number]),
        lambda people: {"file": SimpleUploadedFile("inv.pdf", PDF, content_type="application/pdf")},
        lambda case, prepared: "Evidence attached.",
        lambda case: case.attachments.exists(),
    ),
    "resend": CaseAction(
        failed_notification,
        lambda case, prepared: reverse("cases:resend", args=[case.number, prepared.pk]),
        lambda people: {},
        lambda case, prepared: f"The e-mail to {BILLING_CONTACT} is queued again.",
        lambda case: case.notifications.get().status == NotificationStatus.PENDING,
    ),
}


@pytest.mark.parametrize("name", CASE_ACTIONS)
def test_every_case_action_says_it_was_done(
    client, global_admin, billing_admin, customer, name: str, django_capture_on_commit_callbacks
) -> None:
    """Each case action, posted from the case page, comes back to the case with a message saying what it did."""
    action = CASE_ACTIONS[name]
    case = open_dispute(global_admin, customer)
    prepared = action.prepare(case, global_admin)
    client.force_login(global_admin.user)
    with django_capture_on_commit_callbacks():  # the e-mails stay queued
        response = client.post(
            action.url(case, prepared), action.data({"billing_admin": billing_admin}), follow=True
        )
    assert response.redirect_chain == [(case.get_absolute_url(), 302)]
    assert shown_messages(response) == [action.message(case, prepared)]
    assert shown_messages(response, "error") == []
    assert action.done(case)


def test_a_refused_case_action_says_why_and_not_that_it_was_done(client, global_admin, customer) -> None:
    """Starting work twice: the second time the page gives the refusal and no success message."""
    case = in_progress(open_dispute(global_admin, customer), global_admin)
    client.force_login(global_admin.user)
    response = client.post(reverse("cases:transition", args=[case.number, "start"]), follow=True)
    assert shown_messages(response) == []
    assert len(shown_messages(response, "error")) == 1


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ja", "ケース {number} を Microsoft にエスカレートしました。"),
        ("zh-hant", "已將案例 {number} 呈報給 Microsoft。"),
        ("zh-hans", "已将案例 {number} 上报给 Microsoft。"),
        ("ru", "Обращение {number} эскалировано в Microsoft."),
    ],
)
def test_the_message_is_in_the_users_language(client, global_admin, customer, language, expected) -> None:
    """Escalating from a page in another language says so in that language."""
    case = in_progress(open_dispute(global_admin, customer), global_admin)
    client.force_login(global_admin.user)
    with translation.override(language):
        url = reverse("cases:transition", args=[case.number, "escalate"])
    response = client.post(url, {"support_vehicle": "commercial", "severity": "B"}, follow=True)
    assert shown_messages(response) == [expected.format(number=case.number)]


# --- The customer page and the team page -------------------------------------------------------------


def test_reactivating_a_subscription_says_so(client, billing_admin, customer) -> None:
    """Reactivation acts at once (nothing is lost by it) and says it was done."""
    subscription = SubscriptionFactory(customer=customer, status=SubscriptionStatus.SUSPENDED)
    client.force_login(billing_admin.user)
    url = reverse("cases:subscription", args=[customer.pk, subscription.pk, "reactivate"])
    response = client.post(url, {"reason": "Paid."}, follow=True)
    assert shown_messages(response) == ["Subscription reactivated."]
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_reactivating_a_colleague_and_changing_roles_say_so(client, user_admin, sales_agent) -> None:
    """Reactivating an account names it; saving roles says the roles were updated."""
    sales_agent.user.is_active = False
    sales_agent.user.save(update_fields=["is_active"])
    client.force_login(user_admin.user)
    url = reverse("cases:member", args=[sales_agent.pk])
    response = client.post(url, {"operation": "activate"}, follow=True)
    assert shown_messages(response) == ["sales.agent@contoso.example was reactivated and can sign in again."]
    response = client.post(url, {"operation": "roles", "roles": ["helpdesk_agent"]}, follow=True)
    assert shown_messages(response) == ["Roles updated."]
    sales_agent.refresh_from_db()
    assert sales_agent.user.is_active and sales_agent.roles == ["helpdesk_agent"]


# --- 2. Suspending a subscription asks first ----------------------------------------------------------------


def suspend_url(customer, subscription) -> str:
    return reverse("cases:subscription", args=[customer.pk, subscription.pk, "suspend"])


def test_suspend_shows_what_will_happen_and_changes_nothing_yet(
    client, billing_admin, customer, subscription
) -> None:
    """The Suspend button leads to a page naming the subscription, the customer and the reason, saying that the
    portal records the suspension made in Partner Center and does not make it; nothing is suspended yet."""
    client.force_login(billing_admin.user)
    response = client.post(suspend_url(customer, subscription), {"reason": "Invoice 60 days overdue."})
    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert "Suspend Microsoft 365 E3 of Tailspin Toys 株式会社?" in html
    assert "Microsoft 365 E3 × 30" in html
    assert "Invoice 60 days overdue." in html
    assert "The portal records the suspension you make in Partner Center for non-payment" in html
    assert "It does not suspend the subscription in Partner Center and it does not tell the customer." in html
    assert f'href="{customer.get_absolute_url()}"' in html  # Cancel
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert not subscription.events.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.SUBSCRIPTION_SUSPENDED).exists()


def test_confirming_the_suspension_suspends_with_the_reason(
    client, billing_admin, customer, subscription
) -> None:
    """The confirmation page's own form (CSRF token, the reason, confirm=1) suspends and says so."""
    client = csrf_client(billing_admin.user)
    page = client.post(
        suspend_url(customer, subscription),
        {"reason": "Invoice 60 days overdue.", "csrfmiddlewaretoken": _csrf(client, customer)},
    )
    form = confirmation_form(page)
    assert form.method == "post" and form.action == suspend_url(customer, subscription)
    assert form.fields["reason"] == "Invoice 60 days overdue."
    assert form.fields["csrfmiddlewaretoken"]
    assert form.buttons == ["Confirm the suspension"]
    response = client.post(form.action, form.fields, follow=True)
    assert response.redirect_chain == [(customer.get_absolute_url(), 302)]
    assert shown_messages(response) == ["Subscription suspended."]
    subscription.refresh_from_db()
    assert (subscription.status, subscription.status_reason) == ("suspended", "Invoice 60 days overdue.")
    assert AuditEvent.objects.filter(action=AuditAction.SUBSCRIPTION_SUSPENDED).count() == 1


def _csrf(client: Client, customer) -> str:
    """The CSRF token of the customer page, as the browser has it before pressing Suspend."""
    client.get(customer.get_absolute_url())
    return client.cookies["csrftoken"].value


def test_suspend_page_opened_directly_asks_for_the_reason(
    client, billing_admin, customer, subscription
) -> None:
    """Opened by its address, the page asks for the reason; confirming without one is refused and changes nothing."""
    client.force_login(billing_admin.user)
    page = client.get(suspend_url(customer, subscription))
    assert page.status_code == 200
    form = confirmation_form(page)
    assert "reason" in form.fields  # a field to fill, not a hidden value
    assert '<textarea name="reason"' in page.content.decode()
    refused = client.post(suspend_url(customer, subscription), {"reason": " ", "confirm": "1"})
    assert refused.status_code == 400
    assert "This field is required." in refused.content.decode()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_suspending_without_a_reason_stays_on_the_customer_page(
    client, billing_admin, customer, subscription
) -> None:
    """No reason: the customer page comes back with the error, as before, not the confirmation page."""
    client.force_login(billing_admin.user)
    response = client.post(suspend_url(customer, subscription), {"reason": ""})
    assert response.status_code == 400
    assert response.templates[0].name == "cases/customer_detail.html"
    assert shown_messages(response, "error") == ["Please correct the errors below."]


def test_suspend_page_of_a_suspended_subscription_offers_no_confirmation(
    client, billing_admin, customer
) -> None:
    """A subscription already suspended: the page says so and has nothing to confirm."""
    subscription = SubscriptionFactory(customer=customer, status=SubscriptionStatus.SUSPENDED)
    client.force_login(billing_admin.user)
    response = client.post(suspend_url(customer, subscription), {"reason": "Again?"})
    assert response.status_code == 200
    assert "The subscription is already suspended." in response.content.decode()
    assert 'name="confirm"' not in response.content.decode()


def test_a_sales_agent_gets_no_suspension_page(client, sales_agent, customer, subscription) -> None:
    """Only the roles that may suspend see the confirmation page; the others get 403."""
    client.force_login(sales_agent.user)
    assert client.get(suspend_url(customer, subscription)).status_code == 403
    assert client.post(suspend_url(customer, subscription), {"reason": "Unpaid."}).status_code == 403


# --- Deactivating a colleague asks first --------------------------------------------------------------


def test_deactivate_shows_what_will_happen_and_changes_nothing_yet(client, user_admin, sales_agent) -> None:
    """The team page's Deactivate leads to a page naming the colleague and what stops; they stay active."""
    client.force_login(user_admin.user)
    team = client.get(reverse("cases:team"))
    reader = _FormReader()
    reader.feed(team.content.decode())
    [deactivate] = [form for form in reader.forms if form.buttons == ["Deactivate"]]
    assert deactivate.method == "get" and "csrfmiddlewaretoken" not in deactivate.fields
    page = client.get(deactivate.action, deactivate.fields)
    assert page.status_code == 200
    html = unescape(page.content.decode())
    assert "Deactivate Sales Agent?" in html
    assert "sales.agent@contoso.example will no longer be able to sign in" in html
    assert "their API tokens stop working" in html
    assert f'href="{reverse("cases:team")}"' in html  # Cancel
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    # Posted straight from an old page (no confirm): the same page, still nothing done.
    assert (
        "Deactivate Sales Agent?"
        in client.post(deactivate.action, {"operation": "deactivate"}).content.decode()
    )
    sales_agent.user.refresh_from_db()
    assert sales_agent.user.is_active
    assert not AuditEvent.objects.filter(action=AuditAction.MEMBER_DEACTIVATED).exists()


def test_confirming_the_deactivation_deactivates(user_admin, sales_agent) -> None:
    """The confirmation page's form (CSRF token, operation, confirm=1) deactivates and names who."""
    client = csrf_client(user_admin.user)
    url = reverse("cases:member", args=[sales_agent.pk])
    form = confirmation_form(client.get(url, {"operation": "deactivate"}))
    assert form.method == "post" and form.action == url
    assert form.fields["operation"] == "deactivate" and form.fields["csrfmiddlewaretoken"]
    assert form.buttons == ["Confirm the deactivation"]
    response = client.post(form.action, form.fields, follow=True)
    assert response.redirect_chain == [(reverse("cases:team"), 302)]
    assert shown_messages(response) == [
        "sales.agent@contoso.example was deactivated and can no longer sign in."
    ]
    sales_agent.user.refresh_from_db()
    assert not sales_agent.user.is_active


def test_deactivation_page_is_for_managers_of_their_own_team(
    client, helpdesk_agent, user_admin, outsider
) -> None:
    """A helpdesk agent gets 403, and a colleague of another partner does not exist (404)."""
    client.force_login(helpdesk_agent.user)
    assert (
        client.get(reverse("cases:member", args=[user_admin.pk]), {"operation": "deactivate"}).status_code
        == 403
    )
    client.force_login(user_admin.user)
    assert (
        client.get(reverse("cases:member", args=[outsider.pk]), {"operation": "deactivate"}).status_code
        == 404
    )


def test_other_team_operations_still_need_a_post(client, user_admin, sales_agent) -> None:
    """Only deactivation has a page to open; an address cannot change roles or reactivate."""
    client.force_login(user_admin.user)
    url = reverse("cases:member", args=[sales_agent.pk])
    assert client.get(url, {"operation": "roles", "roles": ["global_admin"]}).status_code == 405
    assert client.get(url, {"operation": "activate"}).status_code == 405
    sales_agent.refresh_from_db()
    assert sales_agent.roles == ["sales_agent"]


# --- Revoking an API token asks first -----------------------------------------------------------------


def test_revoke_shows_what_will_happen_and_the_token_keeps_working(client, global_admin) -> None:
    """The Revoke button leads to a page naming the token and what stops; the token still works."""
    token, _key = ApiToken.issue(user=global_admin.user, name="PSA integration")
    force_login_with_code(client, global_admin.user)
    tokens = client.get(reverse("api_tokens"))
    reader = _FormReader()
    reader.feed(tokens.content.decode())
    [revoke] = [form for form in reader.forms if form.buttons == ["Revoke"]]
    assert revoke.method == "get"
    page = client.get(reverse("api_tokens"), {"revoke": token.pk})
    assert page.status_code == 200
    html = unescape(page.content.decode())
    assert "Revoke the token “PSA integration”?" in html
    assert f"{token.key_prefix}…" in html
    assert "loses access to the API at once" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    assert "Revoke the token “PSA integration”?" in unescape(
        client.post(reverse("api_tokens"), {"revoke": token.pk}).content.decode()
    )
    token.refresh_from_db()
    assert token.revoked_at is None
    assert not AuditEvent.objects.filter(action=AuditAction.TOKEN_REVOKED).exists()


def test_confirming_the_revocation_revokes(global_admin) -> None:
    """The confirmation page's form (CSRF token, the token's id, confirm=1) revokes and says so."""
    token, key = ApiToken.issue(user=global_admin.user, name="PSA integration")
    client = Client(enforce_csrf_checks=True)
    force_login_with_code(client, global_admin.user)
    form = confirmation_form(client.get(reverse("api_tokens"), {"revoke": token.pk}))
    assert form.method == "post" and form.action == reverse("api_tokens")
    assert form.fields["revoke"] == str(token.pk) and form.fields["csrfmiddlewaretoken"]
    assert form.buttons == ["Confirm the revocation"]
    response = client.post(form.action, form.fields, follow=True)
    assert response.redirect_chain == [(reverse("api_tokens"), 302)]
    assert shown_messages(response) == ["The token “PSA integration” was revoked."]
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client(headers={"authorization": f"Bearer {key}"}).get("/api/v1/cases/").status_code == 401


@pytest.mark.parametrize("value", ["999999", "abc", "9" * 40])
def test_revoke_page_of_an_unknown_token_is_404(client, global_admin, helpdesk_agent, value) -> None:
    """Someone else's token, or no token at all: 404."""
    theirs, _key = ApiToken.issue(user=helpdesk_agent.user, name="theirs")
    client.force_login(global_admin.user)
    assert client.get(reverse("api_tokens"), {"revoke": theirs.pk}).status_code == 404
    assert client.get(reverse("api_tokens"), {"revoke": value}).status_code == 404
