"""The REST API: bearer tokens, the permission table cell by cell, isolation, filters, errors and journeys.

Every request goes through DRF's APIClient with a personal token, against the suite's PostgreSQL and Redis.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone, translation
from rest_framework.test import APIClient

from cases import services
from cases.api import CaseViewSet
from cases.models import (
    Attachment,
    Case,
    CaseEvent,
    Category,
    EventKind,
    Notification,
    NotificationKind,
    Status,
    Transition,
)
from cases.permissions import PERMISSIONS, Action, Role
from portal import audit
from portal.api import TokenRateThrottle
from portal.models import ApiToken, AuditAction
from tests.cast import force_login_with_code, open_dispute
from tests.factories import CustomerFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
CONTENT = Path(__file__).resolve().parents[2] / "guidance" / "content"
SLUG = "provide-billing-support"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path) -> None:
    """Uploaded evidence goes to a temporary folder, never to var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"


# --- Helpers ---------------------------------------------------------------------------------------


def token_client(member) -> APIClient:
    """An API client sending a fresh personal token of member's user."""
    _token, key = ApiToken.issue(user=member.user, name="test")
    return key_client(key)


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def error(response, status: int, code: str) -> dict[str, Any]:
    """Assert the API's error shape with this status and code, and return the error object."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def pdf_upload(name: str = "inv.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def snapshot(case: Case) -> dict[str, Any]:
    """Everything a request could change about a case, and whether any case was added."""
    return {
        "cases": Case.objects.count(),
        "row": Case.objects.filter(pk=case.pk).values().get(),
        "events": list(CaseEvent.objects.filter(case=case).values_list("pk", flat=True)),
        "attachments": list(Attachment.objects.filter(case=case).values_list("pk", flat=True)),
        "notifications": list(Notification.objects.filter(case=case).values_list("pk", "status")),
    }


def case_url(case: Case, suffix: str = "") -> str:
    return f"{API}/cases/{case.number}/{suffix}"


def start(case: Case, boss) -> Case:
    return services.case_start(case=case, actor=boss)


def escalated(case: Case, boss) -> Case:
    start(case, boss)
    return services.case_escalate(case=case, actor=boss, support_vehicle="commercial", severity="B")


def resolved(case: Case, boss) -> Case:
    start(case, boss)
    return services.case_resolve(
        case=case,
        actor=boss,
        resolution_summary="Credit issued.",
        outcome="credit",
        credit_amount=Decimal("50"),
    )


# --- 1. Authentication -------------------------------------------------------------------------------


def test_request_without_a_token_is_401_with_a_bearer_challenge(global_admin) -> None:
    """No Authorization header answers 401 not_authenticated and names the Bearer scheme."""
    response = APIClient().get(f"{API}/cases/")
    error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer two parts", "Bearer csp_not-a-real-token", "bearer csp_unknown"],
    ids=["no-key", "extra-part", "unknown-token", "unknown-lowercase-scheme"],
)
def test_malformed_or_unknown_token_is_401_authentication_failed(global_admin, header: str) -> None:
    """A malformed Bearer header or a key the portal never issued answers 401 authentication_failed."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(f"{API}/cases/")
    error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Bearer"


def test_revoked_token_is_401_authentication_failed(global_admin) -> None:
    """A token stops working once it is revoked."""
    token, key = ApiToken.issue(user=global_admin.user, name="test")
    assert key_client(key).get(f"{API}/cases/").status_code == 200
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    error(key_client(key).get(f"{API}/cases/"), 401, "authentication_failed")


def test_token_of_a_deactivated_user_is_401_authentication_failed(global_admin, helpdesk_agent) -> None:
    """Deactivating a user disables their tokens too."""
    _token, key = ApiToken.issue(user=helpdesk_agent.user, name="test")
    services.member_set_active(actor=global_admin, membership=helpdesk_agent, active=False)
    error(key_client(key).get(f"{API}/cases/"), 401, "authentication_failed")


def test_token_of_a_user_without_a_partner_is_403(member) -> None:
    """A signed-up user who belongs to no partner is authenticated but refused."""
    _token, key = ApiToken.issue(user=member, name="test")
    for path in (f"{API}/cases/", f"{API}/customers/", f"{API}/guidance/"):
        err = error(key_client(key).get(path), 403, "permission_denied")
        assert "partner" in err["message"]


