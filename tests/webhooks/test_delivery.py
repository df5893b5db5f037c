"""Deliveries to a real HTTP receiver: signed, retried with the same delivery id, given up on, disabling an
endpoint that keeps failing, and never sent where an outgoing request must not go."""

from __future__ import annotations

import datetime
import hashlib
import json
import socket
import time
import uuid

import pytest
from django.db import transaction
from django.utils import timezone

from cases import services as case_services
from cases.models import Membership
from tests.cast import open_dispute
from webhooks import services, transport
from webhooks.models import DeliveryStatus, DisabledReason, WebhookDelivery
from webhooks.tasks import deliver_webhook, sweep_deliveries, tell_admins_disabled

pytestmark = pytest.mark.django_db


def hmac_sha256(key: bytes, message: bytes) -> str:
    """HMAC-SHA256 written out from RFC 2104, independent of Python's hmac module."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


def verify(secret: str, header: str, body: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(","))
    return hmac_sha256(secret.encode(), parts["t"].encode() + b"." + body) == parts["v1"]


def comment(case, actor, text="Called the customer.") -> None:
    case_services.case_comment(case=case, actor=actor, message=text)


def only_notes(endpoint) -> None:
    """The endpoint hears of notes alone, and the case's opening was never owed to it."""
    endpoint.events = ["case.commented"]
    endpoint.save(update_fields=["events"])
    endpoint.deliveries.all().delete()


def make_due(delivery_id: int) -> None:
    """Let a retry's time come now (instead of waiting for its backoff)."""
    WebhookDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())


def test_signature_matches_an_independent_hmac() -> None:
    """Portal-Signature is t=<seconds>,v1=<HMAC-SHA256 of "<t>." + body>, as RFC 2104 computes it."""
    body = '{"event":"case.created","data":{"title":"請求"}}'.encode()
    header = transport.signature("whsec_test", 1767225600, body)
    assert header.startswith("t=1767225600,v1=")
    assert verify("whsec_test", header, body)
    assert not verify("whsec_other", header, body)
    assert not verify("whsec_test", header, body + b" ")


def test_opening_a_case_posts_a_signed_event(
    receiver, endpoint, helpdesk_agent, customer, eager_tasks, django_capture_on_commit_callbacks
) -> None:
    """A new case reaches the receiver as a JSON POST with its event, delivery id and a valid signature."""
    with django_capture_on_commit_callbacks(execute=True):
        case = open_dispute(helpdesk_agent, customer)
    [request] = receiver.requests
    assert request.path == "/hooks"
    assert request.headers["Portal-Event"] == "case.created"
    assert request.headers["Content-Type"] == "application/json"
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (
        request.headers["Portal-Delivery"]
        == str(delivery.uuid)
        == str(uuid.UUID(request.headers["Portal-Delivery"]))
    )
    assert verify(endpoint.secret, request.headers["Portal-Signature"], request.body)
    timestamp = int(request.headers["Portal-Signature"].split(",")[0][2:])
    assert abs(timestamp - time.time()) < 60
    body = json.loads(request.body)
    assert body["event"] == "case.created" and body["id"] == str(delivery.uuid)
    assert body["data"]["case"]["number"] == case.number
    assert body["data"]["case"]["api_url"] == f"/api/v1/cases/{case.number}/"
    assert body["data"]["actor"] == helpdesk_agent.user.email
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_code, delivery.attempts) == (DeliveryStatus.DELIVERED, 200, 1)


def test_a_failed_delivery_is_retried_within_a_minute_with_the_same_delivery_id(
    receiver, endpoint, case, helpdesk_agent, eager_tasks, django_capture_on_commit_callbacks
) -> None:
    """A 500 puts the delivery back for a retry due within a minute; the retry carries the same id and body."""
    receiver.answers = [500]
    with django_capture_on_commit_callbacks(execute=True):
        comment(case, helpdesk_agent)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event="case.commented")
    assert (delivery.status, delivery.response_code, delivery.attempts) == (DeliveryStatus.PENDING, 500, 1)
    assert "HTTP 500" in delivery.last_error
    assert timezone.now() < delivery.next_attempt_at <= timezone.now() + datetime.timedelta(seconds=60)

    assert deliver_webhook(delivery.pk) == "skipped"  # not due yet: a duplicate message sends nothing
    make_due(delivery.pk)
    assert deliver_webhook(delivery.pk) == "delivered"
    first, second = receiver.requests
    assert first.headers["Portal-Delivery"] == second.headers["Portal-Delivery"] == str(delivery.uuid)
    assert first.body == second.body
    assert verify(endpoint.secret, second.headers["Portal-Signature"], second.body)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.DELIVERED, 2, "")


