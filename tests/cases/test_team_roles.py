"""Who may grant, remove, deactivate and keep the Global admin role: through the services, the team page and
Django admin. A User admin manages users but cannot make anyone (itself included) Global admin."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.urls import reverse

from cases import services
from cases.models import Membership
from cases.permissions import Role
from tests.cast import member as make_member

pytestmark = pytest.mark.django_db

GA, UA, HA, BA = Role.GLOBAL_ADMIN, Role.USER_ADMIN, Role.HELPDESK_AGENT, Role.BILLING_ADMIN

ONLY_GA_GRANTS = "Only a Global admin can grant or remove the Global admin role."
ONLY_GA_DEACTIVATES = "Only a Global admin can deactivate or reactivate a Global admin."
NOT_YOUR_OWN_ROLES = "You cannot change your own roles."
NOT_YOURSELF = "You cannot deactivate your own account."
LAST_GA = "Every partner needs an active Global admin: make someone else Global admin first."


@pytest.fixture
def second_global_admin(contoso, password) -> Membership:
    return make_member(contoso, GA, "second.admin@contoso.example", password)


def roles_of(membership: Membership) -> list[str]:
    return Membership.objects.get(pk=membership.pk).roles


def is_active(membership: Membership) -> bool:
    return get_user_model().objects.get(pk=membership.user_id).is_active


def post_roles(client, membership: Membership, roles: list[str]):
    return client.post(reverse("cases:member", args=[membership.pk]), {"operation": "roles", "roles": roles})


def post_active(client, membership: Membership, operation: str):
    return client.post(
        reverse("cases:member", args=[membership.pk]), {"operation": operation, "confirm": "1"}
    )


def assert_refused(response, status: int, message: str) -> None:
    """The team page comes back with the reason, not a redirect and never a 500."""
    assert response.status_code == status
    assert message in response.content.decode()
    assert response.templates[0].name == "cases/team.html"


# --- A User admin cannot reach Global admin ------------------------------------------------------


def test_user_admin_cannot_make_itself_global_admin(user_admin) -> None:
    """The service refuses a User admin's own promotion, and its roles stay as they were."""
    with pytest.raises(services.CaseActionError) as refused:
        services.member_set_roles(actor=user_admin, membership=user_admin, roles=[UA, GA])
    assert (refused.value.code, refused.value.message) == ("self", NOT_YOUR_OWN_ROLES)
    assert roles_of(user_admin) == [UA]


def test_user_admin_cannot_make_itself_global_admin_on_the_team_page(client, user_admin) -> None:
    """A forged POST for its own row is a 409 with the reason; the roles are unchanged."""
    client.force_login(user_admin.user)
    assert_refused(post_roles(client, user_admin, [GA, UA]), 409, NOT_YOUR_OWN_ROLES)
    assert roles_of(user_admin) == [UA]


def test_user_admin_cannot_make_a_colleague_global_admin(user_admin, helpdesk_agent) -> None:
    """Granting Global admin is for Global admins: the service raises PermissionDenied."""
    with pytest.raises(PermissionDenied, match=ONLY_GA_GRANTS):
        services.member_set_roles(actor=user_admin, membership=helpdesk_agent, roles=[GA])
    assert roles_of(helpdesk_agent) == [HA]


def test_user_admin_cannot_make_a_colleague_global_admin_on_the_team_page(
    client, user_admin, helpdesk_agent
) -> None:
    """The page answers 403 with the reason, and the colleague's roles are unchanged."""
    client.force_login(user_admin.user)
    assert_refused(post_roles(client, helpdesk_agent, [GA, HA]), 403, ONLY_GA_GRANTS)
    assert roles_of(helpdesk_agent) == [HA]


def test_user_admin_cannot_invite_a_global_admin(user_admin) -> None:
    """An invitation is a grant too: refused, and no account is created."""
    with pytest.raises(PermissionDenied, match=ONLY_GA_GRANTS):
        services.member_invite(
            actor=user_admin, email="accomplice@contoso.example", full_name="Accomplice", roles=[GA]
        )
    assert not get_user_model().objects.filter(email="accomplice@contoso.example").exists()


def test_user_admin_cannot_invite_a_global_admin_on_the_team_page(client, user_admin) -> None:
    """The invitation form shows the reason on its roles field (403), and nobody is invited."""
    client.force_login(user_admin.user)
    response = client.post(
        reverse("cases:team"),
        {"email": "accomplice@contoso.example", "full_name": "Accomplice", "roles": [GA]},
    )
    assert_refused(response, 403, ONLY_GA_GRANTS)
    assert response.context["form"].errors == {"roles": [ONLY_GA_GRANTS]}
    assert not get_user_model().objects.filter(email="accomplice@contoso.example").exists()


