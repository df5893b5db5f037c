"""Sign-in by e-mail address: login, logout, password change and password reset."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_member_can_sign_in_with_email(client, member, password) -> None:
    """The login form takes the e-mail address and lands on the home page."""
    response = client.post("/en/accounts/login/", {"username": member.email, "password": password})
    assert response.status_code == 302
    assert response["Location"] == "/en/"
    home = client.get("/en/")
    assert "Welcome back, Mia" in home.content.decode()


def test_sign_in_ignores_email_case(client, member, password) -> None:
    """An address typed in another case signs in the same user."""
    response = client.post(
        "/en/accounts/login/", {"username": "MEMBER@Contoso.Example", "password": password}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(member.pk)


def test_wrong_password_shows_an_error_on_the_form(client, member) -> None:
    """A wrong password re-renders the form with a clear message and signs nobody in."""
    response = client.post("/en/accounts/login/", {"username": member.email, "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct e-mail address and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_page_is_translated(client) -> None:
    """The sign-in page follows the language prefix."""
    response = client.get("/ja/accounts/login/")
    assert response.status_code == 200
    assert '<html lang="ja"' in response.content.decode()
    assert "サインイン" in response.content.decode()


def test_sign_out_needs_post_and_ends_the_session(client, member) -> None:
    """Signing out is a POST; afterwards the session is anonymous."""
    client.force_login(member)
    assert client.get("/en/accounts/logout/").status_code == 405
    response = client.post("/en/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_member_can_change_password(client, member, password) -> None:
    """The password change form checks the old password and saves the new one."""
    client.force_login(member)
    response = client.post(
        "/en/accounts/password_change/",
        {
            "old_password": password,
            "new_password1": "a-new-Passphrase-42",
            "new_password2": "a-new-Passphrase-42",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/en/accounts/password_change/done/"
    member.refresh_from_db()
    assert member.check_password("a-new-Passphrase-42")


def test_password_change_shows_field_errors(client, member) -> None:
    """A wrong old password is reported on its field."""
    client.force_login(member)
    response = client.post(
        "/en/accounts/password_change/",
        {
            "old_password": "wrong",
            "new_password1": "a-new-Passphrase-42",
            "new_password2": "a-new-Passphrase-42",
        },
    )
    assert response.status_code == 200
    assert 'id="id_old_password_error"' in response.content.decode()


def test_password_change_requires_sign_in(client) -> None:
    """An anonymous visitor is sent to the sign-in page."""
    response = client.get("/en/accounts/password_change/")
    assert response.status_code == 302
    assert response["Location"].startswith("/en/accounts/login/?next=")


def test_password_reset_mails_a_working_link(client, member) -> None:
    """The reset mail goes through the mail backend and its link sets a new password once."""
    response = client.post("/ja/accounts/password_reset/", {"email": member.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [member.email]
    link = re.search(r"https?://[^/\s]+(/ja/accounts/reset/\S+)", message.body)
    assert link, message.body

    confirm = client.get(link.group(1), follow=True)
    assert confirm.context["validlink"] is True
    set_password_url = confirm.redirect_chain[-1][0]
    done = client.post(
        set_password_url, {"new_password1": "Fresh-start-2026", "new_password2": "Fresh-start-2026"}
    )
    assert done.status_code == 302
    member.refresh_from_db()
    assert member.check_password("Fresh-start-2026")

    reused = client.get(link.group(1), follow=True)
    assert reused.context["validlink"] is False


def test_password_reset_for_unknown_address_sends_nothing(client) -> None:
    """An unknown address gets the same answer and no mail, so accounts cannot be probed."""
    response = client.post("/en/accounts/password_reset/", {"email": "nobody@nowhere.example"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_createsuperuser_can_sign_in_and_open_admin(client, monkeypatch) -> None:
    """A user made with `manage.py createsuperuser` signs in and reaches Django admin."""
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Admin-pass-2026")
    call_command("createsuperuser", interactive=False, email="Root@Portal.Example", verbosity=0)
    user = get_user_model().objects.get()
    assert user.email == "root@portal.example"
    assert user.is_staff and user.is_superuser

    response = client.post(
        "/en/accounts/login/", {"username": "root@portal.example", "password": "Admin-pass-2026"}
    )
    assert response.status_code == 302
    assert client.get("/en/admin/").status_code == 200
    assert client.post("/en/accounts/logout/").status_code == 302
    assert client.get("/en/admin/").status_code == 302


def test_email_is_unique_regardless_of_case(member) -> None:
    """Two accounts cannot share an address that differs only in case."""
    from django.db import IntegrityError, transaction

    user_model = get_user_model()
    with pytest.raises(IntegrityError), transaction.atomic():
        user_model.objects.bulk_create([user_model(email="Member@Contoso.example")])
