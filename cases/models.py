"""Partners, their people and customers, and billing-dispute cases with their timeline."""

from __future__ import annotations

import datetime
import hashlib
import uuid
from decimal import Decimal
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from cases.currencies import CURRENCY_CHOICES, MINOR_UNITS, is_currency, money
from cases.permissions import Role
from portal.reversing import url_for


class Cloud(models.TextChoices):
    GLOBAL = "global", _("Partner Center (global)")
    US_GOVERNMENT = "usgov", _("Partner Center for Microsoft Cloud for US Government")
    GERMANY = "germany", _("Partner Center for Microsoft Cloud Germany")
    VIANET = "21vianet", _("Partner Center operated by 21Vianet")


class EscalationTarget(models.TextChoices):
    MICROSOFT = "microsoft", _("Microsoft")
    VIANET = "21vianet", _("21Vianet")


class SupportPlan(models.TextChoices):
    NONE = "none", _("None")
    PREMIER = "premier", _("Premier Support for Partners")
    ADVANCED = "advanced", _("Advanced Support for Partners")
    SIGNATURE = "signature", _("Signature Cloud Support")


class PartnerQuerySet(models.QuerySet["Partner"]):
    def for_partner(self, partner: Partner) -> PartnerQuerySet:
        return self.filter(pk=partner.pk)


class Partner(models.Model):
    """A CSP partner organisation, managed by portal staff in Django admin."""

    name = models.CharField(_("name"), max_length=200)
    mpn_id = models.CharField(
        _("Partner ID (MPN ID)"),
        max_length=20,
        unique=True,
        validators=[RegexValidator(r"^\d{5,10}$", _("A Partner ID is 5 to 10 digits."))],
    )
    case_prefix = models.CharField(
        _("case number prefix"),
        max_length=6,
        unique=True,
        validators=[RegexValidator(r"^[A-Z]{2,6}$", _("Use 2 to 6 capital letters."))],
        help_text=_("Case numbers look like PREFIX-1001."),
    )
    cloud = models.CharField(_("cloud"), max_length=16, choices=Cloud.choices, default=Cloud.GLOBAL)
    support_plan = models.CharField(
        _("support plan"), max_length=16, choices=SupportPlan.choices, default=SupportPlan.NONE
    )
    collections_policy = models.TextField(
        _("collections policy"),
        blank=True,
        help_text=_("How the partner collects payment and when a customer's access is affected."),
    )
    support_contact_name = models.CharField(_("support contact name"), max_length=200)
    support_contact_email = models.EmailField(_("support contact e-mail"))
    support_contact_phone = models.CharField(_("support contact phone"), max_length=40, blank=True)
    inbound_replies = models.BooleanField(
        _("replies by e-mail go into the case"),
        default=True,
        help_text=_(
            "Customers' replies to the portal's e-mails are added to their case. Off: replies go to the "
            "support contact's mailbox."
        ),
    )
    next_case_number = models.PositiveIntegerField(
        default=1001, editable=False, verbose_name=_("next case number")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = PartnerQuerySet.as_manager()

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def escalation_target(self) -> str:
        """Partners on the 21Vianet cloud escalate to 21Vianet, every other cloud to Microsoft."""
        return EscalationTarget.VIANET if self.cloud == Cloud.VIANET else EscalationTarget.MICROSOFT

    def get_escalation_target_display(self) -> str:
        return str(EscalationTarget(self.escalation_target).label)

    @property
    def guidance_cloud(self) -> str:
        """The guidance library this partner reads (global also covers US Government and Germany)."""
        return "21vianet" if self.cloud == Cloud.VIANET else "global"


# --- Service levels ---------------------------------------------------------------------------------

WEEKDAYS = range(7)  # 0 Monday … 6 Sunday, as datetime.date.weekday()


def default_working_hours() -> dict[str, list[list[int]]]:
    """Monday to Friday, 09:00 to 17:00: shifts in minutes after local midnight, by weekday."""
    return {str(day): [[9 * 60, 17 * 60]] for day in range(5)}


# A partner's calendar before it sets its own: the time zone and public holidays its cloud suggests.
CLOUD_CALENDARS = {
    Cloud.GLOBAL: ("UTC", ""),
    Cloud.US_GOVERNMENT: ("America/New_York", "US"),
    Cloud.GERMANY: ("Europe/Berlin", "DE"),
    Cloud.VIANET: ("Asia/Shanghai", "CN"),
}

# Targets in business minutes per severity; first response and escalation response follow the A/B/C table
# (2, 4, 8 hours), resolution is the portal's own default (one, three and five working days of 8 hours).
DEFAULT_TARGETS = {
    "first_response": {"A": 120, "B": 240, "C": 480},
    "resolution": {"A": 480, "B": 1440, "C": 2400},
    "escalation": {"A": 120, "B": 240, "C": 480},
}


def validate_time_zone(value: str) -> None:
    import zoneinfo

    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not a time zone."), code="bad_time_zone", params={"value": value}
        )