def test_the_refusal_is_in_the_readers_language(client, user_admin, helpdesk_agent) -> None:
    """The same refusal on the Japanese team page, in Japanese."""
    client.force_login(user_admin.user)
    response = client.post(
        f"/ja/team/{helpdesk_agent.pk}/", {"operation": "roles", "roles": [GA]}, HTTP_ACCEPT_LANGUAGE="ja"
    )
    assert response.status_code == 403
    assert (
        "グローバル管理者ロールを付与または削除できるのは、グローバル管理者だけです。"
        in response.content.decode()
    )
    assert roles_of(helpdesk_agent) == [HA]


def test_user_admin_cannot_demote_a_global_admin(user_admin, global_admin, second_global_admin) -> None:
    """Removing Global admin is for Global admins, even when another one would remain."""
    with pytest.raises(PermissionDenied, match=ONLY_GA_GRANTS):
        services.member_set_roles(actor=user_admin, membership=second_global_admin, roles=[HA])
    assert roles_of(second_global_admin) == [GA]


def test_user_admin_cannot_demote_a_global_admin_on_the_team_page(
    client, user_admin, global_admin, second_global_admin
) -> None:
    """The page answers 403 with the reason; the Global admin keeps the role."""
    client.force_login(user_admin.user)
    assert_refused(post_roles(client, second_global_admin, [HA]), 403, ONLY_GA_GRANTS)
    assert roles_of(second_global_admin) == [GA]


def test_user_admin_may_change_a_global_admins_other_roles(user_admin, global_admin) -> None:
    """Adding a role to a Global admin, who stays Global admin, is ordinary user management."""
    services.member_set_roles(actor=user_admin, membership=global_admin, roles=[GA, BA])
    assert roles_of(global_admin) == [GA, BA]


def test_user_admin_still_manages_the_other_roles(client, user_admin, helpdesk_agent) -> None:
    """Below Global admin, a User admin changes roles as before."""
    client.force_login(user_admin.user)
    response = post_roles(client, helpdesk_agent, [BA, UA])
    assert response.status_code == 302
    assert roles_of(helpdesk_agent) == [UA, BA]


def test_user_admin_cannot_deactivate_a_global_admin(user_admin, global_admin, second_global_admin) -> None:
    """Deactivating a Global admin is for Global admins: PermissionDenied, and the account stays active."""
    with pytest.raises(PermissionDenied, match=ONLY_GA_DEACTIVATES):
        services.member_set_active(actor=user_admin, membership=second_global_admin, active=False)
    assert is_active(second_global_admin)


def test_user_admin_cannot_deactivate_a_global_admin_on_the_team_page(
    client, user_admin, global_admin, second_global_admin
) -> None:
    """The page answers 403 with the reason; the account stays active."""
    client.force_login(user_admin.user)
    assert_refused(post_active(client, global_admin, "deactivate"), 403, ONLY_GA_DEACTIVATES)
    assert is_active(global_admin)


def test_user_admin_cannot_reactivate_a_global_admin(
    client, user_admin, global_admin, second_global_admin
) -> None:
    """Reactivating a Global admin is theirs to decide too, in the service and on the page."""
    services.member_set_active(actor=global_admin, membership=second_global_admin, active=False)
    with pytest.raises(PermissionDenied, match=ONLY_GA_DEACTIVATES):
        services.member_set_active(actor=user_admin, membership=second_global_admin, active=True)
    client.force_login(user_admin.user)
    assert_refused(post_active(client, second_global_admin, "activate"), 403, ONLY_GA_DEACTIVATES)
    assert not is_active(second_global_admin)


def test_user_admin_still_deactivates_other_colleagues(client, user_admin, helpdesk_agent) -> None:
    """Below Global admin, a User admin deactivates as before."""
    client.force_login(user_admin.user)
    assert post_active(client, helpdesk_agent, "deactivate").status_code == 302
    assert not is_active(helpdesk_agent)


def test_team_page_offers_a_user_admin_only_what_it_may_do(client, user_admin, global_admin) -> None:
    """No roles form on its own row, Global admin shown but not tickable, no deactivation of a Global admin."""
    client.force_login(user_admin.user)
    html = client.get(reverse("cases:team")).content.decode()
    assert reverse("cases:member", args=[user_admin.pk]) not in html
    global_admin_row = reverse("cases:member", args=[global_admin.pk])
    assert html.count(global_admin_row) == 1  # the roles form, without a deactivate button
    # The Global admin's role is carried by a hidden field, so saving their other roles keeps it.
    assert '<input type="hidden" name="roles" value="global_admin">' in html
    assert 'value="global_admin" checked disabled>' in html
    assert 'name="roles" value="global_admin" id="id_roles_0" disabled>' in html  # the invitation form


