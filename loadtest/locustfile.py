"""Partner users of several partners work billing cases, through the web pages and through the REST API.

Helpdesk agents open cases, start and escalate them (and triage the ones sales agents opened); billing admins
resolve them, which owes the customer one resolution e-mail; everyone reads the guidance in several languages
and the case list. Web users sign in with the form (session and CSRF cookies) and then give the code of their
authenticator app, computed from its key as the phone would (the production settings require a second factor);
API users send their own token.

Run by `python -m loadtest.run`, which writes the accounts to LOADTEST_FIXTURE and reads what the clients saw
from LOADTEST_RESULTS: the cases they created (by a marker in the title), the resolutions the portal
confirmed, and every 5xx answer (locust only counts failures; these are recorded on their own).
"""

# ruff: noqa: S311 - random picks the simulated people's choices, not secrets
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import random
import re
import struct
import time
import uuid
from pathlib import Path
from typing import Any

import gevent
from locust import HttpUser, between, events, task

from loadtest.scenario import AMOUNTS, LANGUAGES, PLAN_VEHICLES, SEARCH_TERMS

FIXTURE: dict[str, Any] = json.loads(Path(os.environ["LOADTEST_FIXTURE"]).read_text(encoding="utf-8"))
RESULTS_PATH = os.environ.get("LOADTEST_RESULTS", "")
TIMEOUT = 30  # seconds a single request may take before the client gives up (a failure)

CASE_URL = re.compile(r"/cases/([A-Z]{2,6}-\d+)/$")
CASE_LINK = re.compile(r'href="/[a-z-]+/cases/([A-Z]{2,6}-\d+)/"')
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
EVIDENCE_SHARE = 0.4  # of the cases a helpdesk agent opens, how many get an evidence file


def evidence() -> bytes:
    """A small PDF of its own: the runner checks every process serves every stored file whole."""
    filler = uuid.uuid4().hex.encode() * random.randint(1, 40)
    return b"%PDF-1.4\n% load test evidence " + filler + b"\n%%EOF\n"


RECORD: dict[str, Any] = {
    # {"marker", "number", "via", "partner"}: cases the portal said it created
    "created": [],
    # {"marker", "via"}: creates that got no usable answer (the case may or may not exist)
    "unknown_creates": [],
    # {"marker", "numbers", "replayed", "concurrent"}: creates sent again with the same Idempotency-Key
    "replays": [],
    # {"number", "via"}: resolutions the portal confirmed to this client
    "resolved": [],
    # {"number", "via", "size"}: evidence files the portal said it stored
    "attached": [],
    # refusals expected when two people act on one case at once, by request name
    "conflicts": {},
    # {"method", "name", "status", "body"}: every 5xx answer
    "server_errors": [],
    # exceptions raised in the locustfile's own tasks (a bug here, or an answer it cannot read)
    "task_errors": [],
}

_cursors = {name: itertools.count() for name in FIXTURE["accounts"]}


def next_account(class_name: str) -> dict[str, Any]:
    """Each simulated user signs in as the next account made for its class (round robin over partners)."""
    accounts = FIXTURE["accounts"][class_name]
    return accounts[next(_cursors[class_name]) % len(accounts)]


# The time step of the last code each account's app gave, in this process (locust runs one).
_last_steps: dict[str, int] = {}


def totp(key: bytes, step: int, digits: int) -> str:
    """The code of one time step by RFC 6238 (HMAC-SHA1), as every authenticator app computes it; the portal
    checks it with django-otp. Plain Python: the locust process loads no Django."""
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 10**digits:0{digits}d}"


def authenticator_code(account: dict[str, Any]) -> str:
    """The code the account's authenticator app shows, computed from its key as a phone does (its own clock,
    no drift). A code is refused a second time, so a second sign-in of one account within a 30-second step
    gives the next step's code, which the portal accepts one step early; later still, it waits for it."""
    app = account["totp"]
    period, t0 = app["step"], app["t0"]
    while True:
        now = time.time()
        current = int(now - t0) // period
        wanted = max(current, _last_steps.get(account["email"], current - 1) + 1)
        if wanted <= current + 1:
            break
        gevent.sleep((wanted - 1) * period + t0 - now + 0.05)  # until the wanted step is one step ahead
    _last_steps[account["email"]] = wanted
    return totp(bytes.fromhex(app["key"]), wanted, app["digits"])


