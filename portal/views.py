"""Cross-cutting pages: home and health."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults, i18n
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from portal import audit, mfa
from portal.converters import IdConverter
from portal.health import overall, run_checks
from portal.models import ApiToken, AuditAction
from portal.navigation import is_member


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Token name"),
        max_length=100,
        help_text=gettext_lazy("Say what will use it, e.g. “PSA integration”."),
    )


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html")


def ping(request: HttpRequest) -> HttpResponse:
    """The smallest page: a short text through the full middleware stack (the benchmarks' baseline)."""
    return HttpResponse("pong", content_type="text/plain")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the portal works (ok, or degraded without Redis), 503 without its database.

    ?strict=1 answers 503 for anything but ok, for monitors that want to hear of every failing part; a load
    balancer should probe without it, so that it does not pull every web node while the portal still works.
    """
    results = run_checks()
    status = overall(results)
    strict = request.GET.get("strict") == "1"
    payload = {"status": status, "checks": {name: result.as_dict() for name, result in results.items()}}
    healthy = status == "ok" or (status == "degraded" and not strict)
    return JsonResponse(payload, status=200 if healthy else 503)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    # Django accepts any language it has a catalogue for; the portal only its configured five.
    if request.POST.get("language") not in dict(settings.LANGUAGES):
        return HttpResponseBadRequest(_("That language is not available."), content_type="text/plain")
    return i18n.set_language(request)


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The signed-in user's API tokens: create one (shown once), see when each was last used, revoke."""
    revoke = (request.POST if request.method == "POST" else request.GET).get("revoke")
    if revoke is not None:
        return _api_token_revoke(request, revoke)
    new_key = None
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST":
        if not mfa.is_verified(request):
            # A token outlives the session and skips the code step: only a session that gave a code makes one.
            messages.error(
                request, _("Set up two-step sign-in first: API tokens are created only after a code.")
            )
            return redirect("api_tokens")
        if form.is_valid():
            with transaction.atomic():
                token, new_key = ApiToken.issue(user=request.user, name=form.cleaned_data["name"])
                audit.record(AuditAction.TOKEN_CREATED, actor=request.user, obj=token, request=request)
            form = ApiTokenForm()
    tokens = ApiToken.objects.filter(user=request.user)
    return render(
        request,
        "portal/api_tokens.html",
        {
            "tokens": tokens,
            "form": form,
            "new_key": new_key,
            "is_member": is_member(request.user),
            "verified": mfa.is_verified(request),
        },
    )


def _api_token_revoke(request: HttpRequest, pk: str) -> HttpResponse:
    """Revoke one of the user's own tokens, after a page (?revoke=<id>) that says what stops working."""
    if not re.fullmatch(IdConverter.regex, pk):
        raise Http404
    token = get_object_or_404(ApiToken, pk=pk, user=request.user, revoked_at=None)
    if not (request.method == "POST" and request.POST.get("confirm") == "1"):
        return render(request, "portal/api_token_revoke_confirm.html", {"token": token})
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(AuditAction.TOKEN_REVOKED, actor=request.user, obj=token, request=request)
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("api_tokens")


def locked_out(request: HttpRequest, credentials: dict | None = None, *args, **kwargs) -> HttpResponse:
    """What django-axes shows after too many failed sign-ins: a clear page, status 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)


def bad_request(request: HttpRequest, exception: Exception | None) -> HttpResponse:
    """400s (an address, a query or a body the portal cannot read): the API in its JSON error shape."""
    if request.path.startswith("/api/"):
        message = _("The request cannot be read.")
        return JsonResponse({"error": {"code": "bad_request", "message": message}}, status=400)
    return render(request, "400.html", status=400)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404s: the API answers in its JSON error shape, pages with the portal's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "not_found", "message": _("Not found.")}}, status=404)
    return defaults.page_not_found(request, exception)
