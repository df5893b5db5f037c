"""Forms for partner pages; they validate input, the services decide what is allowed."""

from __future__ import annotations

import datetime
import functools
import re
from decimal import Decimal
from typing import Any

from babel import numbers
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Count, F, Q
from django.forms.utils import ErrorDict
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from cases.currencies import MINOR_UNITS
from cases.models import (
    Answer,
    Case,
    Category,
    Cloud,
    Customer,
    Outcome,
    Partner,
    ServiceLevel,
    Severity,
    Status,
    Subscription,
    SubscriptionStatus,
    SupportVehicle,
)
from cases.permissions import Role
from cases.services import VEHICLE_PLANS
from cases.uploads import clean_filename, inspect_upload


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


# The currency a partner is offered before it has written any: the one its cloud bills in (the Partner model
# records no currency or country of its own). 21Vianet bills in yuan, Microsoft Cloud Germany in euros.
CLOUD_CURRENCIES = {
    Cloud.GLOBAL: "USD",
    Cloud.US_GOVERNMENT: "USD",
    Cloud.GERMANY: "EUR",
    Cloud.VIANET: "CNY",
}
USUAL_CURRENCIES = 5  # how many of the partner's recent currencies head the list
RECENT_CASES = 200  # the cases they are counted on
EVIDENCE_AT_CREATION = 5  # files attached with the new case; more go on the case page, one by one


def usual_currencies(partner: Partner) -> list[str]:
    """The partner's currencies on its recent cases, most used first (empty for a partner with no case)."""
    recent = (
        Case.objects.for_partner(partner).exclude(currency="").order_by("-created_at", "-pk").values("pk")
    )
    return list(
        Case.objects.filter(pk__in=recent[:RECENT_CASES])
        .values_list("currency", flat=True)
        .annotate(uses=Count("pk"))
        .order_by("-uses", "currency")[:USUAL_CURRENCIES]
    )


def partner_currency(partner: Partner, usual: list[str]) -> str:
    """The partner's default currency: the one it uses most, else its cloud's."""
    return usual[0] if usual else CLOUD_CURRENCIES.get(partner.cloud, "USD")


def customer_currency(customer: Customer) -> str | None:
    """The currency of the customer's latest case that has one."""
    return (
        customer.cases.exclude(currency="")
        .order_by("-created_at", "-pk")
        .values_list("currency", flat=True)
        .first()
    )


@functools.cache
def _currency_names(locale: str) -> dict[str, str]:
    names = {}
    for code in MINOR_UNITS:
        name = numbers.get_currency_name(code, locale=locale)
        names[code] = code if name == code else f"{code} — {name}"
    return names


def currency_choices(first: list[str]) -> list[tuple[Any, Any]]:
    """The currencies as (grouped) choices in the reader's language: those in `first`, then all the others."""
    locale = translation.to_locale(translation.get_language() or settings.LANGUAGE_CODE)
    names = _currency_names(locale)
    first = [code for code in dict.fromkeys(first) if code in names]
    others = [(code, names[code]) for code in sorted(names) if code not in first]
    return [
        ("", "—"),
        (_("Your usual currencies"), [(code, names[code]) for code in first]),
        (_("Other currencies"), others),
    ]


def subscription_label(subscription: Subscription) -> str:
    """A subscription as the new-case form offers it: offer and seats, and whether it is suspended."""
    if subscription.status == SubscriptionStatus.SUSPENDED:
        return _("%(subscription)s (suspended)") % {"subscription": subscription}
    return str(subscription)