def validate_holiday_country(value: str) -> None:
    import holidays

    if value and value not in holidays.list_supported_countries():
        raise ValidationError(
            _("There is no public holiday calendar for %(value)s."),
            code="bad_country",
            params={"value": value},
        )


class ServiceLevel(models.Model):
    """A partner's business calendar (time zone, working hours, holidays, closed days) and its targets to its
    customers on that calendar. A partner without one uses the defaults of its cloud (for_partner)."""

    partner = models.OneToOneField(
        Partner, on_delete=models.CASCADE, related_name="service_level", verbose_name=_("partner")
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    holiday_country = models.CharField(
        _("public holidays of"),
        max_length=3,
        blank=True,
        validators=[validate_holiday_country],
        help_text=_("The country whose public holidays are closed days; none: no public holidays."),
    )
    # {"0": [[540, 720], [780, 1080]], …}: shifts per weekday (0 Monday) in minutes after local midnight.
    working_hours = models.JSONField(_("working hours"), default=default_working_hours)
    # [{"date": "2026-12-24", "name": "Christmas Eve"}, …]
    closed_days = models.JSONField(_("closed days"), default=list, blank=True)
    first_response_a = models.PositiveIntegerField(_("first response, severity A (minutes)"), default=120)
    first_response_b = models.PositiveIntegerField(_("first response, severity B (minutes)"), default=240)
    first_response_c = models.PositiveIntegerField(_("first response, severity C (minutes)"), default=480)
    resolution_a = models.PositiveIntegerField(_("resolution, severity A (minutes)"), default=480)
    resolution_b = models.PositiveIntegerField(_("resolution, severity B (minutes)"), default=1440)
    resolution_c = models.PositiveIntegerField(_("resolution, severity C (minutes)"), default=2400)
    escalation_a = models.PositiveIntegerField(_("escalation response, severity A (minutes)"), default=120)
    escalation_b = models.PositiveIntegerField(_("escalation response, severity B (minutes)"), default=240)
    escalation_c = models.PositiveIntegerField(_("escalation response, severity C (minutes)"), default=480)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("service level")
        verbose_name_plural = _("service levels")

    def __str__(self) -> str:
        return str(self.partner)

    @classmethod
    def for_partner(cls, partner: Partner) -> ServiceLevel:
        """The partner's saved service level, or (unsaved) the defaults of its cloud."""
        try:
            return partner.service_level
        except cls.DoesNotExist:
            time_zone, country = CLOUD_CALENDARS.get(partner.cloud, ("UTC", ""))
            return cls(partner=partner, time_zone=time_zone, holiday_country=country)

    def target(self, kind: str, severity: str) -> datetime.timedelta:
        """A target (first_response, resolution or escalation) for a severity, in business time."""
        return datetime.timedelta(minutes=getattr(self, f"{kind}_{severity.lower()}"))

    def shifts(self) -> dict[int, tuple[tuple[int, int], ...]]:
        return {
            int(day): tuple((int(start), int(end)) for start, end in shifts)
            for day, shifts in (self.working_hours or {}).items()
        }

    def own_closed_days(self) -> dict[datetime.date, str]:
        return {
            datetime.date.fromisoformat(day["date"]): day.get("name", "") for day in self.closed_days or []
        }

    def clean(self) -> None:
        from cases.businesstime import Calendar, CalendarError

        try:
            Calendar(datetime.UTC, self.shifts())
        except (CalendarError, TypeError, ValueError):
            raise ValidationError(
                {"working_hours": ValidationError(_("Give at least one working shift."), code="no_hours")}
            ) from None


class MembershipQuerySet(models.QuerySet["Membership"]):
    def for_partner(self, partner: Partner) -> MembershipQuerySet:
        return self.filter(partner=partner)

    def active(self) -> MembershipQuerySet:
        return self.filter(user__is_active=True)


class Membership(models.Model):
    """A user's place in one partner organisation, with one or more roles."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership", verbose_name=_("user")
    )
    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("partner")
    )
    roles = models.JSONField(_("roles"), default=list)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("invited by"),
    )
    created_at = models.DateTimeField(_("joined"), auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("partner membership")
        verbose_name_plural = _("partner memberships")
        ordering = ["partner", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.partner}"

    def role_labels(self) -> list[str]:
        return [str(Role(role).label) for role in self.roles if role in Role.values]


class CustomerQuerySet(models.QuerySet["Customer"]):
    def for_partner(self, partner: Partner) -> CustomerQuerySet:
        return self.filter(partner=partner)

    def search(self, query: str) -> CustomerQuerySet:
        """Customers whose company name or tenant domain contains query."""
        return self.filter(models.Q(company_name__icontains=query) | models.Q(tenant_domain__icontains=query))


class Customer(models.Model):
    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="customers", verbose_name=_("partner")
    )
    company_name = models.CharField(_("company name"), max_length=200)
    tenant_domain = models.CharField(
        _("tenant domain"),
        max_length=253,
        validators=[
            RegexValidator(
                r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
                _("Enter a domain such as contoso.onmicrosoft.com."),
            )
        ],
    )
    billing_contact_name = models.CharField(_("billing contact name"), max_length=200)
    billing_contact_email = models.EmailField(_("billing contact e-mail"))
    preferred_language = models.CharField(
        _("preferred language"), max_length=10, choices=settings.LANGUAGES, default="en"
    )
    delinquent = models.BooleanField(_("delinquent"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["company_name"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "tenant_domain"], name="cases_customer_partner_tenant")
        ]

    def __str__(self) -> str:
        return self.company_name

    def get_absolute_url(self) -> str:
        return reverse("cases:customer", kwargs={"pk": self.pk})


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")


class SubscriptionQuerySet(models.QuerySet["Subscription"]):
    def for_partner(self, partner: Partner) -> SubscriptionQuerySet:
        return self.filter(customer__partner=partner)


class Subscription(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="subscriptions", verbose_name=_("customer")
    )
    offer = models.CharField(_("offer"), max_length=200)
    quantity = models.PositiveIntegerField(_("quantity"), default=1, validators=[MinValueValidator(1)])
    status = models.CharField(
        _("status"), max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    status_reason = models.TextField(_("reason"), blank=True)
    status_since = models.DateTimeField(_("since"), default=timezone.now)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("status changed by"),
    )

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["customer", "offer"]

    def __str__(self) -> str:
        return f"{self.offer} × {self.quantity}"


class SubscriptionEvent(models.Model):
    """Who suspended or reactivated a subscription, when and why."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="events", verbose_name=_("subscription")
    )
    status = models.CharField(_("status"), max_length=16, choices=SubscriptionStatus.choices)
    reason = models.TextField(_("reason"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("subscription event")
        verbose_name_plural = _("subscription events")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.status}"


# --- Cases ---------------------------------------------------------------------------------------


class Category(models.TextChoices):
    BILLING_DISPUTE = "billing_dispute", _("Billing dispute")
    BILLING_QUESTION = "billing_question", _("Billing question")
    NON_PAYMENT = "non_payment", _("Non-payment, fraud or misuse")


class Severity(models.TextChoices):
    A = "A", _("A — critical (first response within 2 hours)")
    B = "B", _("B — moderate (first response within 4 hours)")
    C = "C", _("C — minimal (first response within 8 hours)")


RESPONSE_TARGETS = {
    Severity.A: datetime.timedelta(hours=2),
    Severity.B: datetime.timedelta(hours=4),
    Severity.C: datetime.timedelta(hours=8),
}


class Status(models.TextChoices):
    NEW = "new", _("New")
    IN_PROGRESS = "in_progress", _("In progress")
    ESCALATED = "escalated", _("Escalated")
    INFO_REQUESTED = "info_requested", _("Information requested")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


class Transition(models.TextChoices):
    START = "start", _("Start work")
    ESCALATE = "escalate", _("Escalate")
    REQUEST_INFO = "request_info", _("Information requested by the escalation target")
    PROVIDE_INFO = "provide_info", _("Information provided")
    RESOLVE = "resolve", _("Resolve")
    CLOSE = "close", _("Close")
    REOPEN = "reopen", _("Reopen")


# The whole state machine: transition -> (statuses it may start from, status it leads to).
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    Transition.START: (frozenset({Status.NEW}), Status.IN_PROGRESS),
    Transition.ESCALATE: (frozenset({Status.IN_PROGRESS}), Status.ESCALATED),
    Transition.REQUEST_INFO: (frozenset({Status.ESCALATED}), Status.INFO_REQUESTED),
    Transition.PROVIDE_INFO: (frozenset({Status.INFO_REQUESTED}), Status.ESCALATED),
    Transition.RESOLVE: (frozenset({Status.IN_PROGRESS, Status.ESCALATED}), Status.RESOLVED),
    Transition.CLOSE: (frozenset({Status.RESOLVED}), Status.CLOSED),
    Transition.REOPEN: (frozenset({Status.RESOLVED, Status.CLOSED}), Status.IN_PROGRESS),
}

