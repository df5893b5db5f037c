"""One-off HTTP requests of the runner: signing in, and checking a page before it is measured."""

from __future__ import annotations

import http.client
import re
from http.cookies import SimpleCookie
from urllib.parse import urlencode


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, dict(response.getheaders()), body
    finally:
        conn.close()


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    jar = SimpleCookie()
    for name, value in response.getheaders():
        if name.lower() == "set-cookie":
            jar.load(value)
    return {key: morsel.value for key, morsel in jar.items()}


def sign_in(port: int, email: str, password: str) -> str:
    """Sign in through /en/accounts/login/ like a browser; returns the Cookie header to reuse."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/en/accounts/login/")
        response = conn.getresponse()
        page = response.read().decode()
        cookies = _cookies(response)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if response.status != 200 or match is None or "csrftoken" not in cookies:
            raise RuntimeError(f"the sign-in page did not offer a CSRF token (status {response.status})")
        form = urlencode({"csrfmiddlewaretoken": match.group(1), "username": email, "password": password})
        conn.request(
            "POST",
            "/en/accounts/login/",
            body=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={cookies['csrftoken']}",
                "Referer": f"http://127.0.0.1:{port}/en/accounts/login/",
            },
        )
        response = conn.getresponse()
        response.read()
        cookies.update(_cookies(response))
        if response.status != 302 or "sessionid" not in cookies:
            raise RuntimeError(f"signing in failed (status {response.status})")
        return f"csrftoken={cookies['csrftoken']}; sessionid={cookies['sessionid']}"
    finally:
        conn.close()
