"""Bad input on partner pages (amounts, currencies, attachments, reasons) gets clear field errors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from cases.models import Attachment, Case

pytestmark = pytest.mark.django_db

BAD_AMOUNT = "Enter an amount such as 1,250.50 or 1250.50."
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def dispute(customer, **overrides) -> dict:
    data = {
        "customer": customer.pk,
        "category": "billing_dispute",
        "title": "Charged twice",
        "description": "Two identical lines on the invoice.",
        "invoice_number": "G0001",
        "disputed_amount": "412.50",
        "currency": "USD",
        "billing_period": "2026-10",
        "severity": "B",
    }
    data.update(overrides)
    return data


def errors(response) -> dict[str, list[str]]:
    return {name: list(errs) for name, errs in response.context["form"].errors.items()}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"disputed_amount": "-5"}, "disputed_amount", BAD_AMOUNT),
        ({"disputed_amount": "0"}, "disputed_amount", "Enter an amount greater than zero."),
        ({"disputed_amount": "12,50"}, "disputed_amount", BAD_AMOUNT),
        ({"disputed_amount": "1e5"}, "disputed_amount", BAD_AMOUNT),
        ({"disputed_amount": "abc"}, "disputed_amount", BAD_AMOUNT),
        ({"disputed_amount": "NaN"}, "disputed_amount", BAD_AMOUNT),
        (
            {"disputed_amount": "1" * 15},
            "disputed_amount",
            "Ensure that there are no more than 14 digits in total.",
        ),
        (
            {"disputed_amount": "1.2345"},
            "disputed_amount",
            "Ensure that there are no more than 3 decimal places.",
        ),
        (
            {"disputed_amount": "10.5", "currency": "JPY"},
            "disputed_amount",
            "JPY amounts have no decimal places.",
        ),
        (
            {"disputed_amount": "10.555", "currency": "USD"},
            "disputed_amount",
            "USD amounts have at most 2 decimal places.",
        ),
        ({"currency": "XYZ"}, "currency", "Select a valid choice. XYZ is not one of the available choices."),
        ({"currency": ""}, "currency", "Choose the currency of the disputed amount."),
        ({"invoice_number": ""}, "invoice_number", "A billing dispute needs the invoice number."),
        ({"disputed_amount": ""}, "disputed_amount", "A billing dispute needs the disputed amount."),
        ({"billing_period": "October"}, "billing_period", "Enter a month as YYYY-MM."),
        ({"severity": "D"}, "severity", "Select a valid choice. D is not one of the available choices."),
        ({"title": ""}, "title", "This field is required."),
    ],
)
def test_bad_case_input_gets_a_field_error_and_saves_nothing(
    client, helpdesk_agent, customer, overrides, field, message
) -> None:
    """Each malformed value is refused on its own field, and no case is created."""
    client.force_login(helpdesk_agent.user)
    response = client.post(reverse("cases:create"), dispute(customer, **overrides))
    assert response.status_code == 200
    found = errors(response)
    assert field in found, found
    if message:
        assert message in found[field]
    assert Case.objects.count() == 0


def test_three_decimal_currency_accepts_three_places(client, helpdesk_agent, customer) -> None:
    """Kuwaiti dinars have three decimals, exactly stored."""
    client.force_login(helpdesk_agent.user)
    response = client.post(
        reverse("cases:create"), dispute(customer, disputed_amount="10.125", currency="KWD")
    )
    assert response.status_code == 302
    case = Case.objects.get()
    assert str(case.disputed_amount) == "10.125"
    assert case.billing_period.isoformat() == "2026-10-01"


def test_field_errors_are_in_the_users_language(client, helpdesk_agent, customer) -> None:
    """The Japanese new-case page reports errors in Japanese."""
    client.force_login(helpdesk_agent.user)
    from django.utils import translation

    response = client.post("/ja/cases/new/", dispute(customer, title=""))
    with translation.override("ja"):
        required = translation.gettext("This field is required.")
    assert required != "This field is required."
    assert errors(response)["title"] == [required]


def test_foreign_customer_is_not_a_valid_choice(client, helpdesk_agent, fabrikam_customer) -> None:
    """A customer of another partner cannot be chosen on the form."""
    client.force_login(helpdesk_agent.user)
    response = client.post(reverse("cases:create"), dispute(fabrikam_customer))
    assert "customer" in errors(response)
    assert Case.objects.count() == 0


def test_subscription_must_belong_to_the_customer(client, helpdesk_agent, customer, contoso) -> None:
    """A subscription of another of the partner's customers is refused."""
    from tests.factories import CustomerFactory, SubscriptionFactory

    other = SubscriptionFactory(customer=CustomerFactory(partner=contoso))
    client.force_login(helpdesk_agent.user)
    response = client.post(reverse("cases:create"), dispute(customer, subscription=other.pk))
    assert errors(response)["subscription"] == ["That subscription belongs to another customer."]


