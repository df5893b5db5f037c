"""/ping: the smallest page, the baseline of `make bench`, answers through the full middleware stack."""

from __future__ import annotations

from django.urls import reverse


def test_ping_answers_pong_as_plain_text(client) -> None:
    response = client.get("/ping")
    assert response.status_code == 200
    assert response.content == b"pong"
    assert response["Content-Type"] == "text/plain"


def test_ping_lives_outside_the_language_prefix() -> None:
    assert reverse("ping") == "/ping"


def test_ping_goes_through_the_middleware(client) -> None:
    """The same headers as every page: the security, clickjacking and content-type middleware ran."""
    response = client.get("/ping")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
