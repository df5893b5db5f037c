"""Redis is optional at run time: with the shipped settings pointed at a Redis that is not there, every page
works, the API works (its rate limit lets requests through), and a resolution is kept for the sweep.

(tests/integration/test_faults.py does the same to a gunicorn-served portal by cutting a live Redis away.)
"""

from __future__ import annotations

import logging

import pytest

from cases import services
from cases.models import NotificationStatus, Status
from portal.models import ApiToken

pytestmark = pytest.mark.django_db

NOBODY_LISTENS = "redis://127.0.0.1:1/0"


@pytest.fixture
def no_redis(settings) -> None:
    """The shipped cache and broker settings, with Redis unreachable."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": NOBODY_LISTENS}}
    settings.CELERY_BROKER_URL = NOBODY_LISTENS
    settings.CELERY_TASK_ALWAYS_EAGER = False
    for once in logging.getLogger("portal.cache").filters:
        once.reset()
    from portal.celery import app

    app._pool = None  # connect to the broker named above, not one from an earlier test
    app.amqp._producer_pool = None
    yield
    app._pool = None
    app.amqp._producer_pool = None


def test_signed_in_pages_work(client, no_redis, billing_admin, case, seeded) -> None:
    client.force_login(billing_admin.user)
    for url in (
        "/en/cases/",
        "/en/cases/all/?sort=severity&page=1",
        f"/en/cases/{case.number}/",
        "/en/customers/",
        "/ja/guidance/global/provide-billing-support/?bilingual=1",
    ):
        assert client.get(url).status_code == 200, url


def test_signing_in_works(client, no_redis, billing_admin, password) -> None:
    response = client.post(
        "/en/accounts/login/", {"username": billing_admin.user.email, "password": password}
    )
    assert response.status_code == 302
    assert client.get("/en/cases/").status_code == 200


def test_the_api_lets_requests_through_and_says_so_once(
    client, no_redis, billing_admin, case, caplog
) -> None:
    _token, key = ApiToken.issue(user=billing_admin.user, name="no redis")
    for _ in range(3):
        response = client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200
        assert response.json()["count"] == 1
    lines = [r.getMessage() for r in caplog.records if "rate limit not applied" in r.getMessage()]
    assert len(lines) == 1  # once a minute, not once a request


def test_resolving_keeps_the_email_for_the_sweep(
    client, no_redis, helpdesk_agent, billing_admin, case, caplog, django_capture_on_commit_callbacks
) -> None:
    services.case_start(case=case, actor=helpdesk_agent)
    client.force_login(billing_admin.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/en/cases/{case.number}/resolve/",
            {"resolution_summary": "Charge upheld.", "outcome": "upheld"},
        )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.RESOLVED
    assert case.notifications.get().status == NotificationStatus.PENDING
    assert any("the sweep will retry" in r.getMessage() for r in caplog.records)
