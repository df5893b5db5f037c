"""The new-case form a partner can use on day one: a customer picker that also works without JavaScript, that
customer's subscriptions only, a currency offered by default, and evidence attached with the new case."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import services
from cases.models import Attachment, Case, CaseEvent, Category, EventKind, Severity, SubscriptionStatus
from tests.cast import open_dispute
from tests.factories import CustomerFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

NEW = "/en/cases/new/"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
# Every signed-in page reads its session with the user, membership and partner first (portal.sessions).
SIGNED_IN = 1
# The partner's usual currencies (one grouped read of its recent cases) and the assignee options; no customer
# is listed (the picker asks as the user types) and no subscription before a customer is picked.
NEW_CASE_QUERIES = SIGNED_IN + 2
# With ?customer=: that customer, its latest currency and its subscriptions.
NEW_CASE_FOR_CUSTOMER_QUERIES = NEW_CASE_QUERIES + 3


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    """Uploaded evidence goes to a temporary folder, never to var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


@pytest.fixture
def northwind(contoso):
    """Two Contoso customers whose names both contain "Northwind", and a third one that does not."""
    return [
        CustomerFactory(
            partner=contoso, company_name="Northwind Traders", tenant_domain="northwind.onmicrosoft.com"
        ),
        CustomerFactory(
            partner=contoso,
            company_name="Northwind Traders Asia",
            tenant_domain="northwindasia.onmicrosoft.com",
        ),
    ]


def question(**overrides) -> dict:
    """A billing question as the form posts it, without a customer."""
    data = {
        "category": Category.BILLING_QUESTION,
        "title": "Why two invoices this month?",
        "description": "The customer received two invoices for October.",
        "severity": Severity.C,
        "currency": "USD",
    }
    data.update(overrides)
    return data


def errors(response) -> dict[str, list[str]]:
    return {name: list(errs) for name, errs in response.context["form"].errors.items()}


def page(client, url: str = NEW) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# --- The customer picker ---------------------------------------------------------------------------


def test_picker_post_opens_the_case_for_the_picked_customer(client, helpdesk_agent, customer) -> None:
    """With JavaScript the picker sends the chosen customer's id with its name, and the case is theirs."""
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, question(customer=customer.pk, customer_name=customer.company_name))
    assert response.status_code == 302
    assert Case.objects.get().customer == customer


@pytest.mark.parametrize(
    "typed", ["tailspin toys 株式会社", "TAILSPINTOYS.onmicrosoft.com", "Tailspin", "  tailspintoys  "]
)
def test_typed_name_or_tenant_is_resolved_without_javascript(
    client, helpdesk_agent, customer, northwind, typed
) -> None:
    """Without JavaScript only the text comes: a whole or partial company name or tenant domain that names
    one customer opens the case for that customer."""
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, question(customer="", customer_name=typed))
    assert response.status_code == 302, errors(response)
    assert Case.objects.get().customer == customer


def test_exact_name_wins_over_longer_names_containing_it(client, helpdesk_agent, northwind) -> None:
    """ "Northwind Traders" is that customer, although "Northwind Traders Asia" contains it too."""
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, question(customer_name="northwind traders"))
    assert response.status_code == 302, errors(response)
    assert Case.objects.get().customer == northwind[0]


def test_ambiguous_name_is_a_field_error_naming_the_candidates(client, helpdesk_agent, northwind) -> None:
    """A text that several customers match is refused on the customer field, listing them; no case."""
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, question(customer_name="Northwind"))
    assert response.status_code == 200
    assert errors(response) == {
        "customer": [
            "Several of your customers match “Northwind”: Northwind Traders (northwind.onmicrosoft.com), "
            "Northwind Traders Asia (northwindasia.onmicrosoft.com). Type more of the name, or the tenant domain."
        ]
    }
    assert 'value="Northwind"' in response.content.decode()  # the text stays, to be completed
    assert not Case.objects.exists()


def test_unknown_name_is_a_field_error(client, helpdesk_agent, customer) -> None:
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, question(customer_name="Wide World Importers"))
    assert errors(response) == {
        "customer": [
            "None of your customers is called “Wide World Importers”. Check the company name or tenant domain."
        ]
    }
    assert not Case.objects.exists()


def test_no_customer_at_all_is_a_field_error(client, helpdesk_agent, customer) -> None:
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, question(customer="", customer_name="  "))
    assert errors(response) == {"customer": ["Choose a customer."]}