def test_last_used_at_is_recorded_on_use(global_admin) -> None:
    """Using a token records when it was last used."""
    token, key = ApiToken.issue(user=global_admin.user, name="test")
    assert token.last_used_at is None
    before = timezone.now()
    assert key_client(key).get(f"{API}/cases/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None and before <= token.last_used_at <= timezone.now()


# --- 2. Every endpoint for every role ----------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One API call: the action it needs, how to prepare the case, how to call it, and what it must do."""

    action: str
    view_action: str  # the CaseViewSet/CustomerViewSet action it exercises, to check coverage
    send: Callable[..., Any]
    done: Callable[..., bool]
    setup: Callable[[Case, Any], Any] = lambda case, boss: None


def _numbers(response) -> list[str]:
    return [row["number"] for row in response.json()["results"]]


def _status_event(case: Case, actor, source: str, target: str) -> bool:
    return CaseEvent.objects.filter(
        case=case, kind=EventKind.STATUS, actor=actor.user, from_status=source, to_status=target
    ).exists()


ENDPOINTS: dict[str, Endpoint] = {
    "list-cases": Endpoint(
        Action.VIEW,
        "case.list",
        send=lambda client, case, ctx: client.get(f"{API}/cases/"),
        done=lambda case, response, actor, ctx: _numbers(response) == [case.number],
    ),
    "case-detail": Endpoint(
        Action.VIEW,
        "case.retrieve",
        send=lambda client, case, ctx: client.get(case_url(case)),
        done=lambda case, response, actor, ctx: response.json()["number"] == case.number
        and response.json()["timeline"][0]["kind"] == EventKind.CREATED,
    ),
    "list-customers": Endpoint(
        Action.VIEW,
        "customer.list",
        send=lambda client, case, ctx: client.get(f"{API}/customers/"),
        done=lambda case, response, actor, ctx: [c["id"] for c in response.json()["results"]]
        == [case.customer_id],
    ),
    "customer-detail": Endpoint(
        Action.VIEW,
        "customer.retrieve",
        send=lambda client, case, ctx: client.get(f"{API}/customers/{case.customer_id}/"),
        done=lambda case, response, actor, ctx: response.json()["id"] == case.customer_id
        and [s["id"] for s in response.json()["subscriptions"]] == [ctx["subscription"].pk],
    ),
    "open": Endpoint(
        Action.OPEN,
        "case.create",
        send=lambda client, case, ctx: client.post(
            f"{API}/cases/",
            {
                "customer": case.customer_id,
                "category": "billing_question",
                "title": "Why prorated?",
                "description": "Why was the October invoice prorated?",
            },
            format="json",
        ),
        done=lambda case, response, actor, ctx: Case.objects.count() == 2
        and Case.objects.filter(number=response.json()["number"], created_by=actor.user).exists(),
    ),
    "comment": Endpoint(
        Action.COMMENT,
        "case.comments",
        send=lambda client, case, ctx: client.post(
            case_url(case, "comments/"), {"message": "Called the customer."}, format="json"
        ),
        done=lambda case, response, actor, ctx: CaseEvent.objects.filter(
            case=case, kind=EventKind.COMMENT, actor=actor.user, message="Called the customer."
        ).exists(),
    ),
    "message-customer": Endpoint(
        Action.COMMENT,
        "case.messages",
        send=lambda client, case, ctx: client.post(
            case_url(case, "messages/"), {"message": "We are checking the seats."}, format="json"
        ),
        done=lambda case, response, actor, ctx: CaseEvent.objects.filter(
            case=case, kind=EventKind.PARTNER_MESSAGE, actor=actor.user, message="We are checking the seats."
        ).exists()
        and response.json()["email"]["kind"] == "partner_message",
    ),
    "attach": Endpoint(
        Action.COMMENT,
        "case.attachments",
        send=lambda client, case, ctx: client.post(
            case_url(case, "attachments/"), {"file": pdf_upload()}, format="multipart"
        ),
        done=lambda case, response, actor, ctx: Attachment.objects.filter(
            case=case, original_name="inv.pdf", uploaded_by=actor.user, pk=response.json()["id"]
        ).exists(),
    ),
    "start": Endpoint(
        Action.WORK,
        "case.start",
        send=lambda client, case, ctx: client.post(case_url(case, "start/"), format="json"),
        done=lambda case, response, actor, ctx: case.status == Status.IN_PROGRESS
        and case.assignee_id == actor.user.pk
        and _status_event(case, actor, Status.NEW, Status.IN_PROGRESS),
    ),
    "assign": Endpoint(
        Action.WORK,
        "case.partial_update",
        send=lambda client, case, ctx: client.patch(
            case_url(case), {"assignee": ctx["assignee"].pk}, format="json"
        ),
        done=lambda case, response, actor, ctx: case.assignee_id == ctx["assignee"].pk
        and response.json()["assignee"]["id"] == ctx["assignee"].pk
        and response.json()["assignee"]["email"] == ctx["assignee"].email
        and CaseEvent.objects.filter(case=case, kind=EventKind.ASSIGNED, actor=actor.user).exists(),
    ),
    "escalate": Endpoint(
        Action.ESCALATE,
        "case.escalate",
        setup=start,
        send=lambda client, case, ctx: client.post(
            case_url(case, "escalate/"), {"support_vehicle": "commercial", "severity": "B"}, format="json"
        ),
        done=lambda case, response, actor, ctx: case.status == Status.ESCALATED
        and case.escalation_target == "microsoft"
        and _status_event(case, actor, Status.IN_PROGRESS, Status.ESCALATED),
    ),
    "request-info": Endpoint(
        Action.ESCALATE,
        "case.request_info",
        setup=escalated,
        send=lambda client, case, ctx: client.post(
            case_url(case, "request-info/"), {"message": "Microsoft wants the invoice PDF."}, format="json"
        ),
        done=lambda case, response, actor, ctx: case.status == Status.INFO_REQUESTED
        and _status_event(case, actor, Status.ESCALATED, Status.INFO_REQUESTED),
    ),
    "provide-info": Endpoint(
        Action.ESCALATE,
        "case.provide_info",
        setup=lambda case, boss: services.case_request_info(case=escalated(case, boss), actor=boss),
        send=lambda client, case, ctx: client.post(
            case_url(case, "provide-info/"), {"message": "Sent the invoice PDF."}, format="json"
        ),
        done=lambda case, response, actor, ctx: case.status == Status.ESCALATED
        and _status_event(case, actor, Status.INFO_REQUESTED, Status.ESCALATED),
    ),
    "support-request-number": Endpoint(
        Action.ESCALATE,
        "case.partial_update",
        setup=escalated,
        send=lambda client, case, ctx: client.patch(
            case_url(case), {"support_request_number": "2610010040000123"}, format="json"
        ),
        done=lambda case, response, actor, ctx: case.support_request_number == "2610010040000123"
        and response.json()["support_request_number"] == "2610010040000123"
        and CaseEvent.objects.filter(case=case, kind=EventKind.SUPPORT_REQUEST, actor=actor.user).exists(),
    ),
    "resolve": Endpoint(
        Action.RESOLVE,
        "case.resolve",
        setup=start,
        send=lambda client, case, ctx: client.post(
            case_url(case, "resolve/"),
            {"resolution_summary": "Credit issued.", "outcome": "credit", "credit_amount": "100"},
            format="json",
        ),
        done=lambda case, response, actor, ctx: case.status == Status.RESOLVED
        and case.credit_amount == Decimal("100")
        and _status_event(case, actor, Status.IN_PROGRESS, Status.RESOLVED)
        and Notification.objects.filter(case=case, kind=NotificationKind.RESOLUTION).count() == 1,
    ),
    "customer-informed": Endpoint(
        Action.RESOLVE,
        "case.customer_informed",
        setup=resolved,
        send=lambda client, case, ctx: client.post(
            case_url(case, "customer-informed/"),
            {"message": "Phoned Tailspin's billing contact."},
            format="json",
        ),
        done=lambda case, response, actor, ctx: case.loop_closed_at is not None
        and CaseEvent.objects.filter(case=case, kind=EventKind.CUSTOMER_INFORMED, actor=actor.user).exists(),
    ),
    "close": Endpoint(
        Action.RESOLVE,
        "case.close",
        setup=lambda case, boss: services.case_mark_customer_informed(
            case=resolved(case, boss), actor=boss, note="Phoned them."
        ),
        send=lambda client, case, ctx: client.post(case_url(case, "close/"), format="json"),
        done=lambda case, response, actor, ctx: case.status == Status.CLOSED
        and case.closed_at is not None
        and _status_event(case, actor, Status.RESOLVED, Status.CLOSED),
    ),
    "reopen": Endpoint(
        Action.REOPEN,
        "case.reopen",
        setup=resolved,
        send=lambda client, case, ctx: client.post(
            case_url(case, "reopen/"), {"message": "The credit never arrived."}, format="json"
        ),
        done=lambda case, response, actor, ctx: case.status == Status.IN_PROGRESS
        and _status_event(case, actor, Status.RESOLVED, Status.IN_PROGRESS),
    ),
    "audit": Endpoint(
        Action.AUDIT,
        "audit.list",
        setup=lambda case, boss: audit.record(AuditAction.SIGN_IN, actor=boss.user, obj=boss.user),
        send=lambda client, case, ctx: client.get(f"{API}/audit/", {"action": "sign_in"}),
        done=lambda case, response, actor, ctx: response.json()["count"] >= 1
        and {event["action"] for event in response.json()["results"]} == {"sign_in"},
    ),
    "webhooks": Endpoint(
        Action.WEBHOOKS,
        "webhook.create",
        send=lambda client, case, ctx: client.post(
            f"{API}/webhooks/",
            {"url": "https://hooks.contoso.example/", "events": ["case.created"]},
            format="json",
        ),
        done=lambda case, response, actor, ctx: response.status_code == 201
        and response.json()["secret"].startswith("whsec_"),
    ),
    "report": Endpoint(
        Action.REPORT,
        "report.get",
        send=lambda client, case, ctx: client.get(f"{API}/reports/"),
        done=lambda case, response, actor, ctx: [m["disputed"] for m in response.json()["money"]]
        == ["412.50"],
    ),
    "download": Endpoint(
        Action.VIEW,
        "case.attachment",
        setup=lambda case, boss: services.case_attach(case=case, actor=boss, upload=pdf_upload()),
        send=lambda client, case, ctx: client.get(
            case_url(case, f"attachments/{Attachment.objects.get(case=case).pk}/")
        ),
        done=lambda case, response, actor, ctx: b"".join(response.streaming_content) == PDF,
    ),
}


def test_every_api_action_of_the_table_and_of_the_viewsets_has_an_endpoint() -> None:
    """The matrix covers every case action of the table and every route the case viewset offers."""
    assert {e.action for e in ENDPOINTS.values()} == set(Action.values) - {
        Action.SUSPEND,
        Action.MANAGE_USERS,
        Action.SERVICE_LEVELS,  # a settings page of the portal, not an API resource
    }
    extra = {f"case.{a.__name__}" for a in CaseViewSet.get_extra_actions()}
    standard = {"case.list", "case.retrieve", "case.create", "case.partial_update"}
    customers = {"customer.list", "customer.retrieve"}
    webhooks = {"webhook.create"}  # the rest of the webhooks API: tests/webhooks/test_access.py
    assert {e.view_action for e in ENDPOINTS.values()} == extra | standard | customers | {
        "audit.list",
        "report.get",
    } | webhooks


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("role", Role.values)
def test_role_endpoint_cell(
    cast, global_admin, helpdesk_agent, customer, subscription, role, endpoint
) -> None:
    """Each role can call exactly the endpoints its row of the table allows; anything else is 403 and a no-op."""
    spec = ENDPOINTS[endpoint]
    actor = cast[role]
    case = open_dispute(global_admin, customer)
    spec.setup(case, global_admin)
    case.refresh_from_db()
    before = snapshot(case)
    ctx = {"assignee": helpdesk_agent.user, "subscription": subscription}
    response = spec.send(token_client(actor), case, ctx)
    if role in PERMISSIONS[spec.action]:
        assert 200 <= response.status_code < 300, (
            role,
            endpoint,
            response.status_code,
            response.content[:300],
        )
        case.refresh_from_db()
        assert spec.done(case, response, actor, ctx), f"{role} was allowed to {endpoint} but nothing happened"
    else:
        err = error(response, 403, "permission_denied")
        assert err["message"]
        assert snapshot(case) == before, f"{role} was refused {endpoint} but something changed"


# --- 3. Isolation --------------------------------------------------------------------------------------


@pytest.fixture
def all_roles(contoso):
    """A Contoso member holding every role, so only isolation can refuse them."""
    return MembershipFactory(
        partner=contoso, roles=list(Role.values), user=UserFactory(email="all.roles@contoso.example")
    )


ISOLATION_ROUTES: dict[str, tuple[str, str, dict | str | None]] = {
    "detail": ("get", "cases/{fab}/", None),
    "patch-assignee": ("patch", "cases/{fab}/", {"assignee": "{me}"}),
    "patch-support-request": ("patch", "cases/{fab}/", {"support_request_number": "SR-1"}),
    "start": ("post", "cases/{fab}/start/", None),
    "escalate": ("post", "cases/{fab}/escalate/", {"support_vehicle": "commercial", "severity": "A"}),
    "request-info": ("post", "cases/{fab}/request-info/", {"message": "x"}),
    "provide-info": ("post", "cases/{fab}/provide-info/", {"message": "x"}),
    "resolve": ("post", "cases/{fab}/resolve/", {"resolution_summary": "x", "outcome": "upheld"}),
    "customer-informed": ("post", "cases/{fab}/customer-informed/", {"message": "x"}),
    "close": ("post", "cases/{fab}/close/", None),
    "reopen": ("post", "cases/{fab}/reopen/", {"message": "x"}),
    "comments": ("post", "cases/{fab}/comments/", {"message": "x"}),
    "messages": ("post", "cases/{fab}/messages/", {"message": "x"}),
    "attachments": ("post", "cases/{fab}/attachments/", "file"),
    "download": ("get", "cases/{fab}/attachments/{att}/", None),
    "download-via-own-case": ("get", "cases/{own}/attachments/{att}/", None),
    "customer-detail": ("get", "customers/{fab_customer}/", None),
}


@pytest.mark.parametrize("route", list(ISOLATION_ROUTES))
def test_another_partners_objects_answer_404(all_roles, case, outsider, fabrikam_case, route) -> None:
    """Fabrikam's case number, customer id and attachment are simply not there for a Contoso token."""
    attachment = services.case_attach(case=fabrikam_case, actor=outsider, upload=pdf_upload())
    fabrikam_case.refresh_from_db()
    before = snapshot(fabrikam_case)
    method, template, body = ISOLATION_ROUTES[route]
    route_path = template.format(
        fab=fabrikam_case.number, own=case.number, att=attachment.pk, fab_customer=fabrikam_case.customer_id
    )
    path = f"{API}/{route_path}"
    client = token_client(all_roles)
    if body == "file":
        response = client.post(path, {"file": pdf_upload()}, format="multipart")
    elif body is not None:
        data = {k: (all_roles.user.pk if v == "{me}" else v) for k, v in body.items()}
        response = getattr(client, method)(path, data, format="json")
    else:
        response = getattr(client, method)(path, format="json")
    error(response, 404, "not_found")
    assert snapshot(fabrikam_case) == before


def test_lists_show_only_your_own_partners_objects(global_admin, case, fabrikam_case) -> None:
    """Case and customer lists hold Contoso's objects only."""
    client = token_client(global_admin)
    cases = client.get(f"{API}/cases/").json()
    assert cases["count"] == 1 and [row["number"] for row in cases["results"]] == [case.number]
    customers = client.get(f"{API}/customers/").json()
    assert [c["id"] for c in customers["results"]] == [case.customer_id]
    assert client.get(f"{API}/cases/", {"customer": fabrikam_case.customer_id}).json()["count"] == 0


def test_opening_a_case_for_another_partners_customer_is_a_field_error(
    global_admin, fabrikam_customer
) -> None:
    """A Fabrikam customer id is refused on the customer field, and no case is created."""
    response = token_client(global_admin).post(
        f"{API}/cases/",
        {"customer": fabrikam_customer.pk, "category": "billing_question", "title": "x", "description": "y"},
        format="json",
    )
    err = error(response, 400, "invalid")
    assert set(err["fields"]) == {"customer"}
    assert Case.objects.count() == 0


# --- 4. Case list filters ------------------------------------------------------------------------------


@pytest.fixture
def five_cases(global_admin, customer, contoso):
    """Five cases of several statuses, categories and customers, updated on successive days."""
    other = CustomerFactory(partner=contoso, company_name="Wingtip Toys")
    new = open_dispute(global_admin, customer)
    question = services.case_create(
        actor=global_admin,
        customer=other,
        category=Category.BILLING_QUESTION,
        title="Prorated?",
        description="?",
    )
    start(question, global_admin)
    with_microsoft = escalated(open_dispute(global_admin, customer), global_admin)
    was_escalated = escalated(open_dispute(global_admin, other), global_admin)
    services.case_resolve(
        case=was_escalated, actor=global_admin, resolution_summary="Upheld.", outcome="upheld"
    )
    closed = services.case_mark_customer_informed(
        case=resolved(open_dispute(global_admin, customer), global_admin), actor=global_admin, note="Phoned."
    )
    services.case_close(case=closed, actor=global_admin)
    cases = {
        "new": new,
        "question": question,
        "with_microsoft": with_microsoft,
        "was_escalated": was_escalated,
        "closed": closed,
    }
    base = datetime.datetime(2026, 1, 10, 9, 0, tzinfo=datetime.UTC)
    for offset, key in enumerate(cases):
        Case.objects.filter(pk=cases[key].pk).update(updated_at=base + datetime.timedelta(days=offset))
    return cases, other


def _filtered(client, **params) -> set[str]:
    response = client.get(f"{API}/cases/", params)
    assert response.status_code == 200, response.content
    return set(_numbers(response))


def test_case_list_filters(global_admin, customer, five_cases) -> None:
    """status, open, customer, category, escalated and updated_since each narrow the list."""
    cases, other = five_cases
    n = {key: case.number for key, case in cases.items()}
    client = token_client(global_admin)
    assert _filtered(client) == set(n.values())
    assert _filtered(client, status="new") == {n["new"]}
    assert _filtered(client, status="escalated") == {n["with_microsoft"]}
    assert _filtered(client, status="closed") == {n["closed"]}
    assert _filtered(client, status="open") == {n["new"], n["question"], n["with_microsoft"]}
    assert _filtered(client, customer=other.pk) == {n["question"], n["was_escalated"]}
    assert _filtered(client, category="billing_question") == {n["question"]}
    assert _filtered(client, escalated="true") == {n["with_microsoft"], n["was_escalated"]}
    assert _filtered(client, escalated="false") == {n["new"], n["question"], n["closed"]}
    assert _filtered(client, status="open", customer=customer.pk) == {n["new"], n["with_microsoft"]}
    # updated_at: new 10 Jan, question 11, with_microsoft 12, was_escalated 13, closed 14 (09:00 UTC).
    assert _filtered(client, updated_since="2026-01-13T09:00:00+00:00") == {n["was_escalated"], n["closed"]}
    assert _filtered(client, updated_since="2026-01-13T10:00:00+01:00") == {n["was_escalated"], n["closed"]}
    assert _filtered(client, updated_since="2026-01-14T08:00:00Z") == {n["closed"]}
    listed = client.get(f"{API}/cases/").json()["results"]
    assert [row["number"] for row in listed] == [n[k] for k in reversed(list(cases))], "newest update first"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "2026-01-13"}, "updated_since"),
        ({"updated_since": "2026-01-13T09:00:00"}, "updated_since"),
        ({"status": "pending"}, "status"),
        ({"customer": "tailspin"}, "customer"),
        ({"category": "refund"}, "category"),
        ({"escalated": "maybe"}, "escalated"),
    ],
    ids=["words", "date-only", "no-zone", "status", "customer", "category", "escalated"],
)
def test_bad_filter_is_a_field_error(global_admin, case, params, field) -> None:
    """A filter value the API cannot read is a 400 on that parameter, not an empty list."""
    err = error(token_client(global_admin).get(f"{API}/cases/", params), 400, "invalid")
    assert set(err["fields"]) == {field}