def test_a_claimed_delivery_is_not_attempted_twice(receiver, endpoint, case, helpdesk_agent) -> None:
    """Two runs for the same delivery: the second finds it claimed and sends nothing."""
    comment(case, helpdesk_agent)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event="case.commented")
    assert services.delivery_claim(delivery_id=delivery.pk) is not None
    assert services.delivery_claim(delivery_id=delivery.pk) is None
    assert deliver_webhook(delivery.pk) == "skipped"
    assert receiver.requests == []


def test_the_sweep_sends_what_a_lost_message_left(
    receiver, endpoint, case, helpdesk_agent, eager_tasks
) -> None:
    """A delivery whose task never ran (no on-commit here) goes out with the next sweep, once."""
    comment(case, helpdesk_agent)
    assert sweep_deliveries() == 2  # the case's opening and the note
    assert sweep_deliveries() == 0
    assert sorted(r.headers["Portal-Event"] for r in receiver.requests) == ["case.commented", "case.created"]


def test_a_rolled_back_change_delivers_nothing(receiver, endpoint, case, helpdesk_agent) -> None:
    """The delivery is written in the change's transaction: no change, no delivery."""
    with pytest.raises(RuntimeError), transaction.atomic():
        comment(case, helpdesk_agent)
        raise RuntimeError("the request failed after the note")
    assert not WebhookDelivery.objects.filter(event="case.commented").exists()


def test_endpoint_that_keeps_failing_is_disabled_and_its_global_admins_told(
    receiver, endpoint, case, helpdesk_agent, global_admin, settings, mailoutbox, eager_tasks,
    django_capture_on_commit_callbacks,
) -> None:  # fmt: skip
    """After WEBHOOK_DISABLE_AFTER_FAILURES deliveries fail for good the endpoint stops, and each Global admin
    gets an e-mail in their own language with a link to the delivery log."""
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    global_admin.user.language = "ja"
    global_admin.user.save(update_fields=["language"])
    receiver.answers = [503] * 10
    only_notes(endpoint)
    for text in ("First note.", "Second note."):
        with django_capture_on_commit_callbacks(execute=True):
            comment(case, helpdesk_agent, text)
        delivery = WebhookDelivery.objects.filter(endpoint=endpoint).latest("pk")
        make_due(delivery.pk)
        with django_capture_on_commit_callbacks(execute=True):
            assert deliver_webhook(delivery.pk) == "failed"
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert (endpoint.disabled_reason, endpoint.failures_in_row) == (DisabledReason.FAILING, 2)
    assert len(receiver.requests) == 4
    [mail] = mailoutbox
    assert mail.to == [global_admin.user.email]
    assert endpoint.url in mail.body
    assert f"/ja/webhooks/{endpoint.pk}/" in mail.body
    # Disabled: nothing new is written for it, and nothing waiting is attempted.
    comment(case, helpdesk_agent, "Third note.")
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2
    assert tell_admins_disabled(endpoint.pk) == 1  # run twice: told again, never an error


def test_a_success_ends_the_run_of_failures(
    receiver, endpoint, case, helpdesk_agent, settings, eager_tasks
) -> None:
    """One failed-for-good delivery, then one delivered: the count starts again from zero."""
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.answers = [500]
    only_notes(endpoint)
    comment(case, helpdesk_agent, "One.")
    comment(case, helpdesk_agent, "Two.")
    first, second = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk")
    assert deliver_webhook(first.pk) == "failed"
    endpoint.refresh_from_db()
    assert endpoint.failures_in_row == 1
    assert deliver_webhook(second.pk) == "delivered"
    endpoint.refresh_from_db()
    assert endpoint.failures_in_row == 0 and endpoint.active


def test_deliver_again_resends_the_same_delivery(
    receiver, endpoint, case, helpdesk_agent, global_admin, eager_tasks, django_capture_on_commit_callbacks
) -> None:
    """ "Deliver again" posts the same body under the same Portal-Delivery."""
    with django_capture_on_commit_callbacks(execute=True):
        comment(case, helpdesk_agent)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event="case.commented")
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_redeliver(actor=Membership.objects.get(pk=global_admin.pk), delivery=delivery)
    first, second = receiver.requests
    assert first.headers["Portal-Delivery"] == second.headers["Portal-Delivery"]
    assert first.body == second.body


