"""The webhooks API: a partner's Global admins register, list, disable and delete endpoints and read their
delivery logs. The same services and permission table as the portal's pages."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from cases.access import membership_of
from cases.models import Membership
from cases.permissions import Action, roles_allow
from portal.api_errors import ErrorSerializer, error_response
from webhooks import services
from webhooks.models import DeliveryStatus, DisabledReason, WebhookDelivery, WebhookEndpoint, WebhookEvent

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input, with field errors."),
    401: OpenApiResponse(ErrorSerializer, description="No valid token."),
    403: OpenApiResponse(ErrorSerializer, description="Only a Global admin manages webhooks."),
    404: OpenApiResponse(ErrorSerializer, description="No such endpoint of your organisation."),
    409: OpenApiResponse(ErrorSerializer, description="Not possible now (see the error code)."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests; see Retry-After."),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


EVENTS_HELP = "The events to send: " + ", ".join(WebhookEvent.values) + "."


class EndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), help_text=EVENTS_HELP
    )
    disabled_reason = serializers.ChoiceField(
        choices=[("", "active"), *DisabledReason.choices],
        help_text="Empty while active; failing: disabled after failed deliveries; manual: by an admin.",
    )
    failures_in_row = serializers.IntegerField(
        help_text="Deliveries that failed for good since the last success."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "active", "disabled_reason", "failures_in_row", "created_at"]
        read_only_fields = fields
        extra_kwargs = {"url": {"help_text": "Where the events are POSTed."}}


class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (whsec_…): shown in this answer only. Verify Portal-Signature with it."
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class EndpointCreateSerializer(serializers.Serializer):
    url = serializers.URLField(
        max_length=500,
        help_text="An https:// URL of a public host, without a user name or password.",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices),
        min_length=1,
        max_length=len(WebhookEvent.values),
        help_text=EVENTS_HELP,
    )


class EndpointPatchSerializer(serializers.Serializer):
    active = serializers.BooleanField(
        required=False, help_text="false disables the endpoint; true enables it and sends what waited for it."
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices),
        min_length=1,
        max_length=len(WebhookEvent.values),
        required=False,
        help_text=EVENTS_HELP,
    )


class DeliverySerializer(serializers.ModelSerializer):
    id = serializers.IntegerField()
    delivery_id = serializers.UUIDField(
        source="uuid", help_text="The Portal-Delivery header of every attempt."
    )
    event = serializers.ChoiceField(choices=WebhookEvent.choices)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField()
    response_code = serializers.IntegerField(
        allow_null=True, help_text="The receiver's last HTTP status, if any."
    )
    last_error = serializers.CharField(help_text="Why the last attempt failed; empty once delivered.")
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "delivery_id", "event", "status", "attempts", "response_code", "last_error",
            "next_attempt_at", "delivered_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class DeliveryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DeliverySerializer(many=True)


@extend_schema_view(
    list=extend_schema(
        summary="List your webhook endpoints (Global admins)",
        responses={200: EndpointSerializer, **_errors(400, 401, 403, 404, 429)},
    ),
    retrieve=extend_schema(
        summary="A webhook endpoint",
        responses={200: EndpointSerializer, **_errors(401, 403, 404, 429)},
    ),
)
class WebhookEndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = EndpointSerializer
    lookup_value_regex = "[0-9]{1,18}"  # below 2**63, like portal.converters.IdConverter

    def membership(self) -> Membership:
        if getattr(self.request, "membership", None) is None:
            self.request.membership = membership_of(self.request.user)
        if not roles_allow(self.request.membership.roles, Action.WEBHOOKS):
            raise PermissionDenied(_("Only a Global admin manages webhooks."))
        return self.request.membership

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # building the schema: no user
            return WebhookEndpoint.objects.none()
        return WebhookEndpoint.objects.for_partner(self.membership().partner).order_by("created_at", "pk")

    def _endpoint(self) -> WebhookEndpoint:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def _input(self, serializer_class) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(
        summary="Register a webhook endpoint; the answer carries its signing secret, once",
        request=EndpointCreateSerializer,
        responses={201: EndpointCreatedSerializer, **_errors(400, 401, 403, 409, 429)},
    )
    def create(self, request: Request) -> Response:
        actor = self.membership()
        data = self._input(EndpointCreateSerializer)
        try:
            endpoint = services.endpoint_create(actor=actor, url=data["url"], events=data["events"])
        except services.WebhookError as error:
            return error_response(error.code, error.message, status.HTTP_409_CONFLICT)
        location = request.build_absolute_uri(f"{request.path}{endpoint.pk}/")
        return Response(
            EndpointCreatedSerializer(endpoint).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )

    @extend_schema(
        summary="Disable or enable a webhook endpoint, or change its events",
        request=EndpointPatchSerializer,
        responses={200: EndpointSerializer, **_errors(400, 401, 403, 404, 429)},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        endpoint = self._endpoint()
        data = self._input(EndpointPatchSerializer)
        endpoint = services.endpoint_update(
            actor=self.membership(), endpoint=endpoint, active=data.get("active"), events=data.get("events")
        )
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Delete a webhook endpoint and its delivery log",
        request=None,
        responses={204: None, **_errors(401, 403, 404, 429)},
    )
    def destroy(self, request: Request, pk: str) -> Response:
        services.endpoint_delete(actor=self.membership(), endpoint=self._endpoint())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The endpoint's deliveries, newest first",
        parameters=[
            OpenApiParameter(
                "page",
                {"type": "integer", "minimum": 1, "maximum": 999_999_999},
                description="The page to read, from 1.",
            )
        ],
        responses={200: DeliveryPageSerializer, **_errors(400, 401, 403, 404, 429)},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: str) -> Response:
        endpoint = self._endpoint()
        queryset = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-pk")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Send a delivery again (same body, same Portal-Delivery)",
        request=None,
        parameters=[
            OpenApiParameter(
                "delivery",
                {"type": "string", "pattern": "^[0-9]{1,18}$"},
                OpenApiParameter.PATH,
                description="A delivery's id.",
            )
        ],
        responses={202: DeliverySerializer, **_errors(401, 403, 404, 409, 429)},
    )
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery>[0-9]{1,18})/redeliver")
    def redeliver(self, request: Request, pk: str, delivery: str) -> Response:
        endpoint = self._endpoint()
        row = get_object_or_404(
            WebhookDelivery.objects.select_related("endpoint"), endpoint=endpoint, pk=delivery
        )
        try:
            row = services.delivery_redeliver(actor=self.membership(), delivery=row)
        except services.WebhookError as error:
            return error_response(error.code, error.message, status.HTTP_409_CONFLICT)
        except DjangoPermissionDenied:
            raise PermissionDenied(_("Only a Global admin manages webhooks.")) from None
        row.refresh_from_db()
        return Response(DeliverySerializer(row).data, status=status.HTTP_202_ACCEPTED)
