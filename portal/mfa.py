"""A second factor for every partner user: authenticator apps (TOTP) and single-use recovery codes, through
django-otp's devices.

The password step signs the user in as Django always has; if the user has a factor, the session is marked
pending and `MfaGateMiddleware` lets it reach nothing but the code step (and signing out) until a code is
given. A session is verified when it holds django-otp's device id (`django_otp.login`). With `MFA_REQUIRED`, a
partner user or a staff member without a factor is sent to enrolment before any other page.

Nothing here reads the database on an ordinary request: pending and verified are facts of the session row,
which is read anyway. Whatever changes a user's factors (enrolling, resetting) ends the user's other sessions,
so no session holds a state its user's factors no longer support.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import audit
from portal.models import AuditAction

logger = logging.getLogger("portal.security")

PENDING_SESSION_KEY = "mfa_pending"
RECOVERY_CODES = 10
TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery"
_TOTP_CODE = re.compile(r"^[0-9]{6}$")
_RECOVERY_CODE = re.compile(r"^[a-z2-7]{8}$")


# --- Facts ---------------------------------------------------------------------------------------------


def is_verified(request: HttpRequest) -> bool:
    """This session gave a second factor (django-otp's device id is in it)."""
    return DEVICE_ID_SESSION_KEY in request.session


def is_pending(request: HttpRequest) -> bool:
    """Signed in with the password; the code is still owed."""
    return bool(request.session.get(PENDING_SESSION_KEY))


def has_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def needs_factor(user) -> bool:
    """With MFA_REQUIRED, who must have a factor: staff, and every user of a partner."""
    if not settings.MFA_REQUIRED or not user.is_authenticated:
        return False
    return user.is_staff or hasattr(user, "membership")


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


# --- Changes -------------------------------------------------------------------------------------------


def start_totp(user) -> TOTPDevice:
    """The authenticator being set up (unconfirmed until a first code proves the app holds its key)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False, name=TOTP_NAME).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


@transaction.atomic
def confirm_totp(request: HttpRequest, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the authenticator with its first code: it replaces any earlier one, the session counts as
    verified, the user's other sessions end, and ten new recovery codes are returned (to be shown once).
    None if the code is wrong."""
    if not _TOTP_CODE.match(_normalise(code)) or not device.verify_token(_normalise(code)):
        return None
    user = request.user
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = new_recovery_codes(user)
    _verified(request, device)
    end_other_sessions(request)
    audit.record(AuditAction.MFA_ENROLLED, actor=user, obj=user, request=request)
    return codes


@transaction.atomic
def new_recovery_codes(user) -> list[str]:
    """Ten fresh single-use codes; the earlier ones stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _n in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def remove_factors(user) -> None:
    """Every factor of the user gone (a colleague's reset, or the user's own choice), and every session of
    theirs ended: each signs in again and, with MFA_REQUIRED, enrols again."""
    from portal.models import Session

    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    Session.objects.filter(user=user).delete()


@transaction.atomic
def remove_own_factors(request: HttpRequest) -> None:
    """The user's own choice (when nothing requires a factor): this session goes on unverified."""
    TOTPDevice.objects.filter(user=request.user).delete()
    StaticDevice.objects.filter(user=request.user).delete()
    request.session.pop(DEVICE_ID_SESSION_KEY, None)
    end_other_sessions(request)
    audit.record(AuditAction.MFA_REMOVED, actor=request.user, obj=request.user, request=request)


def end_other_sessions(request: HttpRequest) -> None:
    from portal.models import Session

    Session.objects.filter(user=request.user).exclude(session_key=request.session.session_key).delete()


class CodeResult:
    OK = "ok"
    WRONG = "wrong"
    WAIT = "wait"


def check_code(request: HttpRequest, code: str) -> tuple[str, int]:
    """The code step: a code from the authenticator app or a recovery code (used up). Returns (result, seconds
    to wait when too many wrong codes were given to the device: django-otp's own back-off)."""
    user = request.user
    code = _normalise(code)
    if _TOTP_CODE.match(code):
        model = TOTPDevice
    elif _RECOVERY_CODE.match(code):
        model = StaticDevice
    else:
        return CodeResult.WRONG, 0
    with transaction.atomic():
        device = model.objects.select_for_update().filter(user=user, confirmed=True).first()
        if device is None:
            return CodeResult.WRONG, 0
        allowed, details = device.verify_is_allowed()
        if not allowed:
            locked_until = (details or {}).get("locked_until")
            wait = int((locked_until - timezone.now()).total_seconds()) + 1 if locked_until else 1
            return CodeResult.WAIT, max(wait, 1)
        if not device.verify_token(code):
            return CodeResult.WRONG, 0
    _verified(request, device)
    if model is StaticDevice:
        left = recovery_codes_left(user)
        audit.record(
            AuditAction.MFA_RECOVERY_USED, actor=user, obj=user, request=request, after={"left": left}
        )
    return CodeResult.OK, 0


def signed_in_fully(request: HttpRequest, user) -> None:
    """The whole sign-in succeeded: the failed attempts counted against this address and account are cleared
    (django-axes, whose own reset on the password step is off: AXES_RESET_ON_SUCCESS)."""
    from axes.handlers.proxy import AxesProxyHandler
    from axes.helpers import get_client_ip_address

    AxesProxyHandler.reset_attempts(
        ip_address=get_client_ip_address(request), username=user.get_username(), ip_or_username=False
    )


def _verified(request: HttpRequest, device) -> None:
    signed_in_fully(request, request.user)
    request.session.cycle_key()
    request.session.pop(PENDING_SESSION_KEY, None)
    otp_login(request, device)


def _normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()[:32]


@receiver(user_logged_in, dispatch_uid="portal.mfa.pending")
def _pending_after_password(sender, request, user, **kwargs) -> None:
    """After the password: a user with a factor owes its code before anything else."""
    if request is None or not hasattr(request, "session"):
        return
    request.session.pop(DEVICE_ID_SESSION_KEY, None)
    if has_factor(user):
        request.session[PENDING_SESSION_KEY] = True
    else:
        signed_in_fully(request, user)


# --- The gate ------------------------------------------------------------------------------------------

# Paths outside the language prefix that no session step concerns (the API authenticates with tokens).
_UNGATED = ("/api/", "/static/", "/media/", "/healthz", "/ping", "/i18n/")
# Within /<lang>/: what a pending session may reach, and what a user sent to enrolment may reach.
_WHILE_PENDING = ("accounts/mfa/verify/", "accounts/logout/", "accounts/login/")
_WHILE_ENROLLING = ("accounts/mfa/", "accounts/logout/", "accounts/login/")


def _within_language(path: str) -> str:
    parts = path.split("/", 2)
    return parts[2] if len(parts) == 3 else ""


def _to(name: str, request: HttpRequest) -> HttpResponse:
    target = reverse(name)
    if request.method == "GET" and url_has_allowed_host_and_scheme(
        request.get_full_path(), allowed_hosts={request.get_host()}
    ):
        target += "?" + urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(target)


class MfaGateMiddleware:
    """Sends a pending session to the code step, and (MFA_REQUIRED) a user without a factor to enrolment."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if not path.startswith(_UNGATED) and SESSION_KEY in request.session:
            within = _within_language(path)
            if is_pending(request):
                if not within.startswith(_WHILE_PENDING):
                    return _to("mfa_verify", request)
            elif (
                not within.startswith(_WHILE_ENROLLING)
                and not is_verified(request)
                and needs_factor(request.user)
            ):
                return _to("mfa", request)
        return self.get_response(request)
