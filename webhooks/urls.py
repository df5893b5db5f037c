from django.urls import path

from portal import converters  # noqa: F401 - registers <id:>
from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoint_list, name="list"),
    path("<id:pk>/", views.endpoint_detail, name="detail"),
    path("<id:pk>/active/", views.endpoint_active, name="active"),
    path("<id:pk>/delete/", views.endpoint_delete, name="delete"),
    path("<id:pk>/deliveries/<id:delivery>/redeliver/", views.delivery_redeliver, name="redeliver"),
]
