"""Django admin for portal staff: partners and their people and customers. Case status is read-only here:
only the services move a case through its workflow."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from cases import services
from cases.forms import ServiceLevelForm
from cases.models import (
    Case,
    CaseEvent,
    Customer,
    InboundEmail,
    Membership,
    Notification,
    Partner,
    ServiceLevel,
    Subscription,
)
from cases.permissions import Role
from portal import audit
from portal.admin import LabelledTabularInline
from portal.models import AuditAction


class MembershipForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(
        choices=Role.choices, widget=forms.CheckboxSelectMultiple, label=_("roles")
    )

    class Meta:
        model = Membership
        fields = ("user", "roles")


class MembershipFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """Refuse a save that leaves the partner no active Global admin, judged on the whole team at once so
        that staff can hand the role from one person to another in one save."""
        super().clean()
        if any(self.errors) or self.instance.pk is None:
            return
        remaining = [
            (form.cleaned_data.get("user"), form.cleaned_data.get("roles") or [])
            for form in self.forms
            if form.cleaned_data and not (self.can_delete and self._should_delete_form(form))
        ]
        # Admin saves inside one transaction, so the team stays locked until this save is committed.
        services.team_check_global_admin_kept(partner=self.instance, members=remaining)


class MembershipInline(LabelledTabularInline):
    model = Membership
    form = MembershipForm
    formset = MembershipFormSet
    extra = 0
    fk_name = "partner"
    autocomplete_fields = ("user",)


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "mpn_id", "cloud", "support_plan", "case_prefix")
    list_filter = ("cloud", "support_plan")
    search_fields = ("name", "mpn_id")
    inlines = (MembershipInline,)
    fieldsets = (
        (None, {"fields": ("name", "mpn_id", "case_prefix", "cloud", "support_plan")}),
        (
            _("Support contact"),
            {"fields": ("support_contact_name", "support_contact_email", "support_contact_phone")},
        ),
        (_("Replies by e-mail"), {"fields": ("inbound_replies",)}),
        (_("Collections policy"), {"fields": ("collections_policy",)}),
    )

    def save_model(self, request, obj, form, change) -> None:
        """Saved in the admin's transaction with an audit event naming what changed, before and after."""
        super().save_model(request, obj, form, change)
        changed = sorted(form.changed_data)
        if changed:
            audit.record(
                AuditAction.PARTNER_EDITED,
                actor=request.user,
                partner=obj,
                obj=obj,
                before={name: _jsonable(form.initial.get(name)) for name in changed} if change else None,
                after={name: _jsonable(form.cleaned_data.get(name)) for name in changed},
                request=request,
            )


def _jsonable(value):
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


class SubscriptionInline(LabelledTabularInline):
    model = Subscription
    extra = 0
    fields = ("offer", "quantity", "status", "status_reason", "status_since")
    readonly_fields = ("status", "status_reason", "status_since")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("company_name", "partner", "tenant_domain", "preferred_language", "delinquent")
    list_filter = ("partner", "preferred_language", "delinquent")
    search_fields = ("company_name", "tenant_domain", "billing_contact_email")
    inlines = (SubscriptionInline,)


class CaseEventInline(LabelledTabularInline):
    model = CaseEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "actor", "from_status", "to_status", "message")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("number", "title", "partner", "customer", "status", "severity", "created_at")
    list_filter = ("partner", "status", "category", "severity")
    search_fields = ("number", "title", "customer__company_name")
    list_select_related = ("partner", "customer")
    inlines = (CaseEventInline,)
    readonly_fields = [field.name for field in Case._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("case", "kind", "round", "recipient", "language", "status", "attempts", "sent_at")
    list_filter = ("status", "kind", "language")
    readonly_fields = [field.name for field in Notification._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(InboundEmail)
class InboundEmailAdmin(admin.ModelAdmin):
    """What came in by e-mail, as it came: read only (cases/inbound.py writes it)."""

    list_display = ("received_at", "sender", "subject", "status", "case", "source")
    list_filter = ("status", "source")
    search_fields = ("message_id", "sender", "subject", "case__number")
    list_select_related = ("case",)
    exclude = ("raw",)
    readonly_fields = [field.name for field in InboundEmail._meta.fields if field.name != "raw"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ServiceLevel)
class ServiceLevelAdmin(admin.ModelAdmin):
    """A partner's business calendar and targets, as its Global admin edits them; saving recomputes the due
    times of the partner's open cases."""

    form = ServiceLevelForm
    list_display = ("partner", "time_zone", "holiday_country", "updated_at")
    autocomplete_fields = ("partner",)
    fieldsets = (
        (None, {"fields": ("partner", "time_zone", "holiday_country")}),
        (
            _("Working hours"),
            {"fields": (*(f"hours_{day}" for day in range(7)), "closed_days_text")},
        ),
        (
            _("Targets in business minutes"),
            {
                "fields": tuple(
                    f"{kind}_{severity}"
                    for kind in ("first_response", "resolution", "escalation")
                    for severity in "abc"
                )
            },
        ),
    )

    def save_model(self, request, obj, form, change) -> None:
        services.service_level_update(actor=None, level=obj)
