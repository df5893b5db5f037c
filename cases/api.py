"""The REST API for cases and customers: the same services and permission table as the web pages."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db import IntegrityError, transaction
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from cases import api_sync, reports, services
from cases.access import membership_of
from cases.currencies import CURRENCY_CHOICES, plain_amount
from cases.forms import AmountField, AuditFilterForm, MonthField, ReportPeriodForm
from cases.models import (
    Attachment,
    Case,
    CaseEvent,
    Category,
    Customer,
    EscalationTarget,
    EventKind,
    IdempotencyKey,
    Membership,
    Notification,
    Outcome,
    Severity,
    Status,
    Subscription,
    SupportVehicle,
)
from cases.paging import IndexPaginator
from cases.permissions import Action, Role, roles_allow
from cases.uploads import download_response
from portal.api import MAX_PAGE_SIZE, StrictPageNumberPagination, positive_parameter
from portal.api_errors import ErrorSerializer
from portal.models import AuditAction, AuditEvent

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input, with field errors."),
    401: OpenApiResponse(ErrorSerializer, description="No valid token."),
    403: OpenApiResponse(ErrorSerializer, description="Your roles do not allow this."),
    404: OpenApiResponse(ErrorSerializer, description="No such object in your organisation."),
    409: OpenApiResponse(ErrorSerializer, description="The case's status does not allow this now."),
    412: OpenApiResponse(ErrorSerializer, description="The case changed since the ETag in If-Match."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests; see Retry-After."),
    503: OpenApiResponse(
        ErrorSerializer, description="The file storage cannot be reached (storage_unavailable); Retry-After."
    ),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


# --- Serializers ------------------------------------------------------------------------------------


class SubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Subscription
        fields = ["id", "offer", "quantity", "status", "status_reason", "status_since"]


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "id",
            "company_name",
            "tenant_domain",
            "billing_contact_name",
            "billing_contact_email",
            "preferred_language",
            "delinquent",
        ]


class CustomerDetailSerializer(CustomerSerializer):
    subscriptions = SubscriptionSerializer(many=True, read_only=True)

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "subscriptions"]


class PersonSerializer(serializers.Serializer):
    """A member of your organisation, as a case names its assignee."""

    id = serializers.IntegerField(help_text="The user id: what PATCH takes as `assignee`.")
    email = serializers.EmailField()
    full_name = serializers.CharField(help_text="The name, or empty.")


def _blank_or(choices, help_text: str) -> serializers.ChoiceField:
    """A read-only choice that is empty until it is set."""
    return serializers.ChoiceField(
        choices=choices.choices, allow_blank=True, read_only=True, help_text=help_text
    )


MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
BILLING_PERIOD = {
    "type": "string",
    "pattern": MONTH_PATTERN,
    "nullable": True,
    "example": "2026-10",
    "description": "The month the charge is for, as YYYY-MM.",
}
AMOUNT_PATTERN = r"^[0-9]{1,11}(\.[0-9]{1,3})?$"


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    message = serializers.CharField(
        source="text", read_only=True, help_text="What happened, in the language the request asks for."
    )
    from_status = _blank_or(Status, "The status the case left, or empty.")
    to_status = _blank_or(Status, "The status the case reached, or empty.")
    data = serializers.DictField(read_only=True, help_text="Details of the event, by kind.")

    class Meta:
        model = CaseEvent
        fields = ["id", "kind", "actor", "created_at", "from_status", "to_status", "message", "data"]

    @extend_schema_field({"type": "string", "format": "email", "nullable": True})
    def get_actor(self, event: CaseEvent) -> str | None:
        """The e-mail address of who acted; null for the portal itself or the customer."""
        return event.actor.email if event.actor else None


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "round",
            "recipient",
            "language",
            "status",
            "attempts",
            "last_error",
            "sent_at",
        ]


class AttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attachment
        fields = ["id", "original_name", "content_type", "size", "created_at"]


# Each field of a case in a list, and the column it is read from (CasePaginator reads these as values).
LIST_COLUMNS = {
    "number": "number",
    "customer": "customer_id",
    "customer_name": "customer__company_name",
    "category": "category",
    "title": "title",
    "status": "status",
    "severity": "severity",
    "invoice_number": "invoice_number",
    "disputed_amount": "disputed_amount",
    "currency": "currency",
    "billing_period": "billing_period",
    "assignee": "assignee_id",
    "escalation_target": "escalation_target",
    "support_request_number": "support_request_number",
    "external_reference": "external_reference",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
CASE_ROW = (*LIST_COLUMNS.values(), "assignee__email", "assignee__full_name")


def _moment(value: datetime.datetime) -> str:
    """What DRF's DateTimeField writes (ISO 8601 in the current time zone, Z for UTC), without its detours."""
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "nullable": True,
        "pattern": r"^[0-9]+(\.[0-9]{1,3})?$",
        "example": "412.50",
        "description": "With exactly the minor units of the case's currency: 412.50 (USD), 41250 (JPY).",
    }
)
class CaseAmountField(serializers.Field):
    """An amount of the case, written with its currency's minor units."""

    def __init__(self, amount: str, **kwargs: Any) -> None:
        self.amount = amount
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, case: Case) -> str | None:
        return plain_amount(getattr(case, self.amount), case.currency)


# How the list writes the values that are not plain strings or numbers: as DRF's own fields write them.
LIST_FORMATS = {
    "billing_period": serializers.DateField(format="%Y-%m").to_representation,
    "created_at": _moment,
    "updated_at": _moment,
}


