"""Who reaches the webhooks, on the pages and in the API: a partner's Global admins, and nobody else; never
another partner's endpoints."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.permissions import Role
from portal.models import ApiToken
from webhooks import services
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

URL = "https://hooks.contoso.example/portal"
NOT_ADMINS = [Role.USER_ADMIN, Role.HELPDESK_AGENT, Role.BILLING_ADMIN, Role.SALES_AGENT]


@pytest.fixture
def contoso_endpoint(global_admin) -> WebhookEndpoint:
    return services.endpoint_create(actor=global_admin, url=URL, events=["case.created", "case.commented"])


@pytest.fixture
def fabrikam_endpoint(fabrikam, password) -> WebhookEndpoint:
    from tests.cast import member

    admin = member(fabrikam, Role.GLOBAL_ADMIN, "global.admin@fabrikam-china.example", password)
    return services.endpoint_create(
        actor=admin, url="https://hooks.fabrikam.example/", events=["case.created"]
    )


def bearer(membership) -> dict[str, str]:
    _token, key = ApiToken.issue(user=membership.user, name="tool")
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


# --- The pages -----------------------------------------------------------------------------------------


def test_global_admin_registers_an_endpoint_and_sees_its_secret_once(client, global_admin) -> None:
    """The list page registers an endpoint and shows the secret on that answer only."""
    client.force_login(global_admin.user)
    response = client.post(
        reverse("webhooks:list"), {"url": URL, "events": ["case.created", "case.escalated"]}
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get(partner=global_admin.partner)
    assert endpoint.events == ["case.created", "case.escalated"]
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in client.get(reverse("webhooks:list")).content.decode()
    assert endpoint.secret not in client.get(reverse("webhooks:detail", args=[endpoint.pk])).content.decode()


def test_the_form_refuses_an_unknown_event_and_a_private_url(client, global_admin, settings) -> None:
    """Bad input is a 400 with field errors, and nothing is registered."""
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    client.force_login(global_admin.user)
    response = client.post(reverse("webhooks:list"), {"url": "https://10.0.0.1/", "events": ["case.deleted"]})
    assert response.status_code == 400
    assert not WebhookEndpoint.objects.exists()
    response = client.post(reverse("webhooks:list"), {"url": "https://10.0.0.1/", "events": ["case.created"]})
    assert response.status_code == 400
    assert "public host" in response.content.decode()


def test_global_admin_disables_enables_and_deletes(client, global_admin, contoso_endpoint) -> None:
    """The buttons of the endpoint's page do what they say."""
    client.force_login(global_admin.user)
    active = reverse("webhooks:active", args=[contoso_endpoint.pk])
    assert client.post(active, {"active": "0"}).status_code == 302
    contoso_endpoint.refresh_from_db()
    assert not contoso_endpoint.active and contoso_endpoint.disabled_reason == "manual"
    assert client.post(active, {"active": "1"}).status_code == 302
    contoso_endpoint.refresh_from_db()
    assert contoso_endpoint.active and contoso_endpoint.disabled_reason == ""
    delete = reverse("webhooks:delete", args=[contoso_endpoint.pk])
    assert client.get(delete).status_code == 200  # asks first
    assert WebhookEndpoint.objects.filter(pk=contoso_endpoint.pk).exists()
    assert client.post(delete, {"confirm": "1"}).status_code == 302
    assert not WebhookEndpoint.objects.filter(pk=contoso_endpoint.pk).exists()


def test_the_delivery_log_shows_status_code_and_deliver_again(
    client, global_admin, contoso_endpoint, helpdesk_agent, customer
) -> None:
    """Each delivery is a row with its status and response code; "deliver again" queues it again."""
    from tests.cast import open_dispute

    open_dispute(helpdesk_agent, customer)
    delivery = WebhookDelivery.objects.get(endpoint=contoso_endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, response_code=502, attempts=12, last_error="HTTP 502: bad gateway"
    )
    client.force_login(global_admin.user)
    page = client.get(reverse("webhooks:detail", args=[contoso_endpoint.pk])).content.decode()
    assert 'data-status="failed"' in page and "502" in page and "case.created" in page
    redeliver = reverse("webhooks:redeliver", args=[contoso_endpoint.pk, delivery.pk])
    assert redeliver in page
    assert client.post(redeliver).status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)