# A running target due within this long counts as at risk (the dashboard, the case list's filter).
AT_RISK_WITHIN = datetime.timedelta(hours=1)

OPEN_STATUSES = frozenset({Status.NEW, Status.IN_PROGRESS, Status.ESCALATED, Status.INFO_REQUESTED})
WITH_TARGET_STATUSES = frozenset({Status.ESCALATED, Status.INFO_REQUESTED})


class SupportVehicle(models.TextChoices):
    COMMERCIAL = "commercial", _("Commercial issue support (all CSP partners)")
    PREMIER = "premier", _("Technical: Premier Support for Partners")
    ADVANCED = "advanced", _("Technical: Advanced Support for Partners")
    SIGNATURE = "signature", _("Technical: Signature Cloud Support")


class Outcome(models.TextChoices):
    CREDIT = "credit", _("Credit granted")
    UPHELD = "upheld", _("Charge upheld")
    ANSWERED = "answered", _("Question answered")
    OTHER = "other", _("Other resolution")


class CaseQuerySet(models.QuerySet["Case"]):
    def for_partner(self, partner: Partner) -> CaseQuerySet:
        return self.filter(partner=partner)

    def open(self) -> CaseQuerySet:
        return self.filter(status__in=OPEN_STATUSES)

    def search(self, query: str) -> CaseQuerySet:
        """Cases whose number, title, invoice, support request or external reference, or customer's name
        contains query."""
        return self.filter(
            models.Q(number__icontains=query)
            | models.Q(title__icontains=query)
            | models.Q(invoice_number__icontains=query)
            | models.Q(support_request_number__icontains=query)
            | models.Q(external_reference__icontains=query)
            | models.Q(customer__company_name__icontains=query)
        )

    def escalated(self) -> CaseQuerySet:
        """Cases now with Microsoft or 21Vianet (including those waiting on the partner's answer)."""
        return self.filter(status__in=WITH_TARGET_STATUSES)

    def waiting_on_partner(self) -> CaseQuerySet:
        return self.filter(status=Status.INFO_REQUESTED)

    def at_risk(self, now: datetime.datetime | None = None) -> CaseQuerySet:
        """Cases with a running target (first response, resolution, escalation response) past or due within
        the hour, by their stored due times (Case.next_due_at)."""
        now = now or timezone.now()
        return self.filter(next_due_at__lte=now + AT_RISK_WITHIN)

    def past_due(self, now: datetime.datetime | None = None) -> CaseQuerySet:
        """Cases with a running target already missed."""
        return self.filter(next_due_at__lte=now or timezone.now())

    def resolved_since(self, since: datetime.datetime) -> CaseQuerySet:
        return self.filter(resolved_at__gte=since)

    def with_list_columns(self) -> CaseQuerySet:
        return self.select_related("customer", "assignee")

    def rows(self) -> models.QuerySet:
        """The columns of a list of cases (templates/cases/_case_rows.html), as plain dicts."""
        return self.values(*ROW_COLUMNS)