def new_marker() -> str:
    return "LT-" + uuid.uuid4().hex[:12]


def _conflict(name: str) -> None:
    RECORD["conflicts"][name] = RECORD["conflicts"].get(name, 0) + 1


LOST_ANSWERS: list[dict[str, Any]] = RECORD.setdefault("no_answer", [])


@events.request.add_listener
def _record_server_errors(request_type, name, response=None, exception=None, **_kwargs) -> None:
    """Locust counts failures, not status classes: keep every 5xx answer apart, with what it said, and every
    request that got no answer at all (the connection closed under it)."""
    status = getattr(response, "status_code", None)
    if not status:
        LOST_ANSWERS.append({"method": request_type, "name": name, "at": time.time()})
    if status is not None and status >= 500:
        try:
            body = response.text[:300]
        except Exception:  # a body that cannot be decoded is still a 5xx
            body = ""
        RECORD["server_errors"].append(
            {"method": request_type, "name": name, "status": status, "body": body, "at": time.time()}
        )


@events.user_error.add_listener
def _record_task_errors(user_instance, exception, tb, **_kwargs) -> None:
    RECORD["task_errors"].append(f"{type(user_instance).__name__}: {type(exception).__name__}: {exception}")


@events.quitting.add_listener
def _write_results(environment, **_kwargs) -> None:
    if not RESULTS_PATH:
        return
    total = environment.stats.total
    stats = {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "rps": round(total.total_rps, 1),
        "median_ms": total.get_response_time_percentile(0.5) or 0,
        "p95_ms": total.get_response_time_percentile(0.95) or 0,
        "p99_ms": total.get_response_time_percentile(0.99) or 0,
        "max_ms": round(total.max_response_time or 0),
        "avg_ms": round(total.avg_response_time or 0, 1),
    }
    endpoints = [
        {
            "method": entry.method,
            "name": entry.name,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "median_ms": entry.get_response_time_percentile(0.5) or 0,
            "p95_ms": entry.get_response_time_percentile(0.95) or 0,
        }
        for entry in sorted(environment.stats.entries.values(), key=lambda e: (e.name, e.method))
    ]
    errors = [
        {
            "method": error.method,
            "name": error.name,
            "error": str(error.error),
            "occurrences": error.occurrences,
        }
        for error in environment.stats.errors.values()
    ]
    data = {**RECORD, "stats": stats, "endpoints": endpoints, "errors": errors}
    path = Path(RESULTS_PATH)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    partial.replace(path)


def expect(response, *codes: int, conflicts: tuple[int, ...] = ()) -> bool:
    """Judge an answer inside catch_response: True if one of codes; an expected refusal is no failure."""
    status = response.status_code
    name = response.request_meta["name"]
    landed = (response.url or "") + " " + (response.headers.get("Location", "") if status else "")
    if "/accounts/login/" in landed and "/accounts/login/" not in name:
        response.failure("sent to the sign-in page: the session was lost")
        return False
    if "/accounts/mfa/" in landed and "/accounts/mfa/" not in name:
        response.failure("sent to the second factor: the session did not give its code")
        return False
    if status in codes:
        response.success()
        return True
    if status in conflicts:
        response.success()
        _conflict(name)
        return False
    response.failure(
        f"expected {'/'.join(map(str, codes))}, got {status or 'no answer'}: {describe(response)}"
    )
    return False


def describe(response) -> str:
    """The gist of an unexpected answer: a form's error messages, else the start of the body."""
    try:
        text = response.text or ""
    except Exception:  # no body, or one that cannot be decoded
        return ""
    errors = re.findall(r'class="(?:error|form-errors)"[^>]*>(.*?)</', text, flags=re.DOTALL)
    if errors:
        return "form errors: " + "; ".join(error.strip() for error in errors)[:300]
    return text[:200].replace("\n", " ")


