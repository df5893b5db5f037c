"""The REST API for cases and customers: the same services and permission table as the web pages."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db import IntegrityError, transaction
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import reports, services
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
from cases.permissions import Action, roles_allow
from cases.uploads import ALLOWED, download_response
from portal.api_errors import ErrorSerializer
from portal.models import AuditAction, AuditEvent

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input, with field errors."),
    401: OpenApiResponse(ErrorSerializer, description="No valid token."),
    403: OpenApiResponse(ErrorSerializer, description="Your roles do not allow this."),
    404: OpenApiResponse(ErrorSerializer, description="No such object in your organisation."),
    409: OpenApiResponse(ErrorSerializer, description="The case's status does not allow this now."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests; see Retry-After."),
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
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    message = serializers.CharField(
        source="text", read_only=True, help_text="What happened, in the language the request asks for."
    )
    message = serializers.CharField(
        source="text", read_only=True, help_text="What happened, in the language the request asks for."
    )
    from_status = serializers.CharField(read_only=True, help_text="A status, or empty.")
    to_status = serializers.CharField(read_only=True, help_text="A status, or empty.")

    class Meta:
        model = CaseEvent
        fields = ["kind", "actor", "created_at", "from_status", "to_status", "message", "data"]

    def get_actor(self, event: CaseEvent) -> str | None:
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
    "assignee": "assignee__email",
    "escalation_target": "escalation_target",
    "support_request_number": "support_request_number",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
CASE_ROW = tuple(LIST_COLUMNS.values())


def _moment(value: datetime.datetime) -> str:
    """What DRF's DateTimeField writes (ISO 8601 in the current time zone, Z for UTC), without its detours."""
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "nullable": True,
        "pattern": r"^\d+(\.\d{1,3})?$",
        "example": "412.50",
        "description": "With exactly the minor units of the case's currency: 412.50 (USD), 41250 (JPY).",
    }
)
class CaseAmountField(serializers.Field):
    """An amount of the case, written with its currency's minor units (cases.currencies.plain_amount)."""

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


class CaseSerializer(serializers.ModelSerializer):
    # Choice fields that may be empty are plain strings in responses ("" until set).
    currency = serializers.CharField(read_only=True, help_text="ISO 4217 code, or empty.")
    escalation_target = serializers.CharField(read_only=True, help_text="microsoft, 21vianet, or empty.")
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    customer_name = serializers.CharField(source="customer.company_name", read_only=True)
    assignee = serializers.EmailField(source="assignee.email", read_only=True, allow_null=True, default=None)
    billing_period = serializers.DateField(format="%Y-%m", read_only=True, allow_null=True)
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
        return result


def _case_row(case: Case) -> dict[str, Any]:
    row = {column: getattr(case, column) for column in CASE_ROW if "__" not in column}
    row["customer__company_name"] = case.customer.company_name
    row["assignee__email"] = case.assignee.email if case.assignee_id else None
    return row


class CaseDetailSerializer(CaseSerializer):
    support_vehicle = serializers.CharField(read_only=True, help_text="A support vehicle, or empty.")
    escalation_severity = serializers.CharField(read_only=True, help_text="A, B, C, or empty.")
    outcome = serializers.CharField(read_only=True, help_text="credit, upheld, answered, other, or empty.")
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


@extend_schema_field(
    {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "nullable": True, "example": "2026-10"}
)
class MonthSerializerField(serializers.Field):
    """A billing period as YYYY-MM."""

    def to_internal_value(self, data: Any):
        try:
            return MonthField(required=False).clean(data)
        except Exception as error:
            raise ValidationError(_("Enter a month as YYYY-MM.")) from error

    def to_representation(self, value: Any) -> str:
        return value.strftime("%Y-%m")


class AmountSerializerField(serializers.DecimalField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=14, decimal_places=3, coerce_to_string=True, **kwargs)

    def to_internal_value(self, data: Any):
        try:
            return AmountField(required=True).clean(str(data))
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


class PartnerScopedMixin:
    """Every query goes through the token's partner; another partner's objects are simply not there."""

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
        summary="List your customers", responses={200: CustomerSerializer, **_errors(401, 403, 404, 429)}
    ),
    retrieve=extend_schema(
        summary="A customer with its subscriptions",
        responses={200: CustomerDetailSerializer, **_errors(401, 403, 404, 429)},
    ),
)
class CustomerViewSet(PartnerScopedMixin, viewsets.ReadOnlyModelViewSet):
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


