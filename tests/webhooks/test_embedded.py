"""The embedded default (eager tasks, no worker, no beat) retries a failed delivery by itself, within a minute."""

from __future__ import annotations

import pytest

from cases import services as case_services
from portal.celery import app
from tests.integration.conftest import _reset_pools, wait_until
from webhooks import embedded
from webhooks.models import DeliveryStatus, WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def in_process_sweep(settings, eager_tasks):
    settings.WEBHOOK_SWEEP_IN_PROCESS = True
    settings.WEBHOOK_SWEEP_SECONDS = 1
    settings.WEBHOOK_RETRY_BASE_SECONDS = 2
    # A timer an earlier test of the run started sleeps its own, longer period, and the app may hold the broker
    # pools of an earlier test's broker: start both afresh.
    embedded.stop()
    _reset_pools(app)
    yield
    embedded.stop()


def test_a_failed_delivery_is_retried_without_a_worker(
    in_process_sweep, receiver, endpoint, case, helpdesk_agent
) -> None:
    """The first attempt (inline, at commit) fails; the web process's own timer delivers it a few seconds
    later, under the same Portal-Delivery."""
    receiver.requests.clear()  # the case's opening, delivered at once
    receiver.answers = [500]
    case_services.case_comment(case=case, actor=helpdesk_agent, message="Called the customer.")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event="case.commented")
    wait_until(
        lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DELIVERED,
        30,
        "the retry",
    )
    first, second = receiver.requests
    assert first.headers["Portal-Delivery"] == second.headers["Portal-Delivery"] == str(delivery.uuid)
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 2


def test_the_timer_starts_only_where_it_is_wanted(settings) -> None:
    """With a worker and beat (WEBHOOK_SWEEP_IN_PROCESS off) no timer runs in the web process."""
    settings.WEBHOOK_SWEEP_IN_PROCESS = False
    assert embedded.ensure_running() is False
