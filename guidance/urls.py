from django.urls import path

from guidance import views

app_name = "guidance"

urlpatterns = [
    path("", views.article_list, name="index"),
    path("<str:cloud>/<slug:slug>/", views.article_detail, name="article"),
]
