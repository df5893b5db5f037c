"""One-off HTTP requests of the runner: signing in, and checking a page before it is measured."""

from __future__ import annotations

import http.client
import re
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from django_otp.oath import TOTP

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CODE_STEP = "/en/accounts/mfa/verify/"
LANDING = "/en/cases/"
STEP_SECONDS = 30  # django-otp's TOTPDevice defaults: 30-second steps from t0 = 0, six digits
DIGITS = 6

# The time step of the last code each key gave; a code works once, so another sign-in then needs the next.
_last_steps: dict[str, int] = {}


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


def authenticator_code(key: str) -> str:
    """The code an authenticator app holding this key (hex, as django-otp stores it) shows: its own clock, no
    drift. Within a step already used, the next step's code (the portal accepts one step early), or a wait."""
    while True:
        now = time.time()
        current = int(now) // STEP_SECONDS
        wanted = max(current, _last_steps.get(key, current - 1) + 1)
        if wanted <= current + 1:
            break
        time.sleep((wanted - 1) * STEP_SECONDS - now + 0.05)
    _last_steps[key] = wanted
    totp = TOTP(bytes.fromhex(key), STEP_SECONDS, 0, DIGITS, 0)
    totp.time = now + (wanted - current) * STEP_SECONDS
    return f"{totp.token():0{DIGITS}d}"


def sign_in(port: int, email: str, password: str, totp_key: str) -> str:
    """Sign in like a browser: the password at /en/accounts/login/, then, where the portal sends the session,
    the authenticator app's code at /en/accounts/mfa/verify/. Returns the Cookie header of the verified
    session, to reuse."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(method: str, path: str, cookies: dict[str, str], form: dict[str, str] | None = None):
        headers = (
            {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())} if cookies else {}
        )
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://127.0.0.1:{port}{path}"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        cookies.update(_cookies(response))
        return response.status, response.getheader("Location", ""), text

    try:
        cookies: dict[str, str] = {}
        status, _location, page = request("GET", "/en/accounts/login/", cookies)
        match = CSRF_FIELD.search(page)
        if status != 200 or match is None or "csrftoken" not in cookies:
            raise RuntimeError(f"the sign-in page did not offer a CSRF token (status {status})")
        form = {
            "csrfmiddlewaretoken": match.group(1),
            "username": email,
            "password": password,
            "next": LANDING,
        }
        status, location, _page = request("POST", "/en/accounts/login/", cookies, form)
        if status != 302 or "sessionid" not in cookies:
            raise RuntimeError(f"signing in failed (status {status})")
        # The password alone opens no partner page: the portal sends the session to the code step.
        status, code_step, _page = request("GET", location, cookies)
        if status != 302 or not code_step.startswith(CODE_STEP):
            raise RuntimeError(
                f"after the password, {location} answered {status} {code_step!r}, not the code step"
            )
        status, _location, page = request("GET", code_step, cookies)
        match = CSRF_FIELD.search(page)
        if status != 200 or match is None:
            raise RuntimeError(f"the code step did not offer a CSRF token (status {status})")
        form = {"csrfmiddlewaretoken": match.group(1), "code": authenticator_code(totp_key), "next": LANDING}
        status, location, _page = request("POST", CODE_STEP, cookies, form)
        if status != 302 or location != LANDING:
            raise RuntimeError(f"the code was not accepted (status {status}, to {location!r})")
        status, _location, _page = request("GET", LANDING, cookies)
        if status != 200:
            raise RuntimeError(f"after the code, {LANDING} answered {status}")
        return f"csrftoken={cookies['csrftoken']}; sessionid={cookies['sessionid']}"
    finally:
        conn.close()