class PartnerUser(HttpUser):
    """A person of one partner, signed in as one of the accounts the runner made for this class."""

    abstract = True
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.account = next_account(type(self).__name__)
        self.partner = FIXTURE["partners"][self.account["partner"]]
        self.cloud = self.partner["guidance_cloud"]
        self.lang = self.account["language"]  # the language of this person's pages

    # --- requests ---------------------------------------------------------------------------------

    def get(self, url: str, name: str, **kwargs: Any):
        return self.client.get(url, name=name, timeout=TIMEOUT, catch_response=True, **kwargs)

    def post(self, url: str, name: str, **kwargs: Any):
        return self.client.post(url, name=name, timeout=TIMEOUT, catch_response=True, **kwargs)

    # --- what a dispute looks like ------------------------------------------------------------------

    def case_fields(self, marker: str) -> dict[str, Any]:
        customer = random.choice(self.partner["customers"])
        dispute = random.random() < 0.75
        currency = self.partner["currency"]
        return {
            "customer": customer["id"],
            "category": "billing_dispute" if dispute else "billing_question",
            "title": f"{marker} {random.choice(TITLES)}",
            "description": "Opened by the load test on behalf of the customer.\nA second line.",
            "invoice_number": f"G{random.randint(10**8, 10**9 - 1)}" if dispute else "",
            "disputed_amount": AMOUNTS[currency][0] if dispute else "",
            "currency": currency if dispute else "",
            "billing_period": random.choice(["2026-08", "2026-09", "2026-10"]),
            "severity": random.choice("ABC"),
        }

    def escalation_fields(self) -> dict[str, str]:
        vehicles = ["commercial"]
        if self.partner["support_plan"] in PLAN_VEHICLES:
            vehicles.append(PLAN_VEHICLES[self.partner["support_plan"]])
        return {
            "support_vehicle": random.choice(vehicles),
            "severity": random.choice("ABC"),
            "support_request_number": random.choice(["", f"SR-{random.randint(10**9, 10**10 - 1)}"]),
        }

    def resolution_fields(self) -> dict[str, str]:
        if random.random() < 0.5:
            credit = AMOUNTS[self.partner["currency"]][1]
            return {
                "resolution_summary": "Credit issued for the disputed seats.",
                "outcome": "credit",
                "credit_amount": credit,
            }
        return {
            "resolution_summary": "The charge is correct; explained to the customer.",
            "outcome": "upheld",
        }

    def other_language(self) -> str:
        return random.choice(LANGUAGES)


TITLES = [
    "Charged for 30 seats, using 25",
    "Invoice shows a plan we cancelled",
    "Azure consumption higher than expected",
    "Duplicate charge on the October invoice",
    "Question about prorated credits",
]


# --- The web pages -----------------------------------------------------------------------------------


