"""Pages of the second factor: /<lang>/accounts/mfa/ (what you have, set up an authenticator app, new
recovery codes, remove) and /<lang>/accounts/mfa/verify/ (the code step after the password)."""

from __future__ import annotations

import segno
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from markupsafe import Markup

from portal import audit, mfa
from portal.models import AuditAction


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=32,
        help_text=gettext_lazy("The six digits your authenticator app shows, or one of your recovery codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )


class ConfirmForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from the app"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "HEAD", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """The code step: after the password, before anything else."""
    if not request.user.is_authenticated:
        return redirect("login")
    if not mfa.is_pending(request):
        return redirect(_next(request))
    credentials = {settings.AXES_USERNAME_FORM_FIELD: request.user.get_username()}
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not AxesProxyHandler.is_allowed(request, credentials):
            return _locked(request)
        if form.is_valid():
            result, wait = mfa.check_code(request, form.cleaned_data["code"])
            if result == mfa.CodeResult.OK:
                left = mfa.recovery_codes_left(request.user)
                if left <= 3 and mfa.has_factor(request.user):
                    message = ngettext(
                        "You have %(count)d recovery code left: make new ones on the Two-step sign-in page.",
                        "You have %(count)d recovery codes left: make new ones on the Two-step sign-in page.",
                        left,
                    )
                    messages.warning(request, message % {"count": left})
                return redirect(_next(request))
            # Every refused code counts towards the lockout, one sent during the back-off too.
            user_login_failed.send(sender=__name__, credentials=credentials, request=request)
            if not AxesProxyHandler.is_allowed(request, credentials):
                return _locked(request)
            if result == mfa.CodeResult.WAIT:
                # django-otp's back-off doubles with each wrong code (1 s, 2 s, 4 s, ...).
                mfa.logger.info("mfa code refused, device backing off %s s user=%s", wait, request.user.pk)
                form.add_error("code", _("Too many wrong codes: wait a little and try again."))
            else:
                form.add_error(
                    "code", _("That code is not right. Check the app's clock, or use a recovery code.")
                )
        status = 400
    return render(request, "portal/mfa_verify.html", {"form": form, "next": _next(request)}, status=status)


def _locked(request: HttpRequest) -> HttpResponse:
    from portal.views import locked_out

    logout(request)
    return locked_out(request)


@never_cache
@login_required
@require_http_methods(["GET", "HEAD"])
def overview(request: HttpRequest) -> HttpResponse:
    """What protects this account, and the ways to change it."""
    user = request.user
    return render(
        request,
        "portal/mfa.html",
        {
            "has_factor": mfa.has_factor(user),
            "recovery_left": mfa.recovery_codes_left(user),
            "required": mfa.needs_factor(user),
            "verified": mfa.is_verified(request),
            "next": _next(request) if request.GET.get("next") else "",
        },
    )


def _svg(uri: str) -> Markup:
    """The otpauth URI as a QR code, drawn on the server (no script, nothing fetched)."""
    qr = segno.make(uri, error="m")
    # segno writes the SVG itself (escaping the title); nothing in it comes from a request.
    # omitsize: a viewBox instead of a fixed size, so the stylesheet scales the whole code.
    svg = qr.svg_inline(scale=5, border=2, dark="#111", light="#fff", title=_("QR code"), omitsize=True)
    return Markup(svg)  # noqa: S704


@never_cache
@login_required
@sensitive_post_parameters("code")
@require_http_methods(["GET", "HEAD", "POST"])
def totp_setup(request: HttpRequest) -> HttpResponse:
    """Scan the QR code (or type the key), then give the app's first code."""
    if mfa.has_factor(request.user) and not mfa.is_verified(request):
        return redirect("mfa_verify")
    device = mfa.start_totp(request.user)
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = mfa.confirm_totp(request, device, form.cleaned_data["code"])
        if codes is not None:
            messages.success(request, _("Your authenticator app is set up."))
            asked = request.POST.get("next") or request.GET.get("next")
            context = {"codes": codes, "next": _next(request) if asked else ""}
            return render(request, "portal/mfa_recovery_codes.html", context)
        form.add_error("code", _("That code is not right. Scan the code again and give the newest one."))
    uri = device.config_url
    return render(
        request,
        "portal/mfa_totp.html",
        {
            "form": form,
            "qr": _svg(uri),
            "uri": uri,
            "secret": _grouped(uri.split("secret=", 1)[1].split("&", 1)[0]),
            "next": _next(request) if request.GET.get("next") or request.POST.get("next") else "",
        },
        status=400 if form.errors else 200,
    )


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@never_cache
@login_required
@require_POST
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """Ten new recovery codes, shown this once; the earlier ones stop working."""
    if not mfa.is_verified(request) or not mfa.has_factor(request.user):
        return redirect("mfa")
    codes = mfa.new_recovery_codes(request.user)
    audit.record(AuditAction.MFA_RECOVERY_RENEWED, actor=request.user, obj=request.user, request=request)
    return render(request, "portal/mfa_recovery_codes.html", {"codes": codes, "next": ""})


@login_required
@require_POST
def remove(request: HttpRequest) -> HttpResponse:
    """Remove the authenticator app and the recovery codes (not while the portal requires them)."""
    if not mfa.is_verified(request):
        return redirect("mfa")
    if mfa.needs_factor(request.user):
        messages.error(request, _("Your organisation requires a second factor: set up a new app instead."))
        return redirect("mfa")
    mfa.remove_own_factors(request)
    messages.success(request, _("Your authenticator app and recovery codes were removed."))
    return redirect("mfa")