@extend_schema_field(BILLING_PERIOD)
class BillingPeriodField(serializers.DateField):
    """A case's billing period, written as YYYY-MM."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m", read_only=True, allow_null=True, **kwargs)


class CaseSerializer(serializers.ModelSerializer):
    number = serializers.CharField(read_only=True, help_text="The case number, e.g. CON-1007.")
    currency = serializers.ChoiceField(
        choices=CURRENCY_CHOICES, allow_blank=True, read_only=True, help_text="ISO 4217 code, or empty."
    )
    escalation_target = _blank_or(EscalationTarget, "Who the case was escalated to, or empty.")
    customer = serializers.IntegerField(source="customer_id", read_only=True, help_text="The customer's id.")
    customer_name = serializers.CharField(source="customer.company_name", read_only=True)
    assignee = PersonSerializer(read_only=True, allow_null=True, help_text="Who works on the case, or null.")
    billing_period = BillingPeriodField()
    disputed_amount = CaseAmountField("disputed_amount")

    class Meta:
        model = Case
        fields = list(LIST_COLUMNS)
        read_only_fields = fields

    def to_representation(self, case: Case | dict[str, Any]) -> dict[str, Any]:
        """The fields above, read straight off a case or a row of CASE_ROW (what the list reads): a page of
        fifty cases is read often, and DRF's field-by-field walk (and building the fields for each request)
        cost more than the rest of the request. tests/api holds the two representations equal."""
        row = case if isinstance(case, dict) else _case_row(case)
        result = {}
        for name, column in LIST_COLUMNS.items():
            value = row[column]
            write = LIST_FORMATS.get(name)
            result[name] = write(value) if write is not None and value is not None else value
        result["disputed_amount"] = plain_amount(row["disputed_amount"], row["currency"])
        if row["assignee_id"] is not None:
            result["assignee"] = {
                "id": row["assignee_id"],
                "email": row["assignee__email"],
                "full_name": row["assignee__full_name"],
            }
        return result


def _case_row(case: Case) -> dict[str, Any]:
    row = {column: getattr(case, column) for column in CASE_ROW if "__" not in column}
    row["customer__company_name"] = case.customer.company_name
    row["assignee__email"] = case.assignee.email if case.assignee_id else None
    row["assignee__full_name"] = case.assignee.full_name if case.assignee_id else None
    return row


class CaseDetailSerializer(CaseSerializer):
    support_vehicle = _blank_or(SupportVehicle, "How the case was escalated, or empty.")
    escalation_severity = _blank_or(Severity, "The severity of the escalation, or empty.")
    outcome = _blank_or(Outcome, "How the case was resolved, or empty.")
    subscription = serializers.IntegerField(source="subscription_id", read_only=True, allow_null=True)
    timeline = EventSerializer(source="events", many=True, read_only=True)
    notifications = NotificationSerializer(many=True, read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    credit_amount = CaseAmountField("credit_amount")

    def to_representation(self, case: Case) -> dict[str, Any]:
        return serializers.ModelSerializer.to_representation(self, case)

    class Meta(CaseSerializer.Meta):
        fields = [
            *CaseSerializer.Meta.fields,
            "subscription",
            "description",
            "first_response_due",
            "first_response_at",
            "first_response_due_at",
            "resolution_due_at",
            "escalation_response_due_at",
            "next_due_at",
            "clock_paused_at",
            "support_vehicle",
            "escalation_severity",
            "escalated_at",
            "resolution_summary",
            "outcome",
            "credit_amount",
            "resolved_at",
            "loop_closed_at",
            "closed_at",
            "timeline",
            "notifications",
            "attachments",
        ]
        read_only_fields = fields


@extend_schema_field(BILLING_PERIOD)
class MonthSerializerField(serializers.Field):
    """A billing period as YYYY-MM."""

    def to_internal_value(self, data: Any):
        if not isinstance(data, str) or not re.fullmatch(MONTH_PATTERN, data):
            raise ValidationError(_("Enter a month as YYYY-MM."))
        try:
            return MonthField(required=False).clean(data)
        except Exception as error:
            raise ValidationError(_("Enter a month as YYYY-MM.")) from error

    def to_representation(self, value: Any) -> str:
        return value.strftime("%Y-%m")


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": AMOUNT_PATTERN,
        "nullable": True,
        "example": "412.50",
        "description": "Digits with a decimal point, at most the currency's minor units: 412.50 (USD), "
        "41250 (JPY).",
    }
)
class AmountSerializerField(serializers.DecimalField):
    """An amount as a decimal string: digits and a point, no sign, no grouping (the web form's local
    spellings such as 1,250.50 are for people)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=14, decimal_places=3, coerce_to_string=True, **kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        # DRF's DecimalField reads "" as null; the schema's pattern refuses it, and so does the API.
        return serializers.Field.validate_empty_values(self, data)

    def to_internal_value(self, data: Any):
        if not isinstance(data, str) or not re.fullmatch(AMOUNT_PATTERN, data):
            raise ValidationError(_("Write the amount as digits with a decimal point, such as 1250.50."))
        try:
            return AmountField(required=True).clean(data)
        except Exception as error:
            messages = getattr(error, "messages", [str(error)])
            raise ValidationError(messages) from error


# Some character that is not whitespace, as Python's str.strip() counts it (DRF trims before it checks for
# blank): the schema then says what the server accepts, and "\x0c" is no longer a schema-valid message.
NOT_ONLY_SPACE = r"[^\s\x1c-\x1f\x85]"


