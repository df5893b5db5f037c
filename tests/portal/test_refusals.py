"""What a probe sent that once answered 500 or was taken whole: each now gets a clear refusal and loses nothing.

NUL bytes in addresses and searches, ids beyond 64 bits, API bodies beyond the web's size, JSON nested too
deep, over-long Idempotency-Keys and keys equal only in their first 200 characters, downloads named by their
uploader, and HTML-escaped e-mail subjects.
"""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from cases.emails import build_notification_email
from cases.models import Attachment, Case, IdempotencyKey, Notification, NotificationKind
from cases.uploads import download_name
from portal.models import ApiToken
from tests.cast import open_dispute

pytestmark = pytest.mark.django_db

API = "/api/v1"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def api(member) -> APIClient:
    _token, key = ApiToken.issue(user=member.user, name="probe")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def api_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code, body
    return body["error"]


def new_case_body(customer, **overrides) -> dict:
    return {
        "customer": customer.pk,
        "category": "billing_dispute",
        "title": "Charged twice",
        "description": "The invoice bills the same seats twice.",
        "invoice_number": "G012345678",
        "disputed_amount": "412.50",
        "currency": "USD",
        "billing_period": "2026-10",
        **overrides,
    }


# --- NUL bytes and ids beyond 64 bits ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/en/cases/all/?q=a%00",
        "/en/customers/?q=a%00",
        "/en/cases/all/?status%00=open",
        "/en/cases/CON-1001%00/",
    ],
)
def test_a_nul_byte_in_a_signed_in_address_is_a_400(client, helpdesk_agent, path: str) -> None:
    client.force_login(helpdesk_agent.user)
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert response.status_code == 400 or "%00" in path.split("?")[0]
    assert "<h1>" in response.content.decode()