def attach(client, case, name: str, content: bytes):
    return client.post(
        reverse("cases:attach", args=[case.number]), {"file": SimpleUploadedFile(name, content)}, follow=False
    )


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("invoice.pdf", PDF, "application/pdf"),
        ("screenshot.png", PNG, "image/png"),
        ("photo.jpeg", JPEG, "image/jpeg"),
        ("usage.csv", b"date,seats\n2026-10-01,30\n", "text/csv"),
        ("請求書.pdf", PDF, "application/pdf"),
    ],
)
def test_allowed_evidence_is_attached_and_typed_by_content(
    client, helpdesk_agent, case, name, content, content_type
):
    """PDF, PNG, JPEG and CSV files are accepted and stored under a name of the portal's own."""
    client.force_login(helpdesk_agent.user)
    assert attach(client, case, name, content).status_code == 302
    attachment = Attachment.objects.get()
    assert (attachment.original_name, attachment.content_type) == (name, content_type)
    assert name not in attachment.file.name
    assert attachment.file.name.startswith(f"attachments/{case.uuid}/")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("invoice.pdf", PNG, "The file is named like a PDF but its content is a PNG."),
        ("photo.png", b"MZ\x90\x00 not an image", "Attach a PDF, PNG, JPEG or CSV file"),
        ("payload.exe", b"MZ\x90\x00", "Attach a PDF, PNG, JPEG or CSV file"),
        ("page.html", b"<html><script>alert(1)</script></html>", "Attach a PDF, PNG, JPEG or CSV file"),
        ("data.csv", b"\x00\x01\x02binary", "Attach a PDF, PNG, JPEG or CSV file"),
        ("empty.pdf", b"", "The submitted file is empty."),
    ],
)
def test_disguised_or_unknown_files_are_refused(client, helpdesk_agent, case, name, content, message) -> None:
    """Content decides the type: a renamed or foreign file is refused with a clear message."""
    client.force_login(helpdesk_agent.user)
    response = attach(client, case, name, content)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Attachment.objects.count() == 0


@override_settings(ATTACHMENT_MAX_BYTES=1024 * 1024)
def test_oversized_file_is_refused(client, helpdesk_agent, case) -> None:
    """A file over the size limit is refused before it is stored."""
    client.force_login(helpdesk_agent.user)
    response = attach(client, case, "big.pdf", PDF + b"0" * (1024 * 1024))
    assert response.status_code == 400
    assert "larger than 1 MB" in response.content.decode()
    assert Attachment.objects.count() == 0


def test_path_traversal_in_a_name_is_neutralised(client, helpdesk_agent, case) -> None:
    """A name with folders keeps only its last part for display; storage uses the portal's own name."""
    client.force_login(helpdesk_agent.user)
    attach(client, case, "../../etc/passwd.pdf", PDF)
    attachment = Attachment.objects.get()
    assert attachment.original_name == "passwd.pdf"
    assert ".." not in attachment.file.name


def test_download_is_an_attachment_with_a_safe_type(client, helpdesk_agent, case) -> None:
    """Evidence downloads as an attachment with its sniffed type and nosniff."""
    client.force_login(helpdesk_agent.user)
    attach(client, case, "invoice.pdf", PDF)
    attachment = Attachment.objects.get()
    response = client.get(reverse("cases:attachment", args=[case.number, attachment.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF


def test_suspension_needs_a_reason(client, billing_admin, customer, subscription) -> None:
    """Suspending without a reason shows the field error and leaves the subscription active."""
    client.force_login(billing_admin.user)
    response = client.post(
        reverse("cases:subscription", args=[customer.pk, subscription.pk, "suspend"]), {"reason": ""}
    )
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.status == "active"


@pytest.mark.parametrize(
    ("language", "typed", "stored"),
    [
        ("en", "1,250.50", "1250.50"),
        ("en", "1250.50", "1250.50"),
        ("ja", "1,250", "1250"),
        ("zh-hant", "1,250.50", "1250.50"),
        ("ru", "1 250,50", "1250.50"),
        ("ru", "1\u00a0250,50", "1250.50"),
        ("ru", "1250,5", "1250.5"),
        ("ru", "1250.50", "1250.50"),
    ],
)
def test_amounts_are_read_as_the_reader_writes_them(
    client, helpdesk_agent, customer, language, typed, stored
):
    """'1,250.50' once gave two errors (one wrong); now each language's own way of writing an amount is read."""
    client.force_login(helpdesk_agent.user)
    response = client.post(f"/{language}/cases/new/", dispute(customer, disputed_amount=typed))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Case.objects.get().disputed_amount == Decimal(stored)


def test_an_unreadable_amount_says_in_one_message_what_is_expected(client, helpdesk_agent, customer):
    client.force_login(helpdesk_agent.user)
    response = client.post("/ru/cases/new/", dispute(customer, disputed_amount="1,25.0"))
    page = response.content.decode()
    assert response.status_code == 200
    assert list(errors(response)) == ["disputed_amount"]
    assert len(errors(response)["disputed_amount"]) == 1, errors(response)  # no "needs the amount" besides
    assert "1\xa0250,50" in page  # the example in the reader's own writing
    assert not Case.objects.exists()


def test_the_new_case_form_labels_are_in_the_readers_language(client, helpdesk_agent) -> None:
    client.force_login(helpdesk_agent.user)
    page = client.get("/ja/cases/new/").content.decode()
    assert '<label for="id_customer">顧客</label>' in page
    assert '<label for="id_customer">Customer</label>' not in page
    assert ">Subscription<" not in page