class WebUser(PartnerUser):
    """Signs in with the form; every POST carries the CSRF token from the cookie."""

    abstract = True

    def on_start(self) -> None:
        super().on_start()
        # A sign-in whose answer was lost (its web process died under it) is tried again, as a person would.
        for _attempt in range(3):
            if self.sign_in():
                break

    def csrf(self) -> str:
        return self.client.cookies.get("csrftoken", "")

    def sign_in(self) -> bool:
        """The password, then the authenticator app's code, following the portal's redirects as a browser
        does: the password alone leads only to the code step."""
        url = f"/{self.lang}/accounts/login/"
        cases = f"/{self.lang}/cases/"
        with self.get(url, "/[lang]/accounts/login/") as page:
            expect(page, 200)
        data = {
            "csrfmiddlewaretoken": self.csrf(),
            "username": self.account["email"],
            "password": self.account["password"],
            "next": cases,
        }
        with self.post(url, "/[lang]/accounts/login/ (sign in)", data=data, allow_redirects=False) as answer:
            if not expect(answer, 302):
                return False
            if "sessionid" not in self.client.cookies:
                answer.failure("signed in without a session cookie")
                return False
            landing = answer.headers.get("Location", "")
        with self.get(landing, "/[lang]/cases/ (before the code)", allow_redirects=False) as answer:
            code_step = answer.headers.get("Location", "") if answer.status_code == 302 else ""
            if not code_step.startswith(f"/{self.lang}/accounts/mfa/verify/"):
                answer.failure(
                    f"the password alone was not sent to the code step: {answer.status_code} {code_step}"
                )
                return False
            answer.success()
        with self.get(code_step, "/[lang]/accounts/mfa/verify/") as page:
            token = CSRF_FIELD.search(page.text) if expect(page, 200) else None
            if page.status_code == 200 and token is None:
                page.failure("the code step offers no CSRF token")
        if token is None:
            return False
        data = {
            "csrfmiddlewaretoken": token.group(1),
            "code": authenticator_code(self.account),
            "next": cases,
        }
        with self.post(
            f"/{self.lang}/accounts/mfa/verify/",
            "/[lang]/accounts/mfa/verify/ (code)",
            data=data,
            allow_redirects=False,
        ) as answer:
            if not expect(answer, 302):
                return False
            if answer.headers.get("Location") != cases:
                answer.failure(f"the code step led to {answer.headers.get('Location')!r}, not {cases}")
                return False
        return True

    def form_post(self, url: str, name: str, data: dict[str, Any]):
        return self.post(url, name, data={"csrfmiddlewaretoken": self.csrf(), **data}, allow_redirects=False)

    # --- reading ---------------------------------------------------------------------------------------

    @task(3)
    def read_guidance(self) -> None:
        lang = self.other_language()
        with self.get(f"/{lang}/guidance/", "/[lang]/guidance/") as page:
            expect(page, 200)
        if random.random() < 0.4:
            query = SEARCH_TERMS[lang]
            with self.get(f"/{lang}/guidance/", "/[lang]/guidance/?q=", params={"q": query}) as page:
                expect(page, 200)
        slug = random.choice(FIXTURE["guidance"][self.cloud])
        bilingual = random.random() < 0.3 and lang != "en"
        with self.get(
            f"/{lang}/guidance/{self.cloud}/{slug}/",
            "/[lang]/guidance/[cloud]/[slug]/" + ("?bilingual=1" if bilingual else ""),
            params={"bilingual": "1"} if bilingual else None,
        ) as page:
            expect(page, 200)

    @task(3)
    def read_cases(self) -> None:
        with self.get(f"/{self.lang}/cases/", "/[lang]/cases/") as page:
            expect(page, 200)
        params = random.choice(
            [{}, {"status": "open"}, {"status": "with_target"}, {"sort": "-updated"}, {"escalated": "yes"}]
        )
        with self.get(f"/{self.lang}/cases/all/", "/[lang]/cases/all/", params=params) as page:
            numbers = CASE_LINK.findall(page.text) if expect(page, 200) else []
        if numbers:
            number = random.choice(numbers)
            with self.get(f"/{self.lang}/cases/{number}/", "/[lang]/cases/[number]/") as page:
                expect(page, 200)
            if random.random() < 0.15:
                self.act(
                    number, "comment", {"message": "Called the customer; waiting for their invoice copy."}
                )

    @task(1)
    def read_customers(self) -> None:
        with self.get(f"/{self.lang}/customers/", "/[lang]/customers/") as page:
            expect(page, 200)

    # --- writing ---------------------------------------------------------------------------------------

    def open_case(self) -> str | None:
        """Open a case with the form; the portal answers with a redirect to it, which names its number."""
        url = f"/{self.lang}/cases/new/"
        with self.get(url, "/[lang]/cases/new/") as page:
            expect(page, 200)
        marker = new_marker()
        fields = self.case_fields(marker)
        with self.form_post(
            url, "/[lang]/cases/new/ (open)", {**fields, "subscription": "", "assignee": ""}
        ) as r:
            match = CASE_URL.search(r.headers.get("Location", "")) if r.status_code == 302 else None
            if match:
                r.success()
                number = match.group(1)
                RECORD["created"].append(
                    {"marker": marker, "number": number, "via": "web", "partner": self.account["partner"]}
                )
                return number
            if r.status_code == 0 or r.status_code >= 500:
                RECORD["unknown_creates"].append({"marker": marker, "via": "web"})
            expect(r, 302)
        return None

    def act(self, number: str, action: str, data: dict[str, Any] | None = None, *, check: str = "") -> bool:
        """POST one case action, then read the case page it redirects to: True unless the portal refused."""
        url = f"/{self.lang}/cases/{number}/{action}/"
        with self.form_post(url, f"/[lang]/cases/[number]/{action}/", data or {}) as answer:
            if not expect(answer, 302):
                return False
        with self.get(f"/{self.lang}/cases/{number}/", "/[lang]/cases/[number]/ (after action)") as page:
            if not expect(page, 200):
                return False
            if "message--error" in page.text:
                _conflict(f"/[lang]/cases/[number]/{action}/ (refused)")
                return False
            if check and check not in page.text:
                page.failure(f"{action} was not refused, yet the case does not show {check}")
                return False
        return True