def test_team_page_offers_a_global_admin_the_global_admin_role(client, global_admin, user_admin) -> None:
    """A Global admin can tick Global admin for a colleague and in the invitation, and deactivate anyone else."""
    client.force_login(global_admin.user)
    html = client.get(reverse("cases:team")).content.decode()
    assert "disabled" not in html
    assert reverse("cases:member", args=[global_admin.pk]) not in html
    assert html.count(reverse("cases:member", args=[user_admin.pk])) == 2  # roles and deactivation


# --- Global admins: not their own roles, never the last one ---------------------------------------


def test_global_admin_promotes_a_colleague_to_global_admin(client, global_admin, user_admin) -> None:
    """The one grant that is allowed: a Global admin makes a colleague Global admin."""
    client.force_login(global_admin.user)
    response = post_roles(client, user_admin, [UA, GA])
    assert response.status_code == 302
    assert roles_of(user_admin) == [GA, UA]
    assert "Roles updated." in client.get(response["Location"]).content.decode()


def test_global_admin_invites_a_global_admin(client, global_admin) -> None:
    """A Global admin may invite a colleague as Global admin."""
    client.force_login(global_admin.user)
    response = client.post(
        reverse("cases:team"), {"email": "deputy@contoso.example", "full_name": "Deputy", "roles": [GA]}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user__email="deputy@contoso.example").roles == [GA]


def test_global_admin_demotes_and_deactivates_another_global_admin(
    client, global_admin, second_global_admin
) -> None:
    """With another active Global admin left, a Global admin may demote or deactivate a peer."""
    client.force_login(global_admin.user)
    assert post_roles(client, second_global_admin, [BA]).status_code == 302
    assert roles_of(second_global_admin) == [BA]
    services.member_set_roles(actor=global_admin, membership=second_global_admin, roles=[GA])
    assert post_active(client, second_global_admin, "deactivate").status_code == 302
    assert not is_active(second_global_admin)


def test_global_admin_cannot_demote_itself(global_admin, second_global_admin) -> None:
    """Even with a second Global admin, nobody edits their own roles."""
    with pytest.raises(services.CaseActionError) as refused:
        services.member_set_roles(actor=global_admin, membership=global_admin, roles=[HA])
    assert (refused.value.code, refused.value.message) == ("self", NOT_YOUR_OWN_ROLES)
    assert roles_of(global_admin) == [GA]


def test_global_admin_cannot_demote_itself_on_the_team_page(
    client, global_admin, second_global_admin
) -> None:
    """A 409 with the reason; the roles are unchanged and the page offers no form for one's own row."""
    client.force_login(global_admin.user)
    assert_refused(post_roles(client, global_admin, [HA]), 409, NOT_YOUR_OWN_ROLES)
    assert roles_of(global_admin) == [GA]
    assert (
        reverse("cases:member", args=[global_admin.pk])
        not in client.get(reverse("cases:team")).content.decode()
    )


def test_the_last_global_admin_can_be_neither_demoted_nor_deactivated(
    client, global_admin, user_admin
) -> None:
    """Contoso's only Global admin: the only one who could demote or deactivate them is themselves, refused."""
    with pytest.raises(services.CaseActionError, match=NOT_YOUR_OWN_ROLES):
        services.member_set_roles(actor=global_admin, membership=global_admin, roles=[UA])
    with pytest.raises(services.CaseActionError, match=NOT_YOURSELF):
        services.member_set_active(actor=global_admin, membership=global_admin, active=False)
    with pytest.raises(PermissionDenied):
        services.member_set_active(actor=user_admin, membership=global_admin, active=False)
    client.force_login(global_admin.user)
    assert_refused(post_roles(client, global_admin, [UA]), 409, NOT_YOUR_OWN_ROLES)
    assert_refused(post_active(client, global_admin, "deactivate"), 409, NOT_YOURSELF)
    assert roles_of(global_admin) == [GA] and is_active(global_admin)


