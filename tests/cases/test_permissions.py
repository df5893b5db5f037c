"""Every cell of the permission table, through the real pages: allowed means done, denied means 403."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases import services
from cases.models import Case, CaseEvent, Membership, ServiceLevel, Status, SubscriptionStatus
from cases.permissions import PERMISSIONS, Action, Role, allowed_actions, roles_allow
from tests.cast import open_dispute

pytestmark = pytest.mark.django_db


def in_progress(case: Case, boss) -> Case:
    return services.case_start(case=case, actor=boss)


def attempt_view(client, case, setup, customer, subscription):
    response = client.get(case.get_absolute_url())
    return response.status_code, response.status_code == 200


def attempt_open(client, case, setup, customer, subscription):
    before = Case.objects.count()
    response = client.post(
        reverse("cases:create"),
        {
            "customer": customer.pk,
            "category": "billing_question",
            "title": "Why prorated?",
            "description": "Why?",
            "severity": "C",
        },
    )
    return response.status_code, Case.objects.count() == before + 1


def attempt_comment(client, case, setup, customer, subscription):
    response = client.post(reverse("cases:comment", args=[case.number]), {"message": "Called the customer."})
    return response.status_code, CaseEvent.objects.filter(case=case, kind="comment").exists()


def attempt_work(client, case, setup, customer, subscription):
    response = client.post(reverse("cases:transition", args=[case.number, "start"]))
    case.refresh_from_db()
    return response.status_code, case.status == Status.IN_PROGRESS


def attempt_escalate(client, case, setup, customer, subscription):
    in_progress(case, setup)
    response = client.post(
        reverse("cases:transition", args=[case.number, "escalate"]),
        {"support_vehicle": "commercial", "severity": "B", "support_request_number": ""},
    )
    case.refresh_from_db()
    return response.status_code, case.status == Status.ESCALATED


def attempt_resolve(client, case, setup, customer, subscription):
    in_progress(case, setup)
    response = client.post(
        reverse("cases:transition", args=[case.number, "resolve"]),
        {"resolution_summary": "Credit issued.", "outcome": "credit", "credit_amount": "100"},
    )
    case.refresh_from_db()
    return response.status_code, case.status == Status.RESOLVED


def attempt_reopen(client, case, setup, customer, subscription):
    in_progress(case, setup)
    services.case_resolve(case=case, actor=setup, resolution_summary="Upheld.", outcome="upheld")
    response = client.post(
        reverse("cases:transition", args=[case.number, "reopen"]), {"message": "Not fixed."}
    )
    case.refresh_from_db()
    return response.status_code, case.status == Status.IN_PROGRESS


def attempt_suspend(client, case, setup, customer, subscription):
    response = client.post(
        reverse("cases:subscription", args=[customer.pk, subscription.pk, "suspend"]),
        {"reason": "Unpaid 60 days.", "confirm": "1"},
    )
    subscription.refresh_from_db()
    return response.status_code, subscription.status == SubscriptionStatus.SUSPENDED


def attempt_audit(client, case, setup, customer, subscription):
    response = client.get(reverse("cases:audit"))
    return response.status_code, response.status_code == 200 and b"audit-table" in response.content


def attempt_report(client, case, setup, customer, subscription):
    response = client.get(reverse("cases:reports"))
    return response.status_code, response.status_code == 200 and b'class="chart"' in response.content


def attempt_manage_users(client, case, setup, customer, subscription):
    response = client.post(
        reverse("cases:team"),
        {"email": "new.person@contoso.example", "full_name": "New Person", "roles": ["sales_agent"]},
    )
    return response.status_code, Membership.objects.filter(user__email="new.person@contoso.example").exists()


def attempt_webhooks(client, case, setup, customer, subscription):
    from webhooks.models import WebhookEndpoint

    response = client.post(
        reverse("webhooks:list"), {"url": "https://hooks.contoso.example/portal", "events": ["case.created"]}
    )
    return response.status_code, WebhookEndpoint.objects.filter(partner=case.partner).exists()


def attempt_service_levels(client, case, setup, customer, subscription):
    data = {"time_zone": "Europe/Berlin", "holiday_country": "DE", "hours_0": "09:00-17:00"}
    data.update(
        {f"{kind}_{sev}": "60" for kind in ("first_response", "resolution", "escalation") for sev in "abc"}
    )
    response = client.post(reverse("cases:service_levels"), data)
    return response.status_code, ServiceLevel.objects.filter(time_zone="Europe/Berlin").exists()


ATTEMPTS = {
    Action.VIEW: attempt_view,
    Action.OPEN: attempt_open,
    Action.COMMENT: attempt_comment,
    Action.WORK: attempt_work,
    Action.ESCALATE: attempt_escalate,
    Action.RESOLVE: attempt_resolve,
    Action.REOPEN: attempt_reopen,
    Action.SUSPEND: attempt_suspend,
    Action.MANAGE_USERS: attempt_manage_users,
    Action.AUDIT: attempt_audit,
    Action.WEBHOOKS: attempt_webhooks,
    Action.SERVICE_LEVELS: attempt_service_levels,
    Action.REPORT: attempt_report,
}


def test_every_action_has_an_attempt_and_a_row() -> None:
    """The table and this test cover the same actions, so no cell goes untested."""
    assert set(ATTEMPTS) == set(Action.values) == set(PERMISSIONS)


@pytest.mark.parametrize("action", Action.values)
@pytest.mark.parametrize("role", Role.values)
def test_role_action_cell(client, cast, global_admin, customer, subscription, role: str, action: str) -> None:
    """Each role can do exactly what its row allows; anything else is 403 and changes nothing."""
    actor = cast[role]
    case = open_dispute(global_admin, customer)
    client.force_login(actor.user)
    status, done = ATTEMPTS[action](client, case, global_admin, customer, subscription)
    if role in PERMISSIONS[action]:
        assert status in (200, 302), f"{role} should be able to {action}"
        assert done, f"{role} was allowed to {action} but nothing happened"
    else:
        assert status == 403, f"{role} must not be able to {action} (got {status})"
        assert not done


def test_table_matches_partner_center_defaults() -> None:
    """Escalation, non-payment and user management follow Partner Center's roles (DOMAIN.md)."""
    assert PERMISSIONS[Action.ESCALATE] == {Role.GLOBAL_ADMIN, Role.HELPDESK_AGENT, Role.SALES_AGENT}
    assert PERMISSIONS[Action.SUSPEND] == {Role.GLOBAL_ADMIN, Role.USER_ADMIN, Role.BILLING_ADMIN}
    assert PERMISSIONS[Action.OPEN] == set(Role.values)
    assert PERMISSIONS[Action.MANAGE_USERS] == {Role.GLOBAL_ADMIN, Role.USER_ADMIN}


