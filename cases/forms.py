"""Forms for partner pages; they validate input, the services decide what is allowed."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import Any

from babel import numbers
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from cases.models import (
    Answer,
    Case,
    Category,
    Customer,
    Outcome,
    Partner,
    Severity,
    Status,
    Subscription,
    SupportVehicle,
)
from cases.permissions import Role
from cases.services import VEHICLE_PLANS


class MonthField(forms.DateField):
    """A month picked with <input type="month">, stored as the first day of that month."""

    widget = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")
    input_formats = ["%Y-%m", "%Y-%m-%d"]
    default_error_messages = {"invalid": _("Enter a month as YYYY-MM.")}

    def to_python(self, value: Any) -> datetime.date | None:
        result = super().to_python(value)
        return result.replace(day=1) if result else None


class AmountField(forms.DecimalField):
    """A money amount as the reader writes it: digits with a decimal point in every language (1250.50), or
    the reader's own grouping and decimal signs (1,250.50 in English, 1 250,50 in Russian); no signs, no
    exponents."""

    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 3)
        super().__init__(**kwargs)

    def to_python(self, value: Any):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return super().to_python(text)
        locale = translation.to_locale(translation.get_language() or settings.LANGUAGE_CODE)
        if re.fullmatch(r"[\d\s.,\u00a0\u202f]+", text):
            group = numbers.get_group_symbol(locale)
            spaced = re.sub(r"[ \u00a0\u202f]", group, text) if group.isspace() else text
            try:
                return super().to_python(str(numbers.parse_decimal(spaced, locale=locale, strict=True)))
            except numbers.NumberFormatError:
                pass
        example = numbers.format_decimal(Decimal("1250.50"), format="#,##0.00", locale=locale)
        raise forms.ValidationError(
            _("Enter an amount such as %(example)s or 1250.50."), code="invalid", params={"example": example}
        )

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None and value <= 0:
            raise forms.ValidationError(_("Enter an amount greater than zero."), code="not_positive")


def _members(partner: Partner):
    return (
        get_user_model()
        .objects.filter(membership__partner=partner, is_active=True)
        .order_by("full_name", "email")
    )


class CaseForm(forms.ModelForm):
    billing_period = MonthField(label=_("Billing period"), required=False)
    disputed_amount = AmountField(label=_("Disputed amount"), required=False)

    class Meta:
        model = Case
        fields = [
            "customer",
            "subscription",
            "category",
            "title",
            "description",
            "invoice_number",
            "disputed_amount",
            "currency",
            "billing_period",
            "severity",
            "assignee",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 6})}
        # The model's foreign keys have no verbose names of their own: labels Django would derive in English.
        labels = {"customer": _("Customer"), "subscription": _("Subscription")}

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.partner = partner
        self.fields["customer"].queryset = Customer.objects.for_partner(partner)
        self.fields["subscription"].queryset = Subscription.objects.for_partner(partner).select_related(
            "customer"
        )
        self.fields["subscription"].label_from_instance = lambda s: f"{s.customer} — {s.offer} × {s.quantity}"
        self.fields["assignee"].queryset = _members(partner)
        self.fields["assignee"].label_from_instance = lambda u: u.get_full_name()
        self.fields["currency"].choices = [("", "—"), *self.fields["currency"].choices[1:]]
        self.fields["severity"].initial = Severity.C

    def _post_clean(self) -> None:
        """The model's checks, except "needs the disputed amount" for an amount typed but not readable: the
        field's own message already says what is wrong."""
        unreadable = "disputed_amount" in self.errors
        super()._post_clean()
        if unreadable:
            kept = [e for e in self.errors["disputed_amount"].as_data() if e.code != "amount_missing"]
            self.errors["disputed_amount"] = self.error_class([m for e in kept for m in e.messages])

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {name: data.get(name) for name in self.Meta.fields if name in data} | {
            "invoice_number": data.get("invoice_number") or "",
            "currency": data.get("currency") or "",
        }