@pytest.mark.parametrize("bad", ["abc", "-1", "99999999999999999999999", "1 OR 1=1"])
def test_malformed_customer_id_is_a_field_error_not_a_500(client, helpdesk_agent, customer, bad) -> None:
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, question(customer=bad))
    assert response.status_code == 200
    assert errors(response) == {"customer": ["Choose one of your own customers."]}


def test_another_partners_customer_is_refused_by_id_and_by_name(
    client, helpdesk_agent, customer, fabrikam_customer
) -> None:
    """Fabrikam's customer is no choice of Contoso's, whether its id is posted or its name typed."""
    client.force_login(helpdesk_agent.user)
    by_id = client.post(
        NEW, question(customer=fabrikam_customer.pk, customer_name=fabrikam_customer.company_name)
    )
    assert errors(by_id) == {"customer": ["Choose one of your own customers."]}
    for typed in (fabrikam_customer.company_name, fabrikam_customer.tenant_domain):
        by_name = client.post(NEW, question(customer_name=typed))
        assert errors(by_name) == {
            "customer": [
                f"None of your customers is called “{typed}”. Check the company name or tenant domain."
            ]
        }
    assert not Case.objects.exists()


def test_text_changed_after_a_pick_names_the_customer(client, helpdesk_agent, customer, northwind) -> None:
    """A page shown again without JavaScript keeps the picked id; a new text typed over it is what counts."""
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, question(customer=customer.pk, customer_name="Northwind Traders Asia"))
    assert response.status_code == 302, errors(response)
    assert Case.objects.get().customer == northwind[1]


@pytest.mark.parametrize("query", ["abc", "²", "99999999999999999999999", ""])
def test_malformed_customer_in_the_address_shows_the_form_without_one(client, helpdesk_agent, query) -> None:
    client.force_login(helpdesk_agent.user)
    response = client.get(NEW, {"customer": query})
    assert response.status_code == 200
    assert response.context["form"].picked_customer is None


# --- Only the chosen customer's subscriptions ----------------------------------------------------------


@pytest.fixture
def other_subscription(contoso):
    return SubscriptionFactory(
        customer=CustomerFactory(partner=contoso), offer="Dynamics 365 Sales", quantity=4
    )


def test_page_lists_no_subscription_before_a_customer_is_chosen(
    client, helpdesk_agent, subscription, other_subscription
) -> None:
    client.force_login(helpdesk_agent.user)
    html = page(client)
    assert "Choose the customer first" in html
    assert subscription.offer not in html and other_subscription.offer not in html
    assert "---------" not in html


def test_page_for_a_customer_lists_only_their_subscriptions(
    client, helpdesk_agent, customer, subscription, other_subscription
) -> None:
    """From the customer page (?customer=), the subscription list holds that customer's only."""
    suspended = SubscriptionFactory(
        customer=customer, offer="Azure plan", status=SubscriptionStatus.SUSPENDED
    )
    client.force_login(helpdesk_agent.user)
    html = page(client, f"{NEW}?customer={customer.pk}")
    assert f'<option value="{subscription.pk}">Microsoft 365 E3 × 30</option>' in html
    assert f'<option value="{suspended.pk}">Azure plan × 10 (suspended)</option>' in html
    assert other_subscription.offer not in html
    assert "Choose a subscription (optional)" in html
    assert "---------" not in html


def test_customer_without_subscriptions_says_so(client, helpdesk_agent, customer) -> None:
    client.force_login(helpdesk_agent.user)
    assert "This customer has no subscriptions" in page(client, f"{NEW}?customer={customer.pk}")


def test_every_empty_option_reads_as_words(client, helpdesk_agent, customer, subscription) -> None:
    """No "---------": the category, subscription and assignee lists say what their empty choice means."""
    client.force_login(helpdesk_agent.user)
    html = page(client, f"{NEW}?customer={customer.pk}")
    assert "---------" not in html
    for text in ("Choose a category", "Choose a subscription (optional)", "Nobody"):
        assert (
            f'<option value="" selected>{text}</option>' in html
            or f'<option value="">{text}</option>' in html
        )


def test_another_customers_subscription_is_refused_after_a_typed_customer(
    client, helpdesk_agent, customer, other_subscription
) -> None:
    """Without JavaScript: a subscription of another of the partner's customers is a field error, and the page
    shown again lists the chosen customer's subscriptions only."""
    mine = SubscriptionFactory(customer=customer, offer="Microsoft 365 E5")
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, question(customer_name="Tailspin", subscription=other_subscription.pk))
    assert errors(response) == {"subscription": ["That subscription belongs to another customer."]}
    html = response.content.decode()
    assert mine.offer in html and other_subscription.offer not in html
    assert (
        f'name="customer" id="id_customer_pk" value="{customer.pk}"' in html
    )  # resolved, kept for the next post
    assert not Case.objects.exists()