# What a list of cases shows: number, title, customer, status, severity, assignee, opened, updated.
ROW_COLUMNS = (
    "number",
    "title",
    "status",
    "severity",
    "created_at",
    "updated_at",
    "customer_id",
    "customer__company_name",
    "assignee__full_name",
    "assignee__email",
)


@cache
def _labels(choices: type[models.Choices], language: str) -> dict[str, str]:
    with translation.override(language):
        return {value: str(label) for value, label in choices.choices}


def labels(choices: type[models.Choices]) -> dict[str, str]:
    """The choices' labels by value in the active language, made once per language: a page with a timeline
    shows dozens of them, and get_FOO_display() rebuilds the whole table for each."""
    return _labels(choices, translation.get_language() or settings.LANGUAGE_CODE)


def case_url(number: str) -> str:
    """A case's page (without a reverse() for each row of a list)."""
    return url_for("cases:detail", number)


class Case(models.Model):
    """A billing case a partner opened on behalf of one of its customers."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name=_("UUID"))
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="cases", verbose_name=_("partner")
    )
    number = models.CharField(_("number"), max_length=20, unique=True, editable=False)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="cases", verbose_name=_("customer")
    )
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="cases",
        verbose_name=_("subscription"),
    )
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    title = models.CharField(_("title"), max_length=200)
    # Longer than any dispute needs (the form and the API both stop here); the database does not limit it.
    description = models.TextField(_("description"), max_length=20_000)
    invoice_number = models.CharField(_("invoice number"), max_length=50, blank=True)
    disputed_amount = models.DecimalField(
        _("disputed amount"), max_digits=14, decimal_places=3, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES, blank=True)
    billing_period = models.DateField(
        _("billing period"), null=True, blank=True, help_text=_("The month the disputed charge belongs to.")
    )
    severity = models.CharField(_("severity"), max_length=1, choices=Severity.choices, default=Severity.C)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_cases",
        verbose_name=_("assignee"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("opened by")
    )
    created_at = models.DateTimeField(_("opened"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    first_response_due = models.DateTimeField(_("first response due"))
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)

    # Escalation through the partner support channel.
    escalation_target = models.CharField(
        _("escalated to"), max_length=16, choices=EscalationTarget.choices, blank=True
    )
    support_vehicle = models.CharField(
        _("support vehicle"), max_length=16, choices=SupportVehicle.choices, blank=True
    )
    escalation_severity = models.CharField(
        _("escalation severity"), max_length=1, choices=Severity.choices, blank=True
    )
    support_request_number = models.CharField(_("support request number"), max_length=40, blank=True)
    # The ticket id of the partner's own tool (PSA, ticketing), set through the API; unique per partner.
    external_reference = models.CharField(_("external reference"), max_length=100, blank=True)
    escalation_contact_name = models.CharField(
        max_length=200, blank=True, verbose_name=_("contact name on the escalation")
    )
    escalation_contact_email = models.EmailField(
        blank=True, verbose_name=_("contact e-mail address on the escalation")
    )
    escalation_contact_phone = models.CharField(
        max_length=40, blank=True, verbose_name=_("contact phone on the escalation")
    )
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)

    # Service levels on the partner's business calendar (cases/servicelevels.py keeps them): the due times of
    # the targets, stored so that lists sort and filter by them; recomputed when the clock pauses or resumes,
    # the severity, the calendar or the targets change.
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    escalation_response_due_at = models.DateTimeField(_("escalation response due"), null=True, blank=True)
    # The soonest due time of the targets still running (None: none runs: paused, resolved or closed).
    next_due_at = models.DateTimeField(_("next due"), null=True, blank=True)
    # When the clock stopped (waiting on the customer or on the partner's answer to the escalation target).
    clock_paused_at = models.DateTimeField(_("clock paused"), null=True, blank=True)
    # When the warnings task should look at the case next (75 % of a target, or its breach).
    service_check_at = models.DateTimeField(_("next service-level check"), null=True, blank=True)

    # Resolution; each resolve starts a new round, so a case resolved again after a reopen notifies again.
    resolution_summary = models.TextField(_("resolution summary"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, blank=True)
    credit_amount = models.DecimalField(
        _("credit amount"), max_digits=14, decimal_places=3, null=True, blank=True
    )
    resolution_round = models.PositiveIntegerField(
        default=0, editable=False, verbose_name=_("resolution round")
    )
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    loop_closed_at = models.DateTimeField(_("loop closed"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # A case the customer's e-mail about a closed case opened (cases/inbound.py).
    follow_up_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="follow_ups",
        verbose_name=_("follow-up of"),
    )

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The case list reads a page of ids straight from the index of its sort (cases.views.case_list).
            models.Index(fields=["partner", "-created_at", "-id"], name="case_partner_created_id"),
            # Status filters and counts; with the due time, the dashboard's "response at risk" panel and count
            # read the few new cases due soonest straight from the index, already in order.
            models.Index(fields=["partner", "status", "first_response_due"], name="case_partner_status_due"),
            # "At risk" on the dashboard and the list: the running due times, soonest first.
            models.Index(fields=["partner", "next_due_at"], name="case_partner_next_due"),
            models.Index(fields=["partner", "status", "next_due_at"], name="case_partner_status_next_due"),
            models.Index(fields=["partner", "resolution_due_at"], name="case_partner_resolution_due"),
            models.Index(fields=["partner", "first_response_due_at"], name="case_partner_response_due"),
            # The warnings task reads the cases whose check has come.
            models.Index(fields=["service_check_at"], name="case_service_check"),
            models.Index(fields=["partner", "-updated_at", "-id"], name="case_partner_updated_id"),
            models.Index(fields=["partner", "severity", "-created_at", "-id"], name="case_partner_severity"),
            models.Index(fields=["partner", "number"], name="case_partner_number"),
            # "Resolved this week" on the dashboard; the reports' resolutions of a period from the index alone
            # (INCLUDE is PostgreSQL's; elsewhere the index has the two keys).
            models.Index(
                fields=["partner", "resolved_at"],
                name="case_partner_resolved",
                include=["id", "status", "escalation_target", "created_at"],
            ),
            # The reports' cases opened in a period, with every column their figures read: no table access.
            models.Index(
                fields=["partner", "created_at"],
                name="case_partner_report",
                include=[
                    "id",
                    "customer",
                    "currency",
                    "disputed_amount",
                    "credit_amount",
                    "status",
                    "resolved_at",
                    "first_response_at",
                    "first_response_due_at",
                    "resolution_due_at",
                ],
            ),
            # The dashboard's satisfaction average joins the partner's case ids; this covers them.
            models.Index(fields=["partner", "id"], name="case_partner_id"),
        ]
        constraints = [
            # Also the index of the API's external_reference filter.
            models.UniqueConstraint(
                fields=["partner", "external_reference"],
                condition=~models.Q(external_reference=""),
                name="case_partner_external_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def get_absolute_url(self) -> str:
        return case_url(self.number)

    def clean(self) -> None:
        """Field rules shared by the web form, the API and the services."""
        errors: dict[str, list] = {}
        if self.disputed_amount is not None:
            if self.disputed_amount <= 0:
                errors.setdefault("disputed_amount", []).append(
                    ValidationError(_("Enter an amount greater than zero."), code="not_positive")
                )
            if not self.currency:
                errors.setdefault("currency", []).append(
                    ValidationError(_("Choose the currency of the disputed amount."), code="currency_missing")
                )
            elif is_currency(self.currency):
                decimals = -self.disputed_amount.normalize().as_tuple().exponent
                places = MINOR_UNITS[self.currency]
                if decimals > places:
                    message = (
                        ngettext_lazy(
                            "%(currency)s amounts have at most %(places)d decimal place.",
                            "%(currency)s amounts have at most %(places)d decimal places.",
                            "places",
                        )
                        if places
                        else _("%(currency)s amounts have no decimal places.")
                    )
                    errors.setdefault("disputed_amount", []).append(
                        ValidationError(
                            message,
                            code="too_many_decimals",
                            params={"currency": self.currency, "places": places},
                        )
                    )
        if self.category == Category.BILLING_DISPUTE:
            if not self.invoice_number:
                errors.setdefault("invoice_number", []).append(
                    ValidationError(_("A billing dispute needs the invoice number."), code="invoice_missing")
                )
            if self.disputed_amount is None:
                errors.setdefault("disputed_amount", []).append(
                    ValidationError(_("A billing dispute needs the disputed amount."), code="amount_missing")
                )
        if self.subscription_id and self.customer_id and self.subscription.customer_id != self.customer_id:
            errors.setdefault("subscription", []).append(
                ValidationError(_("That subscription belongs to another customer."), code="wrong_customer")
            )
        if self.customer_id and self.partner_id and self.customer.partner_id != self.partner_id:
            errors.setdefault("customer", []).append(
                ValidationError(_("Choose one of your own customers."), code="wrong_partner")
            )
        if errors:
            raise ValidationError(errors)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_escalated(self) -> bool:
        return self.status in WITH_TARGET_STATUSES

    @property
    def response_target(self) -> datetime.timedelta:
        return RESPONSE_TARGETS[Severity(self.severity)]

    def time_with_target(self, now: datetime.datetime | None = None) -> datetime.timedelta | None:
        """How long the case has been with Microsoft or 21Vianet in its current escalation."""
        if not self.escalated_at or not self.is_escalated:
            return None
        return (now or timezone.now()) - self.escalated_at

    def escalation_overdue(self, now: datetime.datetime | None = None) -> bool:
        """Whether the escalation target has had the case longer than its severity's response target."""
        elapsed = self.time_with_target(now)
        target = RESPONSE_TARGETS.get(self.escalation_severity or self.severity)
        return bool(elapsed and target and elapsed > target)

    @property
    def amount_display(self) -> str:
        return money(self.disputed_amount, self.currency)

    @property
    def credit_display(self) -> str:
        return money(self.credit_amount, self.currency)


