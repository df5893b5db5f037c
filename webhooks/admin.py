from django.contrib import admin

from webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "partner", "active", "disabled_reason", "failures_in_row", "created_at"]
    list_filter = ["active", "partner"]
    search_fields = ["url", "partner__name"]
    exclude = ["secret"]
    readonly_fields = ["partner", "url", "events", "created_by", "created_at", "failures_in_row"]

    def has_add_permission(self, request) -> bool:
        return False  # registered by the partner's Global admins, who alone see the secret


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Read only: the outbox is written by the services and the tasks."""

    list_display = ["uuid", "event", "endpoint", "status", "attempts", "response_code", "created_at"]
    list_filter = ["status", "event"]
    search_fields = ["uuid", "endpoint__url"]
    list_select_related = ["endpoint"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