def test_case_list_is_paginated_by_50(global_admin, customer) -> None:
    """Lists give count, next and 50 results a page."""
    for i in range(51):
        open_dispute(global_admin, customer, title=f"Dispute {i}")
    client = token_client(global_admin)
    first = client.get(f"{API}/cases/").json()
    assert first["count"] == 51
    assert len(first["results"]) == 50
    assert first["next"] and "page=2" in first["next"]
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    numbers = [row["number"] for row in first["results"] + second["results"]]
    assert len(set(numbers)) == 51


# --- 5. Create --------------------------------------------------------------------------------------


def create_body(customer, **overrides: Any) -> dict[str, Any]:
    body = {
        "customer": customer.pk,
        "category": "billing_dispute",
        "title": "Charged for 30 seats, using 25",
        "description": "The October invoice bills 30 seats; the customer cancelled 5 on 2 October.",
        "invoice_number": "G012345678",
        "disputed_amount": "412.50",
        "currency": "USD",
        "severity": "B",
        "billing_period": "2026-10",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not DROP}


DROP = object()


def test_open_a_case_with_every_field(global_admin, customer, subscription) -> None:
    """A full POST creates a new case and answers 201 with its detail."""
    response = token_client(global_admin).post(
        f"{API}/cases/", create_body(customer, subscription=subscription.pk), format="json"
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert re.fullmatch(r"CON-\d+", data["number"])
    assert data["status"] == "new"
    assert data["customer"] == customer.pk and data["customer_name"] == customer.company_name
    assert data["subscription"] == subscription.pk
    assert data["category"] == "billing_dispute"
    assert data["title"] == "Charged for 30 seats, using 25"
    assert data["invoice_number"] == "G012345678"
    assert data["disputed_amount"] == "412.50"  # exactly the currency's minor units, as a string
    assert data["currency"] == "USD"
    assert data["severity"] == "B"
    assert data["billing_period"] == "2026-10"
    assert data["assignee"] is None and data["escalation_target"] == ""
    assert [(e["kind"], e["actor"]) for e in data["timeline"]] == [("created", global_admin.user.email)]
    case = Case.objects.get(number=data["number"])
    assert case.disputed_amount == Decimal("412.50")
    assert case.billing_period == datetime.date(2026, 10, 1)
    assert case.created_by == global_admin.user


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"disputed_amount": "-412.50"}, "disputed_amount"),
        ({"disputed_amount": "1e5"}, "disputed_amount"),
        ({"disputed_amount": "412.50", "currency": "JPY"}, "disputed_amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"billing_period": "October"}, "billing_period"),
        ({"title": DROP}, "title"),
        ({"category": "refund"}, "category"),
    ],
    ids=["negative", "exponent", "jpy-decimals", "unknown-currency", "bad-month", "no-title", "bad-category"],
)
def test_bad_create_input_is_a_field_error(global_admin, customer, overrides, field) -> None:
    """Invalid input answers 400 with the field named, and opens no case."""
    response = token_client(global_admin).post(
        f"{API}/cases/", create_body(customer, **overrides), format="json"
    )
    err = error(response, 400, "invalid")
    assert field in err["fields"], err
    assert all(isinstance(m, str) and m for m in err["fields"][field])
    assert Case.objects.count() == 0