@pytest.mark.parametrize("path", ["/en/guidance/?q=a%00", "/ja/guidance/?q=%00", "/en/guidance/global%00/x/"])
def test_a_nul_byte_in_a_public_address_is_refused(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert '<html lang="' in response.content.decode()


def test_the_bad_request_page_is_translated(client) -> None:
    english = client.get("/en/guidance/?q=%00").content.decode()
    japanese = client.get("/ja/guidance/?q=%00").content.decode()
    assert "Bad request" in english
    assert "Bad request" not in japanese


def test_a_nul_byte_in_an_api_address_is_a_json_400(helpdesk_agent) -> None:
    api_error(api(helpdesk_agent).get(f"{API}/cases/?search=a%00"), 400, "bad_request")


@pytest.mark.parametrize("number", ["CON-1001%00", "CON-99999999999999999999", "con-1001", "CON-1001;DROP"])
def test_what_cannot_be_a_case_number_is_a_404(client, helpdesk_agent, number: str) -> None:
    client.force_login(helpdesk_agent.user)
    assert client.get(f"/en/cases/{number}/").status_code in (400, 404)
    response = api(helpdesk_agent).get(f"{API}/cases/{number}/")
    assert response.status_code in (400, 404)
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("pk", ["9223372036854775808", "99999999999999999999999", "18446744073709551616"])
def test_ids_beyond_64_bits_are_a_404(client, billing_admin, case, pk: str) -> None:
    client.force_login(billing_admin.user)
    assert client.get(f"/en/customers/{pk}/").status_code == 404
    assert client.get(f"/en/team/{pk}/").status_code == 404
    assert client.get(f"/en/cases/{case.number}/attachments/{pk}/").status_code == 404
    client_api = api(billing_admin)
    api_error(client_api.get(f"{API}/customers/{pk}/"), 404, "not_found")
    api_error(client_api.get(f"{API}/cases/{case.number}/attachments/{pk}/"), 404, "not_found")


def test_the_largest_id_that_fits_is_a_plain_404(client, billing_admin) -> None:
    client.force_login(billing_admin.user)
    assert client.get("/en/customers/999999999999999999/").status_code == 404


# --- API bodies ---------------------------------------------------------------------------------------


def test_an_api_body_beyond_the_upload_limit_is_a_413_and_stores_nothing(
    helpdesk_agent, customer, settings
) -> None:
    body = json.dumps(new_case_body(customer, description="x" * (12 * 1024 * 1024)))
    response = api(helpdesk_agent).post(f"{API}/cases/", body, content_type="application/json")
    api_error(response, 413, "too_large")
    assert not Case.objects.exists()


def test_the_body_limit_is_the_web_limit(helpdesk_agent, customer, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps(new_case_body(customer, description="y" * 1200))
    api_error(
        api(helpdesk_agent).post(f"{API}/cases/", body, content_type="application/json"), 413, "too_large"
    )
    small = json.dumps(new_case_body(customer, description="y" * 100))
    assert (
        api(helpdesk_agent).post(f"{API}/cases/", small, content_type="application/json").status_code == 201
    )


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_json_nested_too_deep_is_a_json_400(helpdesk_agent, depth: int) -> None:
    body = "[" * depth + "]" * depth
    response = api(helpdesk_agent).post(f"{API}/cases/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("parse_error", "invalid")


def test_json_that_is_not_json_is_a_json_400(helpdesk_agent) -> None:
    for body in ('{"title": NaN}', "\xff\xfe", '{"a": '):
        response = api(helpdesk_agent).post(f"{API}/cases/", body, content_type="application/json")
        api_error(response, 400, "parse_error")


def test_a_description_beyond_its_length_is_a_field_error(helpdesk_agent, customer) -> None:
    body = new_case_body(customer, description="z" * 20_001)
    fields = api_error(api(helpdesk_agent).post(f"{API}/cases/", body, format="json"), 400, "invalid")[
        "fields"
    ]
    assert "description" in fields
    assert not Case.objects.exists()


def test_the_web_form_has_the_same_description_limit(client, helpdesk_agent, customer) -> None:
    client.force_login(helpdesk_agent.user)
    response = client.post(
        reverse("cases:create"),
        {"customer": customer.pk, "category": "billing_dispute", "title": "T", "description": "z" * 20_001},
    )
    assert response.status_code in (200, 400)
    assert "20,000" in response.content.decode() or "20000" in response.content.decode()
    assert not Case.objects.exists()


# --- Idempotency keys -----------------------------------------------------------------------------------


def test_keys_equal_in_their_first_200_characters_are_different_keys(helpdesk_agent, customer) -> None:
    client = api(helpdesk_agent)
    prefix = "k" * 200
    first = client.post(
        f"{API}/cases/", new_case_body(customer), format="json", HTTP_IDEMPOTENCY_KEY=prefix + "1"
    )
    second = client.post(
        f"{API}/cases/",
        new_case_body(customer, title="Another"),
        format="json",
        HTTP_IDEMPOTENCY_KEY=prefix + "2",
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["number"] != second.json()["number"]
    assert IdempotencyKey.objects.count() == 2
    assert all(len(key) == 64 for key in IdempotencyKey.objects.values_list("key", flat=True))


def test_a_key_of_255_characters_replays_and_one_of_256_is_refused(helpdesk_agent, customer) -> None:
    client = api(helpdesk_agent)
    key = "r" * 255
    first = client.post(f"{API}/cases/", new_case_body(customer), format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = client.post(f"{API}/cases/", new_case_body(customer), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["number"] == first.json()["number"]
    long = client.post(
        f"{API}/cases/", new_case_body(customer), format="json", HTTP_IDEMPOTENCY_KEY=key + "r"
    )
    assert "Idempotency-Key" in api_error(long, 400, "invalid")["fields"]
    assert Case.objects.count() == 1


# --- Downloads ----------------------------------------------------------------------------------------


def test_web_and_api_downloads_carry_the_same_headers_and_the_sniffed_extension(
    client, helpdesk_agent, case
) -> None:
    client.force_login(helpdesk_agent.user)
    upload = SimpleUploadedFile("report.exe", PDF, content_type="application/x-msdownload")
    client.post(reverse("cases:attach", args=[case.number]), {"file": upload})
    attachment = Attachment.objects.get()
    assert attachment.content_type == "application/pdf"
    web = client.get(reverse("cases:attachment", args=[case.number, attachment.pk]))
    through_api = api(helpdesk_agent).get(f"{API}/cases/{case.number}/attachments/{attachment.pk}/")
    # The API declares one type for every file (generated clients read it as bytes); the web names the type.
    for response, content_type in ((web, "application/pdf"), (through_api, "application/octet-stream")):
        assert response.status_code == 200
        assert response["Content-Type"] == content_type
        assert response["Content-Disposition"] == 'attachment; filename="report.pdf"'
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert b"".join(response.streaming_content) == PDF
    headers = ("Content-Disposition", "Content-Security-Policy", "Cache-Control")
    assert {h: web[h] for h in headers} == {h: through_api[h] for h in headers}


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("report.exe", "application/pdf", "report.pdf"),
        ("scan.jpeg", "image/jpeg", "scan.jpg"),
        ("invoice.2026.csv", "text/csv", "invoice.2026.csv"),
        (" ..", "application/pdf", "evidence.pdf"),
        ("chart", "image/png", "chart.png"),
    ],
)
def test_download_names_take_the_extension_of_the_content(
    name: str, content_type: str, expected: str
) -> None:
    assert download_name(name, content_type) == expected


# --- E-mail subjects ------------------------------------------------------------------------------------


def test_email_subjects_are_plain_text(helpdesk_agent, customer) -> None:
    case = open_dispute(helpdesk_agent, customer, title='AT&T <b>"seats"</b>')
    notification = Notification.objects.create(
        case=case,
        kind=NotificationKind.RESOLUTION,
        recipient="billing@example.com",
        language="en",
    )
    message = build_notification_email(notification)
    assert message.subject == f'Resolved: AT&T <b>"seats"</b> (case {case.number})'
    assert "&lt;b&gt;" in message.alternatives[0][0]  # the HTML part still escapes it
    assert not mail.outbox
