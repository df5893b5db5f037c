"""Root URLs: language-prefixed pages, plus the unprefixed health check and language switch."""

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from portal import mfa_views, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("ping", views.ping, name="ping"),
    path("i18n/setlang/", views.set_language, name="set_language"),
    path("api/", include("portal.api_urls")),
]

urlpatterns += i18n_patterns(
    path("", views.home, name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("accounts/api-tokens/", views.api_tokens, name="api_tokens"),
    path("accounts/mfa/", mfa_views.overview, name="mfa"),
    path("accounts/mfa/verify/", mfa_views.verify, name="mfa_verify"),
    path("accounts/mfa/totp/", mfa_views.totp_setup, name="mfa_totp"),
    path("accounts/mfa/recovery-codes/", mfa_views.recovery_codes, name="mfa_recovery_codes"),
    path("accounts/mfa/remove/", mfa_views.remove, name="mfa_remove"),
    path("guidance/", include("guidance.urls")),
    path("", include("cases.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("admin/", admin.site.urls),
)

handler400 = "portal.views.bad_request"
handler404 = "portal.views.page_not_found"
