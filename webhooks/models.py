"""Partners' webhook endpoints and the outbox of deliveries to them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WebhookEvent(models.TextChoices):
    CASE_CREATED = "case.created", _("A case was opened")
    CASE_STATUS_CHANGED = "case.status_changed", _("A case's status changed")
    CASE_COMMENTED = "case.commented", _("An internal note was added to a case")
    CASE_ESCALATED = "case.escalated", _("A case was escalated to Microsoft or 21Vianet")
    NOTIFICATION_FAILED = "notification.failed", _("An e-mail of a case could not be delivered")
    CUSTOMER_ANSWERED = "customer.answered", _("A customer answered about a case")


class DisabledReason(models.TextChoices):
    FAILING = "failing", _("Disabled after deliveries failed again and again")
    MANUAL = "manual", _("Disabled by an admin")


class WebhookEndpointQuerySet(models.QuerySet["WebhookEndpoint"]):
    def for_partner(self, partner) -> WebhookEndpointQuerySet:
        return self.filter(partner=partner)

    def active(self) -> WebhookEndpointQuerySet:
        return self.filter(active=True)


class WebhookEndpoint(models.Model):
    """A URL of the partner's own tool that hears of the events it chose, signed with its secret."""

    partner = models.ForeignKey(
        "cases.Partner", on_delete=models.CASCADE, related_name="webhook_endpoints", verbose_name=_("partner")
    )
    url = models.URLField(_("URL"), max_length=500)
    events = models.JSONField(_("events"), default=list)
    # Kept readable: every delivery is signed with it. Shown once, when the endpoint is registered.
    secret = models.CharField(_("signing secret"), max_length=100, editable=False)
    active = models.BooleanField(_("active"), default=True)
    disabled_reason = models.CharField(
        _("why it was disabled"), max_length=10, choices=DisabledReason.choices, blank=True
    )
    failures_in_row = models.PositiveIntegerField(
        _("deliveries failed in a row"),
        default=0,
        help_text=_("Deliveries that failed for good since the last success."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("registered by"),
    )
    created_at = models.DateTimeField(_("registered"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = WebhookEndpointQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["partner", "active"], name="webhook_endpoint_partner")]

    def __str__(self) -> str:
        return self.url

    def event_labels(self) -> list[str]:
        return [str(WebhookEvent(event).label) for event in self.events if event in WebhookEvent.values]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDeliveryQuerySet(models.QuerySet["WebhookDelivery"]):
    def for_partner(self, partner) -> WebhookDeliveryQuerySet:
        return self.filter(endpoint__partner=partner)


class WebhookDelivery(models.Model):
    """One event owed to one endpoint (an outbox row, written with the change): its body is fixed when it is
    written, and its uuid is the Portal-Delivery header of every attempt."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("endpoint")
    )
    uuid = models.UUIDField(_("delivery id"), default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(_("event"), max_length=40, choices=WebhookEvent.choices)
    body = models.TextField(_("body"))
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    response_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "-created_at", "-id"], name="webhook_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.uuid}"
