"""Two-step sign-in in a real browser: a partner user sets up an authenticator app from the key on the page,
signs in again with a code, uses a recovery code once, and (MFA_REQUIRED) is sent to enrolment first."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import Page, expect

from tests.e2e import header

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
STEP_SECONDS = 30
RECOVERY_CODE = re.compile(r"^[a-z2-7]{8}$")
WRONG_CODE = "That code is not right. Check the app's clock, or use a recovery code."


# --- Helpers -----------------------------------------------------------------------------------


def app_code(secret: str, steps_ahead: int = 0) -> str:
    """What an authenticator app holding the base32 `secret` shows now (or `steps_ahead` periods later).

    Computed from the key the page shows, as a phone would: never from the database.
    """
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key)
    totp.time = time.time() + steps_ahead * STEP_SECONDS
    return f"{totp.token():06d}"


def sign_in(page: Page, member, password: str) -> None:
    """Fill the login form the browser is on; the header then names the user (the code may still be owed)."""
    expect(page).to_have_url(re.compile(r"/en/accounts/login/"))
    page.get_by_label("E-mail address").fill(member.user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(member.user.full_name)


def sign_out(page: Page) -> None:
    header.sign_out(page)
    expect(page.get_by_test_id("signed-in-user")).to_have_count(0)
    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()


def open_cases_signed_out(page: Page, member, password: str) -> None:
    """Ask for the cases dashboard while signed out, and give the password on the login page it sends to."""
    page.goto("/en/cases/")
    expect(page).to_have_url(re.compile(r"/en/accounts/login/\?next=/en/cases/$"))
    sign_in(page, member, password)


def expect_code_step(page: Page, next_path: str) -> None:
    expect(page).to_have_url(
        re.compile(r"/en/accounts/mfa/verify/\?next=" + re.escape(next_path.replace("/", "%2F")) + "$")
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
    expect(page.get_by_text("Your password was right.")).to_be_visible()
    expect(page.get_by_label("Code", exact=True)).to_be_visible()


def snap_at_phone_width(page: Page, snap: Callable[[str], Path], step: str) -> Path:
    """A screenshot at 390 px; the page is wider than the viewport only if something overflows."""
    page.set_viewport_size(PHONE)
    try:
        path = snap(f"{step}-390px")
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= PHONE["width"], f"{step}: the page is {overflow} px wide at {PHONE['width']} px"
    finally:
        page.set_viewport_size(DESKTOP)
    return path


def set_up_authenticator(page: Page, snap: Callable[[str], Path]) -> tuple[str, list[str]]:
    """From the set-up page: read the key, give the app's code, note the recovery codes. Returns both."""
    expect(page).to_have_url(re.compile(r"/en/accounts/mfa/totp/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up an authenticator app")
    qr = page.get_by_test_id("totp-qr").locator("svg")
    expect(qr).to_be_visible()
    assert qr.bounding_box()["width"] >= 100, qr.bounding_box()  # big enough to scan

    secret_field = page.get_by_test_id("totp-secret")
    expect(secret_field).to_be_hidden()  # behind "Cannot scan it?"
    page.get_by_text("Cannot scan it?").click()
    expect(secret_field).to_be_visible()
    secret = secret_field.inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    snap("totp-setup")
    snap_at_phone_width(page, snap, "totp-setup")

    page.get_by_label("Code from the app").fill(app_code(secret))
    page.get_by_role("button", name="Turn on two-step sign-in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Recovery codes")
    expect(page.locator(".messages")).to_contain_text("Your authenticator app is set up.")
    expect(page.get_by_text("Save these codes now: they will not be shown again.")).to_be_visible()
    shown = page.get_by_test_id("recovery-codes").locator("li")
    expect(shown).to_have_count(10)
    codes = [code.strip() for code in shown.all_inner_texts()]
    assert len(set(codes)) == 10, codes
    assert all(RECOVERY_CODE.match(code) for code in codes), codes
    snap("recovery-codes")
    return secret, codes


def enrol_from_the_menu(page: Page, snap: Callable[[str], Path]) -> tuple[str, list[str]]:
    """Signed in: open two-step sign-in from the header and set up the app (ends on the recovery codes)."""
    header.open_in_user_menu(page, "Two-step sign-in")
    expect(page).to_have_url(re.compile(r"/en/accounts/mfa/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
    expect(page.get_by_test_id("mfa-status")).to_have_text("Off")
    snap("mfa-off")

    page.get_by_role("link", name="Set up an authenticator app").click()
    return set_up_authenticator(page, snap)


def expect_mfa_on(page: Page, snap: Callable[[str], Path], recovery_left: int) -> None:
    """The two-step sign-in page, opened from the header, says the app is on (and shows no codes)."""
    header.open_in_user_menu(page, "Two-step sign-in")
    expect(page).to_have_url(re.compile(r"/en/accounts/mfa/$"))
    expect(page.get_by_test_id("mfa-status")).to_contain_text("On")
    expect(page.get_by_text(f"You have {recovery_left} unused recovery codes.")).to_be_visible()
    expect(page.get_by_test_id("recovery-codes")).to_have_count(0)  # shown that once
    snap("mfa-on")


# --- Journeys ----------------------------------------------------------------------------------


def test_partner_user_sets_up_an_authenticator_app_and_signs_in_with_a_code(
    page: Page, snap, helpdesk_agent, password: str
) -> None:
    """Enrol from the key on the page, then sign in again: password, a fresh code, the page asked for."""
    page.goto("/en/")
    page.get_by_role("link", name="Sign in").first.click()
    sign_in(page, helpdesk_agent, password)
    expect(page).to_have_url(re.compile(r"/en/$"))
    expect(page.get_by_role("heading", name="Welcome back, Helpdesk")).to_be_visible()
    snap("signed-in")

    secret, _codes = enrol_from_the_menu(page, snap)
    page.get_by_role("link", name="I have saved them").click()
    expect_mfa_on(page, snap, recovery_left=10)
    sign_out(page)

    open_cases_signed_out(page, helpdesk_agent, password)
    expect_code_step(page, "/en/cases/")
    snap("code-step")
    snap_at_phone_width(page, snap, "code-step")

    # The same step in Japanese (wording aside: the catalogues may not be translated yet).
    page.goto("/ja/accounts/mfa/verify/?next=%2Fen%2Fcases%2F")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    japanese_form = page.locator("form[action='/ja/accounts/mfa/verify/']")
    expect(japanese_form.locator("input[name='code']")).to_be_visible()
    expect(japanese_form.locator("button[type='submit']")).to_be_visible()
    snap("code-step-japanese")
    snap_at_phone_width(page, snap, "code-step-japanese")

    page.goto("/en/accounts/mfa/verify/?next=%2Fen%2Fcases%2F")
    expect_code_step(page, "/en/cases/")
    # The code used to enrol works once: the app's next code.
    page.get_by_label("Code", exact=True).fill(app_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(re.compile(r"/en/cases/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    expect(page.get_by_test_id("signed-in-user")).to_have_text(helpdesk_agent.user.full_name)
    snap("cases-after-code")


def test_a_recovery_code_opens_the_account_once(page: Page, snap, helpdesk_agent, password: str) -> None:
    """No phone at hand: a saved recovery code instead of the app's code, and that code only once."""
    page.goto("/en/")
    page.get_by_role("link", name="Sign in").first.click()
    sign_in(page, helpdesk_agent, password)
    _secret, codes = enrol_from_the_menu(page, snap)
    page.get_by_role("link", name="I have saved them").click()
    expect_mfa_on(page, snap, recovery_left=10)
    sign_out(page)

    open_cases_signed_out(page, helpdesk_agent, password)
    expect_code_step(page, "/en/cases/")
    page.get_by_label("Code", exact=True).fill(codes[0])
    snap("recovery-code-filled")
    page.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(re.compile(r"/en/cases/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    snap("in-with-recovery-code")
    expect_mfa_on(page, snap, recovery_left=9)
    sign_out(page)

    open_cases_signed_out(page, helpdesk_agent, password)
    expect_code_step(page, "/en/cases/")
    page.get_by_label("Code", exact=True).fill(codes[0])
    page.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(re.compile(r"/en/accounts/mfa/verify/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
    expect(page.locator(".field--error .error")).to_have_text(WRONG_CODE)
    expect(page.get_by_label("Code", exact=True)).to_be_visible()
    snap("recovery-code-refused")
    snap_at_phone_width(page, snap, "recovery-code-refused")

    # Still owed: the cases page sends the browser back to the code step.
    page.goto("/en/cases/")
    expect_code_step(page, "/en/cases/")


def test_with_mfa_required_an_unenrolled_partner_user_enrols_before_the_page(
    page: Page, snap, settings, helpdesk_agent, password: str
) -> None:
    """MFA_REQUIRED: the partner page asked for waits until an authenticator app is set up."""
    settings.MFA_REQUIRED = True

    open_cases_signed_out(page, helpdesk_agent, password)
    expect(page).to_have_url(re.compile(r"/en/accounts/mfa/\?next=%2Fen%2Fcases%2F$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
    expect(page.get_by_role("status")).to_have_text(
        "Your organisation requires a second step when you sign in. Set up an authenticator app to continue."
    )
    expect(page.get_by_test_id("mfa-status")).to_have_text("Off")
    snap("enrolment-required")
    snap_at_phone_width(page, snap, "enrolment-required")

    # Any other partner page is still out of reach.
    page.goto("/en/cases/all/")
    expect(page).to_have_url(re.compile(r"/en/accounts/mfa/\?next=%2Fen%2Fcases%2Fall%2F$"))
    page.goto("/en/cases/")
    expect(page).to_have_url(re.compile(r"/en/accounts/mfa/\?next=%2Fen%2Fcases%2F$"))

    page.get_by_role("link", name="Set up an authenticator app").click()
    expect(page).to_have_url(re.compile(r"/en/accounts/mfa/totp/\?next=%2Fen%2Fcases%2F$"))
    set_up_authenticator(page, snap)
    snap_at_phone_width(page, snap, "recovery-codes")

    page.get_by_role("link", name="I have saved them").click()
    expect(page).to_have_url(re.compile(r"/en/cases/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    snap("cases-after-enrolment")


def test_saving_the_codes_returns_to_the_two_step_page_it_started_from(
    page: Page, snap, helpdesk_agent, password: str
) -> None:
    """Set up from the header (no page waiting): "I have saved them" leads back to two-step sign-in."""
    page.goto("/en/")
    page.get_by_role("link", name="Sign in").first.click()
    sign_in(page, helpdesk_agent, password)
    enrol_from_the_menu(page, snap)
    expect(page.get_by_role("link", name="I have saved them")).to_have_attribute("href", "/en/accounts/mfa/")


def test_the_whole_qr_code_is_shown(page: Page, snap, helpdesk_agent, password: str) -> None:
    """All of the QR code (its three corner squares and the white border) fits the box it is shown in."""
    page.goto("/en/")
    page.get_by_role("link", name="Sign in").first.click()
    sign_in(page, helpdesk_agent, password)
    header.open_in_user_menu(page, "Two-step sign-in")
    page.get_by_role("link", name="Set up an authenticator app").click()
    qr = page.get_by_test_id("totp-qr").locator("svg")
    expect(qr).to_be_visible()
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        shown = qr.bounding_box()
        drawn = qr.locator("g").first.bounding_box()  # the modules and the quiet zone, unclipped
        snap(f"qr-{viewport['width']}px")
        assert drawn["width"] <= shown["width"] + 1, (viewport, drawn, shown)
        assert drawn["height"] <= shown["height"] + 1, (viewport, drawn, shown)
