"""The REST API against its own OpenAPI schema: schemathesis fuzzes the live schema on a real test server.

The slow test serves the test database through pytest-django's `live_server` and runs the schemathesis
CLI against /api/schema/ with every check, bounded examples per operation and a fixed seed. It fails on
any server error, any response the schema does not describe (status, content type, headers, body),
any request the schema calls invalid that the API accepts, any schema-valid request the API refuses
(where the schema can tell), and any object of Contoso's that Fabrikam's token can read.

schemathesis's console output and a JUnit report land in test-artifacts/schemathesis/. To explore
beyond the fixed run: API_FUZZ_SEED=<n> and API_FUZZ_EXAMPLES=<n> (per operation).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from cases import services
from cases.models import Outcome, Severity, SupportVehicle
from portal.api import TokenRateThrottle
from portal.models import ApiToken
from tests.cast import open_dispute
from tests.conftest import ARTIFACTS
from tests.factories import CustomerFactory, SubscriptionFactory
from tests.guidance.conftest import CONTENT

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = os.environ.get("API_FUZZ_SEED", "4242")
# Bounded: the coverage phase (~1,300 requests, whatever this is) plus 25 examples per operation in the
# fuzzing and stateful phases take about three minutes on two cores. The same seed and data give the
# same requests on every run.
MAX_EXAMPLES = os.environ.get("API_FUZZ_EXAMPLES", "25")
RUN_TIMEOUT = 540

# The one narrowing left. positive_data_acceptance wants every schema-valid request accepted. It stays on
# everywhere except these operations, whose input is also checked against rules an OpenAPI schema cannot
# state (each is named with its rule and described in the operation's text); a schema-valid request that
# breaks them gets a documented 400, which is right. Every other check runs on them too.
BUSINESS_RULES = {
    # Which ids are the partner's own is data, not a type: the schema can only say "an integer".
    "v1_cases_create": "customer and subscription must be ids of the partner's own objects",
    # Likewise the members of the partner: an id the schema accepts may belong to nobody here.
    "v1_cases_partial_update": "assignee must be the user id of a member of the partner",
    # A rule between fields and against the stored case (the disputed amount): OpenAPI 3.0 has no
    # cross-field or cross-request conditions.
    "v1_cases_resolve_create": "a dispute needs an outcome; a credit needs an amount up to the disputed one",
    # The content, not the declared type, decides: a schema describes a binary part, not what is in it.
    "v1_cases_attachments_create": "the file must really be a PDF, PNG, JPEG or CSV (checked by content)",
    # "Public" is what the host name resolves to at request time, and "at most 10" counts stored rows.
    "v1_webhooks_create": "the URL must be https on a public host, and a partner has at most 10 endpoints",
    # "Today" moves, and "after it starts, at most 366 days" relates two parameters: neither is schema.
    "v1_reports_retrieve": "the period starts in 2000 or later, ends today at the latest, after it starts, "
    "and is at most 366 days long",
}


def schemathesis_config(auth_file: Path) -> str:
    """schemathesis.toml: every check, two partners as peers, the exceptions above."""
    lines = [
        "[checks]",
        "enabled = true",
        "",
        "[checks.positive_data_acceptance]",
        # A schema-valid If-Match that names no current version of the case is refused with 412, which is
        # its point: which version is current, the schema cannot know. 412 is documented on each of them.
        'expected-statuses = ["2XX", "3XX", "401", "403", "404", "409", "412", "429", "5XX"]',
        "",
        "[phases.stateful]",
        # Sequences of calls following the Location headers and the links schemathesis infers (open a
        # case, then act on it), a bounded number of steps each.
        "enabled = true",
        "max-steps = 10",
        "",
        "[generation]",
        # PostgreSQL text cannot hold NUL, so every string field refuses "\\x00" with a 400 (DRF's
        # CharField); without this, positive_data_acceptance reports that one known refusal everywhere.
        "allow-x00 = false",
        "",
        "[auth.wfc]",
        f"path = {json.dumps(str(auth_file))}",
        # Contoso's global admin drives the run; object_level_authorization replays Contoso's reads
        # with Fabrikam's token and fails if Fabrikam gets Contoso's objects.
        'user = "contoso"',
        'peers = ["contoso", "fabrikam"]',
    ]
    for operation_id in BUSINESS_RULES:
        lines += [
            "",
            "[[operations]]",
            f'include-operation-id = "{operation_id}"',
            "checks.positive_data_acceptance.enabled = false",
        ]
    return "\n".join(lines) + "\n"


def auth_document(contoso_key: str, fabrikam_key: str) -> str:
    """A Web Fuzzing Commons auth file: one bearer token per partner."""
    return json.dumps(
        {
            "auth": [
                {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}]}
                for name, key in (("contoso", contoso_key), ("fabrikam", fabrikam_key))
            ]
        }
    )


def seed_cases(helpdesk_agent, billing_admin, customer, other_customer) -> None:
    """Contoso cases in every status, so transitions meet both legal and illegal starting points."""
    started = services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent)
    services.case_comment(case=started, actor=helpdesk_agent, message="Asked for the seat report.")

    escalated = services.case_escalate(
        case=services.case_start(case=open_dispute(helpdesk_agent, other_customer), actor=helpdesk_agent),
        actor=helpdesk_agent,
        support_vehicle=SupportVehicle.COMMERCIAL,
        severity=Severity.B,
    )
    services.case_request_info(case=escalated, actor=helpdesk_agent, message="Which invoice?")

    resolved = services.case_resolve(
        case=services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent),
        actor=billing_admin,
        resolution_summary="We credited the five cancelled seats.",
        outcome=Outcome.CREDIT,
        credit_amount=Decimal("10.00"),
    )
    services.case_attach(
        case=resolved,
        actor=billing_admin,
        upload=SimpleUploadedFile("seats.csv", b"seat,count\nE3,30\n", content_type="text/csv"),
    )

    closed = services.case_resolve(
        case=services.case_start(case=open_dispute(helpdesk_agent, customer), actor=helpdesk_agent),
        actor=billing_admin,
        resolution_summary="The charge stands.",
        outcome=Outcome.UPHELD,
    )
    closed = services.case_mark_customer_informed(case=closed, actor=billing_admin, note="Phoned them.")
    services.case_close(case=closed, actor=billing_admin)


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT + 60)
# reset_sequences: the same ids and case numbers on every run, so a seed replays the same requests.
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_api_conforms_to_its_schema_under_fuzzing(
    live_server,
    settings,
    monkeypatch,
    tmp_path,
    eager_tasks,
    global_admin,
    helpdesk_agent,
    billing_admin,
    customer,
    subscription,
    case,
    outsider,
    fabrikam_case,
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"  # attachments the fuzzer uploads
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    # Throttling has its own tests; here ~2,500 requests in a few minutes would trip 600/minute, and
    # which requests got a 429 would depend on the machine's speed.
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "1000000/minute"})
    # The endpoints the fuzzer registers are refused unless public and https, and a delivery to one gives up
    # fast: the run measures the API, not the internet.
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    settings.WEBHOOK_TIMEOUT_SECONDS = 1

    call_command("import_guidance", str(CONTENT), verbosity=0)
    northwind = CustomerFactory(partner=global_admin.partner, company_name="Northwind Traders")
    SubscriptionFactory(customer=northwind, offer="Azure plan", quantity=1)
    services.subscription_suspend(
        subscription=SubscriptionFactory(customer=northwind, offer="Dynamics 365 Sales", quantity=5),
        actor=billing_admin,
        reason="Invoice 60 days overdue.",
    )
    seed_cases(helpdesk_agent, billing_admin, customer, northwind)
    _token, contoso_key = ApiToken.issue(user=global_admin.user, name="schemathesis")
    _token, fabrikam_key = ApiToken.issue(user=outsider.user, name="schemathesis")

    auth_file = tmp_path / "auth.json"
    auth_file.write_text(auth_document(contoso_key, fabrikam_key))
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(schemathesis_config(auth_file))
    report_dir = ARTIFACTS / "schemathesis"
    report_dir.mkdir(parents=True, exist_ok=True)

    base_url = live_server.url.replace("localhost", "127.0.0.1")
    command = [
        str(SCHEMATHESIS),
        "--no-color",
        "--config-file",
        str(config_file),
        "run",
        f"{base_url}/api/schema/",
        "--workers",
        "1",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        # Hypothesis' example database would replay earlier failures and make runs differ.
        "--generation-database",
        "none",
        # A timing health check: on a busy machine it would fail the run for no fault of the API.
        "--suppress-health-check",
        "too_slow",
        "--request-timeout",
        "30",
        # Every failure in one run, not only the first of each operation.
        "--continue-on-failure",
        "--report",
        "junit",
        "--report-junit-path",
        str(report_dir / "junit.xml"),
    ]
    env = {name: value for name, value in os.environ.items() if "proxy" not in name.lower()}
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    elapsed = time.monotonic() - started
    output = f"{result.stdout}{result.stderr}\n(schemathesis ran for {elapsed:.0f} s)\n"
    (report_dir / "output.txt").write_text(output)
    assert result.returncode == 0, output


def test_served_schema_is_valid_openapi_3(client) -> None:
    """What /api/schema/ serves validates against the OpenAPI 3.0 meta-schema."""
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.0.")
    assert document["paths"]
    schemathesis.openapi.from_dict(document).validate()


def test_schema_generates_without_warnings(tmp_path) -> None:
    """drf-spectacular validates its own output and fails on any warning it raised while generating."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3.0")