class EventKind(models.TextChoices):
    CREATED = "created", _("Case opened")
    STATUS = "status", _("Status changed")
    COMMENT = "comment", _("Internal note")
    ATTACHMENT = "attachment", _("Evidence attached")
    ASSIGNED = "assigned", _("Assigned")
    SUPPORT_REQUEST = "support_request", _("Support request number recorded")
    CUSTOMER_INFORMED = "customer_informed", _("Customer informed")
    CUSTOMER_ANSWERED = "customer_answered", _("Customer answered")
    NOTIFICATION = "notification", _("Notification")
    EDITED = "edited", _("Details edited")
    CUSTOMER_MESSAGE = "customer_message", _("Customer message")
    PARTNER_MESSAGE = "partner_message", _("Message to the customer")
    CLOCK = "clock", _("Service-level clock")


class CaseEvent(models.Model):
    """One line of a case's timeline: who did what, when, and the status move if any."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events", verbose_name=_("case"))
    kind = models.CharField(max_length=24, choices=EventKind.choices, verbose_name=_("kind"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("when"))
    from_status = models.CharField(
        max_length=20, choices=Status.choices, blank=True, verbose_name=_("from status")
    )
    to_status = models.CharField(
        max_length=20, choices=Status.choices, blank=True, verbose_name=_("to status")
    )
    message = models.TextField(blank=True, verbose_name=_("message"))
    data = models.JSONField(default=dict, blank=True, verbose_name=_("details"))

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["case", "created_at"], name="caseevent_case_created")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind}"

    @property
    def text(self) -> str:
        """The event's message as the reader reads it: the portal's own words in the active language (see
        EVENT_TEXTS), a person's words as they wrote them."""
        said = EVENT_TEXTS.get(self.data.get("says"))
        if said is None:
            return self.message
        try:
            return str(said) % self.data.get("values", {})
        except (KeyError, TypeError, ValueError):
            return self.message

    def details(self) -> list[tuple[str, str]]:
        """The event's data as (label, readable value) pairs for the timeline."""
        pairs = []
        for key, (label, choices) in EVENT_DETAILS.items():
            value = self.data.get(key)
            if value in (None, ""):
                continue
            if choices is not None and value in choices.values:
                value = labels(choices)[value]
            elif key == "credit_amount":
                value = money(Decimal(str(value)), self.case.currency)
            pairs.append((str(label), str(value)))
        return pairs