class TextField(serializers.CharField):
    """A string field that refuses numbers and other non-strings (DRF's CharField would coerce them)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.allow_blank:
            self.validators.append(RegexValidator(NOT_ONLY_SPACE, message=self.error_messages["blank"]))

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false in JSON, nothing else (DRF's BooleanField would take 0, 1, "yes")."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class CaseCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    subscription = serializers.IntegerField(required=False, allow_null=True)
    category = serializers.ChoiceField(choices=Category.choices)
    title = TextField(max_length=200)
    description = TextField(max_length=Case._meta.get_field("description").max_length)
    invoice_number = TextField(max_length=50, required=False, allow_blank=True, default="")
    disputed_amount = AmountSerializerField(required=False, allow_null=True, default=None)
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, required=False, allow_blank=True, default="")
    billing_period = MonthSerializerField(required=False, allow_null=True, default=None)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.C)
    external_reference = TextField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Your own tool's ticket id for the case; unique among your cases.",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        partner = self.context["membership"].partner
        customer = Customer.objects.for_partner(partner).filter(pk=data["customer"]).first()
        if customer is None:
            raise ValidationError({"customer": [_("Choose one of your own customers.")]})
        data["customer"] = customer
        if data.get("subscription") is not None:
            subscription = Subscription.objects.for_partner(partner).filter(pk=data["subscription"]).first()
            if subscription is None:
                raise ValidationError({"subscription": [_("Choose one of your customers' subscriptions.")]})
            data["subscription"] = subscription
        return data


class CasePatchSerializer(serializers.Serializer):
    assignee = serializers.IntegerField(
        required=False, allow_null=True, help_text="User id, or null for nobody."
    )
    support_request_number = TextField(required=False, max_length=40)
    external_reference = TextField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="Your own tool's ticket id for the case (empty to remove it); unique among your cases.",
    )


class EscalateSerializer(serializers.Serializer):
    support_vehicle = serializers.ChoiceField(choices=SupportVehicle.choices)
    severity = serializers.ChoiceField(choices=Severity.choices)
    support_request_number = TextField(max_length=40, required=False, allow_blank=True, default="")


class ResolveSerializer(serializers.Serializer):
    resolution_summary = TextField(max_length=10_000)
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False, allow_blank=True, default="")
    credit_amount = AmountSerializerField(required=False, allow_null=True, default=None)


class MessageSerializer(serializers.Serializer):
    message = TextField(max_length=10_000)


class CustomerMessageSerializer(serializers.Serializer):
    message = TextField(max_length=10_000)
    wait_for_answer = StrictBooleanField(
        default=False, help_text="Pause the service-level clock until the customer answers."
    )


class OptionalMessageSerializer(serializers.Serializer):
    message = TextField(max_length=10_000, required=False, allow_blank=True, default="")


class OutgoingMessageSerializer(serializers.Serializer):
    """A message a partner user wrote to the customer, and the e-mail that carries it."""

    id = serializers.IntegerField(help_text="The timeline event's id.")
    created_at = serializers.DateTimeField()
    author = serializers.EmailField(source="actor.email")
    message = serializers.CharField(help_text="The words as written; the e-mail adds the portal's own.")
    email = NotificationSerializer(help_text="The e-mail in the outbox: sent by the delivery run.")


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


# --- Views ------------------------------------------------------------------------------------------

IDEMPOTENCY_KEY_MAX_LENGTH = 255


# Every query goes through the token's partner; another partner's objects are simply not there.
class PartnerScopedMixin:
    def membership(self) -> Membership:
        """The token user's membership, found by portal.api.IsPartnerMember."""
        if getattr(self.request, "membership", None) is None:
            self.request.membership = membership_of(self.request.user)
        return self.request.membership

    def require(self, action_name: str) -> None:
        if not roles_allow(self.membership().roles, action_name):
            raise PermissionDenied(_("Your role does not allow this."))


@extend_schema_view(
    list=extend_schema(
        summary="List your customers", responses={200: CustomerSerializer, **_errors(400, 401, 403, 404, 429)}
    ),
    retrieve=extend_schema(
        summary="A customer with its subscriptions",
        responses={200: CustomerDetailSerializer, **_errors(401, 403, 404, 429)},
    ),
)
class CustomerViewSet(PartnerScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Your organisation's customers, by company name."""

    lookup_value_regex = "[0-9]{1,18}"  # below 2**63, like portal.converters.IdConverter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # building the schema: no user
            return Customer.objects.none()
        self.require(Action.VIEW)
        queryset = Customer.objects.for_partner(self.membership().partner).order_by("company_name", "pk")
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("subscriptions")
        return queryset

    def get_serializer_class(self):
        return CustomerDetailSerializer if self.action == "retrieve" else CustomerSerializer


class MemberSerializer(serializers.Serializer):
    """A member of your organisation: who a case can be assigned to."""

    id = serializers.IntegerField(source="user_id", help_text="The user id: what PATCH takes as `assignee`.")
    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name", help_text="The name, or empty.")
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))
    active = serializers.BooleanField(
        source="user.is_active", help_text="Whether the member can sign in (and be assigned cases)."
    )


