"""/api/v1/ routes, the OpenAPI schema and the interactive docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from cases.api import AuditEventViewSet, CaseViewSet, CustomerViewSet, ReportViewSet
from guidance.api import GuidanceViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("customers", CustomerViewSet, basename="customer")
router.register("cases", CaseViewSet, basename="case")
router.register("guidance", GuidanceViewSet, basename="guidance")
router.register("audit", AuditEventViewSet, basename="audit")
router.register("reports", ReportViewSet, basename="report")

urlpatterns = [
    path("v1/", include((router.urls, "api"), namespace="v1")),
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