# What the portal itself writes on a timeline is stored as a key and its values (data "says" and "values") and
# put into words when shown, in the reader's language: whoever caused it may read another one. `message` keeps
# the English words for whatever reads the row without the portal (Django admin, a database export).
EVENT_TEXTS = {
    "resolution_email_due": _("Resolution e-mail due to %(recipient)s"),
    "email_failed": _("E-mail to %(recipient)s failed: %(error)s"),
    "email_queued_again": _("E-mail to %(recipient)s queued again"),
    "loop_closed": _("The customer confirmed the resolution: the loop is closed."),
    "reopened_by_email": _("The customer replied by e-mail: the case is back in the queue."),
    "follow_up_opened": _("The customer wrote about this closed case: follow-up case %(number)s opened."),
    "follow_up_of": _("Follow-up of case %(number)s, opened by the customer's e-mail."),
    "clock_paused_customer": _("The service-level clock is paused: waiting on the customer's answer."),
    "clock_paused_target": _("The service-level clock is paused: %(target)s asked for information."),
    "clock_resumed": _("The service-level clock runs again."),
}


def event_says(key: str, **values: Any) -> dict[str, Any]:
    """The message and data of an event whose words are the portal's own (EVENT_TEXTS[key])."""
    with translation.override("en"):
        message = str(EVENT_TEXTS[key]) % values
    return {"message": message, "says": key, "values": values}