@extend_schema_view(
    list=extend_schema(
        summary="List the members of your organisation",
        responses={200: MemberSerializer, **_errors(400, 401, 403, 404, 429)},
    )
)
class MemberViewSet(PartnerScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The people of your organisation with their roles, by e-mail address: whom a case can go to."""

    serializer_class = MemberSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # building the schema: no user
            return Membership.objects.none()
        self.require(Action.VIEW)
        return (
            Membership.objects.for_partner(self.membership().partner)
            .select_related("user")
            .order_by("user__email", "pk")
        )


class AuditEventSerializer(serializers.ModelSerializer):
    action = serializers.ChoiceField(choices=AuditAction.choices)
    before = serializers.JSONField(allow_null=True, help_text="What the change replaced, where it applies.")
    after = serializers.JSONField(allow_null=True, help_text="What the change made, where it applies.")

    class Meta:
        model = AuditEvent
        fields = [
            "sequence", "created_at", "actor_email", "address", "user_agent", "action",
            "object_type", "object_id", "object_repr", "before", "after", "previous_hash", "hash",
        ]  # fmt: skip
        read_only_fields = fields


class AuditQuerySerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=AuditAction.choices, required=False)
    who = serializers.CharField(required=False, allow_blank=True, max_length=254)
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)


AUDIT_FILTERS = [
    OpenApiParameter("action", str, enum=AuditAction.values, description="Only this action."),
    OpenApiParameter(
        "who", {"type": "string", "maxLength": 254}, description="Part of the e-mail address of who acted."
    ),
    OpenApiParameter("since", OpenApiTypes.DATE, description="From this day (UTC)."),
    OpenApiParameter("until", OpenApiTypes.DATE, description="Until this day (UTC)."),
]


@extend_schema_view(
    list=extend_schema(
        summary="Your partner's audit trail, newest first (Global admins)",
        parameters=AUDIT_FILTERS,
        responses={200: AuditEventSerializer, **_errors(400, 401, 403, 404, 429)},
    )
)
class AuditEventViewSet(PartnerScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Who changed what in your organisation, in a tamper-evident chain."""

    serializer_class = AuditEventSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # building the schema: no user
            return AuditEvent.objects.none()
        self.require(Action.AUDIT)
        # The filters as the schema states them: a parameter sent empty is not a date, nor an action.
        AuditQuerySerializer(data=self.request.query_params.dict()).is_valid(raise_exception=True)
        form = AuditFilterForm(self.request.query_params or None)
        if form.is_bound and not form.is_valid():
            raise ValidationError({name: list(errors) for name, errors in form.errors.items()})
        events = AuditEvent.objects.filter(partner=self.membership().partner).order_by("-created_at", "-pk")
        return form.filter(events)


class CasePaginator(IndexPaginator):
    """Case rows as the API lists them (CASE_ROW)."""

    def rows(self, ids, ordering: tuple[str, ...]):
        return Case.objects.filter(pk__in=ids).order_by(*ordering).values(*CASE_ROW)


class NotePageSerializer(serializers.Serializer):
    """Internal notes after the one you read last."""

    next = serializers.URLField(allow_null=True, help_text="More notes, or null when these are the newest.")
    results = EventSerializer(many=True)


NOTES_PAGE_SIZE = 50


class CasePagination(StrictPageNumberPagination):
    """Page numbers as everywhere in the API, each page's ids read from the index of its order first."""

    django_paginator_class = CasePaginator

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["next_cursor"] = None
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        result = super().get_paginated_response_schema(schema)
        result["description"] = "A page of cases: by page number, or by change cursor in a sync."
        result["properties"]["count"]["description"] = "Cases on this page and the pages after it."
        result["properties"]["next"]["example"] = "https://portal.example/api/v1/cases/?page=3"
        result["properties"]["previous"]["example"] = "https://portal.example/api/v1/cases/?page=1"
        result["properties"]["next_cursor"] = {
            "type": "string",
            "nullable": True,
            "description": "In a sync: where to go on from, now or on the next sync (send it as `cursor`); "
            "null when you list by page.",
            "example": "1759396500123456-42",
        }
        result["required"] = [*result["required"], "next_cursor"]
        return result


ORDERINGS = {
    "-updated_at": ("-updated_at", "-pk"),
    "updated_at": ("updated_at", "pk"),
    "-created_at": ("-created_at", "-pk"),
    "created_at": ("created_at", "pk"),
}
SEARCH_MAX_LENGTH = 100
EXTERNAL_REFERENCE_MAX_LENGTH = 100
CASE_FILTERS = [
    OpenApiParameter("status", str, enum=[*Status.values, "open"], description="A status, or open."),
    OpenApiParameter(
        "customer", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}, description="A customer id."
    ),
    OpenApiParameter("category", str, enum=Category.values),
    OpenApiParameter("escalated", bool, description="Whether the case was escalated."),
    OpenApiParameter(
        "external_reference",
        {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NOT_ONLY_SPACE},
        description="The case with this ticket id of your tool.",
    ),
    OpenApiParameter(
        "search",
        {"type": "string", "minLength": 1, "maxLength": SEARCH_MAX_LENGTH, "pattern": NOT_ONLY_SPACE},
        description="Cases whose number, title, invoice number, support request number or customer "
        "contains this (any case).",
    ),
    OpenApiParameter(
        "ordering",
        str,
        enum=list(ORDERINGS),
        description="The order of the pages: -updated_at (the default), updated_at, -created_at or "
        "created_at. A sync is always in the order of change: it ignores ordering and page.",
    ),
    OpenApiParameter(
        "updated_since",
        OpenApiTypes.DATETIME,
        description="Start a sync: the cases changed at or after this, oldest change first, by cursor.",
    ),
    OpenApiParameter(
        "cursor",
        {"type": "string", "pattern": api_sync.CURSOR_PATTERN, "example": "1759396500123456-42"},
        description="Go on with a sync from the `next_cursor` of an earlier page.",
    ),
]
IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "example": '"c0a8f2e1d4b3a697"'},
    OpenApiParameter.HEADER,
    description="The ETag of the case as you last read it (or a list of tags, or `*`): the change is made "
    "only if the case has not changed since. A header that names no current version, a weak tag or a "
    "malformed one included, answers 412.",
)
CHANGE_ERRORS = _errors(400, 401, 403, 404, 409, 412, 429)


def _changes(summary: str, request: Any = None, description: str | None = None, code: int = 200):
    """The schema of a change to one case: its request, If-Match, and the case as it is after."""
    return extend_schema(
        summary=summary,
        description=description,
        request=request,
        parameters=[IF_MATCH],
        responses={code: CaseDetailSerializer, **CHANGE_ERRORS},
    )