def test_a_bad_roles_post_is_a_400_with_the_reason(client, global_admin, helpdesk_agent) -> None:
    """No role, or one that does not exist: the page says so, never a 500."""
    client.force_login(global_admin.user)
    assert_refused(post_roles(client, helpdesk_agent, []), 400, "Choose at least one role.")
    assert_refused(post_roles(client, helpdesk_agent, ["owner"]), 400, "Choose at least one role.")
    assert roles_of(helpdesk_agent) == [HA]


# --- Two changes at once ----------------------------------------------------------------------------


def _in_another_connection(work, outcome: dict[str, str]) -> threading.Thread:
    def run() -> None:
        try:
            work()
            outcome["result"] = "done"
        except PermissionDenied as error:
            outcome["result"] = f"refused: {error}"
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (
            lambda actor, target: services.member_set_roles(actor=actor, membership=target, roles=[UA]),
            ONLY_GA_GRANTS,
        ),
        (
            lambda actor, target: services.member_set_active(actor=actor, membership=target, active=False),
            "Your role does not allow this.",
        ),
    ],
    ids=["demote", "deactivate"],
)
def test_two_global_admins_removing_each_other_at_once_leave_one(
    global_admin, second_global_admin, change, refusal
) -> None:
    """The second change waits for the first to commit, then finds its actor no longer a Global admin."""
    outcome: dict[str, str] = {}
    with transaction.atomic():
        change(global_admin, second_global_admin)
        thread = _in_another_connection(lambda: change(second_global_admin, global_admin), outcome)
        thread.join(timeout=1)
        assert thread.is_alive(), f"the second change did not wait for the first: {outcome}"
    thread.join(timeout=30)
    assert outcome == {"result": f"refused: {refusal}"}
    assert roles_of(global_admin) == [GA] and is_active(global_admin)
    assert services._active_global_admins(global_admin.partner_id) == {global_admin.pk}


# --- Django admin -------------------------------------------------------------------------------------


def admin_form_data(response) -> dict[str, object]:
    """The POST data the partner's change form would submit as rendered (the partner and its memberships)."""
    data: dict[str, object] = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management.initial.get(name, management[name].value())
        forms.extend(inline.formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value
    return data


def membership_prefix(data: dict[str, object], membership: Membership) -> str:
    return next(
        key[: -len("-id")] for key, value in data.items() if key.endswith("-id") and value == membership.pk
    )


@pytest.fixture
def partner_change(client, staff, contoso, global_admin, user_admin):
    """Staff on Contoso's change page: its URL and the data the page would post."""
    client.force_login(staff)
    url = reverse("admin:cases_partner_change", args=[contoso.pk])
    page = client.get(url)
    assert page.status_code == 200
    return url, admin_form_data(page)


def test_staff_cannot_take_global_admin_from_the_last_one_in_admin(
    client, partner_change, global_admin
) -> None:
    """Unticking the only Global admin is refused on the page (200 with the error); nothing is saved."""
    url, data = partner_change
    data[membership_prefix(data, global_admin) + "-roles"] = [UA]
    response = client.post(url, data)
    assert response.status_code == 200
    assert LAST_GA in response.content.decode()
    assert roles_of(global_admin) == [GA]


def test_staff_cannot_delete_the_last_global_admins_membership_in_admin(
    client, partner_change, global_admin
) -> None:
    """Deleting the only Global admin's membership is refused the same way."""
    url, data = partner_change
    data[membership_prefix(data, global_admin) + "-DELETE"] = "on"
    response = client.post(url, data)
    assert response.status_code == 200
    assert LAST_GA in response.content.decode()
    assert Membership.objects.filter(pk=global_admin.pk).exists()


def test_staff_hands_global_admin_to_someone_else_in_one_save(
    client, partner_change, global_admin, user_admin
) -> None:
    """Moving the role from one person to another in the same save keeps a Global admin, so it is allowed."""
    url, data = partner_change
    data[membership_prefix(data, global_admin) + "-roles"] = [UA]
    data[membership_prefix(data, user_admin) + "-roles"] = [GA]
    assert client.post(url, data).status_code == 302
    assert roles_of(global_admin) == [UA] and roles_of(user_admin) == [GA]


def test_a_partner_without_a_global_admin_can_still_be_set_up_in_admin(
    client, staff, fabrikam, outsider
) -> None:
    """A partner that has no active Global admin yet is not held to the rule (nobody to protect)."""
    client.force_login(staff)
    url = reverse("admin:cases_partner_change", args=[fabrikam.pk])
    data = admin_form_data(client.get(url))
    data[membership_prefix(data, outsider) + "-roles"] = [BA]
    assert client.post(url, data).status_code == 302
    assert roles_of(outsider) == [BA]