class CaseFilterForm(forms.Form):
    # key -> (ordering, label). Each ordering ends on the primary key in the direction of its first column,
    # so it is read straight from an index of (partner, ...) in cases/models.py, however deep the page.
    SORTS = {
        "-created": (("-created_at", "-pk"), _("Newest first")),
        "created": (("created_at", "pk"), _("Oldest first")),
        "-updated": (("-updated_at", "-pk"), _("Recently updated")),
        "severity": (("severity", "-created_at", "-pk"), _("Severity")),
        "number": (("number",), _("Number")),
    }

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(label=_("Status"), required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    # The customer picker: the chosen customer's id (set by the picker, or by a link such as the customer
    # page's), and the text typed into it, which narrows the list by name when no customer was picked (so the
    # filter works without JavaScript too).
    customer = forms.ModelChoiceField(
        label=_("Customer"), required=False, queryset=Customer.objects.none(), widget=forms.HiddenInput
    )
    customer_name = forms.CharField(label=_("Customer"), required=False, max_length=100)
    assignee = forms.ModelChoiceField(label=_("Assignee"), required=False, queryset=None)
    escalated = forms.ChoiceField(
        label=_("Escalated"), required=False, choices=[("", _("Any")), ("yes", _("Yes")), ("no", _("No"))]
    )
    sort = forms.ChoiceField(label=_("Sort"), required=False)

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [
            ("", _("Any")),
            ("open", _("Open")),
            ("with_target", _("With Microsoft or 21Vianet")),
            *Status.choices,
        ]
        self.fields["category"].choices = [("", _("Any")), *Category.choices]
        self.fields["customer"].queryset = Customer.objects.for_partner(partner).only("pk", "company_name")
        self.fields["assignee"].queryset = _members(partner).only("pk", "full_name", "email")
        self.fields["assignee"].label_from_instance = lambda u: u.get_full_name()
        self.fields["sort"].choices = [(key, label) for key, (_order, label) in self.SORTS.items()]

    def ordering(self) -> tuple[str, ...]:
        """The ordering the (cleaned) sort asks for: newest first unless another was chosen."""
        key = getattr(self, "cleaned_data", {}).get("sort") or "-created"
        return self.SORTS.get(key, self.SORTS["-created"])[0]


class EscalateForm(forms.Form):
    support_vehicle = forms.ChoiceField(label=_("Support vehicle"))
    severity = forms.ChoiceField(label=_("Severity"), choices=Severity.choices)
    support_request_number = forms.CharField(
        label=_("Support request number"),
        required=False,
        max_length=40,
        help_text=_("Given by Microsoft or 21Vianet; you can add it later."),
    )

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Offer only what the partner's plan allows: commercial always, technical through its own plan.
        self.fields["support_vehicle"].choices = [
            (value, label)
            for value, label in SupportVehicle.choices
            if value not in VEHICLE_PLANS or VEHICLE_PLANS[value] == partner.support_plan
        ]


class ResolveForm(forms.Form):
    resolution_summary = forms.CharField(
        label=_("Resolution summary"), widget=forms.Textarea(attrs={"rows": 4})
    )
    outcome = forms.ChoiceField(label=_("Outcome"), required=False, choices=[("", "—"), *Outcome.choices])
    credit_amount = AmountField(label=_("Credit amount"), required=False)


class NoteForm(forms.Form):
    message = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000)


class OptionalNoteForm(forms.Form):
    message = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=10_000
    )


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), required=False, queryset=None, empty_label=_("Nobody")
    )

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = _members(partner)
        self.fields["assignee"].label_from_instance = lambda u: u.get_full_name()


class SupportRequestForm(forms.Form):
    support_request_number = forms.CharField(label=_("Support request number"), max_length=40)


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("Evidence (PDF, PNG, JPEG or CSV)"))


class SuspendForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class ReactivateForm(forms.Form):
    reason = forms.CharField(label=_("Note"), required=False, max_length=2000)


class RoleCheckboxes(forms.CheckboxSelectMultiple):
    """One checkbox per role; the locked ones are shown but cannot be ticked."""

    locked: frozenset[str] = frozenset()

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        if option["value"] in self.locked:
            option["attrs"]["disabled"] = True
        return option


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    full_name = forms.CharField(label=_("Full name"), max_length=150)
    roles = forms.MultipleChoiceField(label=_("Roles"), choices=Role.choices, widget=RoleCheckboxes)

    def __init__(self, *args: Any, locked_roles: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        """locked_roles: roles this inviter may not grant, shown disabled (the service refuses them too)."""
        super().__init__(*args, **kwargs)
        self.fields["roles"].widget.locked = frozenset(locked_roles)


class RolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=Role.choices, widget=forms.CheckboxSelectMultiple
    )


class CustomerAnswerForm(forms.Form):
    answer = forms.ChoiceField(
        label=_("Is your problem solved?"), choices=Answer.choices, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label=_("What is still wrong? (required if it is not resolved)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=5000,
    )
    rating = forms.TypedChoiceField(
        label=_("How satisfied are you with how your case was handled? (optional)"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[(str(n), str(n)) for n in range(1, 6)],
        widget=forms.RadioSelect,
    )


class AuditFilterForm(forms.Form):
    """The audit trail's filters (GET): what happened, who, from and until which day."""

    action = forms.ChoiceField(label=_("Action"), required=False)
    who = forms.CharField(label=_("Who"), required=False, max_length=254)
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from portal.models import AuditAction

        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", _("Any action")), *AuditAction.choices]

    def filter(self, events):
        """The events these filters keep (all of them when the form is not valid: it shows its errors)."""
        if not self.is_valid():
            return events
        data = self.cleaned_data
        if data["action"]:
            events = events.filter(action=data["action"])
        if data["who"]:
            events = events.filter(actor_email__icontains=data["who"].strip())
        if data["since"]:
            events = events.filter(created_at__date__gte=data["since"])
        if data["until"]:
            events = events.filter(created_at__date__lte=data["until"])
        return events
