"""Two-step sign-in: enrolment with an authenticator app, the code step after the password, recovery codes,
MFA_REQUIRED, the lockout on codes, API tokens only after a code, and a colleague's reset."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import mfa
from portal.models import ApiToken, Session

pytestmark = pytest.mark.django_db


def code_for(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code an authenticator app holding the device's key shows now (or `steps_ahead` periods later)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def sign_in(client: Client, user, password: str, ip: str = "203.0.113.9"):
    return client.post("/en/accounts/login/", {"username": user.email, "password": password}, REMOTE_ADDR=ip)


def enrol(client: Client) -> tuple[TOTPDevice, list[str]]:
    """Set up an authenticator app through the pages; returns the device and the recovery codes shown."""
    page = client.get(reverse("mfa_totp"))
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user_id=client.session[SESSION_KEY], confirmed=False)
    done = client.post(reverse("mfa_totp"), {"code": code_for(device)})
    assert done.status_code == 200, done.content.decode()[:2000]
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    return device, codes


@pytest.fixture
def enrolled(client, helpdesk_agent, password):
    """A partner user with an authenticator app set up, signed out again."""
    client.force_login(helpdesk_agent.user)
    device, codes = enrol(client)
    client.logout()
    return helpdesk_agent, device, codes


# --- Enrolment ------------------------------------------------------------------------------------------


def test_setup_shows_a_server_drawn_qr_code_and_the_key(client, helpdesk_agent) -> None:
    client.force_login(helpdesk_agent.user)
    page = client.get(reverse("mfa_totp")).content.decode()
    assert re.search(r'<div class="qr" data-testid="totp-qr"><svg[^>]*>', page)
    assert "otpauth://totp/CSP%20Partner%20Portal%3A" in page
    device = TOTPDevice.objects.get(user=helpdesk_agent.user)
    assert not device.confirmed
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    assert secret in device.config_url
    assert "<script" not in page.split("<main", 1)[-1].split("</main>", 1)[0]


def test_a_wrong_first_code_leaves_the_app_unconfirmed(client, helpdesk_agent) -> None:
    client.force_login(helpdesk_agent.user)
    client.get(reverse("mfa_totp"))
    device = TOTPDevice.objects.get(user=helpdesk_agent.user)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    response = client.post(reverse("mfa_totp"), {"code": wrong})
    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert not mfa.has_factor(helpdesk_agent.user)


def test_enrolment_shows_ten_recovery_codes_once_and_ends_other_sessions(client, helpdesk_agent) -> None:
    elsewhere = Client()
    elsewhere.force_login(helpdesk_agent.user)
    client.force_login(helpdesk_agent.user)
    _device, codes = enrol(client)
    assert len(codes) == len(set(codes)) == 10
    assert set(
        StaticToken.objects.filter(device__user=helpdesk_agent.user).values_list("token", flat=True)
    ) == set(codes)
    assert mfa.has_factor(helpdesk_agent.user)
    assert client.get(reverse("cases:dashboard")).status_code == 200  # this session gave the code
    assert Session.objects.filter(user=helpdesk_agent.user).count() == 1
    assert elsewhere.get(reverse("cases:dashboard")).status_code == 302  # signed out
    overview = client.get(reverse("mfa")).content.decode()
    assert "You have 10 unused recovery codes." in overview
    assert not re.search(r"<code>[a-z2-7]{8}</code>", overview)


# --- The code step --------------------------------------------------------------------------------------


def test_after_the_password_a_user_with_an_app_must_give_a_code(client, enrolled, password) -> None:
    member, device, _codes = enrolled
    response = sign_in(client, member.user, password)
    assert response.status_code == 302
    dashboard = client.get("/en/cases/?status=open")
    assert dashboard.status_code == 302
    assert dashboard["Location"] == "/en/accounts/mfa/verify/?next=%2Fen%2Fcases%2F%3Fstatus%3Dopen"
    for blocked in (
        "/en/",
        "/en/accounts/api-tokens/",
        "/en/accounts/mfa/",
        "/en/accounts/mfa/totp/",
        "/en/team/",
    ):
        assert client.get(blocked)["Location"].startswith("/en/accounts/mfa/verify/"), blocked
    assert TOTPDevice.objects.filter(user=member.user).count() == 1  # the pending session added no app
    page = client.get(dashboard["Location"])
    assert page.status_code == 200
    done = client.post(
        "/en/accounts/mfa/verify/", {"code": code_for(device, 1), "next": "/en/cases/?status=open"}
    )
    assert done.status_code == 302
    assert done["Location"] == "/en/cases/?status=open"
    assert client.get("/en/cases/").status_code == 200


def test_a_code_works_once(client, enrolled, password) -> None:
    member, device, _codes = enrolled
    code = code_for(device, 1)
    sign_in(client, member.user, password)
    assert client.post("/en/accounts/mfa/verify/", {"code": code}).status_code == 302
    client.logout()
    sign_in(client, member.user, password)
    replay = client.post("/en/accounts/mfa/verify/", {"code": code})
    assert replay.status_code == 400
    assert client.get("/en/cases/").status_code == 302


def test_a_recovery_code_works_once(client, enrolled, password) -> None:
    member, _device, codes = enrolled
    sign_in(client, member.user, password)
    assert client.post("/en/accounts/mfa/verify/", {"code": codes[0].upper()}).status_code == 302
    assert client.get("/en/cases/").status_code == 200
    assert mfa.recovery_codes_left(member.user) == 9
    client.logout()
    sign_in(client, member.user, password)
    again = client.post("/en/accounts/mfa/verify/", {"code": codes[0]})
    assert again.status_code == 400
    assert client.get("/en/cases/").status_code == 302


def test_wrong_codes_lock_the_sign_in_like_wrong_passwords(client, enrolled, password, settings) -> None:
    member, device, _codes = enrolled
    sign_in(client, member.user, password)
    wrong = f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"
    statuses = [
        client.post("/en/accounts/mfa/verify/", {"code": wrong}, REMOTE_ADDR="203.0.113.9").status_code
        for _n in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[:-1] == [400] * (settings.AXES_FAILURE_LIMIT - 1)
    assert statuses[-1] == 429
    assert SESSION_KEY not in client.session  # signed out
    assert sign_in(client, member.user, password).status_code == 429  # and the password is locked too


def test_an_unreadable_code_is_a_field_error(client, enrolled, password) -> None:
    member, _device, _codes = enrolled
    sign_in(client, member.user, password)
    for code in ("", "12345", "1234567", "x" * 40, "12\x0034"):
        response = client.post("/en/accounts/mfa/verify/", {"code": code})
        assert response.status_code == 400, code


# --- MFA_REQUIRED ---------------------------------------------------------------------------------------


def test_with_mfa_required_a_user_without_a_factor_is_sent_to_enrolment(
    client, helpdesk_agent, settings
) -> None:
    settings.MFA_REQUIRED = True
    client.force_login(helpdesk_agent.user)
    response = client.get("/ja/cases/all/")
    assert response.status_code == 302
    assert response["Location"] == "/ja/accounts/mfa/?next=%2Fja%2Fcases%2Fall%2F"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert 'href="/ja/accounts/mfa/totp/?next=%2Fja%2Fcases%2Fall%2F"' in page.content.decode()
    assert client.get("/ja/guidance/").status_code == 302
    assert client.get("/api/v1/cases/").status_code == 401  # the API answers for itself (tokens)
    enrol(client)
    assert client.get("/ja/cases/all/").status_code == 200


def test_with_mfa_required_staff_need_a_factor_for_the_admin(client, staff, settings) -> None:
    settings.MFA_REQUIRED = True
    client.force_login(staff)
    assert client.get("/en/admin/")["Location"].startswith("/en/accounts/mfa/?next=")


def test_without_mfa_required_a_user_without_a_factor_goes_straight_in(
    client, helpdesk_agent, settings
) -> None:
    settings.MFA_REQUIRED = False
    client.force_login(helpdesk_agent.user)
    assert client.get("/en/cases/all/").status_code == 200


def test_the_user_cannot_turn_it_off_while_it_is_required(client, helpdesk_agent, settings) -> None:
    settings.MFA_REQUIRED = True
    client.force_login(helpdesk_agent.user)
    enrol(client)
    response = client.post(reverse("mfa_remove"), follow=True)
    assert "requires a second factor" in response.content.decode()
    assert mfa.has_factor(helpdesk_agent.user)


def test_anonymous_readers_are_not_affected(client, settings, seeded) -> None:
    settings.MFA_REQUIRED = True
    assert client.get("/en/guidance/").status_code == 200


# --- API tokens -----------------------------------------------------------------------------------------


def test_api_tokens_are_created_only_after_a_code_in_this_session(client, helpdesk_agent) -> None:
    client.force_login(helpdesk_agent.user)
    refused = client.post(reverse("api_tokens"), {"name": "PSA"}, follow=True)
    assert "Set up two-step sign-in" in refused.content.decode()
    assert not ApiToken.objects.exists()
    enrol(client)
    created = client.post(reverse("api_tokens"), {"name": "PSA"})
    assert created.status_code == 200
    assert ApiToken.objects.filter(user=helpdesk_agent.user).count() == 1


# --- A colleague's reset --------------------------------------------------------------------------------


def test_a_user_admin_sees_who_has_mfa_and_can_reset_a_colleague(client, user_admin, enrolled) -> None:
    member, _device, _codes = enrolled
    colleague = Client()
    colleague.force_login(member.user)
    client.force_login(user_admin.user)
    team = client.get(reverse("cases:team")).content.decode()
    assert re.search(rf'data-member="{member.pk}"[^>]*data-mfa="on"', team), team
    response = client.post(reverse("cases:member_mfa_reset", args=[member.pk]), follow=True)
    assert response.status_code == 200
    assert not mfa.has_factor(member.user)
    assert not StaticToken.objects.filter(device__user=member.user).exists()
    assert colleague.get("/en/cases/").status_code == 302  # the colleague's sessions ended


def test_a_helpdesk_agent_cannot_reset_anyones_factors(client, helpdesk_agent, user_admin) -> None:
    client.force_login(user_admin.user)
    enrol(client)
    other = Client()
    other.force_login(helpdesk_agent.user)
    response = other.post(reverse("cases:member_mfa_reset", args=[user_admin.pk]))
    assert response.status_code == 403
    assert mfa.has_factor(user_admin.user)


def test_another_partners_admin_cannot_reset_factors(client, enrolled, outsider) -> None:
    member, _device, _codes = enrolled
    client.force_login(outsider.user)
    response = client.post(reverse("cases:member_mfa_reset", args=[member.pk]))
    assert response.status_code in (403, 404)
    assert mfa.has_factor(member.user)


def test_signing_in_again_with_the_password_gives_no_fresh_tries_at_the_code(
    client, enrolled, password, settings
) -> None:
    """Wrong codes count until the whole sign-in succeeds: the password alone does not reset them."""
    member, device, _codes = enrolled
    wrong = f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"
    sign_in(client, member.user, password)
    for _n in range(settings.AXES_FAILURE_LIMIT - 1):
        assert (
            client.post("/en/accounts/mfa/verify/", {"code": wrong}, REMOTE_ADDR="203.0.113.9").status_code
            == 400
        )
    client.logout()
    assert sign_in(client, member.user, password).status_code == 302  # the password is still accepted
    assert (
        client.post("/en/accounts/mfa/verify/", {"code": wrong}, REMOTE_ADDR="203.0.113.9").status_code == 429
    )


def test_a_whole_sign_in_clears_the_failures(client, enrolled, password, settings) -> None:
    member, device, _codes = enrolled
    wrong = f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"
    sign_in(client, member.user, password)
    verify = "/en/accounts/mfa/verify/"
    for _n in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(verify, {"code": wrong}, REMOTE_ADDR="203.0.113.9")
    device.refresh_from_db()
    device.throttle_reset()  # the user waits out django-otp's back-off before the right code
    assert client.post(verify, {"code": code_for(device, 1)}, REMOTE_ADDR="203.0.113.9").status_code == 302
    client.logout()
    sign_in(client, member.user, password)
    for _n in range(settings.AXES_FAILURE_LIMIT - 1):  # as many tries as before: the count was cleared
        assert client.post(verify, {"code": wrong}, REMOTE_ADDR="203.0.113.9").status_code == 400