class CasePagination(PageNumberPagination):
    """Page numbers as everywhere in the API, each page's ids read from the index of its order first."""

    django_paginator_class = CasePaginator


CASE_FILTERS = [
    OpenApiParameter("status", str, enum=[*Status.values, "open"], description="A status, or open."),
    OpenApiParameter("customer", int, description="A customer id."),
    OpenApiParameter("category", str, enum=Category.values),
    OpenApiParameter("escalated", bool, description="Whether the case was escalated."),
    OpenApiParameter(
        "updated_since", OpenApiTypes.DATETIME, description="Only cases updated at or after this."
    ),
]


@extend_schema_view(
    list=extend_schema(
        summary="List your cases",
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
    lookup_field = "number"
    lookup_value_regex = r"[A-Z]{2,6}-[0-9]{1,10}"
    pagination_class = CasePagination

    def get_queryset(self):
        self.require(Action.VIEW)
        queryset = (
            Case.objects.for_partner(self.membership().partner)
            .with_list_columns()
            .order_by("-updated_at", "-pk")
        )
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("events__actor", "notifications", "attachments")
        if self.action == "list":
            queryset = self._filter(queryset)
        return queryset

    def _filter(self, queryset):
        params = self.request.query_params
        errors: dict[str, list[str]] = {}
        if status_value := params.get("status"):
            if status_value == "open":
                queryset = queryset.open()
            elif status_value in Status.values:
                queryset = queryset.filter(status=status_value)
            else:
                errors["status"] = [_("Unknown status.")]
        if customer := params.get("customer"):
            if re.fullmatch(r"-?\d+", customer):
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
        if errors:
            raise ValidationError(errors)
        return queryset

    def get_serializer_class(self):
        return CaseDetailSerializer if self.action == "retrieve" else CaseSerializer

    def _case(self) -> Case:
        return get_object_or_404(
            Case.objects.for_partner(self.membership().partner), number=self.kwargs["number"]
        )

    def _detail(self, case: Case, code: int = status.HTTP_200_OK) -> Response:
        fresh = (
            Case.objects.with_list_columns()
            .prefetch_related("events__actor", "notifications", "attachments")
            .get(pk=case.pk)
        )
        return Response(CaseDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code)

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
                str,
                OpenApiParameter.HEADER,
                description=(
                    "Any unique string of at most 255 characters; a retry with the same key returns the "
                    "first result."
                ),
            )
        ],
        responses={201: CaseDetailSerializer, **_errors(400, 401, 403, 409, 429)},
    )
    def create(self, request: Request) -> Response:
        self.require(Action.OPEN)
        data = self._input(CaseCreateSerializer)
        key = request.headers.get("Idempotency-Key", "").strip()
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

    @extend_schema(
        summary="Assign a case, or record its support request number",
        request=CasePatchSerializer,
        responses={200: CaseDetailSerializer, **_errors(400, 401, 403, 404, 409, 429)},
    )
    def partial_update(self, request: Request, number: str) -> Response:
        case = self._case()
        data = self._input(CasePatchSerializer)
        actor = self.membership()
        # Both changes or neither: a refused second change must not leave the first one saved.
        with transaction.atomic():
            case = self._apply_patch(case, actor, data)
        return self._detail(case)

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
        return case

    def _transition(self, serializer_class, call) -> Response:
        case = self._case()
        data = self._input(serializer_class) if serializer_class else {}
        return self._detail(call(case, self.membership(), data))

    @extend_schema(
        summary="Start work",
        request=None,
        responses={200: CaseDetailSerializer, **_errors(401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, number: str) -> Response:
        return self._transition(None, lambda case, actor, data: services.case_start(case=case, actor=actor))

    @extend_schema(
        summary="Escalate to Microsoft or 21Vianet (the target follows your cloud)",
        request=EscalateSerializer,
        responses={200: CaseDetailSerializer, **_errors(400, 401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"])
    def escalate(self, request: Request, number: str) -> Response:
        return self._transition(
            EscalateSerializer,
            lambda case, actor, data: services.case_escalate(case=case, actor=actor, **data),
        )

    @extend_schema(
        summary="Record that the escalation target asked for information",
        request=OptionalMessageSerializer,
        responses={200: CaseDetailSerializer, **_errors(400, 401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"], url_path="request-info")
    def request_info(self, request: Request, number: str) -> Response:
        return self._transition(
            OptionalMessageSerializer,
            lambda case, actor, data: services.case_request_info(case=case, actor=actor, **data),
        )

    @extend_schema(
        summary="Record that you sent the information",
        request=OptionalMessageSerializer,
        responses={200: CaseDetailSerializer, **_errors(400, 401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"], url_path="provide-info")
    def provide_info(self, request: Request, number: str) -> Response:
        return self._transition(
            OptionalMessageSerializer,
            lambda case, actor, data: services.case_provide_info(case=case, actor=actor, **data),
        )

    @extend_schema(
        summary="Resolve; the customer's resolution e-mail is sent",
        request=ResolveSerializer,
        responses={200: CaseDetailSerializer, **_errors(400, 401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, number: str) -> Response:
        return self._transition(
            ResolveSerializer, lambda case, actor, data: services.case_resolve(case=case, actor=actor, **data)
        )

    @extend_schema(
        summary="Record that you informed the customer yourself (closes the loop)",
        request=MessageSerializer,
        responses={200: CaseDetailSerializer, **_errors(400, 401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"], url_path="customer-informed")
    def customer_informed(self, request: Request, number: str) -> Response:
        return self._transition(
            MessageSerializer,
            lambda case, actor, data: services.case_mark_customer_informed(
                case=case, actor=actor, note=data["message"]
            ),
        )

    @extend_schema(
        summary="Close a resolved case",
        request=None,
        responses={200: CaseDetailSerializer, **_errors(401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, number: str) -> Response:
        return self._transition(None, lambda case, actor, data: services.case_close(case=case, actor=actor))

    @extend_schema(
        summary="Reopen a resolved or closed case",
        request=MessageSerializer,
        responses={200: CaseDetailSerializer, **_errors(400, 401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, number: str) -> Response:
        return self._transition(
            MessageSerializer,
            lambda case, actor, data: services.case_reopen(case=case, actor=actor, reason=data["message"]),
        )

    @extend_schema(
        summary="Add an internal note",
        request=MessageSerializer,
        responses={201: EventSerializer, **_errors(400, 401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"])
    def comments(self, request: Request, number: str) -> Response:
        case = self._case()
        data = self._input(MessageSerializer)
        event = services.case_comment(case=case, actor=self.membership(), message=data["message"])
        return Response(EventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Write to the customer",
        description=(
            "E-mails the message to the customer's billing contact through the outbox, in the thread of the "
            "case's conversation, with the portal's own words in the customer's language. The customer's "
            "reply comes back to the case. Internal notes are `comments`."
        ),
        request=MessageSerializer,
        responses={201: OutgoingMessageSerializer, **_errors(400, 401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"])
    def messages(self, request: Request, number: str) -> Response:
        case = self._case()
        data = self._input(MessageSerializer)
        event = services.case_message_customer(case=case, actor=self.membership(), message=data["message"])
        event.email = Notification.objects.get(pk=event.data["notification"])
        return Response(OutgoingMessageSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Attach evidence (PDF, PNG, JPEG or CSV, checked by content)",
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={201: AttachmentSerializer, **_errors(400, 401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def attachments(self, request: Request, number: str) -> Response:
        case = self._case()
        data = self._input(AttachmentUploadSerializer)
        try:
            attachment = services.case_attach(case=case, actor=self.membership(), upload=data["file"])
        except DjangoValidationError as error:
            raise ValidationError({"file": error.messages}) from error
        return Response(AttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Download one attachment",
        responses={
            **{(200, content_type): OpenApiTypes.BINARY for content_type in ALLOWED.values()},
            **_errors(401, 403, 404, 429),
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
        return download_response(attachment)


def _fingerprint(data: dict[str, Any]) -> str:
    plain = {k: (v.pk if hasattr(v, "pk") else str(v) if v is not None else None) for k, v in data.items()}
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()


IDEMPOTENCY_KEY_MAX_LENGTH = 255


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


class ReportResolutionTimesSerializer(serializers.Serializer):
    escalation_target = serializers.ChoiceField(
        choices=[*EscalationTarget.values, "none"], help_text="Where the cases were escalated; none: never."
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
