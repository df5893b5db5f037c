"""The webhook pages of a partner's Global admins: the endpoints, one endpoint's delivery log, and the
buttons that disable, enable, delete and deliver again. Thin: access, a form, one service, a redirect."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from cases.access import get_for_partner, partner_view, require
from cases.permissions import Action
from webhooks import services
from webhooks.forms import EndpointForm
from webhooks.models import WebhookDelivery, WebhookEndpoint

LOG_SIZE = 100  # the newest deliveries shown; the API pages through all of them


@require_http_methods(["GET", "HEAD", "POST"])
@partner_view
def endpoint_list(request: HttpRequest) -> HttpResponse:
    """The partner's endpoints and the form that registers one (its secret is shown once, on this page)."""
    require(request.membership, Action.WEBHOOKS)
    form = EndpointForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.endpoint_create(
                actor=request.membership, url=form.cleaned_data["url"], events=form.cleaned_data["events"]
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        except services.WebhookError as error:
            form.add_error(None, error.message)
        else:
            form = EndpointForm()
    endpoints = WebhookEndpoint.objects.for_partner(request.membership.partner).order_by("created_at", "pk")
    return render(
        request,
        "webhooks/endpoint_list.html",
        {"endpoints": endpoints, "form": form, "created": created},
        status=400 if form.is_bound and form.errors else 200,
    )


@require_safe
@partner_view
def endpoint_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One endpoint: its events, its state and its newest deliveries with status and response code."""
    require(request.membership, Action.WEBHOOKS)
    endpoint = get_for_partner(request.membership, WebhookEndpoint, pk=pk)
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-pk")[:LOG_SIZE]
    return render(request, "webhooks/endpoint_detail.html", {"endpoint": endpoint, "deliveries": deliveries})


@require_POST
@partner_view
def endpoint_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Disable the endpoint (active=0) or enable it again (active=1)."""
    require(request.membership, Action.WEBHOOKS)
    endpoint = get_for_partner(request.membership, WebhookEndpoint, pk=pk)
    active = request.POST.get("active") == "1"
    services.endpoint_update(actor=request.membership, endpoint=endpoint, active=active)
    messages.success(request, _("The endpoint is enabled.") if active else _("The endpoint is disabled."))
    return redirect("webhooks:detail", pk=endpoint.pk)


@require_http_methods(["GET", "HEAD", "POST"])
@partner_view
def endpoint_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete the endpoint, after a page that says what stops."""
    require(request.membership, Action.WEBHOOKS)
    endpoint = get_for_partner(request.membership, WebhookEndpoint, pk=pk)
    if not (request.method == "POST" and request.POST.get("confirm") == "1"):
        return render(request, "webhooks/endpoint_delete_confirm.html", {"endpoint": endpoint})
    services.endpoint_delete(actor=request.membership, endpoint=endpoint)
    messages.success(request, _("The endpoint %(url)s was deleted.") % {"url": endpoint.url})
    return redirect("webhooks:list")


@require_POST
@partner_view
def delivery_redeliver(request: HttpRequest, pk: int, delivery: int) -> HttpResponse:
    """Deliver again: the same body and Portal-Delivery, attempted now."""
    require(request.membership, Action.WEBHOOKS)
    endpoint = get_for_partner(request.membership, WebhookEndpoint, pk=pk)
    row = get_for_partner(
        request.membership, WebhookDelivery.objects.select_related("endpoint"), endpoint=endpoint, pk=delivery
    )
    try:
        services.delivery_redeliver(actor=request.membership, delivery=row)
    except services.WebhookError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The delivery was queued again."))
    return redirect("webhooks:detail", pk=endpoint.pk)