# --- 6. Idempotency-Key -----------------------------------------------------------------------------


def test_same_idempotency_key_replays_the_first_case(global_admin, customer) -> None:
    """A retry with the same key and body returns the same case, flagged as replayed, and opens no second."""
    client = token_client(global_admin)
    first = client.post(f"{API}/cases/", create_body(customer), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = client.post(f"{API}/cases/", create_body(customer), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert second["Idempotent-Replayed"] == "true"
    assert second.json()["number"] == first.json()["number"]
    assert Case.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_409(global_admin, customer) -> None:
    """Reusing a key for a different request is refused with idempotency_key_reused."""
    client = token_client(global_admin)
    client.post(f"{API}/cases/", create_body(customer), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    response = client.post(
        f"{API}/cases/", create_body(customer, title="Another"), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    error(response, 409, "idempotency_key_reused")
    assert Case.objects.count() == 1


def test_different_idempotency_keys_open_two_cases(global_admin, customer) -> None:
    """Two keys are two requests."""
    client = token_client(global_admin)
    a = client.post(f"{API}/cases/", create_body(customer), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    b = client.post(f"{API}/cases/", create_body(customer), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert a.status_code == b.status_code == 201
    assert a.json()["number"] != b.json()["number"]
    assert Case.objects.count() == 2


def test_idempotency_keys_are_per_user(global_admin, helpdesk_agent, customer) -> None:
    """Another user reusing the same key gets their own case, not someone else's."""
    a = token_client(global_admin).post(
        f"{API}/cases/", create_body(customer), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    b = token_client(helpdesk_agent).post(
        f"{API}/cases/", create_body(customer), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert a.status_code == b.status_code == 201
    assert "Idempotent-Replayed" not in b
    assert a.json()["number"] != b.json()["number"]
    assert Case.objects.get(number=b.json()["number"]).created_by == helpdesk_agent.user


def test_a_refused_request_does_not_use_up_its_idempotency_key(global_admin, customer) -> None:
    """A request refused by the model's rules leaves its key free for the corrected retry."""
    client = token_client(global_admin)
    bad = create_body(customer, currency="JPY")
    error(client.post(f"{API}/cases/", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-1"), 400, "invalid")
    good = client.post(f"{API}/cases/", create_body(customer), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert good.status_code == 201, good.content
    assert "Idempotent-Replayed" not in good
    assert Case.objects.count() == 1


# --- 7. Error shapes and status codes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("close/", None),
        ("escalate/", {"support_vehicle": "commercial", "severity": "A"}),
        ("reopen/", {"message": "x"}),
    ],
    ids=["close-new", "escalate-new", "reopen-new"],
)
def test_illegal_transition_is_409(global_admin, case, path, body) -> None:
    """A move the case's status does not allow answers 409 illegal_transition and changes nothing."""
    before = snapshot(case)
    err = error(
        token_client(global_admin).post(case_url(case, path), body, format="json"), 409, "illegal_transition"
    )
    assert "new" in err["message"]
    assert snapshot(case) == before


def test_closing_with_the_loop_open_is_409(global_admin, case) -> None:
    """A resolved case whose customer was not informed cannot be closed yet."""
    resolved(case, global_admin)
    error(token_client(global_admin).post(case_url(case, "close/"), format="json"), 409, "loop_open")


def test_validation_error_is_400_with_fields(global_admin, case) -> None:
    """Missing input answers 400 invalid with field errors."""
    client = token_client(global_admin)
    err = error(client.post(case_url(case, "comments/"), {}, format="json"), 400, "invalid")
    assert set(err["fields"]) == {"message"}
    start(case, global_admin)
    err = error(
        client.post(case_url(case, "resolve/"), {"resolution_summary": "Done."}, format="json"),
        400,
        "invalid",
    )
    assert set(err["fields"]) == {"outcome"}, "a billing dispute needs an outcome"
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS


def test_missing_permission_is_403_and_another_partners_case_is_404(user_admin, case, fabrikam_case) -> None:
    """A role without the right gets 403 on its own case and 404 on another partner's."""
    client = token_client(user_admin)
    error(client.post(case_url(case, "start/"), format="json"), 403, "permission_denied")
    error(client.post(case_url(fabrikam_case, "start/"), format="json"), 404, "not_found")


@pytest.fixture
def three_a_minute(settings) -> Iterator[None]:
    """The token throttle lowered to 3 requests a minute for one test."""
    from rest_framework.settings import api_settings

    had_own = "THROTTLE_RATES" in TokenRateThrottle.__dict__
    saved = TokenRateThrottle.__dict__.get("THROTTLE_RATES")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/minute"}}
    api_settings.reload()
    TokenRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    try:
        yield
    finally:
        if had_own:
            TokenRateThrottle.THROTTLE_RATES = saved
        else:
            del TokenRateThrottle.THROTTLE_RATES
        api_settings.reload()


def test_too_many_requests_are_throttled_per_token(three_a_minute, global_admin) -> None:
    """The fourth request in a minute answers 429 throttled with Retry-After; another token is unaffected."""
    client = token_client(global_admin)
    for _ in range(3):
        assert client.get(f"{API}/cases/").status_code == 200
    response = client.get(f"{API}/cases/")
    error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert token_client(global_admin).get(f"{API}/cases/").status_code == 200


def test_errors_are_in_the_callers_language(global_admin, case) -> None:
    """With Accept-Language: ja the illegal-transition message is the Japanese catalogue's text."""
    msgid = "A case that is %(status)s cannot be moved this way (%(transition)s)."
    expected = {}
    for language in ("en", "ja"):
        with translation.override(language):
            expected[language] = translation.gettext(msgid) % {
                "status": Status.NEW.label.lower(),
                "transition": Transition.CLOSE.label.lower(),
            }
    assert expected["ja"] != expected["en"], "the Japanese catalogue translates the message"
    client = token_client(global_admin)
    ja = error(
        client.post(case_url(case, "close/"), format="json", HTTP_ACCEPT_LANGUAGE="ja"),
        409,
        "illegal_transition",
    )
    en = error(
        client.post(case_url(case, "close/"), format="json", HTTP_ACCEPT_LANGUAGE="en"),
        409,
        "illegal_transition",
    )
    assert ja["message"] == expected["ja"]
    assert en["message"] == expected["en"]


ERROR_MESSAGES: dict[str, tuple[str, Callable[..., Any]]] = {
    "no-token": (
        "Send a personal API token: Authorization: Bearer <token>.",
        lambda w: APIClient().get(f"{API}/cases/", HTTP_ACCEPT_LANGUAGE="ja"),
    ),
    "unknown-token": (
        "The token is not valid, or it was revoked.",
        lambda w: key_client("csp_unknown").get(f"{API}/cases/", HTTP_ACCEPT_LANGUAGE="ja"),
    ),
    "no-partner": (
        "Your account does not belong to a partner organisation.",
        lambda w: w["no_partner"].get(f"{API}/cases/", HTTP_ACCEPT_LANGUAGE="ja"),
    ),
    "role": (
        "Your role does not allow this.",
        lambda w: w["user_admin"].post(
            case_url(w["case"], "start/"), format="json", HTTP_ACCEPT_LANGUAGE="ja"
        ),
    ),
    "other-partner": (
        "Not found.",
        lambda w: w["user_admin"].get(case_url(w["fabrikam_case"]), HTTP_ACCEPT_LANGUAGE="ja"),
    ),
    "invalid": (
        "The request has invalid fields.",
        lambda w: w["user_admin"].post(
            case_url(w["case"], "comments/"), {}, format="json", HTTP_ACCEPT_LANGUAGE="ja"
        ),
    ),
}


@pytest.mark.parametrize("kind", list(ERROR_MESSAGES))
def test_every_kind_of_error_is_in_the_callers_language(
    member, user_admin, case, fabrikam_case, kind
) -> None:
    """401, 403, 404 and 400 messages follow Accept-Language like the 409 does."""
    msgid, send = ERROR_MESSAGES[kind]
    with translation.override("ja"):
        expected = translation.gettext(msgid)
    assert expected != msgid, "the Japanese catalogue translates the message"
    _token, key = ApiToken.issue(user=member, name="test")
    world = {
        "no_partner": key_client(key),
        "user_admin": token_client(user_admin),
        "case": case,
        "fabrikam_case": fabrikam_case,
    }
    response = send(world)
    assert response.status_code >= 400
    assert response.json()["error"]["message"] == expected


@pytest.mark.parametrize(
    ("actor_fixture", "setup", "status", "code"),
    [
        ("billing_admin", escalated, 403, "permission_denied"),
        ("global_admin", lambda case, boss: None, 409, "not_escalated"),
    ],
    ids=["role-lacks-escalate", "case-not-escalated"],
)
def test_a_refused_patch_changes_nothing(
    request, global_admin, helpdesk_agent, case, actor_fixture, setup, status, code
) -> None:
    """A PATCH of assignee and support_request_number is all or nothing: when one part is refused, neither applies."""
    setup(case, global_admin)
    case.refresh_from_db()
    before = snapshot(case)
    actor = request.getfixturevalue(actor_fixture)
    response = token_client(actor).patch(
        case_url(case), {"assignee": helpdesk_agent.user.pk, "support_request_number": "SR-1"}, format="json"
    )
    error(response, status, code)
    case.refresh_from_db()
    assert case.assignee_id == before["row"]["assignee_id"], "the assignment must not survive a refused PATCH"
    assert snapshot(case) == before


@pytest.mark.parametrize(
    "path",
    ["cases/con-1001/", "cases/CON-1001/attachments/evidence.pdf/", "no-such-collection/"],
    ids=["lowercase-number", "attachment-id-not-a-number", "unknown-collection"],
)
def test_an_api_url_that_matches_no_route_answers_the_json_error_shape(global_admin, case, path) -> None:
    """Even a URL no route matches answers 404 as {"error": {"code": "not_found", ...}}, not an HTML page."""
    response = token_client(global_admin).get(f"{API}/{path}")
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error(response, 404, "not_found")


# --- 8. Case detail and journeys --------------------------------------------------------------------


def test_case_detail_has_timeline_notifications_and_attachments(global_admin, case, helpdesk_agent) -> None:
    """The detail shows who did what, the customer's resolution e-mail and the evidence."""
    services.case_attach(case=case, actor=helpdesk_agent, upload=pdf_upload())
    resolved(case, global_admin)
    data = token_client(global_admin).get(case_url(case)).json()
    timeline = [(e["kind"], e["actor"], e["from_status"], e["to_status"]) for e in data["timeline"]]
    assert timeline == [
        ("created", helpdesk_agent.user.email, "", ""),
        ("attachment", helpdesk_agent.user.email, "", ""),
        ("status", global_admin.user.email, "new", "in_progress"),
        ("status", global_admin.user.email, "in_progress", "resolved"),
        ("notification", global_admin.user.email, "", ""),
    ]
    assert all(e["created_at"] for e in data["timeline"])
    assert [(n["kind"], n["status"], n["recipient"]) for n in data["notifications"]] == [
        ("resolution", "pending", "billing@tailspintoys.example")
    ]
    assert data["notifications"][0]["language"] == "ja"
    assert [(a["original_name"], a["content_type"], a["size"]) for a in data["attachments"]] == [
        ("inv.pdf", "application/pdf", len(PDF))
    ]
    assert data["outcome"] == "credit" and data["credit_amount"] == "50.00"


@pytest.mark.parametrize(
    ("member_fixture", "customer_fixture", "currency", "target", "prefix"),
    [
        ("helpdesk_agent", "customer", "USD", "microsoft", "CON"),
        ("outsider", "fabrikam_customer", "CNY", "21vianet", "FAB"),
    ],
    ids=["contoso-to-microsoft", "fabrikam-to-21vianet"],
)
def test_full_journey_through_the_api(
    request, member_fixture, customer_fixture, currency, target, prefix
) -> None:
    """Create, start, attach, escalate, record the SR, resolve with credit: the detail tells the whole story."""
    member = request.getfixturevalue(member_fixture)
    customer = request.getfixturevalue(customer_fixture)
    client = token_client(member)
    created = client.post(f"{API}/cases/", create_body(customer, currency=currency), format="json")
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    assert number.startswith(prefix + "-")
    url = f"{API}/cases/{number}/"

    assert client.post(url + "start/", format="json").json()["status"] == "in_progress"
    upload = client.post(url + "attachments/", {"file": pdf_upload()}, format="multipart")
    assert upload.status_code == 201, upload.content
    assert upload.json()["original_name"] == "inv.pdf" and upload.json()["size"] == len(PDF)
    escalation = client.post(
        url + "escalate/", {"support_vehicle": "commercial", "severity": "A"}, format="json"
    )
    assert escalation.status_code == 200, escalation.content
    assert escalation.json()["status"] == "escalated"
    sr = client.patch(url, {"support_request_number": "2610010040000123"}, format="json")
    assert sr.status_code == 200, sr.content
    resolution = client.post(
        url + "resolve/",
        {"resolution_summary": "Credit of 100 issued.", "outcome": "credit", "credit_amount": "100.00"},
        format="json",
    )
    assert resolution.status_code == 200, resolution.content

    data = client.get(url).json()
    assert data["status"] == "resolved"
    assert data["escalation_target"] == target
    assert data["support_vehicle"] == "commercial" and data["escalation_severity"] == "A"
    assert data["support_request_number"] == "2610010040000123"
    assert data["outcome"] == "credit" and data["credit_amount"] == "100.00"
    assert data["resolution_summary"] == "Credit of 100 issued."
    assert [(e["kind"], e["from_status"], e["to_status"]) for e in data["timeline"]] == [
        ("created", "", ""),
        ("status", "new", "in_progress"),
        ("attachment", "", ""),
        ("status", "in_progress", "escalated"),
        ("support_request", "", ""),
        ("status", "escalated", "resolved"),
        ("notification", "", ""),
    ]
    assert {e["actor"] for e in data["timeline"]} == {member.user.email}
    assert data["timeline"][3]["data"]["target"] == target
    assert [(n["kind"], n["status"]) for n in data["notifications"]] == [("resolution", "pending")]
    assert [a["id"] for a in data["attachments"]] == [upload.json()["id"]]

    download = client.get(url + f"attachments/{upload.json()['id']}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Disposition"].startswith("attachment")
    assert 'filename="inv.pdf"' in download["Content-Disposition"]
    # One binary type for every file (what generated clients read as a file); the type is the attachment's.
    assert download["Content-Type"] == "application/octet-stream"
    download.close()


def test_disguised_upload_is_a_field_error_on_file(global_admin, case) -> None:
    """PNG bytes named .pdf are refused on the file field and nothing is attached."""
    response = token_client(global_admin).post(
        case_url(case, "attachments/"), {"file": pdf_upload("inv.pdf", PNG)}, format="multipart"
    )
    err = error(response, 400, "invalid")
    assert set(err["fields"]) == {"file"}
    assert "PNG" in err["fields"]["file"][0]
    assert not Attachment.objects.exists()
    assert not CaseEvent.objects.filter(case=case, kind=EventKind.ATTACHMENT).exists()


# --- 9. Guidance ---------------------------------------------------------------------------------------


@pytest.fixture
def seeded(db) -> None:
    """The guidance seed imported, as `make run` does."""
    call_command("import_guidance", str(CONTENT), verbosity=0)


def _article(client, **params) -> dict[str, Any]:
    response = client.get(f"{API}/guidance/", params)
    assert response.status_code == 200, response.content
    rows = [row for row in response.json() if row["slug"] == SLUG]
    assert len(rows) == 1
    return rows[0]


def test_guidance_list_carries_translation_flags(seeded, helpdesk_agent) -> None:
    """The Japanese text is outdated, the Simplified Chinese one machine-translated."""
    client = token_client(helpdesk_agent)
    ja = _article(client, lang="ja", cloud="global")
    assert ja["cloud"] == "global" and ja["title"]
    assert ja["translation"]["language"] == "ja" and ja["translation"]["content_language"] == "ja"
    assert ja["translation"]["outdated"] is True
    assert ja["translation"]["missing"] is False
    zh = _article(client, lang="zh-hans", cloud="global")
    assert zh["translation"]["machine_translated"] is True
    assert zh["translation"]["outdated"] is False
    assert ja["title"] != _article(client, lang="en", cloud="global")["title"]


def test_guidance_article_in_russian(seeded, helpdesk_agent) -> None:
    """One article gives its Markdown and sanitised HTML; Russian has no English sentences to show."""
    response = token_client(helpdesk_agent).get(f"{API}/guidance/{SLUG}/", {"lang": "ru", "cloud": "global"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["slug"] == SLUG
    assert data["body_markdown"].strip() and data["body_html"].strip()
    assert "<script" not in data["body_html"].lower()
    assert "data-ttu-id" not in data["body_html"]
    assert data["translation"]["content_language"] == "ru"
    assert data["translation"]["bilingual"] is False


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("", {"lang": "xx", "cloud": "global"}, "lang"),
        ("", {"lang": "ja", "cloud": "azure"}, "cloud"),
        (f"{SLUG}/", {"lang": "klingon"}, "lang"),
        (f"{SLUG}/", {"cloud": "mooncake"}, "cloud"),
    ],
    ids=["list-lang", "list-cloud", "detail-lang", "detail-cloud"],
)
def test_guidance_unknown_language_or_cloud_is_400(seeded, helpdesk_agent, path, params, field) -> None:
    """Only the five languages and two clouds are accepted."""
    err = error(token_client(helpdesk_agent).get(f"{API}/guidance/{path}", params), 400, "invalid")
    assert set(err["fields"]) == {field}


def test_guidance_unknown_slug_is_404(seeded, helpdesk_agent) -> None:
    """An article that does not exist answers 404 not_found."""
    error(token_client(helpdesk_agent).get(f"{API}/guidance/no-such-article/"), 404, "not_found")


# --- 10. Tokens, the command, the schema and the docs -------------------------------------------------

TOKENS_PAGE = "/en/accounts/api-tokens/"
KEY = re.compile(r"csp_[A-Za-z0-9_\-]{40,}")  # a whole key; the list shows only its first 10 characters


def test_tokens_page_creates_shows_once_lists_and_revokes(client, global_admin) -> None:
    """A token is shown only on the page that created it, is listed by prefix, and stops working when revoked."""
    force_login_with_code(client, global_admin.user)
    created = client.post(TOKENS_PAGE, {"name": "PSA integration"})
    assert created.status_code == 200
    html = created.content.decode()
    keys = set(KEY.findall(html))
    assert len(keys) == 1, keys
    key = keys.pop()
    token = ApiToken.objects.get(user=global_admin.user)
    assert token.name == "PSA integration" and token.key_hash == ApiToken.hash(key)
    assert key.startswith(token.key_prefix)
    assert key_client(key).get(f"{API}/cases/").status_code == 200

    reloaded = client.get(TOKENS_PAGE).content.decode()
    assert key not in reloaded
    assert f"{token.key_prefix}…" in reloaded
    assert "PSA integration" in reloaded

    revoked = client.post(TOKENS_PAGE, {"revoke": token.pk, "confirm": "1"})
    assert revoked.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    error(key_client(key).get(f"{API}/cases/"), 401, "authentication_failed")


def test_tokens_page_cannot_revoke_someone_elses_token(client, global_admin, helpdesk_agent) -> None:
    """Revoking is limited to one's own tokens."""
    token, key = ApiToken.issue(user=helpdesk_agent.user, name="theirs")
    client.force_login(global_admin.user)
    assert client.post(TOKENS_PAGE, {"revoke": token.pk, "confirm": "1"}).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert key_client(key).get(f"{API}/cases/").status_code == 200


def test_create_api_token_command_prints_a_working_key(global_admin) -> None:
    """The command prints the key alone on its last line, and the key authenticates."""
    out = StringIO()
    call_command("create_api_token", global_admin.user.email.upper(), "--name", "PSA", stdout=out)
    key = out.getvalue().splitlines()[-1]
    assert KEY.fullmatch(key)
    token = ApiToken.objects.get(key_hash=ApiToken.hash(key))
    assert token.name == "PSA" and token.user == global_admin.user
    assert key_client(key).get(f"{API}/cases/").status_code == 200


def test_create_api_token_command_refuses_unknown_or_deactivated_users(global_admin, helpdesk_agent) -> None:
    """An unknown e-mail address or a deactivated account is a CommandError, and no token is made."""
    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody@contoso.example", stdout=StringIO())
    services.member_set_active(actor=global_admin, membership=helpdesk_agent, active=False)
    with pytest.raises(CommandError):
        call_command("create_api_token", helpdesk_agent.user.email, stdout=StringIO())
    assert not ApiToken.objects.exists()


def test_schema_and_docs_need_no_token_and_no_cdn(db) -> None:
    """The OpenAPI schema and Swagger UI answer without a token, served from the portal's own static files."""
    client = APIClient()
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "openapi" in text and "/api/v1/cases/" in text and "bearerAuth" in text
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


# --- The case list's representation ------------------------------------------------------------------


@pytest.mark.parametrize("with_everything", [True, False], ids=["every-field-set", "empty-fields"])
def test_case_list_representation_is_drfs_own(helpdesk_agent, customer, with_everything) -> None:
    """CaseSerializer's direct representation gives what DRF's field-by-field one gives, value for value."""
    from rest_framework import serializers

    from cases.api import CaseSerializer

    if with_everything:
        case = open_dispute(helpdesk_agent, customer, billing_period=datetime.date(2026, 10, 1))
        case = services.case_assign(case=case, actor=helpdesk_agent, assignee=helpdesk_agent.user)
    else:
        case = services.case_create(
            actor=helpdesk_agent, customer=customer, category="billing_question", title="Q", description="?"
        )
    case = Case.objects.with_list_columns().get(pk=case.pk)
    serializer = CaseSerializer()
    assert serializer.to_representation(case) == serializers.ModelSerializer.to_representation(
        serializer, case
    )
    assert list(serializer.to_representation(case)) == list(serializer.fields)


@pytest.mark.parametrize(
    ("currency", "amount", "written"),
    [
        ("USD", "980", "980.00"),
        ("JPY", "41250", "41250"),
        ("KWD", "512.5", "512.500"),
        ("EUR", "60.5", "60.50"),
    ],
)
def test_amounts_are_written_with_the_currencys_minor_units(
    global_admin, customer, currency, amount, written
):
    """The list, the detail and a credit all write an amount as the currency writes it."""
    client = token_client(global_admin)
    created = client.post(
        f"{API}/cases/", create_body(customer, disputed_amount=amount, currency=currency), format="json"
    )
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    assert created.json()["disputed_amount"] == written
    listed = {row["number"]: row for row in client.get(f"{API}/cases/").json()["results"]}
    assert listed[number]["disputed_amount"] == written
    case = Case.objects.get(number=number)
    resolved(case, global_admin)
    assert client.get(f"{API}/cases/{number}/").json()["credit_amount"] == (
        "50.00" if currency in ("USD", "EUR") else "50" if currency == "JPY" else "50.000"
    )


def test_a_message_can_pause_the_clock_and_the_case_shows_its_due_times(helpdesk_agent, case) -> None:
    """wait_for_answer pauses the service-level clock; the case's detail carries the stored due times."""
    client = token_client(helpdesk_agent)
    response = client.post(
        case_url(case, "messages/"), {"message": "Which seats?", "wait_for_answer": True}, format="json"
    )
    assert response.status_code == 201
    detail = client.get(case_url(case)).json()
    assert detail["clock_paused_at"] is not None
    assert detail["next_due_at"] is None
    case = services.case_start(case=case, actor=helpdesk_agent)
    detail = client.get(case_url(case)).json()
    assert detail["clock_paused_at"] is None
    assert detail["first_response_due_at"] and detail["resolution_due_at"]
    assert detail["escalation_response_due_at"] is None


@pytest.mark.parametrize("value", [0, 1, "true", None])
def test_wait_for_answer_takes_only_a_json_boolean(helpdesk_agent, case, value) -> None:
    """Anything but true or false is a 400 naming the field, and nothing is sent."""
    response = token_client(helpdesk_agent).post(
        case_url(case, "messages/"), {"message": "Which seats?", "wait_for_answer": value}, format="json"
    )
    assert response.status_code == 400
    assert "wait_for_answer" in response.json()["error"]["fields"]
    assert not case.notifications.exists()
