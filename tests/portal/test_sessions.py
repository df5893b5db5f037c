"""portal.sessions: the session row names its user, a page reads both in one query, and Django's checks hold."""

from __future__ import annotations

import pytest

from portal.models import Session

pytestmark = pytest.mark.django_db


def sign_in(client, user, password: str) -> None:
    response = client.post("/en/accounts/login/", {"username": user.email, "password": password})
    assert response.status_code == 302


def test_the_session_row_names_the_signed_in_user(client, helpdesk_agent, password) -> None:
    sign_in(client, helpdesk_agent.user, password)
    [session] = Session.objects.all()
    assert session.user_id == helpdesk_agent.user.pk
    assert session.get_decoded()["_auth_user_id"] == str(helpdesk_agent.user.pk)


def test_a_signed_in_page_reads_session_user_membership_and_partner_in_one_query(
    client, helpdesk_agent, password, django_assert_num_queries
) -> None:
    sign_in(client, helpdesk_agent.user, password)
    with django_assert_num_queries(1):  # the home page shows the user's name and the partner's menu
        response = client.get("/en/")
    assert 'data-testid="signed-in-user">Helpdesk Agent<' in response.content.decode()
    assert "/en/customers/" in response.content.decode()  # a member's menu: the membership was there


def test_a_new_password_elsewhere_signs_the_session_out(client, helpdesk_agent, password) -> None:
    """Django's session hash check still applies to the user read with the session."""
    sign_in(client, helpdesk_agent.user, password)
    user = helpdesk_agent.user
    user.set_password("another-long-passphrase-2026")
    user.save()
    assert client.get("/en/cases/").status_code == 302  # to the sign-in page


def test_a_deactivated_user_is_signed_out_on_the_next_request(client, helpdesk_agent, password) -> None:
    sign_in(client, helpdesk_agent.user, password)
    helpdesk_agent.user.is_active = False
    helpdesk_agent.user.save(update_fields=["is_active"])
    assert client.get("/en/cases/").status_code == 302


def test_deleting_a_user_deletes_their_sessions(client, member, password) -> None:
    sign_in(client, member, password)
    assert Session.objects.filter(user=member).exists()
    member.delete()
    assert not Session.objects.exists()