class HelpdeskAgentWeb(WebUser):
    weight = 3

    @task(4)
    def work_a_new_case(self) -> None:
        number = self.open_case()
        if number is None:
            return
        with self.get(f"/{self.lang}/cases/{number}/", "/[lang]/cases/[number]/") as page:
            expect(page, 200)
        if random.random() < EVIDENCE_SHARE:
            self.attach(number)
        if self.act(number, "start") and random.random() < 0.7:
            self.act(number, "escalate", self.escalation_fields())

    def attach(self, number: str) -> None:
        data = evidence()
        with self.post(
            f"/{self.lang}/cases/{number}/attach/",
            "/[lang]/cases/[number]/attach/",
            data={"csrfmiddlewaretoken": self.csrf()},
            files={"file": ("invoice.pdf", data, "application/pdf")},
            allow_redirects=False,
        ) as answer:
            if expect(answer, 302):
                RECORD["attached"].append({"number": number, "via": "web", "size": len(data)})

    @task(2)
    def triage(self) -> None:
        """Pick up a new case someone else opened: two agents may pick the same one, and one is refused."""
        with self.get(
            f"/{self.lang}/cases/all/", "/[lang]/cases/all/?status=new", params={"status": "new"}
        ) as page:
            numbers = CASE_LINK.findall(page.text) if expect(page, 200) else []
        if not numbers:
            return
        number = random.choice(numbers)
        with self.get(f"/{self.lang}/cases/{number}/", "/[lang]/cases/[number]/") as page:
            expect(page, 200)
        if self.act(number, "start") and random.random() < 0.5:
            self.act(number, "escalate", self.escalation_fields())


class BillingAdminWeb(WebUser):
    weight = 2

    @task(4)
    def resolve_one(self) -> None:
        status = random.choice(["with_target", "in_progress"])
        with self.get(
            f"/{self.lang}/cases/all/", f"/[lang]/cases/all/?status={status}", params={"status": status}
        ) as page:
            numbers = CASE_LINK.findall(page.text) if expect(page, 200) else []
        if not numbers:
            return
        number = random.choice(numbers)
        with self.get(f"/{self.lang}/cases/{number}/", "/[lang]/cases/[number]/") as page:
            expect(page, 200)
        if self.act(number, "resolve", self.resolution_fields(), check="status--resolved"):
            RECORD["resolved"].append({"number": number, "via": "web"})


class SalesAgentWeb(WebUser):
    weight = 1

    @task(2)
    def open_for_a_customer(self) -> None:
        """Sales agents open cases and leave them new, for the helpdesk to triage."""
        self.open_case()


# --- The REST API ------------------------------------------------------------------------------------


class ApiUser(PartnerUser):
    """A partner's own tool, with its user's personal token."""

    abstract = True

    def on_start(self) -> None:
        super().on_start()
        self.client.headers["Authorization"] = f"Bearer {self.account['token']}"
        self.client.headers["Accept-Language"] = self.lang

    @task(3)
    def read_guidance(self) -> None:
        lang = self.other_language()
        params = {"lang": lang, "cloud": self.cloud}
        with self.get("/api/v1/guidance/", "/api/v1/guidance/", params=params) as answer:
            expect(answer, 200)
        slug = random.choice(FIXTURE["guidance"][self.cloud])
        with self.get(f"/api/v1/guidance/{slug}/", "/api/v1/guidance/[slug]/", params=params) as answer:
            expect(answer, 200)

    @task(3)
    def read_cases(self) -> None:
        params = random.choice([{}, {"status": "open"}, {"escalated": "true"}, {"status": "resolved"}])
        with self.get("/api/v1/cases/", "/api/v1/cases/", params=params) as answer:
            results = answer.json().get("results", []) if expect(answer, 200) else []
        if results:
            number = random.choice(results)["number"]
            with self.get(f"/api/v1/cases/{number}/", "/api/v1/cases/[number]/") as answer:
                expect(answer, 200)
        if random.random() < 0.3:
            with self.get("/api/v1/customers/", "/api/v1/customers/") as answer:
                expect(answer, 200)

    def call(self, number: str, action: str, body: dict[str, Any] | None = None) -> bool:
        """POST one workflow action; a 409 (someone moved the case first) is expected now and then."""
        with self.post(
            f"/api/v1/cases/{number}/{action}/", f"/api/v1/cases/[number]/{action}/", json=body or {}
        ) as answer:
            return expect(answer, 200, conflicts=(409,))


