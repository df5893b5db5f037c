"""/api/v1/ routes, the OpenAPI schema and the interactive docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from cases.api import AuditEventViewSet, CaseViewSet, CustomerViewSet, MemberViewSet, ReportView
from guidance.api import GuidanceViewSet
from webhooks.api import WebhookEndpointViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("customers", CustomerViewSet, basename="customer")
router.register("cases", CaseViewSet, basename="case")
router.register("guidance", GuidanceViewSet, basename="guidance")
router.register("audit", AuditEventViewSet, basename="audit")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
router.register("members", MemberViewSet, basename="member")
# The report is one object for a period, not a collection: a plain view beside the router's.
v1 = [*router.urls, path("reports/", ReportView.as_view(), name="report")]

urlpatterns = [
    path("v1/", include((v1, "api"), namespace="v1")),
    path(
        "schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"
    ),
    path(
        "docs/",
        # The split view serves its start-up script as a file, so the docs work under the CSP.
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", authentication_classes=[], permission_classes=[]
        ),
        name="docs",
    ),
]
