from django.urls import path

from cases import views

app_name = "cases"

urlpatterns = [
    path("cases/", views.dashboard, name="dashboard"),
    path("cases/all/", views.case_list, name="list"),
    path("cases/new/", views.case_create, name="create"),
    path("cases/<str:number>/", views.case_detail, name="detail"),
    path("cases/<str:number>/assign/", views.case_assign, name="assign"),
    path("cases/<str:number>/support-request/", views.case_support_request, name="support_request"),
    path("cases/<str:number>/customer-informed/", views.case_customer_informed, name="customer_informed"),
    path("cases/<str:number>/comment/", views.case_comment, name="comment"),
    path("cases/<str:number>/attach/", views.case_attach, name="attach"),
    path("cases/<str:number>/attachments/<int:pk>/", views.attachment_download, name="attachment"),
    path("cases/<str:number>/notifications/<int:pk>/resend/", views.notification_resend, name="resend"),
    path("cases/<str:number>/<str:transition>/", views.case_transition, name="transition"),
    path("customers/", views.customer_list, name="customers"),
    path("customers/search/", views.customer_search, name="customer_search"),
    path("customers/<int:pk>/", views.customer_detail, name="customer"),
    path(
        "customers/<int:pk>/subscriptions/<int:subscription_pk>/<str:action>/",
        views.subscription_status,
        name="subscription",
    ),
    path("team/", views.team, name="team"),
    path("team/<int:pk>/", views.member_update, name="member"),
    path("answer/<str:token>/", views.customer_answer, name="answer"),
]