class HelpdeskAgentApi(ApiUser):
    weight = 3

    def create(self, key: str, body: dict[str, Any], name: str) -> tuple[str | None, bool]:
        """One POST /api/v1/cases/ with an Idempotency-Key: (number, whether it was a replay)."""
        with self.post("/api/v1/cases/", name, json=body, headers={"Idempotency-Key": key}) as answer:
            if expect(answer, 201):
                return answer.json()["number"], answer.headers.get("Idempotent-Replayed") == "true"
        return None, False

    @task(4)
    def work_a_new_case(self) -> None:
        marker = new_marker()
        key = f"loadtest-{uuid.uuid4()}"
        # The API takes a question without an amount or a currency (an empty string is not an amount).
        body = {name: value for name, value in self.case_fields(marker).items() if value != ""}
        roll = random.random()
        if roll < 0.1:
            # A tool sending one create twice at once: one case, both answers name it, one is a replay.
            jobs = [
                gevent.spawn(self.create, key, body, "/api/v1/cases/ (open, twice at once)") for _ in range(2)
            ]
            gevent.joinall(jobs, timeout=TIMEOUT * 2)
            answers = [job.value or (None, False) for job in jobs]
            numbers = [number for number, _replayed in answers]
            RECORD["replays"].append(
                {
                    "marker": marker,
                    "numbers": numbers,
                    "replayed": [r for _n, r in answers],
                    "concurrent": True,
                }
            )
            number = next((n for n in numbers if n), None)
        else:
            number = None
            for _attempt in range(3):  # a lost answer is retried with the same key: what the key is for
                number, _replayed = self.create(key, body, "/api/v1/cases/ (open)")
                if number:
                    break
            if number and roll < 0.25:  # a retry after the answer: the same case comes back, as a replay
                again, replayed = self.create(key, body, "/api/v1/cases/ (retry, same key)")
                RECORD["replays"].append(
                    {
                        "marker": marker,
                        "numbers": [number, again],
                        "replayed": [replayed],
                        "concurrent": False,
                    }
                )
        if number is None:
            RECORD["unknown_creates"].append({"marker": marker, "via": "api"})
            return
        RECORD["created"].append(
            {"marker": marker, "number": number, "via": "api", "partner": self.account["partner"]}
        )
        if random.random() < EVIDENCE_SHARE:
            data = evidence()
            with self.post(
                f"/api/v1/cases/{number}/attachments/",
                "/api/v1/cases/[number]/attachments/",
                files={"file": ("invoice.pdf", data, "application/pdf")},
            ) as answer:
                if expect(answer, 201):
                    RECORD["attached"].append({"number": number, "via": "api", "size": len(data)})
        if self.call(number, "start") and random.random() < 0.7:
            self.call(number, "escalate", self.escalation_fields())


class BillingAdminApi(ApiUser):
    weight = 2

    @task(4)
    def resolve_one(self) -> None:
        status = random.choice(["escalated", "in_progress"])
        with self.get(
            "/api/v1/cases/", f"/api/v1/cases/?status={status}", params={"status": status}
        ) as answer:
            results = answer.json().get("results", []) if expect(answer, 200) else []
        if not results:
            return
        number = random.choice(results)["number"]
        if self.call(number, "resolve", self.resolution_fields()):
            RECORD["resolved"].append({"number": number, "via": "api"})