def _customer_matching(partner: Partner, typed: str) -> Customer:
    """The one customer of the partner that the typed text names (company name or tenant domain, whole or
    in part); ValidationError when none or several do."""
    customers = Customer.objects.for_partner(partner).only("pk", "company_name", "tenant_domain")
    exact = list(
        customers.filter(Q(company_name__iexact=typed) | Q(tenant_domain__iexact=typed)).order_by("pk")[:6]
    )
    found = exact or list(customers.search(typed).order_by("company_name", "pk")[:6])
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValidationError(
            _("None of your customers is called “%(typed)s”. Check the company name or tenant domain."),
            code="unknown_customer",
            params={"typed": typed},
        )
    names = ", ".join(f"{c.company_name} ({c.tenant_domain})" for c in found[:5])
    raise ValidationError(
        _(
            "Several of your customers match “%(typed)s”: %(names)s. Type more of the name, or the "
            "tenant domain."
        ),
        code="ambiguous_customer",
        params={"typed": typed, "names": names + (", …" if len(found) > 5 else "")},
    )


def _names(customer: Customer, typed: str) -> bool:
    """Whether the typed text is the customer's company name or tenant domain (as the picker fills it in)."""
    return typed.casefold() in (customer.company_name.casefold(), customer.tenant_domain.casefold())


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class EvidenceField(forms.FileField):
    """Zero or more evidence files, each checked as the case page checks one (cases/uploads.py)."""

    widget = MultipleFileInput(
        attrs={"accept": ".pdf,.png,.jpg,.jpeg,.csv,application/pdf,image/png,image/jpeg,text/csv"}
    )

    def __init__(self, *, max_files: int, **kwargs: Any) -> None:
        self.max_files = max_files
        super().__init__(required=False, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if len(files) > self.max_files:
            raise ValidationError(
                _("Attach at most %(limit)d files here; add more on the case page once it is open."),
                code="too_many_files",
                params={"limit": self.max_files},
            )
        problems = []
        for upload in files:
            try:
                super().clean(upload)
                inspect_upload(upload)
            except ValidationError as error:
                problems.append(
                    ValidationError(
                        _("%(name)s: %(problem)s"),
                        code=error.error_list[0].code,
                        params={
                            "name": clean_filename(upload.name or ""),
                            "problem": " ".join(error.messages),
                        },
                    )
                )
        if problems:
            raise ValidationError(problems)
        return files


class CaseForm(forms.ModelForm):
    """The new-case form. The customer is a picker: the hidden `customer` holds the id the picker chose, and
    `customer_name` what was typed, resolved to one of the partner's customers when no id came with it (a page
    sent without JavaScript). Only that customer's subscriptions are offered."""

    customer = forms.ModelChoiceField(
        label=_("Customer"),
        required=False,
        queryset=Customer.objects.none(),
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": _("Choose one of your own customers.")},
    )
    customer_name = forms.CharField(
        label=_("Customer"),
        required=False,
        max_length=253,
        help_text=_("Type part of the customer's company name or tenant domain."),
    )
    subscription = forms.ModelChoiceField(
        label=_("Subscription"),
        required=False,
        queryset=Subscription.objects.none(),
        error_messages={"invalid_choice": _("Choose one of this customer's subscriptions.")},
    )
    billing_period = MonthField(label=_("Billing period"), required=False)
    disputed_amount = AmountField(label=_("Disputed amount"), required=False)
    currency = forms.ChoiceField(label=_("Currency"), required=False)
    # The currency the page offered: a re-shown page (without JavaScript) offers the new customer's own
    # currency in its place, unless the user chose another.
    currency_offered = forms.CharField(required=False, widget=forms.HiddenInput)
    evidence = EvidenceField(label=_("Evidence (PDF, PNG, JPEG or CSV)"), max_files=EVIDENCE_AT_CREATION)

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

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.partner = partner
        self.instance.partner = partner
        self.fields["customer"].queryset = Customer.objects.for_partner(partner)
        # Any of the partner's subscriptions is a valid choice to the field; the model refuses one of another
        # customer with a message that says so. The page lists only the chosen customer's.
        self.fields["subscription"].queryset = Subscription.objects.for_partner(partner)
        self.fields["subscription"].label_from_instance = subscription_label
        self.fields["category"].choices = [("", _("Choose a category")), *Category.choices]
        self.fields["assignee"].queryset = _members(partner)
        self.fields["assignee"].label_from_instance = lambda u: u.get_full_name()
        self.fields["assignee"].empty_label = _("Nobody")
        self.fields["severity"].initial = Severity.C
        self.fields["evidence"].help_text = _(
            "Up to %(count)d files of at most %(size)d MB each; you can add more on the case page."
        ) % {"count": EVIDENCE_AT_CREATION, "size": settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)}
        self.picked_customer: Customer | None = None if self.is_bound else self.initial.get("customer")
        self._usual = usual_currencies(partner)
        if not self.is_bound:
            offered = self._currency_for(self.picked_customer)
            self.initial.setdefault("currency", offered)
            self.initial["currency_offered"] = offered
        self._offer_currencies()
        if not self.is_bound:
            self._list_subscriptions()  # a bound form lists them once it knows its customer (_post_clean)

    def _currency_for(self, customer: Customer | None) -> str:
        return (customer and customer_currency(customer)) or partner_currency(self.partner, self._usual)

    def _offer_currencies(self) -> None:
        """The currency offered first, then the partner's usual ones, then all the others."""
        offered = (self.data if self.is_bound else self.initial).get("currency_offered") or ""
        first = [offered, *self._usual, partner_currency(self.partner, self._usual)]
        self.fields["currency"].choices = currency_choices([code for code in first if code])

    def _list_subscriptions(self) -> None:
        """Offer the picked customer's subscriptions only (none before a customer is picked)."""
        field = self.fields["subscription"]
        customer = self.picked_customer
        if customer is None:
            field.queryset = Subscription.objects.none()
            field.empty_label = _("Choose the customer first")
            return
        field.queryset = customer.subscriptions.order_by("offer", "pk")
        field.empty_label = _("Choose a subscription (optional)")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "customer" in self.errors:
            return data
        picked = data.get("customer")
        typed = " ".join((data.get("customer_name") or "").split())
        if picked is not None and typed and not _names(picked, typed):
            picked = None  # the text was changed after the customer was picked: the text is what counts
        if picked is None:
            try:
                if not typed:
                    raise ValidationError(_("Choose a customer."), code="required")
                picked = _customer_matching(self.partner, typed)
            except ValidationError as error:
                self.add_error("customer", error)
                return data
        data["customer"] = self.picked_customer = picked
        return data

    def _post_clean(self) -> None:
        """The model's checks, except "needs the disputed amount" for an amount typed but not readable: the
        field's own message already says what is wrong."""
        unreadable = "disputed_amount" in self.errors
        super()._post_clean()
        if unreadable:
            kept = [e for e in self.errors["disputed_amount"].as_data() if e.code != "amount_missing"]
            self.errors["disputed_amount"] = self.error_class([m for e in kept for m in e.messages])
        self._list_subscriptions()

    def refresh(self) -> None:
        """Show the form again as typed so far, for the customer it names (a page sent without JavaScript):
        that customer's subscriptions, its currency unless the user chose another, no errors but the
        customer's. Files cannot be shown again: the browser sends them once."""
        self.full_clean()
        self._errors = ErrorDict(
            {name: errors for name, errors in self._errors.items() if name == "customer"}
        )
        customer = self.picked_customer
        if customer is None:
            return
        self.data = self.data.copy()
        if self.data.get("currency", "") in ("", self.data.get("currency_offered", "")):
            offered = self._currency_for(customer)
            self.data["currency"] = self.data["currency_offered"] = offered
            self._offer_currencies()

    def subscription_options(self) -> list[tuple[Any, str]]:
        """The subscription choices as a list (read in one query; list() would count them first)."""
        return [(value, label) for value, label in self.fields["subscription"].choices]

    def customer_text(self) -> str:
        """What the picker's text field shows: the picked customer's name, else what was typed."""
        if self.picked_customer is not None:
            return self.picked_customer.company_name
        return (self.data.get("customer_name") or "") if self.is_bound else ""

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {name: data.get(name) for name in self.Meta.fields if name in data} | {
            "invoice_number": data.get("invoice_number") or "",
            "currency": data.get("currency") or "",
            "evidence": data.get("evidence") or [],
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
        # The soonest running due time (index (partner, next_due_at)); cases with none running come last.
        "due": ((F("next_due_at").asc(nulls_last=True), "pk"), _("Due soonest")),
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
    due = forms.ChoiceField(
        label=_("Service level"),
        required=False,
        choices=[("", _("Any")), ("at_risk", _("At risk (due within the hour)")), ("past_due", _("Overdue"))],
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
        self.fields["assignee"].empty_label = _("Anyone")
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


class CustomerMessageForm(forms.Form):
    message = forms.CharField(
        label=_("Message to the customer"), widget=forms.Textarea(attrs={"rows": 4}), max_length=10_000
    )
    wait_for_answer = forms.BooleanField(
        label=_("Wait for the customer's answer"),
        required=False,
        help_text=_("The service-level clock pauses until the customer answers."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Its own ids: the case page has note forms with a "message" field too.
        kwargs.setdefault("auto_id", "id_to_customer_%s")
        super().__init__(*args, **kwargs)


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


# --- Service levels ---------------------------------------------------------------------------------------

SHIFT_PATTERN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


def _minutes(hours: str, minutes: str) -> int:
    return int(hours) * 60 + int(minutes)


def parse_shifts(text: str) -> list[list[int]]:
    """ "09:00-12:00, 13:00-18:00" as shifts in minutes after midnight; empty: a closed day."""
    shifts: list[list[int]] = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        match = SHIFT_PATTERN.match(part)
        if not match:
            raise ValidationError(
                _("Write hours as 09:00-12:00, 13:00-18:00 (%(part)s is not)."),
                code="bad_shift",
                params={"part": part},
            )
        start, end = _minutes(*match.groups()[:2]), _minutes(*match.groups()[2:])
        if not (0 <= start < end <= 24 * 60) or int(match.group(2)) > 59 or int(match.group(4)) > 59:
            raise ValidationError(
                _("%(part)s does not start before it ends within the day."),
                code="bad_shift",
                params={"part": part},
            )
        if shifts and start < shifts[-1][1]:
            raise ValidationError(_("Shifts must be in order and must not overlap."), code="overlap")
        shifts.append([start, end])
    return shifts


def format_shifts(shifts: list[list[int]]) -> str:
    return ", ".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in shifts)


def parse_closed_days(text: str) -> list[dict[str, str]]:
    """One closed day a line: a date (YYYY-MM-DD), then its name if any."""
    days: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        day, _sep, name = line.partition(" ")
        try:
            datetime.date.fromisoformat(day)
        except ValueError:
            raise ValidationError(
                _("Line %(line)d: start with a date such as 2026-12-24."),
                code="bad_date",
                params={"line": number},
            ) from None
        days[day] = name.strip()[:100]
    return [{"date": day, "name": name} for day, name in sorted(days.items())]


def holiday_country_choices() -> list[tuple[str, str]]:
    """The countries the holidays package knows, named in the reader's language."""
    import holidays
    from babel import Locale

    locale = Locale.parse(translation.to_locale(translation.get_language() or "en"))
    names = {code: locale.territories.get(code, code) for code in holidays.list_supported_countries()}
    return [("", _("None")), *sorted(names.items(), key=lambda item: item[1])]


def _hours(label: Any, help_text: Any = "") -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=200, help_text=help_text)


class ServiceLevelForm(forms.ModelForm):
    """A partner's business calendar and targets: the Global admin's settings page and Django admin."""

    hours_0 = _hours(_("Monday"), _("Working hours, e.g. 09:00-12:00, 13:00-18:00; empty: closed."))
    hours_1 = _hours(_("Tuesday"))
    hours_2 = _hours(_("Wednesday"))
    hours_3 = _hours(_("Thursday"))
    hours_4 = _hours(_("Friday"))
    hours_5 = _hours(_("Saturday"))
    hours_6 = _hours(_("Sunday"))

    time_zone = forms.ChoiceField(label=_("Time zone"))
    holiday_country = forms.ChoiceField(label=_("Public holidays of"), required=False)
    closed_days_text = forms.CharField(
        label=_("Closed days"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Your own closed days besides public holidays: one a line, a date and a name "
            "(2026-12-24 Christmas Eve)."
        ),
    )

    class Meta:
        model = ServiceLevel
        fields = (
            "time_zone",
            "holiday_country",
            "first_response_a",
            "first_response_b",
            "first_response_c",
            "resolution_a",
            "resolution_b",
            "resolution_c",
            "escalation_a",
            "escalation_b",
            "escalation_c",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import zoneinfo

        self.fields["time_zone"].choices = [(zone, zone) for zone in sorted(zoneinfo.available_timezones())]
        self.fields["holiday_country"].choices = holiday_country_choices()
        shifts = self.instance.working_hours or {}
        for day in range(7):
            self.fields[f"hours_{day}"].initial = format_shifts(shifts.get(str(day), []))
        self.fields["closed_days_text"].initial = "\n".join(
            f"{day['date']} {day.get('name', '')}".strip() for day in self.instance.closed_days or []
        )
        for name in self.Meta.fields[2:]:
            self.fields[name].widget.attrs.update({"min": 0, "step": 15})

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        hours: dict[str, list[list[int]]] = {}
        for day in range(7):
            try:
                shifts = parse_shifts(cleaned.get(f"hours_{day}") or "")
            except ValidationError as error:
                self.add_error(f"hours_{day}", error)
                continue
            if shifts:
                hours[str(day)] = shifts
        if not hours and not any(self.has_error(f"hours_{day}") for day in range(7)):
            self.add_error("hours_0", ValidationError(_("Give at least one working shift."), code="no_hours"))
        self.instance.working_hours = hours
        try:
            self.instance.closed_days = parse_closed_days(cleaned.get("closed_days_text") or "")
        except ValidationError as error:
            self.add_error("closed_days_text", error)
        return cleaned

    def _post_clean(self) -> None:
        # Bad working hours are told on the weekday fields; the model would only repeat it above the form.
        if not any(self.has_error(f"hours_{day}") for day in range(7)):
            super()._post_clean()


REPORT_DAYS = 90  # the period a report covers unless one is chosen
REPORT_MAX_DAYS = 366
REPORT_EARLIEST_YEAR = 2000


class ReportPeriodForm(forms.Form):
    """The reports' period (GET ?from=&to=, both days included): the last 90 days unless chosen, at most a
    year, ending today at the latest."""

    def __init__(self, data: Any = None, *, today: datetime.date) -> None:
        super().__init__(data)
        self.today = today
        # "from" is a Python keyword, so the fields are added here rather than declared.
        self.fields["from"] = forms.DateField(
            label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
        )
        self.fields["to"] = forms.DateField(
            label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        end = data.get("to") or self.today
        start = data.get("from") or end - datetime.timedelta(days=REPORT_DAYS - 1)
        if end > self.today:
            self.add_error("to", ValidationError(_("The period cannot end after today."), code="future"))
        elif start > end:
            self.add_error(
                "to", ValidationError(_("The period cannot end before it starts."), code="reversed")
            )
        elif start.year < REPORT_EARLIEST_YEAR:
            self.add_error(
                "from",
                ValidationError(
                    _("Choose a day in %(year)d or later."),
                    code="too_early",
                    params={"year": REPORT_EARLIEST_YEAR},
                ),
            )
        elif (end - start).days + 1 > REPORT_MAX_DAYS:
            self.add_error(
                "from",
                ValidationError(
                    _("Choose a period of at most %(days)d days."),
                    code="too_long",
                    params={"days": REPORT_MAX_DAYS},
                ),
            )
        data["from"], data["to"] = start, end
        return data