def test_redirects_are_not_followed(receiver, endpoint, case, helpdesk_agent, settings, eager_tasks) -> None:
    """A 302 is a failed attempt: the Location is never requested."""
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.answers = [302]
    comment(case, helpdesk_agent)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event="case.commented")
    assert deliver_webhook(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.response_code == 302
    assert len(receiver.requests) == 1


def test_a_receiver_that_never_answers_times_out_quickly(endpoint, case, helpdesk_agent, settings) -> None:
    """A receiver that accepts the connection and says nothing costs WEBHOOK_TIMEOUT_SECONDS, then a retry."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        endpoint.url = f"http://127.0.0.1:{silent.getsockname()[1]}/hooks"
        endpoint.save(update_fields=["url"])
        comment(case, helpdesk_agent)
        delivery = WebhookDelivery.objects.get(endpoint=endpoint, event="case.commented")
        started = time.monotonic()
        assert deliver_webhook(delivery.pk) == "retry"
        assert time.monotonic() - started < 5
    delivery.refresh_from_db()
    assert "Timeout" in delivery.last_error, delivery.last_error


# --- Where an outgoing request may not go ------------------------------------------------------------


@pytest.mark.parametrize(
    "address, why",
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.20", "private"),
        ("169.254.169.254", "link-local"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::7", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "private"),
        ("100.64.0.1", "reserved"),
    ],
)
def test_private_and_special_addresses_are_refused(address: str, why: str) -> None:
    """Loopback, RFC 1918, link-local (cloud metadata), IPv6 loopback and the like are no receivers."""
    assert why in transport.refusal(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "20.190.128.1"])
def test_public_addresses_are_allowed(address: str) -> None:
    """Addresses on the internet pass."""
    assert transport.refusal(address) is None


def test_a_host_name_resolving_to_loopback_is_refused() -> None:
    """The check is on every address the name resolves to, not on the name."""
    with pytest.raises(transport.Refused, match=r"127\.0\.0\.1, a loopback address"):
        transport.resolve("localhost", 443, allow_private=False)
    assert transport.resolve("localhost", 443, allow_private=True) in ("127.0.0.1", "::1")


def test_delivery_to_a_name_resolving_to_loopback_never_leaves(
    receiver, endpoint, case, helpdesk_agent, settings
) -> None:
    """With WEBHOOK_ALLOW_PRIVATE_HOSTS off, an endpoint whose name resolves to 127.0.0.1 gets no request."""
    port = receiver.server.server_address[1]
    endpoint.url = f"https://localhost:{port}/hooks"
    endpoint.save(update_fields=["url"])
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    comment(case, helpdesk_agent)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event="case.commented")
    assert deliver_webhook(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert "refused: localhost resolves to" in delivery.last_error
    assert receiver.requests == []


def test_plain_http_is_refused_without_private_hosts(
    receiver, endpoint, case, helpdesk_agent, settings
) -> None:
    """In production (WEBHOOK_ALLOW_PRIVATE_HOSTS off) events go over https only."""
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    comment(case, helpdesk_agent)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event="case.commented")
    assert deliver_webhook(delivery.pk) == "retry"
    assert receiver.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/",
        "https://127.0.0.1/hooks",
        "https://10.0.0.5/hooks",
        "https://[::1]/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://localhost/hooks",
        "https://user:secret@hooks.example.com/",
        "ftp://hooks.example.com/",
    ],
)
def test_registering_a_url_no_delivery_could_use_is_refused(global_admin, settings, url: str) -> None:
    """The registration says at once what a delivery would refuse, as a field error."""
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    with pytest.raises(services.ValidationError) as error:
        services.endpoint_create(actor=global_admin, url=url, events=["case.created"])
    assert "url" in error.value.message_dict


def test_private_receivers_are_allowed_only_when_the_setting_is_on() -> None:
    """The default follows DEBUG (on for a laptop, off in production)."""
    import portal.settings

    assert portal.settings.WEBHOOK_ALLOW_PRIVATE_HOSTS == portal.settings.DEBUG


def test_old_delivered_and_failed_deliveries_are_pruned(endpoint, case, helpdesk_agent, settings) -> None:
    """Past WEBHOOK_LOG_DAYS delivered and failed rows go; pending ones stay whatever their age."""
    from webhooks.tasks import prune_deliveries

    settings.WEBHOOK_LOG_DAYS = 30
    for _ in range(3):
        comment(case, helpdesk_agent)
    old, failed, pending = WebhookDelivery.objects.filter(endpoint=endpoint, event="case.commented").order_by(
        "pk"
    )
    long_ago = timezone.now() - datetime.timedelta(days=31)
    WebhookDelivery.objects.filter(pk=old.pk).update(status=DeliveryStatus.DELIVERED, created_at=long_ago)
    WebhookDelivery.objects.filter(pk=failed.pk).update(status=DeliveryStatus.FAILED, created_at=long_ago)
    WebhookDelivery.objects.filter(pk=pending.pk).update(created_at=long_ago)
    assert prune_deliveries() == 2
    assert list(WebhookDelivery.objects.filter(event="case.commented").values_list("pk", flat=True)) == [
        pending.pk
    ]