def test_another_partners_subscription_is_refused(
    client, helpdesk_agent, customer, fabrikam_customer
) -> None:
    theirs = SubscriptionFactory(customer=fabrikam_customer, offer="Azure operated by 21Vianet")
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, question(customer=customer.pk, subscription=theirs.pk))
    assert errors(response) == {"subscription": ["Choose one of this customer's subscriptions."]}
    assert theirs.offer not in response.content.decode()
    assert not Case.objects.exists()


def test_chosen_subscription_of_the_customer_is_saved(client, helpdesk_agent, customer, subscription) -> None:
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, question(customer_name="Tailspin", subscription=subscription.pk))
    assert response.status_code == 302, errors(response)
    assert Case.objects.get().subscription == subscription


def test_show_subscriptions_button_redraws_the_form_for_the_typed_customer(
    client, helpdesk_agent, customer, subscription, other_subscription
) -> None:
    """Without JavaScript, "Show this customer's subscriptions" opens no case: it shows the form again as typed,
    with the customer resolved, their subscriptions listed and no complaint about fields not yet filled."""
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, {"refresh": "1", "customer_name": "tailspin", "title": "Two invoices"})
    assert response.status_code == 200
    assert errors(response) == {}
    html = response.content.decode()
    assert f'value="{customer.company_name}"' in html
    assert f'name="customer" id="id_customer_pk" value="{customer.pk}"' in html
    assert subscription.offer in html and other_subscription.offer not in html
    assert 'value="Two invoices"' in html
    assert not Case.objects.exists()


def test_show_subscriptions_button_reports_an_unknown_customer(client, helpdesk_agent, customer) -> None:
    client.force_login(helpdesk_agent.user)
    response = client.post(NEW, {"refresh": "1", "customer_name": "Nobody Ltd"})
    assert list(errors(response)) == ["customer"]
    assert "Choose the customer first" in response.content.decode()


# --- The subscriptions endpoint -------------------------------------------------------------------------


def test_subscriptions_endpoint_lists_the_customers_own_and_its_currency(
    client, helpdesk_agent, customer, subscription, other_subscription
) -> None:
    suspended = SubscriptionFactory(
        customer=customer, offer="Azure plan", status=SubscriptionStatus.SUSPENDED
    )
    open_dispute(helpdesk_agent, customer, currency="JPY", disputed_amount=Decimal("41250"))
    client.force_login(helpdesk_agent.user)
    response = client.get(f"/en/customers/{customer.pk}/subscriptions/")
    assert response.status_code == 200
    assert response.json() == {
        "subscriptions": [
            {"id": suspended.pk, "label": "Azure plan × 10 (suspended)", "suspended": True},
            {"id": subscription.pk, "label": "Microsoft 365 E3 × 30", "suspended": False},
        ],
        "currency": "JPY",
    }


def test_subscriptions_endpoint_offers_the_partners_currency_for_a_new_customer(
    client, helpdesk_agent, customer
) -> None:
    client.force_login(helpdesk_agent.user)
    assert client.get(f"/en/customers/{customer.pk}/subscriptions/").json() == {
        "subscriptions": [],
        "currency": "USD",
    }


def test_subscriptions_endpoint_is_404_for_another_partners_customer(
    client, helpdesk_agent, fabrikam_customer
) -> None:
    SubscriptionFactory(customer=fabrikam_customer, offer="Azure operated by 21Vianet")
    client.force_login(helpdesk_agent.user)
    response = client.get(f"/en/customers/{fabrikam_customer.pk}/subscriptions/")
    assert response.status_code == 404
    assert "21Vianet" not in response.content.decode()