@pytest.mark.parametrize("role", NOT_ADMINS)
def test_other_roles_get_403_on_every_webhook_page(client, cast, contoso_endpoint, role: str) -> None:
    """User admins, helpdesk agents, billing admins and sales agents cannot see or change webhooks."""
    client.force_login(cast[role].user)
    pk = contoso_endpoint.pk
    assert client.get(reverse("webhooks:list")).status_code == 403
    assert client.post(reverse("webhooks:list"), {"url": URL, "events": ["case.created"]}).status_code == 403
    assert client.get(reverse("webhooks:detail", args=[pk])).status_code == 403
    assert client.post(reverse("webhooks:active", args=[pk]), {"active": "0"}).status_code == 403
    assert client.post(reverse("webhooks:delete", args=[pk]), {"confirm": "1"}).status_code == 403
    contoso_endpoint.refresh_from_db()
    assert contoso_endpoint.active
    assert WebhookEndpoint.objects.count() == 1


def test_the_header_shows_webhooks_to_global_admins_only(client, global_admin, helpdesk_agent) -> None:
    """The navigation links the page for those it is for."""
    link = f'href="{reverse("webhooks:list")}"'
    client.force_login(global_admin.user)
    assert link in client.get(reverse("cases:dashboard")).content.decode()
    client.force_login(helpdesk_agent.user)
    assert link not in client.get(reverse("cases:dashboard")).content.decode()


def test_another_partners_endpoint_is_404_on_every_page(client, global_admin, fabrikam_endpoint) -> None:
    """Contoso's Global admin cannot read, disable, delete or redeliver Fabrikam's endpoint."""
    client.force_login(global_admin.user)
    pk = fabrikam_endpoint.pk
    assert client.get(reverse("webhooks:detail", args=[pk])).status_code == 404
    assert client.post(reverse("webhooks:active", args=[pk]), {"active": "0"}).status_code == 404
    assert client.get(reverse("webhooks:delete", args=[pk])).status_code == 404
    assert client.post(reverse("webhooks:delete", args=[pk]), {"confirm": "1"}).status_code == 404
    assert client.post(reverse("webhooks:redeliver", args=[pk, 1])).status_code == 404
    assert "fabrikam" not in client.get(reverse("webhooks:list")).content.decode()
    fabrikam_endpoint.refresh_from_db()
    assert fabrikam_endpoint.active


