"""Evidence on S3-compatible object storage: a real SeaweedFS server (tests/seaweedfs.py), each test its own
private bucket; the storage going away answers 503 or a field error and leaves the case as it was."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from cases.inbound import receive, reply_address
from cases.models import Attachment, Case, CaseEvent, Category, EventKind, Severity
from portal.models import ApiToken
from tests.cast import open_dispute
from tests.seaweedfs import SeaweedFS, free_ports

pytestmark = pytest.mark.django_db

API = "/api/v1"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def bucket(settings, seaweedfs: SeaweedFS) -> str:
    """A fresh private bucket, the portal's file storage for this test."""
    name = seaweedfs.new_bucket()
    settings.STORAGES = {**settings.STORAGES, "default": seaweedfs.storage(name)}
    return name


@pytest.fixture
def storage_away(settings, seaweedfs: SeaweedFS, bucket: str):
    """Turn the portal's storage into one nobody answers at (a closed port), as an outage looks."""

    def away() -> None:
        closed = f"http://127.0.0.1:{free_ports(1)[0]}"
        settings.STORAGES = {**settings.STORAGES, "default": seaweedfs.storage(bucket, endpoint=closed)}

    return away


def api(member) -> APIClient:
    _token, key = ApiToken.issue(user=member.user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def pdf(name: str = "invoice.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def attach(client, case: Case, upload: SimpleUploadedFile):
    return client.post(reverse("cases:attach", args=[case.number]), {"file": upload})


def assert_download(
    response, body: bytes = PDF, filename: str = "invoice.pdf", content_type: str = "application/pdf"
) -> None:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content) == body


def test_web_upload_lands_in_the_bucket_and_downloads_with_todays_headers(
    client, seaweedfs, bucket, helpdesk_agent, case
) -> None:
    """Evidence attached on the page is an object in the bucket; its download is the portal's own response."""
    client.force_login(helpdesk_agent.user)
    assert attach(client, case, pdf()).status_code == 302
    attachment = Attachment.objects.get()
    assert seaweedfs.keys(bucket) == [attachment.file.name]
    assert seaweedfs.read(bucket, attachment.file.name) == PDF
    assert_download(client.get(reverse("cases:attachment", args=[case.number, attachment.pk])))


def test_objects_are_private(seaweedfs, bucket, helpdesk_agent, case, client) -> None:
    """Without the portal's keys the bucket answers 403: no object is readable by its address."""
    client.force_login(helpdesk_agent.user)
    attach(client, case, pdf())
    key = Attachment.objects.get().file.name
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{seaweedfs.endpoint}/{bucket}/{key}", timeout=5)
    assert refused.value.code == 403


def test_api_upload_and_download_go_through_the_bucket(seaweedfs, bucket, helpdesk_agent, case) -> None:
    """POST …/attachments/ stores the object; GET …/attachments/{id}/ streams it back with the same headers."""
    client = api(helpdesk_agent)
    upload = client.post(
        f"{API}/cases/{case.number}/attachments/", {"file": pdf("scan.pdf")}, format="multipart"
    )
    assert upload.status_code == 201, upload.content
    attachment = Attachment.objects.get(pk=upload.json()["id"])
    assert seaweedfs.keys(bucket) == [attachment.file.name]
    download = client.get(f"{API}/cases/{case.number}/attachments/{attachment.pk}/")
    # The API sends every file as application/octet-stream (its one declared type); the type is the
    # attachment's content_type.
    assert_download(download, filename="scan.pdf", content_type="application/octet-stream")


def test_another_partners_user_gets_404_on_the_web_and_the_api(
    client, bucket, helpdesk_agent, outsider, case
) -> None:
    """Fabrikam's user cannot fetch Contoso's object, whichever door they try."""
    client.force_login(helpdesk_agent.user)
    attach(client, case, pdf())
    attachment = Attachment.objects.get()
    client.force_login(outsider.user)
    assert client.get(reverse("cases:attachment", args=[case.number, attachment.pk])).status_code == 404
    response = api(outsider).get(f"{API}/cases/{case.number}/attachments/{attachment.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_customer_email_attachments_are_stored_in_the_bucket(
    settings, seaweedfs, bucket, helpdesk_agent, customer
) -> None:
    """An attachment of a customer's e-mail becomes evidence in the bucket like an upload."""
    settings.INBOUND_EMAIL_ADDRESS = "support@portal.example"
    case = open_dispute(helpdesk_agent, customer)
    raw = (
        f"From: Bea <{customer.billing_contact_email}>\r\nTo: {reply_address(case)}\r\n"
        "Subject: the invoice\r\nMessage-ID: <evidence-1@tailspintoys.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
        "Here is the invoice.\r\n--b\r\nContent-Type: image/png\r\n"
        'Content-Disposition: attachment; filename="invoice.png"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.b64encode(PNG).decode()
        + "\r\n--b--\r\n"
    ).encode()
    inbound = receive(raw, source="test")
    attachment = Attachment.objects.get(case=case)
    assert inbound.status == "threaded"
    assert seaweedfs.read(bucket, attachment.file.name) == PNG


def test_a_refused_second_file_takes_the_first_object_back(
    seaweedfs, bucket, helpdesk_agent, customer
) -> None:
    """Opening a case with a good and a bad file stores neither the case nor an object in the bucket."""
    bad = SimpleUploadedFile("notes.pdf", b"just text", content_type="application/pdf")
    with pytest.raises(Exception, match="content is none of those"):
        open_dispute(helpdesk_agent, customer, evidence=[pdf(), bad])
    assert Case.objects.count() == 0
    assert seaweedfs.keys(bucket) == []


# --- The storage away ---------------------------------------------------------------------------------


def test_a_download_with_the_storage_away_is_a_503_page(client, bucket, storage_away, helpdesk_agent, case):
    """The page says the file storage cannot be reached, with a 503 and Retry-After, not a 500."""
    client.force_login(helpdesk_agent.user)
    attach(client, case, pdf())
    attachment = Attachment.objects.get()
    storage_away()
    response = client.get(reverse("cases:attachment", args=[case.number, attachment.pk]))
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert "The file storage cannot be reached just now." in response.content.decode()
    assert "<h1>File storage unavailable</h1>" in response.content.decode()


def test_a_download_with_the_storage_away_is_a_503_in_the_apis_shape(
    bucket, storage_away, helpdesk_agent, case
):
    """GET …/attachments/{id}/ answers {"error": {"code": "storage_unavailable"}} with a 503."""
    client = api(helpdesk_agent)
    upload = client.post(f"{API}/cases/{case.number}/attachments/", {"file": pdf()}, format="multipart")
    storage_away()
    response = client.get(f"{API}/cases/{case.number}/attachments/{upload.json()['id']}/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"


def test_an_upload_with_the_storage_away_is_a_field_error_and_changes_nothing(
    client, storage_away, helpdesk_agent, case
) -> None:
    """The file field says it could not be stored; no attachment, no timeline event, the case untouched."""
    client.force_login(helpdesk_agent.user)
    before = Case.objects.get().updated_at
    storage_away()
    response = attach(client, case, pdf())
    assert response.status_code == 503
    assert "The file could not be stored" in response.content.decode()
    assert Attachment.objects.count() == 0
    assert not CaseEvent.objects.filter(kind=EventKind.ATTACHMENT).exists()
    assert Case.objects.get().updated_at == before


def test_an_api_upload_with_the_storage_away_is_a_503_and_changes_nothing(
    storage_away, helpdesk_agent, case
) -> None:
    """POST …/attachments/ answers 503 storage_unavailable and stores no row."""
    storage_away()
    response = api(helpdesk_agent).post(
        f"{API}/cases/{case.number}/attachments/", {"file": pdf()}, format="multipart"
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert Attachment.objects.count() == 0
    assert not CaseEvent.objects.filter(kind=EventKind.ATTACHMENT).exists()


def test_a_new_case_with_evidence_and_the_storage_away_is_not_opened(
    client, storage_away, helpdesk_agent, customer
) -> None:
    """The new-case form keeps what was typed and says so on the evidence field; no case is opened."""
    client.force_login(helpdesk_agent.user)
    storage_away()
    response = client.post(
        reverse("cases:create"),
        {
            "customer": customer.pk,
            "category": Category.BILLING_QUESTION,
            "title": "Why two invoices this month?",
            "description": "The customer received two invoices for October.",
            "severity": Severity.C,
            "currency": "USD",
            "evidence": pdf(),
        },
    )
    assert response.status_code == 503, response.content[:500]
    assert "The file could not be stored" in response.content.decode()
    assert Case.objects.count() == 0