@extend_schema_view(
    list=extend_schema(
        summary="List your cases",
        description=(
            "By page (`page`, `page_size`, `ordering`), or as a sync: `updated_since` starts one, and each "
            "page's `next_cursor` goes on from where it ended, now or on the next sync. A sync lists cases "
            "in the order they last changed; a case that changes during the sync comes again with its new "
            "state, and none is skipped. It reaches up to a few seconds ago, so the latest changes come "
            "on the next page or sync."
        ),
        parameters=CASE_FILTERS,
        responses={200: CaseSerializer, **_errors(400, 401, 403, 404, 429)},
    ),
    retrieve=extend_schema(
        summary="A case with its timeline, notifications and attachments",
        responses={200: CaseDetailSerializer, **_errors(401, 403, 404, 429)},
    ),
)
class CaseViewSet(
    PartnerScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Your organisation's cases: open them, work them through the workflow, and read them back."""

    lookup_field = "number"
    lookup_value_regex = r"[A-Z]{2,6}-[0-9]{1,10}"
    pagination_class = CasePagination

    def get_queryset(self):
        self.require(Action.VIEW)
        queryset = Case.objects.for_partner(self.membership().partner).with_list_columns()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("events__actor", "notifications", "attachments")
        if self.action == "list":
            return self._filter(queryset)
        return queryset.order_by("-updated_at", "-pk")

    def _filter(self, queryset):
        params = self.request.query_params
        errors: dict[str, list[str]] = {}
        for name, value in params.items():
            if value == "" and name in {p.name for p in CASE_FILTERS}:
                errors[name] = [_("Give this parameter a value, or leave it out.")]
        if errors:
            raise ValidationError(errors)
        if status_value := params.get("status"):
            if status_value == "open":
                queryset = queryset.open()
            elif status_value in Status.values:
                queryset = queryset.filter(status=status_value)
            else:
                errors["status"] = [_("Unknown status.")]
        if customer := params.get("customer"):
            if re.fullmatch(r"[1-9][0-9]{0,18}", customer) and int(customer) < 2**63:
                queryset = queryset.filter(customer_id=int(customer))
            else:
                errors["customer"] = [_("A customer id is a number.")]
        if category := params.get("category"):
            if category in Category.values:
                queryset = queryset.filter(category=category)
            else:
                errors["category"] = [_("Unknown category.")]
        if (escalated := params.get("escalated")) is not None:
            if escalated.lower() in ("true", "1"):
                queryset = queryset.exclude(escalation_target="")
            elif escalated.lower() in ("false", "0"):
                queryset = queryset.filter(escalation_target="")
            else:
                errors["escalated"] = [_("Use true or false.")]
        if (reference := params.get("external_reference")) is not None:
            if not reference.strip() or len(reference) > EXTERNAL_REFERENCE_MAX_LENGTH:
                errors["external_reference"] = [
                    _("Search for 1 to %(limit)d characters.") % {"limit": EXTERNAL_REFERENCE_MAX_LENGTH}
                ]
            else:
                queryset = queryset.filter(external_reference=reference.strip())
        if (search := params.get("search")) is not None:
            if len(search) > SEARCH_MAX_LENGTH or not search.strip():
                errors["search"] = [_("Search for 1 to %(limit)d characters.") % {"limit": SEARCH_MAX_LENGTH}]
            else:
                queryset = queryset.search(search.strip())
        if (since := params.get("updated_since")) is not None:
            try:
                moment = parse_datetime(since) if len(since) > 10 else None  # a date alone is ambiguous
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                errors["updated_since"] = [_("Use an ISO 8601 date and time with a time zone.")]
            else:
                try:
                    queryset = queryset.filter(updated_at__gte=moment.astimezone(datetime.UTC))
                except OverflowError:
                    # Beyond what a timestamp holds: before all time filters nothing, after it everything.
                    queryset = queryset if moment.year < 1000 else queryset.none()
        ordering = params.get("ordering")
        if ordering is not None and ordering not in ORDERINGS:
            errors["ordering"] = [_("Use one of: %(codes)s.") % {"codes": ", ".join(ORDERINGS)}]
        if errors:
            raise ValidationError(errors)
        return queryset.order_by(*ORDERINGS[ordering or "-updated_at"])

    def _syncing(self) -> bool:
        return "cursor" in self.request.query_params or "updated_since" in self.request.query_params

    def list(self, request: Request) -> Response:
        queryset = self.get_queryset()
        if not self._syncing():
            return super().list(request)
        positive_parameter(request, "page")  # ignored in a sync, but a page that is no number is still a 400
        cursor = request.query_params.get("cursor")
        position = api_sync.decode_cursor(cursor) if cursor is not None else None
        size = self.paginator.get_page_size(request)
        changed = api_sync.after(queryset, position)
        rows = list(changed.values(*CASE_ROW, "pk")[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if rows:
            cursor = api_sync.encode_cursor(rows[-1]["updated_at"], rows[-1]["pk"])
        elif cursor is None:  # nothing changed since updated_since: go on from there next time
            since = parse_datetime(request.query_params["updated_since"])
            cursor = api_sync.encode_cursor(since, 0)
        serializer = CaseSerializer()
        return Response(
            {
                "count": changed.count() if more else len(rows),
                "next": replace_query_param(request.build_absolute_uri(), "cursor", cursor) if more else None,
                "previous": None,
                "next_cursor": cursor,
                "results": [serializer.to_representation(row) for row in rows],
            }
        )

    def get_serializer_class(self):
        return CaseDetailSerializer if self.action == "retrieve" else CaseSerializer

    def retrieve(self, request: Request, number: str) -> Response:
        case = self.get_object()
        return Response(self.get_serializer(case).data, headers={"ETag": api_sync.etag(case)})

    def _case(self) -> Case:
        return get_object_or_404(
            Case.objects.for_partner(self.membership().partner), number=self.kwargs["number"]
        )

    def _change(self, call):
        """Run `call` on the case in one transaction, once the case is locked and If-Match agrees."""
        tags = api_sync.if_match(self.request.headers.get("If-Match"))
        with transaction.atomic():
            case = self._case()
            if tags is not None:
                case = Case.objects.select_for_update().get(pk=case.pk)
                api_sync.check_if_match(case, tags)
            return call(case)

    def _detail(self, case: Case, code: int = status.HTTP_200_OK) -> Response:
        fresh = (
            Case.objects.with_list_columns()
            .prefetch_related("events__actor", "notifications", "attachments")
            .get(pk=case.pk)
        )
        data = CaseDetailSerializer(fresh, context=self.get_serializer_context()).data
        headers = {"ETag": api_sync.etag(fresh)}
        if code == status.HTTP_201_CREATED:
            headers["Location"] = self._url("case-detail", number=fresh.number)
        return Response(data, status=code, headers=headers)

    def _url(self, name: str, **kwargs: Any) -> str:
        return self.request.build_absolute_uri(reverse(f"v1:{name}", kwargs=kwargs))

    def _input(self, serializer_class) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data, context={"membership": self.membership()})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(
        summary="Open a case",
        request=CaseCreateSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
                    "pattern": NOT_ONLY_SPACE,
                },
                OpenApiParameter.HEADER,
                description=(
                    "Any unique string of at most 255 characters; a retry with the same key returns the "
                    "first result."
                ),
            )
        ],
        examples=[
            OpenApiExample(
                "A billing dispute",
                request_only=True,
                value={
                    "customer": 1,
                    "category": "billing_dispute",
                    "title": "Charged for 30 seats, using 25",
                    "description": "Five seats were cancelled on 2 October.",
                    "invoice_number": "G012345678",
                    "disputed_amount": "412.50",
                    "currency": "USD",
                    "billing_period": "2026-10",
                    "severity": "B",
                },
            )
        ],
        responses={201: CaseDetailSerializer, **_errors(400, 401, 403, 409, 429)},
    )
    def create(self, request: Request) -> Response:
        self.require(Action.OPEN)
        data = self._input(CaseCreateSerializer)
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key and "Idempotency-Key" in request.headers:
            from portal.api_errors import error_response

            message = _("An Idempotency-Key is not blank.")
            return error_response(
                "invalid", message, status.HTTP_400_BAD_REQUEST, {"Idempotency-Key": [message]}
            )
        if not key:
            return self._detail(
                services.case_create(actor=self.membership(), **data), status.HTTP_201_CREATED
            )
        if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
            from portal.api_errors import error_response

            message = _("An Idempotency-Key is at most %(limit)d characters.") % {
                "limit": IDEMPOTENCY_KEY_MAX_LENGTH
            }
            return error_response(
                "invalid", message, status.HTTP_400_BAD_REQUEST, {"Idempotency-Key": [message]}
            )
        return _idempotent_create(self, key, data)

    @_changes(
        "Assign a case, record its support request number, or set your own reference", CasePatchSerializer
    )
    def partial_update(self, request: Request, number: str) -> Response:
        data = self._input(CasePatchSerializer)
        actor = self.membership()
        # Both changes or neither: a refused second change must not leave the first one saved.
        return self._detail(self._change(lambda case: self._apply_patch(case, actor, data)))

    def _apply_patch(self, case: Case, actor: Membership, data: dict[str, Any]) -> Case:
        if "assignee" in data:
            assignee = None
            if data["assignee"] is not None:
                assignee = (
                    Membership.objects.for_partner(actor.partner).filter(user_id=data["assignee"]).first()
                )
                if assignee is None:
                    raise ValidationError(
                        {"assignee": [_("Assign the case to a member of your organisation.")]}
                    )
                assignee = assignee.user
            case = services.case_assign(case=case, actor=actor, assignee=assignee)
        if "support_request_number" in data:
            case = services.case_record_support_request(
                case=case, actor=actor, support_request_number=data["support_request_number"]
            )
        if "external_reference" in data:
            case = services.case_set_external_reference(
                case=case, actor=actor, external_reference=data["external_reference"]
            )
        return case

    def _transition(self, serializer_class, call) -> Response:
        data = self._input(serializer_class) if serializer_class else {}
        return self._detail(self._change(lambda case: call(case, self.membership(), data)))

    @_changes("Start work")
    @action(detail=True, methods=["post"])
    def start(self, request: Request, number: str) -> Response:
        return self._transition(None, lambda case, actor, data: services.case_start(case=case, actor=actor))

    @_changes("Escalate to Microsoft or 21Vianet (the target follows your cloud)", EscalateSerializer)
    @action(detail=True, methods=["post"])
    def escalate(self, request: Request, number: str) -> Response:
        return self._transition(
            EscalateSerializer,
            lambda case, actor, data: services.case_escalate(case=case, actor=actor, **data),
        )

    @_changes("Record that the escalation target asked for information", OptionalMessageSerializer)
    @action(detail=True, methods=["post"], url_path="request-info")
    def request_info(self, request: Request, number: str) -> Response:
        return self._transition(
            OptionalMessageSerializer,
            lambda case, actor, data: services.case_request_info(case=case, actor=actor, **data),
        )

    @_changes("Record that you sent the information", OptionalMessageSerializer)
    @action(detail=True, methods=["post"], url_path="provide-info")
    def provide_info(self, request: Request, number: str) -> Response:
        return self._transition(
            OptionalMessageSerializer,
            lambda case, actor, data: services.case_provide_info(case=case, actor=actor, **data),
        )

    @_changes(
        "Resolve; the customer's resolution e-mail is sent",
        ResolveSerializer,
        description="A billing dispute needs an `outcome`; a `credit` outcome needs a `credit_amount` of at "
        "most the disputed amount, and only a credit takes one.",
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, number: str) -> Response:
        return self._transition(
            ResolveSerializer, lambda case, actor, data: services.case_resolve(case=case, actor=actor, **data)
        )

    @_changes("Record that you informed the customer yourself (closes the loop)", MessageSerializer)
    @action(detail=True, methods=["post"], url_path="customer-informed")
    def customer_informed(self, request: Request, number: str) -> Response:
        return self._transition(
            MessageSerializer,
            lambda case, actor, data: services.case_mark_customer_informed(
                case=case, actor=actor, note=data["message"]
            ),
        )

    @_changes("Close a resolved case")
    @action(detail=True, methods=["post"])
    def close(self, request: Request, number: str) -> Response:
        return self._transition(None, lambda case, actor, data: services.case_close(case=case, actor=actor))

    @_changes("Reopen a resolved or closed case", MessageSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, number: str) -> Response:
        return self._transition(
            MessageSerializer,
            lambda case, actor, data: services.case_reopen(case=case, actor=actor, reason=data["message"]),
        )

    @extend_schema(
        methods=["GET"],
        operation_id="v1_cases_comments_list",
        summary="List the case's internal notes, oldest first",
        description="Incremental: send the id of the last note you read as `after` to get only newer ones. "
        "Like a sync, the list reaches up to a few seconds ago, so no note is skipped.",
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                description="Only notes with a greater id.",
            ),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                description=f"Notes per page: 50 unless you ask, at most {MAX_PAGE_SIZE}.",
            ),
        ],
        request=None,
        responses={200: NotePageSerializer, **_errors(400, 401, 403, 404, 429)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Add an internal note",
        request=MessageSerializer,
        parameters=[IF_MATCH],
        responses={201: EventSerializer, **CHANGE_ERRORS},
    )
    @action(detail=True, methods=["get", "post"])
    def comments(self, request: Request, number: str) -> Response:
        if request.method == "GET":
            return self._notes()
        data = self._input(MessageSerializer)
        event = self._change(
            lambda case: services.case_comment(case=case, actor=self.membership(), message=data["message"])
        )
        location = self._url("case-detail", number=number)
        return Response(
            EventSerializer(event).data, status=status.HTTP_201_CREATED, headers={"Location": location}
        )

    def _notes(self) -> Response:
        self.require(Action.VIEW)
        case = self._case()
        params = self.request.query_params
        after = params.get("after", "0")
        if not re.fullmatch(r"[0-9]{1,19}", after) or int(after) > 2**63 - 1:
            raise ValidationError({"after": [_("Use the id of a note, or 0.")]})
        size = positive_parameter(self.request, "page_size", maximum=MAX_PAGE_SIZE) or NOTES_PAGE_SIZE
        settled = timezone.now() - datetime.timedelta(seconds=settings.API_SYNC_SETTLE_SECONDS)
        notes = list(
            case.events.filter(kind=EventKind.COMMENT, pk__gt=int(after), created_at__lte=settled)
            .select_related("actor")
            .order_by("pk")[: size + 1]
        )
        more = len(notes) > size
        notes = notes[:size]
        following = (
            replace_query_param(self.request.build_absolute_uri(), "after", notes[-1].pk) if more else None
        )
        return Response({"next": following, "results": EventSerializer(notes, many=True).data})

    @extend_schema(
        summary="Write to the customer",
        description=(
            "E-mails the message to the customer's billing contact, in the thread of the case's "
            "conversation, with the portal's own words in the customer's language. The customer's reply "
            "comes back to the case. Internal notes are `comments`."
        ),
        request=CustomerMessageSerializer,
        parameters=[IF_MATCH],
        responses={201: OutgoingMessageSerializer, **CHANGE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def messages(self, request: Request, number: str) -> Response:
        data = self._input(CustomerMessageSerializer)
        event = self._change(
            lambda case: services.case_message_customer(
                case=case,
                actor=self.membership(),
                message=data["message"],
                wait_for_answer=data["wait_for_answer"],
            )
        )
        event.email = Notification.objects.get(pk=event.data["notification"])
        location = self._url("case-detail", number=number)
        return Response(
            OutgoingMessageSerializer(event).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )

    @extend_schema(
        summary="Attach evidence (PDF, PNG, JPEG or CSV, checked by content)",
        request={"multipart/form-data": AttachmentUploadSerializer},
        parameters=[IF_MATCH],
        responses={201: AttachmentSerializer, **CHANGE_ERRORS, **_errors(503)},
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def attachments(self, request: Request, number: str) -> Response:
        data = self._input(AttachmentUploadSerializer)

        def attach(case: Case) -> Attachment:
            try:
                return services.case_attach(case=case, actor=self.membership(), upload=data["file"])
            except DjangoValidationError as error:
                raise ValidationError({"file": error.messages}) from error

        attachment = self._change(attach)
        location = self._url("case-attachment", number=number, attachment_id=attachment.pk)
        return Response(
            AttachmentSerializer(attachment).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )

    @extend_schema(
        summary="Download one attachment",
        description="The file as it was uploaded; its type is the attachment's `content_type`.",
        parameters=[
            OpenApiParameter(
                "attachment_id",
                {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                OpenApiParameter.PATH,
            )
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
            **_errors(401, 403, 404, 429, 503),
        },
    )
    @action(detail=True, methods=["get"], url_path=r"attachments/(?P<attachment_id>[0-9]{1,18})")
    def attachment(self, request: Request, number: str, attachment_id: str) -> FileResponse:
        self.require(Action.VIEW)
        attachment = get_object_or_404(
            Attachment.objects.for_partner(self.membership().partner),
            pk=int(attachment_id),
            case__number=number,
        )
        return download_response(attachment, content_type="application/octet-stream")


def _fingerprint(data: dict[str, Any]) -> str:
    plain = {k: (v.pk if hasattr(v, "pk") else str(v) if v is not None else None) for k, v in data.items()}
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()


def _idempotent_create(view: CaseViewSet, key: str, data: dict[str, Any]) -> Response:
    """Create once per (user, key); a retry with the same body gets the first case back. The key is kept as
    its SHA-256, so two keys are the same only if they are the same to the last character."""
    user = view.request.user
    key = IdempotencyKey.digest(key)
    fingerprint = _fingerprint(data)
    try:
        with transaction.atomic():
            # The unique row is written first: a concurrent retry waits on it, then finds the case.
            record = IdempotencyKey.objects.create(user=user, key=key, fingerprint=fingerprint)
            case = services.case_create(actor=view.membership(), **data)
            record.case = case
            record.save(update_fields=["case"])
    except IntegrityError:
        record = IdempotencyKey.objects.select_related("case").get(user=user, key=key)
        if record.fingerprint != fingerprint:
            return _conflict()
        response = view._detail(record.case, status.HTTP_201_CREATED)
        response["Idempotent-Replayed"] = "true"
        return response
    return view._detail(case, status.HTTP_201_CREATED)


def _conflict() -> Response:
    from portal.api_errors import error_response

    return error_response(
        "idempotency_key_reused",
        _("This Idempotency-Key was already used with a different request."),
        status.HTTP_409_CONFLICT,
    )


# --- Reports -----------------------------------------------------------------------------------------


class ReportPeriodSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="The first day of the period (the `from` asked for).")
    end = serializers.DateField(help_text="The last day of the period, included (the `to` asked for).")


class ReportWeekSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="The week's Monday.")
    opened = serializers.IntegerField(help_text="Cases opened that week.")
    resolved = serializers.IntegerField(help_text="Cases resolved that week and not reopened since.")


class ReportMoneySerializer(serializers.Serializer):
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES)
    cases = serializers.IntegerField(help_text="Cases opened in the period with a disputed amount.")
    disputed = serializers.CharField(help_text="Their disputed amounts, added up (decimal string).")
    credited = serializers.CharField(help_text="The credit granted on them (decimal string).")
    credited_cases = serializers.IntegerField(help_text="Cases with credit granted.")
    recovery_rate = serializers.FloatField(allow_null=True, help_text="Credited ÷ disputed (0 to 1).")


# Where a report's resolved cases went: the escalation targets, or none (its own enum in the schema).
REPORT_ESCALATION_TARGETS = [*EscalationTarget.values, "none"]


class ReportResolutionTimesSerializer(serializers.Serializer):
    escalation_target = serializers.ChoiceField(
        choices=REPORT_ESCALATION_TARGETS, help_text="Where the cases were escalated; none: never."
    )
    cases = serializers.IntegerField(help_text="Cases resolved in the period.")
    median_seconds = serializers.FloatField(
        allow_null=True, help_text="Median time from opening to resolution."
    )
    p90_seconds = serializers.FloatField(allow_null=True, help_text="90th percentile of that time.")


class ReportTargetSerializer(serializers.Serializer):
    met = serializers.IntegerField(help_text="Done by the due time.")
    missed = serializers.IntegerField(help_text="Done after the due time, or not done and overdue.")
    pending = serializers.IntegerField(help_text="Not done, not due yet.")
    no_target = serializers.IntegerField(help_text="Without a due time.")
    rate = serializers.FloatField(allow_null=True, help_text="met ÷ (met + missed).")


class ReportRatingSerializer(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    answers = serializers.IntegerField()


class ReportSatisfactionSerializer(serializers.Serializer):
    average = serializers.FloatField(
        allow_null=True, help_text="Average rating (1 to 5) given in the period."
    )
    answers = serializers.IntegerField(help_text="Ratings given in the period.")
    distribution = ReportRatingSerializer(many=True)


class ReportTopCustomerSerializer(serializers.Serializer):
    customer = serializers.IntegerField(help_text="The customer's id.")
    name = serializers.CharField()
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES)
    cases = serializers.IntegerField()
    disputed = serializers.CharField(help_text="Amounts disputed in the period (decimal string).")


class ReportSerializer(serializers.Serializer):
    period = ReportPeriodSerializer()
    weeks = ReportWeekSerializer(many=True)
    money = ReportMoneySerializer(many=True, help_text="Per currency, largest disputed first.")
    resolution_times = ReportResolutionTimesSerializer(many=True)
    first_response = ReportTargetSerializer(
        help_text="First-response targets of the cases opened in the period."
    )
    resolution = ReportTargetSerializer(help_text="Resolution targets of the cases opened in the period.")
    satisfaction = ReportSatisfactionSerializer()
    top_customers = ReportTopCustomerSerializer(many=True, help_text="Per currency, at most five customers.")


def _seconds(value: datetime.timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def report_json(report: reports.Report) -> dict[str, Any]:
    """A report as ReportSerializer describes it."""

    def target(counts: reports.TargetCounts) -> dict[str, Any]:
        return {**counts.__dict__, "rate": counts.rate}

    return {
        "period": {"start": report.period.start, "end": report.period.end},
        "weeks": [week.__dict__ for week in report.weeks],
        "money": [
            {
                "currency": m.currency,
                "cases": m.cases,
                "disputed": plain_amount(m.disputed, m.currency),
                "credited": plain_amount(m.credited, m.currency),
                "credited_cases": m.credited_cases,
                "recovery_rate": m.recovery_rate,
            }
            for m in report.money
        ],
        "resolution_times": [
            {
                "escalation_target": t.target or "none",
                "cases": t.cases,
                "median_seconds": _seconds(t.median),
                "p90_seconds": _seconds(t.p90),
            }
            for t in report.resolution_times
        ],
        "first_response": target(report.first_response),
        "resolution": target(report.resolution),
        "satisfaction": {
            "average": report.satisfaction.average,
            "answers": report.satisfaction.answers,
            "distribution": [
                {"rating": rating, "answers": answers}
                for rating, answers in report.satisfaction.distribution.items()
            ],
        },
        "top_customers": [
            {
                "customer": c.customer_id,
                "name": c.name,
                "currency": c.currency,
                "cases": c.cases,
                "disputed": plain_amount(c.disputed, c.currency),
            }
            for c in report.top_customers
        ],
    }


class ReportQuerySerializer(serializers.Serializer):
    """The period's parameters as the schema states them: a parameter sent empty is not a date."""

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword, so the fields are named here rather than declared.
        return {"from": serializers.DateField(required=False), "to": serializers.DateField(required=False)}


class ReportView(PartnerScopedMixin, APIView):
    """One object, not a list: an APIView, so the schema says so (a ViewSet's list is an array)."""

    @extend_schema(
        operation_id="v1_reports_retrieve",
        summary="Your partner's report for a period (Global and Billing admins)",
        description="The figures of the reports page. The period is whole days in the portal's time zone, "
        "both included: the last 90 days unless chosen, at most 366 days, ending today at the latest.",
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.DATE, description="The first day (default: 89 days before `to`)."
            ),
            OpenApiParameter("to", OpenApiTypes.DATE, description="The last day, included (default: today)."),
        ],
        responses={200: ReportSerializer, **_errors(400, 401, 403, 404, 429)},
    )
    def get(self, request: Request) -> Response:
        self.require(Action.REPORT)
        ReportQuerySerializer(data=request.query_params.dict()).is_valid(raise_exception=True)
        form = ReportPeriodForm(request.query_params, today=timezone.localdate())
        if not form.is_valid():
            raise ValidationError({name: list(errors) for name, errors in form.errors.items()})
        period = reports.Period(form.cleaned_data["from"], form.cleaned_data["to"])
        report = reports.report_for(self.membership().partner, period)
        return Response(ReportSerializer(report_json(report)).data)
