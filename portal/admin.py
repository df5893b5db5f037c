from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from portal.models import AuditEvent, User


class LabelledTabularInline(admin.TabularInline):
    """A tabular inline whose every control has a name of its own.

    Django's table shows a field's label only as its column heading, which names no control: a screen reader
    meets a row of bare checkboxes and boxes (axe-core: label). Each control here is named by its field and
    its row, "Reviewed: Japanese"; a new row's by its field alone.
    """

    def row_label(self, obj) -> str:
        """How the row is named: what Django shows at the start of the row."""
        return str(obj)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        row_label = self.row_label

        class LabelledFormSet(formset):
            def add_fields(self, form, index) -> None:
                super().add_fields(form, index)  # the DELETE box too
                row = row_label(form.instance) if form.instance.pk else None
                for field in form.fields.values():
                    _name_control(field, row)

        LabelledFormSet.__name__ = formset.__name__
        return LabelledFormSet


def _name_control(field: forms.Field, row: str | None) -> None:
    widget = field.widget
    # Each choice of a CheckboxSelectMultiple or RadioSelect has its own <label>.
    choices = isinstance(widget, forms.widgets.ChoiceWidget) and widget.input_type in ("checkbox", "radio")
    if widget.is_hidden or choices:
        return
    label = capfirst(str(field.label or ""))
    name = gettext("%(field)s: %(row)s") % {"field": label, "row": row} if row else label
    widget.attrs.setdefault("aria-label", name)


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name", "language")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Every partner's trail, for staff: read only (events are appended by portal.audit, never edited)."""

    list_display = ("created_at", "partner", "actor_email", "action", "object_repr", "address")
    list_filter = ("action", "partner")
    search_fields = ("actor_email", "object_repr", "address")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