def test_anonymous_visitor_is_sent_to_sign_in(client, contoso_endpoint) -> None:
    """The pages need sign-in."""
    response = client.get(reverse("webhooks:list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- The API -------------------------------------------------------------------------------------------


def test_api_registers_an_endpoint_with_its_secret_once(client, global_admin) -> None:
    """POST answers 201 with the secret and a Location; reading it again never shows the secret."""
    response = client.post(
        "/api/v1/webhooks/",
        {"url": URL, "events": ["case.created"]},
        content_type="application/json",
        **bearer(global_admin),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (
        body["secret"].startswith("whsec_") and body["active"] is True and body["events"] == ["case.created"]
    )
    assert response["Location"].endswith(f"/api/v1/webhooks/{body['id']}/")
    headers = bearer(global_admin)
    again = client.get(f"/api/v1/webhooks/{body['id']}/", **headers).json()
    assert "secret" not in again and again["url"] == URL
    listed = client.get("/api/v1/webhooks/", **headers).json()
    assert [item["id"] for item in listed["results"]] == [body["id"]]
    assert "secret" not in listed["results"][0]


def test_api_disables_and_deletes(client, global_admin, contoso_endpoint) -> None:
    """PATCH active=false disables; DELETE removes, and the endpoint is then 404."""
    headers = bearer(global_admin)
    path = f"/api/v1/webhooks/{contoso_endpoint.pk}/"
    response = client.patch(path, {"active": False}, content_type="application/json", **headers)
    assert response.status_code == 200 and response.json()["active"] is False
    assert response.json()["disabled_reason"] == "manual"
    deliveries = client.get(f"{path}deliveries/", **headers)
    assert deliveries.status_code == 200 and deliveries.json()["results"] == []
    assert client.delete(path, **headers).status_code == 204
    assert client.get(path, **headers).status_code == 404


def test_api_refuses_bad_input_with_field_errors(client, global_admin) -> None:
    """No events, an unknown event or a URL that is not one: 400 in the API's error shape."""
    headers = bearer(global_admin)
    for body in (
        {"url": URL, "events": []},
        {"url": URL, "events": ["case.deleted"]},
        {"url": "nope", "events": ["case.created"]},
    ):
        response = client.post("/api/v1/webhooks/", body, content_type="application/json", **headers)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid"
    assert not WebhookEndpoint.objects.exists()


def test_api_limits_the_endpoints_of_a_partner(client, global_admin) -> None:
    """The eleventh endpoint is refused with 409 too_many_endpoints."""
    for n in range(services.MAX_ENDPOINTS):
        services.endpoint_create(actor=global_admin, url=f"{URL}/{n}", events=["case.created"])
    response = client.post(
        "/api/v1/webhooks/",
        {"url": URL, "events": ["case.created"]},
        content_type="application/json",
        **bearer(global_admin),
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "too_many_endpoints"


@pytest.mark.parametrize("role", NOT_ADMINS)
def test_api_refuses_other_roles(client, cast, contoso_endpoint, role: str) -> None:
    """Every other role's token gets 403 on every webhook operation, and nothing changes."""
    headers = bearer(cast[role])
    path = f"/api/v1/webhooks/{contoso_endpoint.pk}/"
    assert client.get("/api/v1/webhooks/", **headers).status_code == 403
    assert (
        client.post(
            "/api/v1/webhooks/",
            {"url": URL, "events": ["case.created"]},
            content_type="application/json",
            **headers,
        ).status_code
        == 403
    )
    assert client.get(path, **headers).status_code == 403
    assert (
        client.patch(path, {"active": False}, content_type="application/json", **headers).status_code == 403
    )
    assert client.delete(path, **headers).status_code == 403
    assert client.get(f"{path}deliveries/", **headers).status_code == 403
    contoso_endpoint.refresh_from_db()
    assert contoso_endpoint.active and WebhookEndpoint.objects.count() == 1


def test_api_never_reaches_another_partners_endpoint(client, global_admin, fabrikam_endpoint) -> None:
    """Fabrikam's endpoint is 404 to Contoso's Global admin, and absent from the list."""
    headers = bearer(global_admin)
    path = f"/api/v1/webhooks/{fabrikam_endpoint.pk}/"
    assert client.get("/api/v1/webhooks/", **headers).json()["results"] == []
    assert client.get(path, **headers).status_code == 404
    assert (
        client.patch(path, {"active": False}, content_type="application/json", **headers).status_code == 404
    )
    assert client.delete(path, **headers).status_code == 404
    assert client.get(f"{path}deliveries/", **headers).status_code == 404
    assert client.post(f"{path}deliveries/1/redeliver/", **headers).status_code == 404
    fabrikam_endpoint.refresh_from_db()
    assert fabrikam_endpoint.active


def test_api_without_a_token_is_401(client, contoso_endpoint) -> None:
    """No token, no webhooks."""
    assert client.get("/api/v1/webhooks/").status_code == 401


def test_staff_read_endpoints_and_deliveries_in_admin_without_the_secret(
    client, staff, contoso_endpoint
) -> None:
    """Django admin lists endpoints and deliveries; no page of it shows a signing secret or adds an endpoint."""
    client.force_login(staff)
    for url in (
        reverse("admin:webhooks_webhookendpoint_changelist"),
        reverse("admin:webhooks_webhookendpoint_change", args=[contoso_endpoint.pk]),
        reverse("admin:webhooks_webhookdelivery_changelist"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert contoso_endpoint.secret not in response.content.decode()
    assert client.get(reverse("admin:webhooks_webhookendpoint_add")).status_code == 403
