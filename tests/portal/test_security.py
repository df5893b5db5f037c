"""Hardening: login throttling, security headers, a CSP without inline scripts, safe pages under attack strings."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.IGNORECASE | re.DOTALL)


def fail_login(client, email: str, ip: str = "203.0.113.5"):
    return client.post(
        "/en/accounts/login/", {"username": email, "password": "wrong-password"}, REMOTE_ADDR=ip
    )


def test_repeated_failures_lock_the_address_and_account_pair(client, member, password, settings) -> None:
    """After the failure limit, even the right password is refused from that address, with a clear page."""
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert fail_login(client, member.email).status_code == 200
    locked = fail_login(client, member.email)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "blocked for 15 minutes" in locked.content.decode()
    right = client.post(
        "/en/accounts/login/", {"username": member.email, "password": password}, REMOTE_ADDR="203.0.113.5"
    )
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_address_and_account(client, member, password, settings) -> None:
    """Another network can still sign in to the account that was attacked from elsewhere."""
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        fail_login(client, member.email)
    elsewhere = client.post(
        "/en/accounts/login/", {"username": member.email, "password": password}, REMOTE_ADDR="198.51.100.7"
    )
    assert elsewhere.status_code == 302


def test_spelling_variants_of_the_address_share_one_lockout(client, member, password, settings) -> None:
    """Sign-in matches the address trimmed and case-folded, so the lockout counts it the same way: changing
    the case or adding spaces gives no fresh tries (each variant used to get five of its own)."""
    local, domain = member.email.split("@")
    variants = [
        member.email.upper(),
        f" {member.email}",
        f"{member.email}  ",
        f"{local.title()}@{domain.upper()}",
    ]
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert fail_login(client, variants[attempt % len(variants)]).status_code == 200
    assert fail_login(client, f"  {member.email.upper()} ").status_code == 429
    for spelling in (member.email, member.email.upper()):
        right = client.post(
            "/en/accounts/login/", {"username": spelling, "password": password}, REMOTE_ADDR="203.0.113.5"
        )
        assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_sign_in_matches_the_address_trimmed_and_case_folded(client, member, password) -> None:
    response = client.post(
        "/en/accounts/login/", {"username": f"  {member.email.upper()} ", "password": password}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(member.pk)


def test_lockout_page_is_translated(client, member, settings) -> None:
    """The lockout page follows the language of the sign-in page."""
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        response = client.post("/ja/accounts/login/", {"username": member.email, "password": "x"})
    assert response.status_code == 429
    assert '<html lang="ja"' in response.content.decode()
    assert "Too many failed sign-ins" not in response.content.decode()


@pytest.mark.parametrize("path", ["/en/", "/ja/accounts/login/", "/en/guidance/", "/healthz", "/api/docs/"])
def test_pages_carry_security_headers_and_a_strict_csp(client, path: str) -> None:
    """Every response has the CSP (no inline or third-party script), nosniff, a referrer policy and no framing."""
    response = client.get(path)
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "path",
    [
        "/en/",
        "/en/accounts/login/",
        "/en/accounts/password_reset/",
        "/en/guidance/",
        "/api/docs/",
        "/en/admin/login/",
    ],
)
def test_no_page_has_an_inline_script(client, path: str) -> None:
    """Scripts come from files only, so the CSP needs no 'unsafe-inline' for scripts."""
    html = client.get(path).content.decode()
    for attributes, body in SCRIPT_TAG.findall(html):
        is_data = "application/json" in attributes or "text/template" in attributes
        assert "src=" in attributes or is_data or not body.strip(), f"inline script on {path}: {body[:80]}"


def test_signed_in_pages_have_no_inline_script(client, staff) -> None:
    """The admin's guidance editor and the partner pages load scripts from files too."""
    client.force_login(staff)
    for path in ("/en/admin/", "/en/admin/guidance/article/", "/en/admin/portal/user/add/"):
        html = client.get(path).content.decode()
        for attributes, body in SCRIPT_TAG.findall(html):
            is_data = "application/json" in attributes
            assert "src=" in attributes or is_data or not body.strip(), (
                f"inline script on {path}: {body[:80]}"
            )


def test_session_and_csrf_cookies_are_http_only_where_it_matters(client, member, password) -> None:
    """The session cookie is HttpOnly and SameSite=Lax."""
    response = client.post("/en/accounts/login/", {"username": member.email, "password": password})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def test_production_cookies_are_secure_and_hsts_is_on(settings) -> None:
    """With DEBUG=0 the defaults turn on secure cookies, HSTS with preload, and the HTTPS redirect."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(DEBUG="0", SECRET_KEY="p" * 60, ALLOWED_HOSTS="portal.example")
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_HSTS_PRELOAD, s.SECURE_SSL_REDIRECT]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[true, true, 31536000, true, true]"


def test_login_redirect_cannot_leave_the_site(client, member, password) -> None:
    """A crafted ?next= to another host is ignored after sign-in."""
    response = client.post(
        "/en/accounts/login/?next=https://evil.example/",
        {"username": member.email, "password": password, "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