# What a timeline event's data may hold: key -> (label, the choices its value is one of).
EVENT_DETAILS = {
    "target": (_("Escalated to"), EscalationTarget),
    "vehicle": (_("Support vehicle"), SupportVehicle),
    "severity": (_("Severity"), None),
    "support_request_number": (_("Support request number"), None),
    "outcome": (_("Outcome"), Outcome),
    "credit_amount": (_("Credit amount"), None),
    "assignee": (_("Assignee"), None),
}


def attachment_path(instance: Attachment, filename: str) -> str:
    # Stored names are ours, never the uploader's: no path traversal, no clashes.
    return f"attachments/{instance.case.uuid}/{uuid.uuid4().hex}.{instance.extension}"


class AttachmentQuerySet(models.QuerySet["Attachment"]):
    def for_partner(self, partner: Partner) -> AttachmentQuerySet:
        return self.filter(case__partner=partner)


class Attachment(models.Model):
    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="attachments", verbose_name=_("case")
    )
    file = models.FileField(upload_to=attachment_path, max_length=300, verbose_name=_("file"))
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(max_length=100, verbose_name=_("content type"))
    extension = models.CharField(max_length=8, verbose_name=_("extension"))
    size = models.PositiveIntegerField(verbose_name=_("size"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("uploaded"))

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.original_name


class NotificationKind(models.TextChoices):
    RESOLUTION = "resolution", _("Resolution e-mail to the customer")
    REOPENED = "reopened", _("Customer reopened the case")
    FAILED = "failed", _("A notification failed")
    CUSTOMER_MESSAGE = "customer_message", _("The customer wrote about the case")
    PARTNER_MESSAGE = "partner_message", _("A partner user wrote to the customer")
    SLA_WARNING = "sla_warning", _("A service-level target is near")
    SLA_BREACH = "sla_breach", _("A service-level target was missed")


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class NotificationQuerySet(models.QuerySet["Notification"]):
    def for_partner(self, partner: Partner) -> NotificationQuerySet:
        return self.filter(case__partner=partner)


class Notification(models.Model):
    """An e-mail the portal owes someone: written with the change that causes it (an outbox row)."""

    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("case")
    )
    kind = models.CharField(max_length=16, choices=NotificationKind.choices, verbose_name=_("kind"))
    round = models.PositiveIntegerField(default=0, verbose_name=_("round"))
    recipient = models.EmailField(verbose_name=_("recipient"))
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, verbose_name=_("language"))
    status = models.CharField(
        max_length=10,
        choices=NotificationStatus.choices,
        default=NotificationStatus.PENDING,
        verbose_name=_("status"),
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next attempt"))
    message_id = models.CharField(max_length=200, blank=True, verbose_name=_("Message-ID"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent"))
    # The customer's e-mail a CUSTOMER_MESSAGE notice tells of (its round is that message's id).
    inbound = models.ForeignKey(
        "InboundEmail",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("received e-mail"),
    )

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "kind", "round", "recipient"], name="cases_notification_once_per_round"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.round} → {self.recipient}"

    @property
    def is_customer_facing(self) -> bool:
        return self.kind in (NotificationKind.RESOLUTION, NotificationKind.PARTNER_MESSAGE)


class Answer(models.TextChoices):
    RESOLVED = "resolved", _("Yes, it is resolved")
    NOT_RESOLVED = "not_resolved", _("No, it is not resolved")


class CustomerAnswer(models.Model):
    """What the customer said about a resolution, through the single-use link in its e-mail."""

    notification = models.OneToOneField(
        Notification, on_delete=models.CASCADE, related_name="answer", verbose_name=_("notification")
    )
    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="customer_answers", verbose_name=_("case")
    )
    answer = models.CharField(_("answer"), max_length=16, choices=Answer.choices)
    comment = models.TextField(_("comment"), blank=True)
    rating = models.PositiveSmallIntegerField(
        _("satisfaction"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("answered"))

    class Meta:
        verbose_name = _("customer's answer")
        verbose_name_plural = _("customers' answers")
        ordering = ["-created_at"]
        # The reports' satisfaction figures read the answers of a period.
        indexes = [models.Index(fields=["created_at"], name="customeranswer_created")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.answer}"


class IdempotencyKey(models.Model):
    """The first result of a POST made with an Idempotency-Key, so a retry does not open a second case."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    key = models.CharField(
        max_length=64, help_text=_("The SHA-256 of the whole key the client sent."), verbose_name=_("key")
    )
    fingerprint = models.CharField(max_length=64, verbose_name=_("fingerprint"))
    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, null=True, related_name="+", verbose_name=_("case")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created"))

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="cases_idempotency_user_key")]

    def __str__(self) -> str:
        return self.key

    @staticmethod
    def digest(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


# --- Replies by e-mail ------------------------------------------------------------------------------


class InboundStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    THREADED = "threaded", _("Added to the case")
    AUTO_REPLY = "auto_reply", _("Automatic reply")
    BOUNCE = "bounce", _("Delivery failure report")
    UNVERIFIED = "unverified", _("Unverified sender")
    UNMATCHED = "unmatched", _("No matching case")
    REFUSED = "refused", _("Refused")
    FAILED = "failed", _("Could not be processed")


class InboundEmailQuerySet(models.QuerySet["InboundEmail"]):
    def for_partner(self, partner: Partner) -> InboundEmailQuerySet:
        return self.filter(case__partner=partner)


class InboundEmail(models.Model):
    """An e-mail the portal received (a customer's reply, an automatic reply, a bounce), stored as it came
    before anything else is done with it (cases/inbound.py)."""

    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    source = models.CharField(_("source"), max_length=16)
    raw = models.BinaryField(_("raw message"))
    size = models.PositiveIntegerField(_("size"), help_text=_("Bytes received; raw may hold only the first."))
    sender = models.CharField(_("from"), max_length=320, blank=True)
    recipients = models.TextField(_("to"), blank=True)
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=16, choices=InboundStatus.choices, default=InboundStatus.RECEIVED
    )
    reason = models.TextField(_("reason"), blank=True)
    case = models.ForeignKey(
        Case,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbound_emails",
        verbose_name=_("case"),
    )
    # The notification it answers, or the one a bounce reports.
    notification = models.ForeignKey(
        Notification,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("notification"),
    )
    text = models.TextField(_("full text"), blank=True)
    reply = models.TextField(_("reply"), blank=True, help_text=_("The text without quoted history."))
    # [{"name", "code", "message" (the English msgid), "params"}] for each attachment refused as evidence.
    refused_attachments = models.JSONField(default=list, blank=True, verbose_name=_("attachments not kept"))
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("accepted by"),
    )
    accepted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("accepted"))

    objects = InboundEmailQuerySet.as_manager()

    class Meta:
        verbose_name = _("received e-mail")
        verbose_name_plural = _("received e-mails")
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["case", "received_at"], name="inbound_case_received")]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.status})"

    def attachment_refusals(self) -> list[tuple[str, str]]:
        """(file name, why it was refused) for each refused attachment, in the reader's language."""
        refusals = []
        for item in self.refused_attachments:
            try:
                why = translation.gettext(item.get("message", "")) % (item.get("params") or {})
            except (KeyError, TypeError, ValueError):
                why = item.get("message", "")
            refusals.append((item.get("name", ""), why))
        return refusals
