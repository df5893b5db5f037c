from django.urls import path

from cases import views
from portal import converters  # noqa: F401 - registers <id:> and <case:>

app_name = "cases"

urlpatterns = [
    path("cases/", views.dashboard, name="dashboard"),
    path("cases/all/", views.case_list, name="list"),
    path("cases/new/", views.case_create, name="create"),
    path("cases/<case:number>/", views.case_detail, name="detail"),
    path("cases/<case:number>/assign/", views.case_assign, name="assign"),
    path("cases/<case:number>/support-request/", views.case_support_request, name="support_request"),
    path("cases/<case:number>/customer-informed/", views.case_customer_informed, name="customer_informed"),
    path("cases/<case:number>/comment/", views.case_comment, name="comment"),
    path("cases/<case:number>/attach/", views.case_attach, name="attach"),
    path("cases/<case:number>/message/", views.case_message, name="message"),
    path("cases/<case:number>/attachments/<id:pk>/", views.attachment_download, name="attachment"),
    path("cases/<case:number>/notifications/<id:pk>/resend/", views.notification_resend, name="resend"),
    path("cases/<case:number>/emails/<id:pk>/", views.inbound_email, name="inbound_email"),
    path("cases/<case:number>/emails/<id:pk>/accept/", views.inbound_accept, name="inbound_accept"),
    path("cases/<case:number>/<slug:transition>/", views.case_transition, name="transition"),
    path("customers/", views.customer_list, name="customers"),
    path("customers/search/", views.customer_search, name="customer_search"),
    path("customers/<id:pk>/", views.customer_detail, name="customer"),
    path("customers/<id:pk>/subscriptions/", views.customer_subscriptions, name="customer_subscriptions"),
    path(
        "customers/<id:pk>/subscriptions/<id:subscription_pk>/<slug:action>/",
        views.subscription_status,
        name="subscription",
    ),
    path("team/", views.team, name="team"),
    path("service-levels/", views.service_levels, name="service_levels"),
    path("team/audit/", views.audit_trail, name="audit"),
    path("team/audit/export/", views.audit_export, name="audit_export"),
    path("team/<id:pk>/", views.member_update, name="member"),
    path("team/<id:pk>/mfa-reset/", views.member_mfa_reset, name="member_mfa_reset"),
    path("reports/", views.report, name="reports"),
    path("reports/cases.csv", views.report_export, name="report_export"),
    path("answer/<str:token>/", views.customer_answer, name="answer"),
]