def test_several_roles_combine() -> None:
    """A user holding two roles may do what either allows."""
    roles = [Role.SALES_AGENT, Role.BILLING_ADMIN]
    assert roles_allow(roles, Action.ESCALATE) and roles_allow(roles, Action.SUSPEND)
    assert not roles_allow(roles, Action.MANAGE_USERS)
    assert allowed_actions(roles) == frozenset(Action.values) - {
        Action.MANAGE_USERS,
        Action.AUDIT,
        Action.WEBHOOKS,
        Action.SERVICE_LEVELS,
    }
    assert roles_allow(roles, Action.REPORT)


def test_deactivated_user_can_do_nothing(client, helpdesk_agent, global_admin, case) -> None:
    """A deactivated account cannot sign in, and its membership no longer passes the services."""
    services.member_set_active(actor=global_admin, membership=helpdesk_agent, active=False)
    helpdesk_agent.user.refresh_from_db()
    with pytest.raises(services.PermissionDenied):
        services.case_comment(case=case, actor=Membership.objects.get(pk=helpdesk_agent.pk), message="x")
    client.force_login(helpdesk_agent.user)
    assert client.get(case.get_absolute_url()).status_code in (302, 403)


def test_user_without_membership_is_refused_partner_pages(client, staff) -> None:
    """Portal staff without a partner see a clear 403 on partner pages."""
    client.force_login(staff)
    response = client.get(reverse("cases:dashboard"))
    assert response.status_code == 403
    assert "does not belong to a partner organisation" in response.content.decode()


def test_anonymous_visitor_is_sent_to_sign_in(client, contoso) -> None:
    """Partner pages need sign-in."""
    response = client.get(reverse("cases:dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith("/en/accounts/login/")


def test_readme_shows_the_same_table() -> None:
    """The README's permission table is the code's table, cell by cell."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| ") and "(`" in line and "✓" in line]
    shown = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        action = cells[0].split("(`")[1].rstrip("`)")
        shown[action] = {role for role, cell in zip(Role.values, cells[1:], strict=True) if cell == "✓"}
    assert shown == {action: set(roles) for action, roles in PERMISSIONS.items()}
