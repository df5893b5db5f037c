"""Webhooks through a real Celery worker and broker to a real HTTP receiver: delivered once, retried with the
same delivery id after the receiver fails."""

from __future__ import annotations

import json
import time

import pytest

from cases import services
from tests.cast import open_dispute
from tests.integration.conftest import wait_until
from tests.webhooks.conftest import serve_receiver
from webhooks import services as webhook_services
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEvent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fast_webhooks(monkeypatch) -> None:
    """The worker's settings (its environment): retries after a second or two, loopback receivers allowed."""
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_SECONDS", "1")
    monkeypatch.setenv("WEBHOOK_RETRY_MAX_SECONDS", "2")
    monkeypatch.setenv("WEBHOOK_SWEEP_SECONDS", "1")
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_HOSTS", "1")


@pytest.fixture
def receiver():
    with serve_receiver() as running:
        yield running


@pytest.fixture
def endpoint(global_admin, receiver):
    return webhook_services.endpoint_create(actor=global_admin, url=receiver.url, events=WebhookEvent.values)


def test_a_worker_delivers_and_retries_under_the_same_delivery_id(
    fast_webhooks, publish_to, worker_factory, receiver, endpoint, helpdesk_agent, customer
) -> None:
    """The receiver fails the first attempt; the worker retries after its backoff and the same delivery
    arrives once more, then never again."""
    worker_factory().start()
    receiver.answers = [500]
    case = open_dispute(helpdesk_agent, customer)
    wait_until(
        lambda: WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.DELIVERED).exists(),
        45,
        "the delivery",
    )
    first, second = receiver.requests
    assert first.headers["Portal-Delivery"] == second.headers["Portal-Delivery"]
    assert json.loads(second.body)["data"]["case"]["number"] == case.number
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.attempts, delivery.response_code) == (2, 200)

    services.case_comment(case=case, actor=helpdesk_agent, message="Called the customer.")
    wait_until(lambda: len(receiver.requests) == 3, 30, "the note's delivery")
    assert receiver.requests[2].headers["Portal-Event"] == "case.commented"
    time.sleep(3)  # past a few sweeps: nothing is sent twice
    assert len(receiver.requests) == 3
