"""Cross-cutting pages: home and health."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from portal.health import run_checks


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    results = run_checks()
    healthy = all(result.ok for result in results.values())
    payload = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: result.as_dict() for name, result in results.items()},
    }
    return JsonResponse(payload, status=200 if healthy else 503)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    # Django accepts any language it has a catalogue for; the portal only its configured five.
    if request.POST.get("language") not in dict(settings.LANGUAGES):
        return HttpResponseBadRequest(_("That language is not available."), content_type="text/plain")
    return i18n.set_language(request)