def test_subscriptions_endpoint_needs_a_signed_in_partner_user(client, customer) -> None:
    response = client.get(f"/en/customers/{customer.pk}/subscriptions/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


# --- The currency offered ---------------------------------------------------------------------------------


def offered_currency(response) -> str:
    return response.context["form"]["currency"].value()


def test_currency_defaults_to_the_customers_last_used(client, helpdesk_agent, customer) -> None:
    """The customer's latest case with a currency decides, not the partner's most used one."""
    for _ in range(3):
        open_dispute(helpdesk_agent, CustomerFactory(partner=customer.partner), currency="USD")
    open_dispute(helpdesk_agent, customer, currency="USD")
    latest = open_dispute(helpdesk_agent, customer, currency="EUR")
    Case.objects.filter(pk=latest.pk).update(created_at=timezone.now() + datetime.timedelta(minutes=1))
    client.force_login(helpdesk_agent.user)
    response = client.get(f"{NEW}?customer={customer.pk}")
    assert offered_currency(response) == "EUR"
    assert '<option value="EUR" selected>EUR — Euro</option>' in response.content.decode()


def test_currency_defaults_to_the_partners_most_used_for_a_customer_without_cases(
    client, helpdesk_agent, customer
) -> None:
    other = CustomerFactory(partner=customer.partner)
    for currency in ("GBP", "GBP", "USD"):
        open_dispute(helpdesk_agent, other, currency=currency)
    client.force_login(helpdesk_agent.user)
    assert offered_currency(client.get(f"{NEW}?customer={customer.pk}")) == "GBP"
    assert offered_currency(client.get(NEW)) == "GBP"


@pytest.mark.parametrize(("who", "currency"), [("helpdesk_agent", "USD"), ("outsider", "CNY")])
def test_a_partner_without_cases_is_offered_its_clouds_currency(client, request, who, currency) -> None:
    """Contoso (global cloud) starts in US dollars, Fabrikam China (21Vianet) in yuan."""
    client.force_login(request.getfixturevalue(who).user)
    assert offered_currency(client.get(NEW)) == currency


def test_usual_currencies_head_the_list(client, helpdesk_agent, customer) -> None:
    """A short group of the partner's currencies first, the rest of the 156 after it."""
    for currency in ("SEK", "NOK", "NOK"):
        open_dispute(helpdesk_agent, customer, currency=currency)
    client.force_login(helpdesk_agent.user)
    choices = client.get(NEW).context["form"].fields["currency"].choices
    assert choices[0] == ("", "—")
    assert str(choices[1][0]) == "Your usual currencies"
    assert [code for code, _name in choices[1][1]] == ["NOK", "SEK"]
    assert str(choices[2][0]) == "Other currencies"
    assert len(choices[2][1]) == 156 - 2


def test_currency_names_are_in_the_readers_language(client, helpdesk_agent) -> None:
    client.force_login(helpdesk_agent.user)
    assert "USD — 米ドル" in page(client, "/ja/cases/new/")


def test_show_subscriptions_offers_the_new_customers_currency_unless_one_was_chosen(
    client, helpdesk_agent, customer
) -> None:
    open_dispute(helpdesk_agent, customer, currency="JPY", disputed_amount=Decimal("41250"))
    open_dispute(helpdesk_agent, CustomerFactory(partner=customer.partner), currency="USD")
    open_dispute(helpdesk_agent, CustomerFactory(partner=customer.partner), currency="USD")
    client.force_login(helpdesk_agent.user)
    form = {"refresh": "1", "customer_name": "Tailspin", "currency_offered": "USD"}
    assert offered_currency(client.post(NEW, {**form, "currency": "USD"})) == "JPY"
    assert offered_currency(client.post(NEW, {**form, "currency": "CHF"})) == "CHF"


# --- Evidence attached with the new case ----------------------------------------------------------------


def test_evidence_is_attached_with_the_new_case(client, helpdesk_agent, customer, media_root) -> None:
    """Two files sent with the form are on the new case, each on the timeline after its opening."""
    client.force_login(helpdesk_agent.user)
    files = [SimpleUploadedFile("invoice.pdf", PDF), SimpleUploadedFile("portal.png", PNG)]
    response = client.post(NEW, question(customer=customer.pk, evidence=files))
    assert response.status_code == 302, errors(response)
    case = Case.objects.get()
    attachments = list(case.attachments.order_by("pk"))
    assert [(a.original_name, a.content_type, a.uploaded_by) for a in attachments] == [
        ("invoice.pdf", "application/pdf", helpdesk_agent.user),
        ("portal.png", "image/png", helpdesk_agent.user),
    ]
    assert [a.file.read() for a in attachments] == [PDF, PNG]
    events = list(case.events.values_list("kind", "message", "data"))
    assert events == [
        (EventKind.CREATED, "", {"category": Category.BILLING_QUESTION, "severity": Severity.C}),
        (EventKind.ATTACHMENT, "invoice.pdf", {"attachment": attachments[0].pk}),
        (EventKind.ATTACHMENT, "portal.png", {"attachment": attachments[1].pk}),
    ]
    assert len(stored_files(media_root)) == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "invoice.exe",
            b"MZ\x90\x00" + b"\x00" * 64,
            "invoice.exe: Attach a PDF, PNG, JPEG or CSV file; this file's content is none of those.",
        ),
        ("big.pdf", PDF + b"0" * 2048, "big.pdf: The file is larger than 0 MB."),
        ("report.png", PDF, "report.png: The file is named like a PNG but its content is a PDF."),
        ("empty.pdf", b"", "empty.pdf: The submitted file is empty."),
    ],
)
def test_bad_evidence_is_a_field_error_and_opens_no_case(
    client, helpdesk_agent, customer, media_root, settings, name, content, message
) -> None:
    """One bad file among good ones: a field error naming it, no case, no attachment, nothing stored."""
    settings.ATTACHMENT_MAX_BYTES = 1024
    client.force_login(helpdesk_agent.user)
    files = [SimpleUploadedFile("invoice.pdf", PDF), SimpleUploadedFile(name, content)]
    response = client.post(NEW, question(customer=customer.pk, evidence=files))
    assert response.status_code == 200
    assert errors(response) == {"evidence": [message]}
    assert not Case.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []


def test_more_files_than_the_form_takes_are_refused(client, helpdesk_agent, customer, media_root) -> None:
    client.force_login(helpdesk_agent.user)
    files = [SimpleUploadedFile(f"invoice{n}.pdf", PDF) for n in range(6)]
    response = client.post(NEW, question(customer=customer.pk, evidence=files))
    assert errors(response) == {
        "evidence": ["Attach at most 5 files here; add more on the case page once it is open."]
    }
    assert not Case.objects.exists() and stored_files(media_root) == []


def test_service_removes_stored_files_when_the_case_is_not_opened(
    helpdesk_agent, customer, media_root
) -> None:
    """A file the service already stored is removed from storage when a later one fails: all or nothing."""
    good = SimpleUploadedFile("invoice.pdf", PDF)
    bad = SimpleUploadedFile("notes.txt", b"\x00\x01binary")
    with pytest.raises(ValidationError) as refused:
        services.case_create(
            actor=helpdesk_agent,
            customer=customer,
            category=Category.BILLING_QUESTION,
            title="Two invoices",
            description="Two invoices for October.",
            evidence=[good, bad],
        )
    assert list(refused.value.message_dict) == ["evidence"]
    assert not Case.objects.exists()
    assert not CaseEvent.objects.exists()
    assert stored_files(media_root) == []


def test_evidence_needs_choosing_again_after_show_subscriptions(client, helpdesk_agent, customer) -> None:
    """A page shown again cannot keep files: it says so rather than dropping them silently."""
    client.force_login(helpdesk_agent.user)
    response = client.post(
        NEW,
        {"refresh": "1", "customer_name": "Tailspin", "evidence": [SimpleUploadedFile("invoice.pdf", PDF)]},
    )
    assert errors(response) == {"evidence": ["Choose the files again: a page shown again cannot keep them."]}
    assert not Attachment.objects.exists()


# --- Query count ---------------------------------------------------------------------------------------------


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_new_case_page_query_count_does_not_grow(client, helpdesk_agent, customer, subscription) -> None:
    """The page runs the same queries for a partner with a few customers and cases as with hundreds."""
    client.force_login(helpdesk_agent.user)
    urls = (NEW, f"{NEW}?customer={customer.pk}")
    for url in urls:
        client.get(url)  # one-time work (template compilation, language data) does not count
    few = [count_queries(client, url) for url in urls]
    partner = customer.partner
    customers = [CustomerFactory(partner=partner) for _ in range(40)]
    for n, other in enumerate(customers):
        SubscriptionFactory(customer=other)
        open_dispute(helpdesk_agent, other, currency=("USD", "EUR", "GBP", "AUD", "CHF", "SEK")[n % 6])
    for n in range(10):
        SubscriptionFactory(customer=customer, offer=f"Offer {n}")
        open_dispute(helpdesk_agent, customer, currency="EUR")
    many = [count_queries(client, url) for url in urls]
    assert few == many == [NEW_CASE_QUERIES, NEW_CASE_FOR_CUSTOMER_QUERIES]


def test_evidence_attached_on_the_case_page_goes_with_a_failed_transaction(
    helpdesk_agent, customer, media_root, monkeypatch
) -> None:
    """The case page's attach, like the new-case form, leaves no file behind when its transaction fails."""
    case = open_dispute(helpdesk_agent, customer)

    def broken_event(*args, **kwargs):
        raise RuntimeError("the timeline could not be written")

    monkeypatch.setattr(services, "_event", broken_event)
    upload = SimpleUploadedFile("invoice.pdf", PDF, content_type="application/pdf")
    with pytest.raises(RuntimeError):
        services.case_attach(case=case, actor=helpdesk_agent, upload=upload)
    assert stored_files(media_root) == []
    assert not Attachment.objects.filter(case=case).exists()
